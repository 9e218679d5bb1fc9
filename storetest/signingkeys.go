package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

var signingKeyTests = []test{
	{"ActiveSigningKey/ErrNotFound", testActiveSigningKeyErrNotFound},
	{"RotateSigningKey/First", testRotateSigningKeyFirst},
	{"RotateSigningKey/RetiresPrevious", testRotateSigningKeyRetires},
	{"RotateSigningKey/EveryAlgorithm", testRotateSigningKeyEveryAlgorithm},
	{"SigningKeyByKid/OK", testSigningKeyByKid},
	{"SigningKeyByKid/ErrNotFound", testSigningKeyByKidErrNotFound},
	{"ListSigningKeys/OK", testListSigningKeys},
	{"VerificationKeys/OK", testVerificationKeys},
	{"RotateSigningKey/PublishedAhead", testRotateSigningKeyPublishedAhead},
}

// A key published ahead of its activation is in the key set at once and
// signs only from its activation; the key it replaces signs until then.
// A rotation while another key waits ends that key's window at its own
// activation.
func testRotateSigningKeyPublishedAhead(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := makeSigningKey(t, core.AlgES256, base.Add(time.Hour))
	k2.Activates = k2.Created.Add(2 * time.Second)
	must(t, s.RotateSigningKey(t.Context(), k2))
	k1.Retired = &k2.Activates
	checkSigningKeys(t, s, k1, k2)
	for _, tc := range []struct {
		at   time.Time
		want *core.SigningKey
	}{{k2.Created, k1}, {k2.Activates.Add(-time.Microsecond), k1}, {k2.Activates, k2}, {k2.Activates.Add(time.Hour), k2}} {
		got, err := s.ActiveSigningKey(t.Context(), tc.at)
		must(t, err)
		check(t, "ActiveSigningKey at "+tc.at.Format(time.RFC3339Nano), got, tc.want)
	}
	checkKids(t, s, k2.Created, k2.Kid, k1.Kid) // published before it signs
	checkKids(t, s, k2.Activates.Add(-time.Microsecond), k2.Kid, k1.Kid)
	checkKids(t, s, k2.Activates, k2.Kid) // k1 signed no token

	// k3, published while k2 is still ahead of its time, activates first:
	// k2 never signs, k1 signs until k3 does.
	k3 := makeSigningKey(t, core.AlgEdDSA, base.Add(time.Hour+time.Second))
	k3.Activates = k3.Created
	must(t, s.RotateSigningKey(t.Context(), k3))
	k1.Retired, k2.Retired = &k3.Activates, &k3.Activates
	checkSigningKeys(t, s, k1, k2, k3)
	for _, at := range []time.Time{k3.Activates, k2.Activates, k2.Activates.Add(time.Hour)} {
		got, err := s.ActiveSigningKey(t.Context(), at)
		must(t, err)
		check(t, "ActiveSigningKey after the second rotation", got, k3)
	}
}

func checkSigningKeys(t *testing.T, s core.Store, want ...*core.SigningKey) {
	t.Helper()
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	check(t, "ListSigningKeys", ks, want)
	for _, w := range want {
		got, err := s.SigningKeyByKid(t.Context(), w.Kid)
		must(t, err)
		check(t, "SigningKeyByKid("+w.Kid+")", got, w)
	}
}

// checkActive requires want to sign from its activation on.
func checkActive(t *testing.T, s core.Store, want *core.SigningKey) {
	t.Helper()
	for _, at := range []time.Time{want.Activates, want.Activates.Add(1000 * time.Hour)} {
		got, err := s.ActiveSigningKey(t.Context(), at)
		must(t, err)
		check(t, "ActiveSigningKey", got, want)
	}
}

func testActiveSigningKeyErrNotFound(t *testing.T, s core.Store) {
	_, err := s.ActiveSigningKey(t.Context(), base)
	wantErr(t, err, core.ErrNotFound)
	checkSigningKeys(t, s)
	ks, err := s.VerificationKeys(t.Context(), base)
	must(t, err)
	check(t, "VerificationKeys on an empty store", ks, []*core.SigningKey{})
}

func testRotateSigningKeyFirst(t *testing.T, s core.Store) {
	k := makeSigningKey(t, core.AlgEdDSA, base)
	k.Created = base.In(east)
	must(t, s.RotateSigningKey(t.Context(), k))
	checkActive(t, s, k)
	checkSigningKeys(t, s, k)
}

func testRotateSigningKeyRetires(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := newSigningKey(t, s, base.Add(time.Hour))
	k1.Retired = &k2.Activates
	checkActive(t, s, k2)
	checkSigningKeys(t, s, k1, k2)

	k3 := newSigningKey(t, s, base.Add(2*time.Hour))
	k2.Retired = &k3.Activates
	checkActive(t, s, k3)
	checkSigningKeys(t, s, k1, k2, k3) // an already retired key keeps its retirement time
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	checkOneActive(t, ks, k3.Kid)
}

