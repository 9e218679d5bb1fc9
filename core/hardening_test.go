package core_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

// A host:port must not give every connection its own throttle counter.
func TestThrottle_PortIgnored(t *testing.T) {
	th := core.NewThrottle()
	for i := 0; i <= th.PerUser.Free; i++ {
		th.Fail("bob", "192.0.2.1:"+strconv.Itoa(1000+i), t0)
	}
	if th.Check("bob", "192.0.2.1:9999", t0) == 0 {
		t.Fatal("failures from one address on different ports were counted apart")
	}
	if th.Check("bob", "[2001:db8::1]:443", t0) != 0 {
		t.Fatal("an unrelated address is throttled")
	}
}

// A full map evicts in batches and stays bounded.
func TestThrottle_EvictBatch(t *testing.T) {
	th := core.NewThrottle()
	th.MaxKeys = 100
	for i := range 1000 {
		th.Fail("u"+strings.Repeat("x", i%7), "198.51.100."+strconv.Itoa(i%250), t0)
	}
	// Each Fail adds at most two keys; the bound holds within that slack.
	if n := th.Len(); n > th.MaxKeys+2 {
		t.Fatalf("throttle holds %d keys, bound %d", n, th.MaxKeys)
	}
}

func TestPasswordHasher_RefusesTrailingJunkInParameters(t *testing.T) {
	h := core.PasswordHasher{Params: cheapParams}
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
	key, k, err := e.svc.CreateAPIKey(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeAPIKey(e.ctx, "jg_"+k.ID); err != nil {
		t.Fatalf("revoke jg_<id>: %v", err)
	}
	r := e.req()
	r.Username, r.Password = core.APIKeyUserPrefix+key, ""
	_, err = e.getJWT(r)
	assertErr(t, err, core.EFORBIDDEN, "revoked")
}

func TestAddCredits_BalanceCapped(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.AddCredits(e.ctx, testUser, core.MaxCreditsLimit-testCredits); err != nil {
		t.Fatalf("up to the cap: %v", err)
	}
	_, err := e.svc.AddCredits(e.ctx, testUser, 1)
	assertErr(t, err, core.EINVALID, "between 0 and")
}
