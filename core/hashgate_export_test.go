package core

import "context"

// Do and Waiting expose the gate to the black-box tests.
func (g *HashGate) Do(ctx context.Context, fn func()) error { return g.do(ctx, fn) }

func (g *HashGate) Waiting() int64 { return g.waiting.Load() }
