package core

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
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
type Throttle struct {
	PerUser   ThrottlePolicy // per username + client address
	PerClient ThrottlePolicy // per client address (IPv6 grouped by /64)
	MaxKeys   int            // bound on tracked keys; oldest entries are dropped first

	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	failures int
	last     time.Time
	until    time.Time
}

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

// Check returns how long the caller must wait, or 0 if it may try now.
func (t *Throttle) Check(username, client string, now time.Time) time.Duration {
	uk, ck := throttleKeys(username, client)
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := t.wait(uk, now)
	if w := t.wait(ck, now); w > wait {
		wait = w
	}
	return wait
}

func (t *Throttle) wait(key string, now time.Time) time.Duration {
	e := t.entries[key]
	if e == nil || !now.Before(e.until) {
		return 0
	}
	return e.until.Sub(now)
}

// Len returns the number of tracked keys.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Fail records a failed attempt.
func (t *Throttle) Fail(username, client string, now time.Time) {
	uk, ck := throttleKeys(username, client)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail(uk, t.PerUser, now)
	t.fail(ck, t.PerClient, now)
}

func (t *Throttle) fail(key string, p ThrottlePolicy, now time.Time) {
	if t.entries == nil {
		t.entries = make(map[string]*throttleEntry)
	}
	e := t.entries[key]
	if e != nil && now.Sub(e.last) > p.Forget && !now.Before(e.until) {
		e = nil
	}
	if e == nil {
		t.evict(now)
		e = &throttleEntry{}
		t.entries[key] = e
	}
	e.failures++
	e.last = now
	if over := e.failures - p.Free; over > 0 {
		d := p.Base
		for i := 1; i < over && d < p.Max; i++ {
			d *= 2
		}
		e.until = now.Add(min(d, p.Max))
	}
}

// Succeed clears the user+client counter after a successful login. The
// per-client counter is left alone so that one valid account cannot be used
// to launder guesses against others.
func (t *Throttle) Succeed(username, client string) {
	uk, _ := throttleKeys(username, client)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, uk)
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
		if now.Sub(e.last) > forget && !now.Before(e.until) {
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
	slices.SortFunc(keys, func(a, b string) int { return t.entries[a].last.Compare(t.entries[b].last) })
	for _, k := range keys[:len(keys)-keep] {
		delete(t.entries, k)
	}
}
