package core_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// testThrottle: 3 free failures per user+address, 10 per address, then 10 s
// doubling to 1 min.
func testThrottle() *core.Throttle {
	return &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: 3, Base: 10 * time.Second, Max: time.Minute, Forget: time.Hour},
		PerClient: core.ThrottlePolicy{Free: 10, Base: 10 * time.Second, Max: time.Minute, Forget: time.Hour},
		MaxKeys:   1000,
	}
}

func (e *env) wrongLogin(user, addr string) error {
	e.t.Helper()
	r := e.req()
	r.Username, r.Password, r.ClientAddr = user, "wrong password", addr
	_, err := e.getJWT(r)
	return err
}

func (e *env) rightLogin(addr string) error {
	r := e.req()
	r.ClientAddr = addr
	_, err := e.getJWT(r)
	return err
}

func TestService_GetJWT_Throttle(t *testing.T) {
	t.Run("FreeFailuresAreFree", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		for range e.svc.Authenticator.Throttle.PerUser.Free {
			assertErr(t, e.wrongLogin(testUser, testAddr), core.EUNAUTHORIZED)
		}
		if err := e.rightLogin(testAddr); err != nil {
			t.Fatalf("after %d (free) failures the right password got %v", e.svc.Authenticator.Throttle.PerUser.Free, err)
		}
	})

	t.Run("Lockout", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		free := e.svc.Authenticator.Throttle.PerUser.Free
		// Free failures, then the first failure over Free: each is checked
		// and refused as bad credentials.
		for i := range free + 1 {
			if err := e.wrongLogin(testUser, testAddr); core.ErrorCode(err) != core.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v, want unauthorized", i+1, err)
			}
		}
		// Now locked: even the right password is refused, without a token.
		err := e.rightLogin(testAddr)
		assertErr(t, err, core.ETHROTTLED, "too many failed attempts, retry in 10 s")
		if got := core.RetryAfter(err); got != 10*time.Second {
			t.Errorf("RetryAfter = %v, want 10s", got)
		}
		// The same user in another spelling is the same key.
		r := e.req()
		r.Username = "ALICE"
		_, err = e.getJWT(r)
		assertErr(t, err, core.ETHROTTLED)

		// Partial seconds round up.
		e.advance(2500 * time.Millisecond)
		err = e.rightLogin(testAddr)
		assertErr(t, err, core.ETHROTTLED, "too many failed attempts, retry in 8 s")
		if got := core.RetryAfter(err); got != 8*time.Second {
			t.Errorf("RetryAfter = %v, want 8s", got)
		}
		if n := e.countTokens(); n != 0 {
			t.Errorf("tokens = %d during lockout, want 0", n)
		}

		// Once the lockout has passed, the right password works again.
		e.advance(7500 * time.Millisecond)
		if err := e.rightLogin(testAddr); err != nil {
			t.Fatalf("after the lockout: %v", err)
		}
		want := []string{"unauthorized", "unauthorized", "unauthorized", "unauthorized", "throttled", "throttled", "throttled", "ok"}
		if got := e.outcomes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("usage outcomes = %q, want %q", got, want)
		}
	})

	t.Run("ThrottledCallDoesNotVerifyPassword", func(t *testing.T) {
		// While locked, a wrong password gets ETHROTTLED too (not
		// EUNAUTHORIZED), so a locked-out guesser learns nothing.
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		for range e.svc.Authenticator.Throttle.PerUser.Free + 1 {
			e.wrongLogin(testUser, testAddr)
		}
		assertErr(t, e.wrongLogin(testUser, testAddr), core.ETHROTTLED)
		assertErr(t, e.wrongLogin("nobody", testAddr), core.EUNAUTHORIZED) // per user, not yet per client
	})

	t.Run("GuesserElsewhereDoesNotLockOut", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		const attacker = "198.51.100.66"
		throttled := false
		for range 30 {
			err := e.wrongLogin(testUser, attacker)
			throttled = throttled || core.ErrorCode(err) == core.ETHROTTLED
		}
		if !throttled {
			t.Error("the guesser was never throttled")
		}
		if err := e.rightLogin(testAddr); err != nil {
			t.Fatalf("real user at own address after guessing elsewhere: %v", err)
		}
	})

	t.Run("PerClientLimit", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		const attacker = "198.51.100.77"
		// One guess per username: no per-user counter ever trips.
		for i := range e.svc.Authenticator.Throttle.PerClient.Free + 1 {
			assertErr(t, e.wrongLogin(fmt.Sprintf("user%d", i), attacker), core.EUNAUTHORIZED)
		}
		err := e.rightLogin(attacker)
		assertErr(t, err, core.ETHROTTLED, "retry in 10 s")
		if core.RetryAfter(err) <= 0 {
			t.Errorf("RetryAfter = %v", core.RetryAfter(err))
		}
		assertErr(t, e.wrongLogin("yet-another-user", attacker), core.ETHROTTLED)
		if err := e.rightLogin(testAddr); err != nil {
			t.Errorf("another address is not affected: %v", err)
		}
	})

	t.Run("IPv6SameSlash64", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		for i := range e.svc.Authenticator.Throttle.PerClient.Free + 1 {
			addr := fmt.Sprintf("2001:db8:1:2::%x", i+1) // a new address each time, one /64
			assertErr(t, e.wrongLogin(fmt.Sprintf("user%d", i), addr), core.EUNAUTHORIZED)
		}
		assertErr(t, e.rightLogin("2001:db8:1:2:ffff:ffff:ffff:ffff"), core.ETHROTTLED)
		assertErr(t, e.rightLogin("2001:DB8:1:2:0:0:0:abcd"), core.ETHROTTLED)
		if err := e.rightLogin("2001:db8:1:3::1"); err != nil {
			t.Errorf("another /64: %v", err)
		}
	})

	t.Run("IPv6UserCounterPerSlash64", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		for i := range e.svc.Authenticator.Throttle.PerUser.Free + 1 {
			assertErr(t, e.wrongLogin(testUser, fmt.Sprintf("2001:db8:9:9::%x", i+1)), core.EUNAUTHORIZED)
		}
		assertErr(t, e.rightLogin("2001:db8:9:9::ff"), core.ETHROTTLED)
	})

	t.Run("IPv4MappedSameAsIPv4", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		for i := range e.svc.Authenticator.Throttle.PerUser.Free + 1 {
			addr := testAddr
			if i%2 == 0 {
				addr = "::ffff:" + testAddr
			}
			assertErr(t, e.wrongLogin(testUser, addr), core.EUNAUTHORIZED)
		}
		assertErr(t, e.rightLogin(testAddr), core.ETHROTTLED)
	})

	t.Run("SuccessResetsUserCounter", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		free := e.svc.Authenticator.Throttle.PerUser.Free
		for round := range 2 {
			for range free {
				assertErr(t, e.wrongLogin(testUser, testAddr), core.EUNAUTHORIZED)
			}
			if err := e.rightLogin(testAddr); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		// Without the resets the counter would be past Free already; with
		// them it takes free+1 new failures to lock.
		for range free + 1 {
			assertErr(t, e.wrongLogin(testUser, testAddr), core.EUNAUTHORIZED)
		}
		assertErr(t, e.rightLogin(testAddr), core.ETHROTTLED)
	})

	t.Run("APIKeyThrottledByID", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle = testThrottle()
		key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		for i := range e.svc.Authenticator.Throttle.PerUser.Free + 1 {
			// A different wrong secret each time: the key's id is what counts.
			r := e.req()
			r.Username, r.Password = fmt.Sprintf("%sjg_%s_wrong%d", core.APIKeyUserPrefix, k.ID, i), ""
			_, err := e.getJWT(r)
			assertErr(t, err, core.EUNAUTHORIZED)
		}
		r := e.req()
		r.Username, r.Password = core.APIKeyUserPrefix+key, ""
		_, err = e.getJWT(r)
		assertErr(t, err, core.ETHROTTLED)
		// The password login of the same user is a different key.
		if err := e.rightLogin(testAddr); err != nil {
			t.Errorf("password login: %v", err)
		}
	})
}

