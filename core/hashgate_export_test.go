package core

import (
	"context"

	"github.com/jwtgate/jwtgate/internal/argon2id"
)

// Do and Waiting expose the gate to the black-box tests.
func (g *HashGate) Do(ctx context.Context, fn func()) error {
	return g.do(ctx, func(*argon2id.Memory) { fn() })
}

func (g *HashGate) Waiting() int64 { return g.waiting.Load() }