// Every algorithm's key comes back byte for byte; an HS256 secret has no
// public part.
func testRotateSigningKeyEveryAlgorithm(t *testing.T, s core.Store) {
	var want []*core.SigningKey
	for i, alg := range core.Algorithms() {
		k := makeSigningKey(t, alg, base.Add(time.Duration(i)*time.Minute))
		must(t, s.RotateSigningKey(t.Context(), k))
		checkActive(t, s, k)
		if len(want) > 0 {
			want[len(want)-1].Retired = &k.Activates
		}
		want = append(want, k)
		if alg == core.AlgHS256 && len(k.Public) != 0 {
			t.Fatalf("token.NewKey gave an HS256 key a public part")
		}
	}
	checkSigningKeys(t, s, want...)
}

func testSigningKeyByKid(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := newSigningKey(t, s, base.Add(time.Minute))
	k1.Retired = &k2.Activates
	for _, want := range []*core.SigningKey{k1, k2} {
		got, err := s.SigningKeyByKid(t.Context(), want.Kid)
		must(t, err)
		check(t, "SigningKeyByKid", got, want)
	}
}

func testSigningKeyByKidErrNotFound(t *testing.T, s core.Store) {
	_, err := s.SigningKeyByKid(t.Context(), "nokid")
	wantErr(t, err, core.ErrNotFound)
	newSigningKey(t, s, base)
	for _, kid := range []string{"nokid", ""} {
		_, err = s.SigningKeyByKid(t.Context(), kid)
		wantErr(t, err, core.ErrNotFound)
	}
}

func testListSigningKeys(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := newSigningKey(t, s, base.Add(time.Minute))
	k3 := newSigningKey(t, s, base.Add(2*time.Minute))
	k1.Retired, k2.Retired = &k2.Activates, &k3.Activates
	checkSigningKeys(t, s, k1, k2, k3)
}

func testVerificationKeys(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	newSigningKey(t, s, base.Add(-time.Hour)) // retired with no token, so never listed
	k1 := newSigningKey(t, s, base)
	checkKids(t, s, base, k1.Kid)
	checkKids(t, s, base.Add(1000*time.Hour), k1.Kid) // the active key never expires

	// k1 signs a token alive until base+2h, then k2 takes over at base+1h.
	issueToken(t, s, newToken(u, k1.Kid, "t1", base, base.Add(2*time.Hour)))
	issueToken(t, s, newToken(u, k1.Kid, "t0", base, base.Add(30*time.Minute)))
	k2 := newSigningKey(t, s, base.Add(time.Hour))
	checkKids(t, s, base.Add(time.Hour), k2.Kid, k1.Kid)
	checkKids(t, s, base.Add(2*time.Hour-time.Microsecond), k2.Kid, k1.Kid)
	checkKids(t, s, base.Add(2*time.Hour), k2.Kid) // ExpiresAt > now, strictly
	checkKids(t, s, base.Add(3*time.Hour), k2.Kid)
	checkKids(t, s, base.Add(90*time.Minute).In(east), k2.Kid, k1.Kid)

	// Tokens signed by the active key change nothing.
	issueToken(t, s, newToken(u, k2.Kid, "t2", base.Add(time.Hour), base.Add(5*time.Hour)))
	checkKids(t, s, base.Add(3*time.Hour), k2.Kid)

	// A key retired twice over still verifies its live tokens.
	k3 := newSigningKey(t, s, base.Add(4*time.Hour))
	checkKids(t, s, base.Add(4*time.Hour), k3.Kid, k2.Kid)
	checkKids(t, s, base.Add(5*time.Hour), k3.Kid)

	// The keys come whole, as ListSigningKeys has them.
	k1.Retired, k2.Retired = &k2.Activates, &k3.Activates
	ks, err := s.VerificationKeys(t.Context(), base.Add(90*time.Minute))
	must(t, err)
	check(t, "VerificationKeys", ks, []*core.SigningKey{k3, k2, k1})
}

func countActive(ks []*core.SigningKey) int {
	n := 0
	for _, k := range ks {
		if k.Retired == nil {
			n++
		}
	}
	return n
}

// checkOneActive requires kid to be the only key in ks without Retired.
func checkOneActive(t *testing.T, ks []*core.SigningKey, kid string) {
	t.Helper()
	for _, k := range ks {
		if (k.Retired == nil) != (k.Kid == kid) {
			t.Errorf("key %s: Retired = %s; want only %s active", k.Kid, show(k.Retired), kid)
		}
	}
	if n := countActive(ks); n != 1 {
		t.Errorf("%d active keys, want 1", n)
	}
}

// checkKids requires VerificationKeys(now) to be the keys kids, newest first.
func checkKids(t *testing.T, s core.Store, now time.Time, kids ...string) {
	t.Helper()
	ks, err := s.VerificationKeys(t.Context(), now)
	must(t, err)
	var got []string
	for _, k := range ks {
		got = append(got, k.Kid)
	}
	if !slices.Equal(got, kids) {
		t.Errorf("VerificationKeys(%v) = %v, want %v", now, got, kids)
	}
}