func TestNewThrottle(t *testing.T) {
	th := core.NewThrottle()
	if th.PerUser.Free != 5 || th.PerUser.Base != time.Second || th.PerUser.Max != 15*time.Minute {
		t.Errorf("PerUser = %+v, want 5 free, 1s doubling to 15m", th.PerUser)
	}
	if th.PerClient.Free != 50 {
		t.Errorf("PerClient.Free = %d, want 50", th.PerClient.Free)
	}
	if th.MaxKeys <= 0 {
		t.Errorf("MaxKeys = %d, want a bound", th.MaxKeys)
	}
}

func unitThrottle(userFree, clientFree int) *core.Throttle {
	return &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: userFree, Base: time.Second, Max: 4 * time.Second, Forget: time.Hour},
		PerClient: core.ThrottlePolicy{Free: clientFree, Base: time.Second, Max: 4 * time.Second, Forget: time.Hour},
		MaxKeys:   1000,
	}
}

func TestThrottle_Check(t *testing.T) {
	const addr = "192.0.2.1"
	now := t0

	t.Run("OKUnknown", func(t *testing.T) {
		th := unitThrottle(2, 100)
		if w := check(th, "anyone", addr, now); w != 0 {
			t.Errorf("Check = %v, want 0", w)
		}
		var zero core.Throttle // usable without NewThrottle
		fail(&zero, "x", addr, now)
		succeed(&zero, "x", addr)
		if w := check(&zero, "x", addr, now); w != 0 {
			t.Errorf("zero Throttle: Check = %v, want 0", w)
		}
	})

	t.Run("BackoffDoublesToMax", func(t *testing.T) {
		th := unitThrottle(2, 100)
		fail(th, "u", addr, now)
		fail(th, "u", addr, now)
		if w := check(th, "u", addr, now); w != 0 {
			t.Fatalf("after Free failures: Check = %v, want 0", w)
		}
		steps := []struct {
			at   time.Duration // when the failure happens, after now
			want time.Duration // lockout it causes
		}{
			{0, time.Second},
			{time.Second, 2 * time.Second},
			{3 * time.Second, 4 * time.Second},
			{7 * time.Second, 4 * time.Second}, // capped at Max
			{11 * time.Second, 4 * time.Second},
		}
		for i, s := range steps {
			at := now.Add(s.at)
			if w := check(th, "u", addr, at); w != 0 {
				t.Fatalf("step %d: still locked (%v) when the failure happens", i, w)
			}
			fail(th, "u", addr, at)
			if w := check(th, "u", addr, at); w != s.want {
				t.Errorf("step %d: Check = %v, want %v", i, w, s.want)
			}
		}
	})

	t.Run("MaxCapsOvershoot", func(t *testing.T) {
		// Base*2^k can jump past Max (as 1 s doubling does past 15 min):
		// the lockout is Max, not the next power of two.
		th := &core.Throttle{
			PerUser:   core.ThrottlePolicy{Free: 0, Base: time.Second, Max: 3 * time.Second, Forget: time.Hour},
			PerClient: core.ThrottlePolicy{Free: 1000, Base: time.Second, Max: time.Hour, Forget: time.Hour},
		}
		at := now
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
			fail(th, "u", addr, at)
			w := check(th, "u", addr, at)
			if w != want {
				t.Errorf("failure %d: Check = %v, want %v", i+1, w, want)
			}
			at = at.Add(w)
		}
		d := core.NewThrottle()
		for range d.PerUser.Free + 20 {
			fail(d, "u", addr, now)
		}
		if w := check(d, "u", addr, now); w != d.PerUser.Max {
			t.Errorf("defaults after many failures: Check = %v, want Max %v", w, d.PerUser.Max)
		}
	})

	t.Run("RemainingAndExpiry", func(t *testing.T) {
		th := unitThrottle(0, 100)
		fail(th, "u", addr, now)
		if w := check(th, "u", addr, now.Add(400*time.Millisecond)); w != 600*time.Millisecond {
			t.Errorf("Check = %v, want 600ms", w)
		}
		if w := check(th, "u", addr, now.Add(time.Second)); w != 0 {
			t.Errorf("at the end of the lockout: Check = %v, want 0", w)
		}
	})

	t.Run("ForgetResetsCounter", func(t *testing.T) {
		th := unitThrottle(2, 100)
		fail(th, "u", addr, now)
		fail(th, "u", addr, now)
		later := now.Add(time.Hour + time.Second)
		fail(th, "u", addr, later) // the first failure of a new count
		if w := check(th, "u", addr, later); w != 0 {
			t.Errorf("after Forget: Check = %v, want 0", w)
		}
		fail(th, "u", addr, later)
		fail(th, "u", addr, later)
		if w := check(th, "u", addr, later); w != time.Second {
			t.Errorf("Check = %v, want 1s", w)
		}
	})

	t.Run("UsernameCaseInsensitive", func(t *testing.T) {
		th := unitThrottle(0, 100)
		fail(th, "Alice", addr, now)
		if w := check(th, "aLICE", addr, now); w != time.Second {
			t.Errorf("Check = %v, want 1s", w)
		}
	})

	t.Run("UserKeyIsPerAddress", func(t *testing.T) {
		th := unitThrottle(0, 100)
		fail(th, "u", addr, now)
		if w := check(th, "u", "192.0.2.2", now); w != 0 {
			t.Errorf("other address: Check = %v, want 0", w)
		}
		if w := check(th, "v", addr, now); w != 0 {
			t.Errorf("other user: Check = %v, want 0", w)
		}
	})

	t.Run("PerClientAcrossUsers", func(t *testing.T) {
		th := unitThrottle(100, 2)
		for i := range 3 {
			fail(th, fmt.Sprint("u", i), addr, now)
		}
		if w := check(th, "fresh", addr, now); w != time.Second {
			t.Errorf("Check = %v, want 1s", w)
		}
		if w := check(th, "fresh", "192.0.2.2", now); w != 0 {
			t.Errorf("other address: Check = %v, want 0", w)
		}
	})

	t.Run("AddressGrouping", func(t *testing.T) {
		for _, tc := range []struct {
			a, b string
			same bool
		}{
			{"192.0.2.1", "::ffff:192.0.2.1", true},
			{"192.0.2.1", "192.0.2.2", false},
			{"2001:db8::1", "2001:db8::ffff:1", true},
			{"2001:db8::1", "2001:db8:0:0:8000::1", true},
			{"2001:db8::1", "2001:db8:0:1::1", false},
			{"2001:db8::1", "2001:DB8::1", true},
		} {
			th := unitThrottle(100, 0)
			fail(th, "u", tc.a, now)
			locked := check(th, "v", tc.b, now) > 0
			if locked != tc.same {
				t.Errorf("%s and %s: share a counter = %v, want %v", tc.a, tc.b, locked, tc.same)
			}
		}
	})

	t.Run("MaxOfBothCounters", func(t *testing.T) {
		th := &core.Throttle{
			PerUser:   core.ThrottlePolicy{Free: 0, Base: time.Second, Max: time.Hour, Forget: time.Hour},
			PerClient: core.ThrottlePolicy{Free: 0, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
		}
		fail(th, "u", addr, now)
		if w := check(th, "u", addr, now); w != time.Minute {
			t.Errorf("Check = %v, want the longer 1m", w)
		}
	})
}

