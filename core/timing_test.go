package core_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// TestService_GetJWT_Timing: a failed login takes the same time whether or
// not the username (or the API key's id) exists, so that timing does not
// reveal which accounts exist. The hash is real argon2id at a cheap but
// non-trivial cost (2 MiB, one pass: milliseconds, far above the cost of a
// database look-up), so that skipping it on one path shows at once.
//
// The two paths are sampled interleaved, in random order, and compared by
// their medians, which a few slow outliers on a busy machine do not move.
// The tolerance is wide (25 %) because the test must not flake on a noisy
// two-core CI machine; a path that skips the hash is about 100 times faster.
// If a first round of 40 samples each is outside the tolerance, a second
// round of 80 decides.
func TestService_GetJWT_Timing(t *testing.T) {
	ctx := t.Context()
	svc, _ := testenv.New(t, func(c *core.Config) {
		// Real argon2id at a cost that shows, not testenv's cheap one.
		c.Hasher = core.PasswordHasher{Params: core.Argon2Params{Memory: 2048, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
		// This test is about timing, not lockouts: a throttled call skips the hash.
		c.Throttle.PerUser.Free, c.Throttle.PerClient.Free = math.MaxInt32, math.MaxInt32
	})
	testenv.CreateUser(t, svc, testUser, testPassword, testCredits)
	key, k := testenv.CreateAPIKey(t, svc, testUser)

	login := func(username, password string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			_, err := svc.Issuer.GetJWT(ctx, &core.GetJWTRequest{
				Credentials: core.Credentials{Username: username, Password: password, ClientAddr: testAddr},
				ExpiresAt:   time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			})
			if core.ErrorCode(err) != core.EUNAUTHORIZED {
				t.Fatalf("GetJWT(%q): %v, want unauthorized", username, err)
			}
		}
	}
	wrongPassword := login(testUser, "not the password at all")
	wrongSecret := login(core.APIKeyUserPrefix+"jg_"+k.ID+"_"+strings.Repeat("x", len(key)-len("jg__")-len(k.ID)), "")
	for _, tc := range []struct {
		name               string
		unknown, wrongHash func(*testing.T)
	}{
		{"UnknownUserVsWrongPassword", login("mallory", "not the password at all"), wrongPassword},
		{"UnknownAPIKeyVsWrongSecret", login(core.APIKeyUserPrefix+"jg_0123456789abcdef_"+key[len("jg__")+len(k.ID):], ""), wrongSecret},
		{"MalformedAPIKeyVsWrongSecret", login(core.APIKeyUserPrefix+"not-a-key-at-all", ""), wrongSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // warm up: the dummy hash is made on first use
				tc.unknown(t)
				tc.wrongHash(t)
			}
			ratio, a, b := timingRatio(t, 40, tc.unknown, tc.wrongHash)
			if math.Abs(ratio-1) >= 0.25 {
				t.Logf("first round: median %v vs %v (ratio %.2f); measuring again", a, b, ratio)
				ratio, a, b = timingRatio(t, 80, tc.unknown, tc.wrongHash)
			}
			t.Logf("median %v (does not exist) vs %v (exists, wrong secret): ratio %.2f", a, b, ratio)
			if math.Abs(ratio-1) >= 0.25 {
				t.Errorf("a login that does not exist takes %v, one with a wrong secret %v (median ratio %.2f, tolerance 0.25): timing tells them apart", a, b, ratio)
			}
		})
	}
}

// timingRatio runs a and b n times each, interleaved in random order, and
// returns the ratio of their median durations and the medians.
func timingRatio(t *testing.T, n int, a, b func(*testing.T)) (float64, time.Duration, time.Duration) {
	t.Helper()
	var da, db []time.Duration
	timed := func(f func(*testing.T)) time.Duration {
		start := time.Now()
		f(t)
		return time.Since(start)
	}
	for range n {
		if rand.IntN(2) == 0 {
			da = append(da, timed(a))
			db = append(db, timed(b))
		} else {
			db = append(db, timed(b))
			da = append(da, timed(a))
		}
	}
	ma, mb := median(da), median(db)
	return float64(ma) / float64(mb), ma, mb
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
