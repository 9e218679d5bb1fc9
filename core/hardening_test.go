package core_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// A host:port must not give every connection its own throttle counter.
func TestThrottle_PortIgnored(t *testing.T) {
	th := core.NewThrottle()
	for i := 0; i <= th.PerUser.Free; i++ {
		fail(th, "bob", "192.0.2.1:"+strconv.Itoa(1000+i), t0)
	}
	if check(th, "bob", "192.0.2.1:9999", t0) == 0 {
		t.Fatal("failures from one address on different ports were counted apart")
	}
	if check(th, "bob", "[2001:db8::1]:443", t0) != 0 {
		t.Fatal("an unrelated address is throttled")
	}
}

// A full map evicts in batches and stays bounded.
func TestThrottle_EvictBatch(t *testing.T) {
	th := core.NewThrottle()
	th.MaxKeys = 100
	for i := range 1000 {
		fail(th, "u"+strings.Repeat("x", i%7), "198.51.100."+strconv.Itoa(i%250), t0)
	}
	// Each Fail adds at most two keys; the bound holds within that slack.
	if n := th.Len(); n > th.MaxKeys+2 {
		t.Fatalf("throttle holds %d keys, bound %d", n, th.MaxKeys)
	}
}

func TestPasswordHasher_RefusesTrailingJunkInParameters(t *testing.T) {
	h := core.PasswordHasher{Params: testenv.CheapArgon2()}
	enc, err := h.Hash("secret-password")
	if err != nil {
		t.Fatal(err)
	}
	junk := strings.Replace(enc, "p=1$", "p=1junk$", 1)
	if _, _, err := h.Verify(junk, "secret-password"); err == nil {
		t.Fatalf("%s verified", junk)
	}
}

func TestRevokeAPIKey_ByPrefixedID(t *testing.T) {
	e := newEnv(t)
	key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Admin.RevokeAPIKey(e.ctx, "jg_"+k.ID); err != nil {
		t.Fatalf("revoke jg_<id>: %v", err)
	}
	r := e.req()
	r.Username, r.Password = core.APIKeyUserPrefix+key, ""
	_, err = e.getJWT(r)
	assertErr(t, err, core.EFORBIDDEN, "revoked")
}

func TestAddCredits_BalanceCapped(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, core.MaxCreditsLimit-testCredits); err != nil {
		t.Fatalf("up to the cap: %v", err)
	}
	_, err := e.svc.Admin.AddCredits(e.ctx, testUser, 1)
	assertErr(t, err, core.EINVALID, "between 0 and")
}

// holdHashGate takes one of g's slots until release is called; release
// returns once the slot is free again.
func holdHashGate(g *core.HashGate) (release func()) {
	in, out, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		g.Do(context.Background(), func() { close(in); <-out }) //nolint:errcheck
	}()
	<-in
	return func() { close(out); <-done }
}

// The hash gate bounds concurrent hashing and turns callers away early
// instead of queueing them without limit.
func TestHashGate(t *testing.T) {
	hold := holdHashGate
	t.Run("QueueThenBusy", func(t *testing.T) {
		g := core.NewHashGate(1, 1, time.Hour)
		release := hold(g)
		queued := make(chan error, 1)
		ran := make(chan struct{})
		go func() { queued <- g.Do(context.Background(), func() { close(ran) }) }()
		// Wait until the second caller is queued, then a third is busy at once.
		for g.Waiting() != 1 {
			runtime.Gosched()
		}
		err := g.Do(context.Background(), func() { t.Error("a caller past the queue ran") })
		assertExact(t, err, core.EBUSY, "server busy, retry in 1 s")
		if core.RetryAfter(err) != time.Second {
			t.Errorf("RetryAfter = %v", core.RetryAfter(err))
		}
		release()
		if err := <-queued; err != nil {
			t.Fatalf("queued caller: %v", err)
		}
		<-ran
	})
	t.Run("WaitBounded", func(t *testing.T) {
		g := core.NewHashGate(1, 5, 20*time.Millisecond)
		release := hold(g)
		defer release()
		assertErr(t, g.Do(context.Background(), func() {}), core.EBUSY, "busy")
	})
	t.Run("Canceled", func(t *testing.T) {
		g := core.NewHashGate(1, 5, time.Hour)
		release := hold(g)
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := g.Do(ctx, func() {}); err != context.Canceled {
			t.Fatalf("canceled wait: %v", err)
		}
	})
	t.Run("GetJWTBusy", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.HashGate = core.NewHashGate(1, 0, time.Hour)
		e.svc.Authenticator.Throttle = &core.Throttle{ // the first failed login would lock alice out
			PerUser:   core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour},
			PerClient: core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour},
		}
		release := hold(e.svc.Authenticator.HashGate)
		_, err := e.getJWT(e.req())
		assertExact(t, err, core.EBUSY, "server busy, retry in 1 s")
		// Busy is not a failed login: it neither throttles nor leaves a token.
		if e.countTokens() != 0 {
			t.Fatal("a busy GetJWT recorded a token")
		}
		release()
		if _, err := e.getJWT(e.req()); err != nil {
			t.Fatalf("GetJWT once the gate is free: %v (a busy call must not count as a failed login)", err)
		}
	})
}

// The verified-signature cache never answers for revocation or beyond the
// token's expiry.
func TestSignatureCache_RevocationAndExpiry(t *testing.T) {
	e := newEnf(t)
	tok, _ := e.open()
	if _, err := e.verify(tok, emailMethod, ""); err != nil { // now cached
		t.Fatal(err)
	}
	if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
		t.Fatal(err)
	}
	_, err := e.verify(tok, emailMethod, "")
	assertExact(t, err, core.EUNAUTHORIZED, "token has been revoked")

	other, _ := e.open()
	if _, err := e.verify(other, emailMethod, ""); err != nil { // cached
		t.Fatal(err)
	}
	e.advance(time.Hour + core.Leeway)
	_, err = e.verify(other, emailMethod, "")
	assertExact(t, err, core.EUNAUTHORIZED, "token has expired")
}

// A dead token is reported as dead before any limit of its use, by
// ChargeJWT as by VerifyJWT.
func TestChargeJWT_RevokedBeforeLimits(t *testing.T) {
	e := newEnf(t)
	tok, _ := e.issue(nil) // Email only, bound to boundIP
	if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, ip string }{{"Phone.Call", boundIP}, {emailMethod, "192.0.2.99"}} {
		_, err := e.charge(tok, tc.method, 1, tc.ip, "")
		assertExact(t, err, core.EUNAUTHORIZED, "token has been revoked")
		_, err = e.verify(tok, tc.method, tc.ip)
		assertExact(t, err, core.EUNAUTHORIZED, "token has been revoked")
	}
}