func TestThrottle_Succeed(t *testing.T) {
	const addr = "192.0.2.1"
	th := unitThrottle(1, 2)
	fail(th, "u", addr, t0)
	fail(th, "u", addr, t0)
	if w := check(th, "u", addr, t0); w == 0 {
		t.Fatal("not locked after 2 failures with Free=1")
	}
	succeed(th, "U", addr) // any spelling
	if w := check(th, "u", addr, t0); w != 0 {
		t.Fatalf("after Succeed: Check = %v, want 0", w)
	}
	// The per-client counter (2 failures) was kept: one more trips it.
	fail(th, "other", addr, t0)
	if w := check(th, "u", addr, t0); w != time.Second {
		t.Errorf("Check = %v, want the client lockout of 1s", w)
	}
}

// TestThrottle_Concurrent is meant for -race; it also checks that concurrent
// failures are all counted.
func TestThrottle_Concurrent(t *testing.T) {
	th := &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: 3, Base: time.Second, Max: time.Minute, Forget: time.Minute},
		PerClient: core.ThrottlePolicy{Free: 20, Base: time.Second, Max: time.Minute, Forget: time.Minute},
		MaxKeys:   64,
	}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 300 {
				user := fmt.Sprint("user", rng.IntN(10))
				addr := fmt.Sprintf("2001:db8:%x::%x", rng.IntN(40), rng.IntN(1000))
				now := t0.Add(time.Duration(i) * time.Second)
				switch rng.IntN(3) {
				case 0:
					check(th, user, addr, now)
				case 1:
					fail(th, user, addr, now)
				default:
					succeed(th, user, addr)
				}
			}
		})
	}
	wg.Wait()

	// N concurrent failures of one key with Free = N-1 lock it for exactly
	// Base: a lost update would leave it open, a double count lock it longer.
	const n = 50
	counted := &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: n - 1, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
		PerClient: core.ThrottlePolicy{Free: 1000, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
	}
	for range n {
		wg.Go(func() { fail(counted, "u", "192.0.2.1", t0) })
	}
	wg.Wait()
	if w := check(counted, "u", "192.0.2.1", t0); w != time.Minute {
		t.Errorf("after %d concurrent failures: Check = %v, want 1m", n, w)
	}
}

