package core_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/token"
)

func TestService_GetJWT_Token(t *testing.T) {
	for _, alg := range core.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			key, err := e.svc.Admin.RotateSigningKey(e.ctx, alg, true)
			if err != nil {
				t.Fatalf("RotateSigningKey: %v", err)
			}
			if key.Alg != alg {
				t.Fatalf("new key alg = %q, want %q", key.Alg, alg)
			}
			exp := t0.Add(90 * time.Minute).Truncate(time.Second)
			r := e.req()
			r.ExpiresAt = exp.Format(time.RFC3339)
			r.AllowedMethods = []string{"UserAdmin.GetJWT", "Phone"}
			r.MaxCredits = ptr[int64](42)
			r.Options = []core.Option{{Name: "ApplicationName", Value: "Checkout"}}
			r.ClientIP = "::ffff:198.51.100.9"
			res, err := e.getJWT(r)
			if err != nil {
				t.Fatalf("GetJWT: %v", err)
			}

			gotAlg, kid := tokenHeader(t, res.JWT)
			if gotAlg != alg || kid != key.Kid {
				t.Errorf("header alg/kid = %q/%q, want %q/%q", gotAlg, kid, alg, key.Kid)
			}
			c := e.parse(res.JWT) // strict: alg, exp, iss, iat, signature by JWKS (or the HS256 secret)

			now := t0.Truncate(time.Second)
			switch {
			case c.Issuer != core.DefaultIssuer:
				t.Errorf("iss = %q", c.Issuer)
			case c.Subject != testUser:
				t.Errorf("sub = %q", c.Subject)
			case c.IssuedAt == nil || !c.IssuedAt.Time.Equal(now):
				t.Errorf("iat = %v, want %v", c.IssuedAt, now)
			case c.NotBefore == nil || !c.NotBefore.Time.Equal(now):
				t.Errorf("nbf = %v, want %v", c.NotBefore, now)
			case c.ExpiresAt == nil || !c.ExpiresAt.Time.Equal(exp):
				t.Errorf("exp = %v, want %v", c.ExpiresAt, exp)
			case c.ID == "":
				t.Error("jti is empty")
			case c.Account != testUser:
				t.Errorf("account = %q", c.Account)
			case !slices.Equal(c.AllowedMethods, []string{"UserAdmin.GetJWT", "Phone"}):
				t.Errorf("allowed_methods = %q", c.AllowedMethods)
			case c.MaxCredits == nil || *c.MaxCredits != 42:
				t.Errorf("max_credits = %v", c.MaxCredits)
			case c.Application != "Checkout":
				t.Errorf("application = %q", c.Application)
			case c.ClientIP != "198.51.100.9":
				t.Errorf("client_ip = %q", c.ClientIP)
			case len(c.Audience) != 0:
				t.Errorf("aud = %q, want none", c.Audience)
			}
			// Times are whole seconds on the wire.
			p := tokenPayload(t, res.JWT)
			for _, name := range []string{"iat", "nbf", "exp"} {
				if strings.ContainsAny(string(p[name]), ".eE") {
					t.Errorf("%s = %s, want an integer", name, p[name])
				}
			}

			// The stored record matches the token.
			tok, err := e.db.TokenByJTI(e.ctx, c.ID)
			if err != nil {
				t.Fatalf("TokenByJTI: %v", err)
			}
			if tok.Kid != key.Kid || !tok.ExpiresAt.Equal(exp) || !tok.IssuedAt.Equal(now) {
				t.Errorf("stored token kid/iat/exp = %s/%v/%v", tok.Kid, tok.IssuedAt, tok.ExpiresAt)
			}

			// Strictness: a tampered payload, another algorithm, or a
			// clock past exp must all fail.
			parts := strings.Split(res.JWT, ".")
			forged := strings.Replace(string(mustDecode(t, parts[1])), `"alice"`, `"mallory"`, 1)
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
			if _, err := e.tryParse(strings.Join(parts, ".")); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				t.Errorf("tampered token: err = %v, want a signature error", err)
			}
			other := jwt.NewParser(jwt.WithValidMethods([]string{"none"}), jwt.WithExpirationRequired())
			if _, err := other.ParseWithClaims(res.JWT, &token.Claims{}, e.keyFunc); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				t.Errorf("parsing with another algorithm allowed: err = %v", err)
			}
			e.advance(90 * time.Minute)
			if _, err := e.tryParse(res.JWT); !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("at exp: err = %v, want expired", err)
			}

			// JWKS publishes asymmetric keys only.
			set, err := e.svc.KeyRing.JWKS(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(set)
			if alg == core.AlgHS256 {
				if len(set.Keys) != 0 || string(b) != `{"keys":[]}` {
					t.Errorf("JWKS with an HS256 key = %s, want {\"keys\":[]}", b)
				}
				if strings.Contains(string(b), base64.RawURLEncoding.EncodeToString(key.Private)) {
					t.Error("JWKS leaks the HS256 secret")
				}
			} else if len(set.Keys) != 1 || set.Keys[0].Kid != key.Kid {
				t.Errorf("JWKS = %s, want only %s", b, key.Kid)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestService_GetJWT_OptionalClaimsAbsent(t *testing.T) {
	e := newEnv(t)
	res, _ := e.mustGetJWT(e.req())
	p := tokenPayload(t, res.JWT)
	for _, name := range []string{"max_credits", "allowed_methods", "application", "client_ip", "aud"} {
		if v, ok := p[name]; ok {
			t.Errorf("claim %s = %s, want it absent", name, v)
		}
	}
	for _, name := range []string{"iss", "sub", "iat", "nbf", "exp", "jti", "account"} {
		if _, ok := p[name]; !ok {
			t.Errorf("claim %s is missing", name)
		}
	}
}

func TestService_GetJWT_UniqueJTI(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for range 20 {
		_, c := e.mustGetJWT(e.req())
		if seen[c.ID] {
			t.Fatalf("jti %q issued twice", c.ID)
		}
		if len(c.ID) < 16 {
			t.Errorf("jti %q is short", c.ID)
		}
		seen[c.ID] = true
	}
	if n := e.countTokens(); n != 20 {
		t.Errorf("tokens = %d, want 20", n)
	}
}

func TestParseAlg(t *testing.T) {
	for _, in := range []string{"eddsa", "EdDSA", "es256", "RS256", "hs256"} {
		got, err := core.ParseAlg(in)
		if err != nil || !strings.EqualFold(got, in) || !slices.Contains(core.Algorithms(), got) {
			t.Errorf("ParseAlg(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "none", "RS512", "ES256K"} {
		_, err := core.ParseAlg(in)
		assertErr(t, err, core.EINVALID, "algorithm")
	}
	if core.Algorithms()[0] != core.AlgEdDSA {
		t.Errorf("default algorithm = %s", core.Algorithms()[0])
	}
}

func TestService_KeyRotation(t *testing.T) {
	e := newEnv(t)
	kids := func() []string {
		t.Helper()
		set, err := e.svc.KeyRing.JWKS(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	old, err := e.db.ActiveSigningKey(e.ctx, e.clock())
	if err != nil {
		t.Fatal(err)
	}
	r := e.req()
	r.ExpiresAt = fmtExpires(e.clock().Add(2 * time.Hour))
	res, _ := e.mustGetJWT(r)
	oldToken := res.JWT
	oldExp := e.parse(oldToken).ExpiresAt.Time

	e.advance(time.Minute)
	mid, err := e.svc.Admin.RotateSigningKey(e.ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(); !slices.Equal(got, sorted(old.Kid, mid.Kid)) {
		t.Fatalf("JWKS after rotation = %q, want old and new", got)
	}
	// The old token still verifies through JWKS, and new tokens use the new key.
	e.parse(oldToken)
	res, _ = e.mustGetJWT(e.req()) // expires in one hour
	if _, kid := tokenHeader(t, res.JWT); kid != mid.Kid {
		t.Errorf("new token kid = %s, want %s", kid, mid.Kid)
	}

	// A key that signed nothing leaves JWKS as soon as it is retired.
	e.advance(time.Minute)
	newest, err := e.svc.Admin.RotateSigningKey(e.ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(); !slices.Equal(got, sorted(old.Kid, mid.Kid, newest.Kid)) {
		t.Fatalf("JWKS = %q, want all three (mid signed a live token)", got)
	}

	// Up to just before the old token's expiry its key is published.
	e.advance(oldExp.Sub(e.clock()) - time.Second)
	if got := kids(); !slices.Equal(got, sorted(old.Kid, newest.Kid)) {
		t.Errorf("JWKS 1s before the old token expires = %q, want old and newest (mid's token expired)", got)
	}
	e.parse(oldToken)

	// Once it has expired, the key goes; the active key stays.
	e.advance(2 * time.Second)
	if got := kids(); !slices.Equal(got, []string{newest.Kid}) {
		t.Errorf("JWKS after the old token expired = %q, want only %s", got, newest.Kid)
	}
	e.advance(1000 * time.Hour)
	if got := kids(); !slices.Equal(got, []string{newest.Kid}) {
		t.Errorf("JWKS much later = %q, want only the active key", got)
	}
	if err := e.svc.KeyRing.Ready(e.ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestService_EnsureSigningKey(t *testing.T) {
	e := newBareEnv(t)
	k1, err := e.svc.KeyRing.Ensure(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := e.svc.KeyRing.Ensure(e.ctx)
	if err != nil || k2.Kid != k1.Kid {
		t.Errorf("EnsureSigningKey twice: %v, kid %s then %s; want the same key", err, k1.Kid, k2.Kid)
	}
	e.svc.KeyRing.Alg = core.AlgES256
	k3, err := e.svc.KeyRing.Ensure(e.ctx)
	if err != nil || k3.Alg != core.AlgES256 || k3.Kid == k1.Kid {
		t.Errorf("after changing Alg: %v, %+v; want a new ES256 key", err, k3)
	}
	// The new key is published ahead: the old one signs until it activates.
	if !k3.Activates.Equal(k3.Created.Add(core.DefaultPublishAhead)) {
		t.Errorf("the new key signs from %v, want %v after its creation", k3.Activates, core.DefaultPublishAhead)
	}
	if again, err := e.svc.KeyRing.Ensure(e.ctx); err != nil || again.Kid != k3.Kid {
		t.Errorf("Ensure while the new key waits: %v, %+v; want %s again, not another rotation", err, again, k3.Kid)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{e.clock(), k1.Kid}, {k3.Activates, k3.Kid}} {
		active, err := e.db.ActiveSigningKey(e.ctx, tc.at)
		if err != nil || active.Kid != tc.want {
			t.Errorf("key signing at %v = %v, %v; want %s", tc.at, active, err, tc.want)
		}
	}
}

// TestKeyRing_PublishAhead: a rotated-in key is in the JWKS at once and
// signs from PublishAhead later; until then tokens keep the old kid.
// --now (Rotate's now) signs at once. The first key signs at once.
func TestKeyRing_PublishAhead(t *testing.T) {
	e := newEnv(t)
	old, err := e.db.ActiveSigningKey(e.ctx, e.clock())
	if err != nil || !old.Activates.Equal(old.Created) {
		t.Fatalf("the first key = %+v, %v; want it signing from its creation", old, err)
	}
	next, err := e.svc.Admin.RotateSigningKey(e.ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.svc.KeyRing.JWKS(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(set.Keys, func(j core.JWK) bool { return j.Kid == next.Kid }) {
		t.Errorf("JWKS right after the rotation lacks the new key %s", next.Kid)
	}
	issuedKid := func() string {
		t.Helper()
		res, err := e.getJWT(e.req())
		if err != nil {
			t.Fatal(err)
		}
		_, kid := tokenHeader(t, res.JWT)
		return kid
	}
	if kid := issuedKid(); kid != old.Kid {
		t.Errorf("a token right after the rotation names %s, want the old key %s", kid, old.Kid)
	}
	e.advance(core.DefaultPublishAhead - time.Millisecond)
	if kid := issuedKid(); kid != old.Kid {
		t.Errorf("a token just before the new key activates names %s, want %s", kid, old.Kid)
	}
	e.advance(time.Millisecond)
	if kid := issuedKid(); kid != next.Kid {
		t.Errorf("a token once the new key is active names %s, want %s", kid, next.Kid)
	}
	now, err := e.svc.Admin.RotateSigningKey(e.ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if kid := issuedKid(); kid != now.Kid {
		t.Errorf("after a rotation with now, a token names %s, want the new key %s at once", kid, now.Kid)
	}
}

func TestService_Ready(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.KeyRing.Ready(e.ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

// TestAdmin_RotateSigningKey: a rotation makes a new key of the algorithm
// asked for active, or of the active key's algorithm when none is asked for
// (not KeyRing.Alg, the algorithm of the first key); the previous key is
// retired at that moment.
func TestAdmin_RotateSigningKey(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		first := e.activeKey()
		if first.Alg != core.AlgEdDSA || e.svc.KeyRing.Alg != core.AlgEdDSA {
			t.Fatalf("first key %s, KeyRing.Alg %s; want EdDSA", first.Alg, e.svc.KeyRing.Alg)
		}
		v := e.svc.KeyRing.Version()
		e.advance(time.Minute)
		es, err := e.svc.Admin.RotateSigningKey(e.ctx, "es256", true)
		if err != nil || es.Alg != core.AlgES256 {
			t.Fatalf("RotateSigningKey(es256) = %+v, %v; want an ES256 key", es, err)
		}
		e.advance(time.Minute)
		again, err := e.svc.Admin.RotateSigningKey(e.ctx, "", true)
		if err != nil || again.Alg != core.AlgES256 || again.Kid == es.Kid {
			t.Fatalf(`RotateSigningKey("") = %+v, %v; want a new key of the active key's ES256`, again, err)
		}
		if got := e.svc.KeyRing.Version(); got != v+2 {
			t.Errorf("KeyRing.Version = %d after two rotations from %d", got, v)
		}
		if active := e.activeKey(); active.Kid != again.Kid || !active.Created.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("active key = %s made %v, want %s made now", active.Kid, active.Created, again.Kid)
		}
		keys, err := e.svc.Admin.SigningKeys(e.ctx)
		if err != nil || len(keys) != 3 {
			t.Fatalf("SigningKeys = %d keys, %v; want 3", len(keys), err)
		}
		for i, want := range []*time.Time{ptr(t0.Add(time.Minute)), ptr(t0.Add(2 * time.Minute)), nil} {
			got := keys[i].Retired
			if (got == nil) != (want == nil) || (got != nil && !got.Equal(*want)) {
				t.Errorf("key %d (%s) retired at %v, want %v", i, keys[i].Alg, got, want)
			}
		}
		res, _ := e.mustGetJWT(e.req())
		if alg, kid := tokenHeader(t, res.JWT); alg != core.AlgES256 || kid != again.Kid {
			t.Errorf("new token alg/kid = %s/%s, want ES256/%s", alg, kid, again.Kid)
		}
	})
	t.Run("NoKeyYet", func(t *testing.T) {
		// Without an active key, "" is the configured algorithm.
		db := testenv.OpenStore(t)
		cfg := testenv.Config(db)
		cfg.Alg = core.AlgRS256
		svc := core.New(cfg)
		k, err := svc.Admin.RotateSigningKey(t.Context(), "", true)
		if err != nil || k.Alg != core.AlgRS256 {
			t.Fatalf(`RotateSigningKey("") on an empty store = %+v, %v; want RS256`, k, err)
		}
	})
	t.Run("ErrAlg", func(t *testing.T) {
		e := newEnv(t)
		before, v := e.activeKey(), e.svc.KeyRing.Version()
		for _, alg := range []string{"none", "RS512", " EdDSA"} {
			_, err := e.svc.Admin.RotateSigningKey(e.ctx, alg, true)
			assertErr(t, err, core.EINVALID, "unknown signing algorithm")
		}
		if after := e.activeKey(); after.Kid != before.Kid || e.svc.KeyRing.Version() != v {
			t.Errorf("a refused rotation changed the active key or the key ring's version")
		}
	})
}
