package core

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// HashGate bounds password hashing. Each argon2id computation holds its
// whole memory parameter (19 MiB by default) and a core for tens of
// milliseconds, so at most Concurrency run at once: memory stays flat, and a
// login storm cannot take every core from metered calls for long. Callers
// beyond that wait in a queue bounded in length and time; past either bound
// they are answered at once with EBUSY rather than queued without limit.
type HashGate struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
	maxWait  time.Duration
}

// NewHashGate returns a gate of concurrency slots (GOMAXPROCS when ≤ 0), a
// queue of at most queue callers, each waiting at most maxWait.
func NewHashGate(concurrency, queue int, maxWait time.Duration) *HashGate {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return &HashGate{slots: make(chan struct{}, concurrency), maxQueue: int64(queue), maxWait: maxWait}
}

var errBusy = &Error{Code: EBUSY, Message: "server busy, retry in 1 s", RetryAfter: time.Second}

// do runs fn in a slot, or returns EBUSY.
func (g *HashGate) do(ctx context.Context, fn func()) error {
	if g == nil {
		fn()
		return nil
	}
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.maxQueue {
			g.waiting.Add(-1)
			return errBusy
		}
		t := time.NewTimer(g.maxWait)
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			g.waiting.Add(-1)
			return errBusy
		case <-ctx.Done():
			g.waiting.Add(-1)
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// verifySecret checks secret against a stored hash inside the gate.
func (s *Service) verifySecret(ctx context.Context, encoded, secret string) (ok, rehash bool, err error) {
	if gerr := s.HashGate.do(ctx, func() { ok, rehash, err = s.Hasher.Verify(encoded, secret) }); gerr != nil {
		return false, false, gerr
	}
	return ok, rehash, err
}

// hashSecretSlow hashes a new password or API-key secret inside the gate.
func (s *Service) hashSecretSlow(ctx context.Context, secret string) (h string, err error) {
	if gerr := s.HashGate.do(ctx, func() { h, err = s.Hasher.Hash(secret) }); gerr != nil {
		return "", gerr
	}
	return h, err
}

// gateOrInternal keeps the gate's EBUSY; anything else from hashing is internal.
func gateOrInternal(err error) error {
	if ErrorCode(err) == EBUSY {
		return err
	}
	return Internal(err)
}