func TestThrottle_MaxKeys(t *testing.T) {
	t.Run("OldestDroppedFirst", func(t *testing.T) {
		th := &core.Throttle{
			PerUser:   core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: 2 * time.Hour},
			PerClient: core.ThrottlePolicy{Free: 1000, Base: time.Hour, Max: time.Hour, Forget: 2 * time.Hour},
			MaxKeys:   4, // two user+client pairs
		}
		fail(th, "a", "192.0.2.1", t0)
		fail(th, "b", "192.0.2.2", t0.Add(time.Second))
		now := t0.Add(2 * time.Second)
		if check(th, "a", "192.0.2.1", now) == 0 || check(th, "b", "192.0.2.2", now) == 0 {
			t.Fatal("a and b should be locked")
		}
		fail(th, "c", "192.0.2.3", now)
		if w := check(th, "a", "192.0.2.1", now); w != 0 {
			t.Errorf("oldest entry kept past MaxKeys: Check(a) = %v", w)
		}
		if check(th, "b", "192.0.2.2", now) == 0 || check(th, "c", "192.0.2.3", now) == 0 {
			t.Error("newer entries b and c should still be locked")
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		const maxKeys, pairs = 100, 2000
		th := &core.Throttle{
			PerUser:   core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: 2 * time.Hour},
			PerClient: core.ThrottlePolicy{Free: 1 << 30, Base: time.Hour, Max: time.Hour, Forget: 2 * time.Hour},
			MaxKeys:   maxKeys,
		}
		addr := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }
		for i := range pairs {
			fail(th, fmt.Sprint("u", i), addr(i), t0.Add(time.Duration(i)*time.Millisecond))
		}
		now := t0.Add(pairs * time.Millisecond)
		locked := 0
		for i := range pairs {
			if check(th, fmt.Sprint("u", i), addr(i), now) > 0 {
				locked++
			}
		}
		// Every lockout needs its user+client entry.
		if locked == 0 || locked > maxKeys {
			t.Errorf("%d of %d lockouts remembered; want between 1 and MaxKeys=%d", locked, pairs, maxKeys)
		}
		if check(th, fmt.Sprint("u", pairs-1), addr(pairs-1), now) == 0 {
			t.Error("the most recent lockout was dropped")
		}
		if check(th, "u0", addr(0), now) != 0 {
			t.Error("the oldest lockout was kept")
		}
	})
}

