package core

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jwtgate/jwtgate/internal/argon2id"
)

// HashGate bounds password hashing. Each argon2id computation holds its
// whole memory parameter (19 MiB by default) and a core for tens of
// milliseconds, so at most Concurrency run at once: memory stays flat, and a
// login storm cannot take every core from metered calls for long. Callers
// beyond that wait in a queue bounded in length and time; past either bound
// they are answered at once with EBUSY rather than queued without limit.
//
// A slot is a working memory, which the hashes in it reuse instead of
// allocating 19 MiB each (that allocation, zeroed, collected and returned
// to the OS, cost a login more than a tenth of its CPU). Once used, a slot's
// memory stays: concurrency × the memory parameter, the gate's peak, is
// also its steady state.
type HashGate struct {
	slots    chan *argon2id.Memory // a free slot
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
	g := &HashGate{slots: make(chan *argon2id.Memory, concurrency), maxQueue: int64(queue), maxWait: maxWait}
	for range concurrency {
		g.slots <- new(argon2id.Memory) // empty until its first hash
	}
	return g
}

var errBusy = &Error{Code: EBUSY, Message: "server busy, retry in 1 s", RetryAfter: time.Second}

// do runs fn in a slot, with the slot's memory, or returns EBUSY. Without a
// gate, fn gets a memory of its own.
func (g *HashGate) do(ctx context.Context, fn func(*argon2id.Memory)) error {
	if g == nil {
		fn(new(argon2id.Memory))
		return nil
	}
	var m *argon2id.Memory
	select {
	case m = <-g.slots:
	default:
		if g.waiting.Add(1) > g.maxQueue {
			g.waiting.Add(-1)
			return errBusy
		}
		t := time.NewTimer(g.maxWait)
		select {
		case m = <-g.slots:
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
	defer func() { g.slots <- m }()
	fn(m)
	return nil
}
