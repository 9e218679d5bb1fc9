package core

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ThrottlePolicy says how many failures a key may have before it is locked
// out, and for how long: Base after the first failure over Free, doubling with
// each further failure up to Max. A key with no failure for Forget is reset.
type ThrottlePolicy struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

// Throttle limits repeated login failures. It keys failures by
// username+client address and by client address alone. Because no counter is
// kept per username across addresses, a guesser elsewhere cannot lock a real
// user out of their own address.
//
// The counters live in this process's memory, or, with Shared set, in a
// store that every instance on one database shares, so that a guesser gets
// the same free attempts and back-off whichever instance it reaches. The
// policies (this type's) decide either way; the store only keeps counts.
type Throttle struct {
	PerUser   ThrottlePolicy // per username + client address
	PerClient ThrottlePolicy // per client address (IPv6 grouped by /64)
	MaxKeys   int            // bound on tracked keys in memory; oldest entries are dropped first
	Shared    ThrottleStore  // nil: counters in memory

	mu        sync.Mutex
	entries   map[string]*ThrottleCounter
	lastPurge atomic.Int64 // unix nanoseconds of the last PurgeThrottle
}

// purgeEvery is how often a shared throttle deletes forgotten counters.
const purgeEvery = 10 * time.Minute

// NewThrottle returns a Throttle with the defaults: 5 free failures per
// user+client, then 1 s doubling to 15 min; 50 per client address.
func NewThrottle() *Throttle {
	return &Throttle{
		PerUser:   ThrottlePolicy{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour},
		PerClient: ThrottlePolicy{Free: 50, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour},
		MaxKeys:   100_000,
	}
}

func throttleKeys(username, client string) (user, addr string) {
	addr = clientBucket(client)
	return "u\x00" + strings.ToLower(username) + "\x00" + addr, "c\x00" + addr
}

// clientBucket groups IPv6 clients by /64, the smallest block a site gets.
func clientBucket(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		// A host:port would give every connection its own counter.
		ap, perr := netip.ParseAddrPort(client)
		if perr != nil {
			return client
		}
		a = ap.Addr()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// wait is how long a counter locks its key out at now.
func (c ThrottleCounter) wait(now time.Time) time.Duration {
	if !now.Before(c.Until) {
		return 0
	}
	return c.Until.Sub(now)
}

// failed is a counter after one more failure at now under p: forgotten
// first when it has been quiet for p.Forget and is not locked.
func (p ThrottlePolicy) failed(c ThrottleCounter, now time.Time) ThrottleCounter {
	if now.Sub(c.Last) > p.Forget && !now.Before(c.Until) {
		c = ThrottleCounter{}
	}
	c.Failures++
	c.Last = now
	if over := c.Failures - p.Free; over > 0 {
		d := p.Base
		for i := 1; i < over && d < p.Max; i++ {
			d *= 2
		}
		c.Until = now.Add(min(d, p.Max))
	}
	return c
}

// Check returns how long the caller must wait, or 0 if it may try now.
func (t *Throttle) Check(ctx context.Context, username, client string, now time.Time) (time.Duration, error) {
	uk, ck := throttleKeys(username, client)
	if t.Shared != nil {
		cs, err := t.Shared.ThrottleCounters(ctx, []string{uk, ck})
		if err != nil {
			return 0, err
		}
		return max(cs[uk].wait(now), cs[ck].wait(now)), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range []string{uk, ck} {
		if e := t.entries[k]; e != nil {
			wait = max(wait, e.wait(now))
		}
	}
	return wait, nil
}

// Len returns the number of keys tracked in memory.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Fail records a failed attempt.
func (t *Throttle) Fail(ctx context.Context, username, client string, now time.Time) error {
	uk, ck := throttleKeys(username, client)
	if t.Shared != nil {
		if last := t.lastPurge.Load(); now.UnixNano()-last > int64(purgeEvery) && t.lastPurge.CompareAndSwap(last, now.UnixNano()) {
			if err := t.Shared.PurgeThrottle(ctx, now.Add(-max(t.PerUser.Forget, t.PerClient.Forget))); err != nil {
				return err
			}
		}
		return t.Shared.ThrottleTx(ctx, []string{uk, ck}, func(cs map[string]ThrottleCounter) {
			cs[uk] = t.PerUser.failed(cs[uk], now)
			cs[ck] = t.PerClient.failed(cs[ck], now)
		})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail(uk, t.PerUser, now)
	t.fail(ck, t.PerClient, now)
	return nil
}

func (t *Throttle) fail(key string, p ThrottlePolicy, now time.Time) {
	if t.entries == nil {
		t.entries = make(map[string]*ThrottleCounter)
	}
	e := t.entries[key]
	if e == nil {
		t.evict(now)
		e = &ThrottleCounter{}
		t.entries[key] = e
	}
	*e = p.failed(*e, now)
}

// Succeed clears the user+client counter after a successful login. The
// per-client counter is left alone so that one valid account cannot be used
// to launder guesses against others.
func (t *Throttle) Succeed(ctx context.Context, username, client string) error {
	uk, _ := throttleKeys(username, client)
	if t.Shared != nil {
		return t.Shared.ThrottleTx(ctx, []string{uk}, func(cs map[string]ThrottleCounter) { delete(cs, uk) })
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, uk)
	return nil
}

// evict keeps the map bounded: it drops forgotten entries and, if the map is
// still full, the oldest tenth of the rest, so that a full map costs one sort
// per MaxKeys/10 new keys rather than one scan per key.
func (t *Throttle) evict(now time.Time) {
	if t.MaxKeys <= 0 || len(t.entries) < t.MaxKeys {
		return
	}
	forget := max(t.PerUser.Forget, t.PerClient.Forget)
	for k, e := range t.entries {
		if now.Sub(e.Last) > forget && !now.Before(e.Until) {
			delete(t.entries, k)
		}
	}
	keep := t.MaxKeys - t.MaxKeys/10 - 1
	if len(t.entries) <= keep {
		return
	}
	// Oldest first: map order is random, and dropping a recent lockout
	// would let a guesser clear it by flooding the map with new keys.
	keys := make([]string, 0, len(t.entries))
	for k := range t.entries {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return t.entries[a].Last.Compare(t.entries[b].Last) })
	for _, k := range keys[:len(keys)-keep] {
		delete(t.entries, k)
	}
}