// check, fail and succeed call a Throttle whose counters are in memory,
// where they cannot fail.
func check(th *core.Throttle, user, addr string, now time.Time) time.Duration {
	w, err := th.Check(context.Background(), user, addr, now)
	if err != nil {
		panic(err)
	}
	return w
}

func fail(th *core.Throttle, user, addr string, now time.Time) {
	if err := th.Fail(context.Background(), user, addr, now); err != nil {
		panic(err)
	}
}

func succeed(th *core.Throttle, user, addr string) {
	if err := th.Succeed(context.Background(), user, addr); err != nil {
		panic(err)
	}
}

// mapThrottleStore keeps a shared throttle's counters in a map, as a
// database would: for the unit tests of Throttle.Shared.
type mapThrottleStore struct {
	mu     sync.Mutex
	m      map[string]core.ThrottleCounter
	purged []time.Time
}

func (s *mapThrottleStore) ThrottleCounters(_ context.Context, keys []string) (map[string]core.ThrottleCounter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]core.ThrottleCounter{}
	for _, k := range keys {
		if c, ok := s.m[k]; ok {
			out[k] = c
		}
	}
	return out, nil
}

func (s *mapThrottleStore) ThrottleTx(ctx context.Context, keys []string, update func(map[string]core.ThrottleCounter)) error {
	cs, _ := s.ThrottleCounters(ctx, keys)
	s.mu.Lock()
	defer s.mu.Unlock()
	update(cs)
	for _, k := range keys {
		if c, ok := cs[k]; ok {
			s.m[k] = c
		} else {
			delete(s.m, k)
		}
	}
	return nil
}

func (s *mapThrottleStore) PurgeThrottle(_ context.Context, before time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purged = append(s.purged, before)
	return nil
}

// A Throttle whose counters are in a shared store decides as one with
// its counters in memory: the same lockouts, from the same failures, and
// Succeed clears the same counter. Two Throttles on one store (two
// instances) see each other's failures.
func TestThrottle_Shared(t *testing.T) {
	store := &mapThrottleStore{m: map[string]core.ThrottleCounter{}}
	mem := unitThrottle(2, 3)
	a, b := unitThrottle(2, 3), unitThrottle(2, 3)
	a.Shared, b.Shared = store, store
	const addr = "192.0.2.9"
	steps := []struct {
		on      *core.Throttle // the shared instance the guesser hits
		user    string
		succeed bool
	}{{a, "u", false}, {b, "u", false}, {a, "u", false}, {b, "u", true}, {a, "v", false}, {b, "u", false}, {a, "w", false}}
	for i, s := range steps {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		if s.succeed {
			succeed(mem, s.user, addr)
			succeed(s.on, s.user, addr)
		} else {
			fail(mem, s.user, addr, now)
			fail(s.on, s.user, addr, now)
		}
		for _, u := range []string{"u", "v", "w", "x"} {
			want := check(mem, u, addr, now)
			if got := check(a, u, addr, now); got != want {
				t.Errorf("step %d: %s on instance a waits %v, in memory %v", i, u, got, want)
			}
			if got := check(b, u, addr, now); got != want {
				t.Errorf("step %d: %s on instance b waits %v, in memory %v", i, u, got, want)
			}
		}
	}
	if check(a, "x", addr, t0.Add(time.Second)) == 0 {
		t.Error("the client address, over its free failures across users, is not throttled")
	}
	if a.Len() != 0 || b.Len() != 0 {
		t.Errorf("shared throttles keep %d and %d counters in memory", a.Len(), b.Len())
	}
	if len(store.purged) == 0 {
		t.Error("a shared throttle never purges forgotten counters")
	}
}
