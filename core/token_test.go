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
)

func TestService_GetJWT_Token(t *testing.T) {
	for _, alg := range core.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			e.svc.Alg = alg
			key, err := e.svc.RotateSigningKey(e.ctx)
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
			if _, err := other.ParseWithClaims(res.JWT, &core.Claims{}, e.keyFunc); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				t.Errorf("parsing with another algorithm allowed: err = %v", err)
			}
			e.advance(90 * time.Minute)
			if _, err := e.tryParse(res.JWT); !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("at exp: err = %v, want expired", err)
			}

			// JWKS publishes asymmetric keys only.
			set, err := e.svc.JWKS(e.ctx)
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

func TestClaims_Validate(t *testing.T) {
	valid := func() *core.Claims {
		return &core.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: "j", Subject: "s"}}
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("valid claims: %v", err)
	}
	for name, mod := range map[string]func(*core.Claims){
		"no jti":        func(c *core.Claims) { c.ID = "" },
		"no sub":        func(c *core.Claims) { c.Subject = "" },
		"max_credits 0": func(c *core.Claims) { c.MaxCredits = ptr[int64](0) },
	} {
		c := valid()
		mod(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", name)
		}
	}
}

func TestSigningKey_JWK(t *testing.T) {
	dec := func(t *testing.T, s string) []byte {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("%q is not base64url without padding: %v", s, err)
		}
		return b
	}
	for _, alg := range core.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k, err := core.NewSigningKey(alg, t0)
			if err != nil {
				t.Fatal(err)
			}
			if k.Kid == "" || k.Alg != alg || !k.Created.Equal(t0) {
				t.Errorf("key kid/alg/created = %q/%q/%v", k.Kid, k.Alg, k.Created)
			}
			j, ok, err := k.JWK()
			if err != nil {
				t.Fatal(err)
			}
			if alg == core.AlgHS256 {
				if ok || j != (core.JWK{}) {
					t.Errorf("HS256 JWK = %+v, %v; want nothing", j, ok)
				}
				if pub, err := k.PublicKey(); pub != nil || err != nil {
					t.Errorf("HS256 PublicKey = %v, %v", pub, err)
				}
				if len(k.Private) < 32 {
					t.Errorf("HS256 secret is %d bytes", len(k.Private))
				}
				return
			}
			if !ok || j.Kid != k.Kid || j.Alg != alg || j.Use != "sig" {
				t.Errorf("JWK kid/alg/use = %q/%q/%q, ok=%v", j.Kid, j.Alg, j.Use, ok)
			}
			switch alg {
			case core.AlgEdDSA:
				if j.Kty != "OKP" || j.Crv != "Ed25519" || len(dec(t, j.X)) != 32 || j.Y != "" || j.N != "" || j.E != "" {
					t.Errorf("Ed25519 JWK = %+v", j)
				}
			case core.AlgES256:
				if j.Kty != "EC" || j.Crv != "P-256" || len(dec(t, j.X)) != 32 || len(dec(t, j.Y)) != 32 || j.N != "" || j.E != "" {
					t.Errorf("P-256 JWK = %+v", j)
				}
			case core.AlgRS256:
				if j.Kty != "RSA" || j.E != "AQAB" || len(dec(t, j.N)) != 256 || j.Crv != "" || j.X != "" {
					t.Errorf("RSA JWK = %+v", j)
				}
			}
			// The JWK, converted independently, verifies what the key signs.
			pub, err := jwkPublicKey(j)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := k.Sign(&core.Claims{RegisteredClaims: jwt.RegisteredClaims{
				ID: "j", Subject: "s", ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour)),
			}})
			if err != nil {
				t.Fatal(err)
			}
			p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return t0 }))
			if _, err := p.ParseWithClaims(signed, &core.Claims{}, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
				t.Errorf("verifying with the JWK: %v", err)
			}
			// JSON field names are the RFC's.
			b, _ := json.Marshal(j)
			var m map[string]string
			json.Unmarshal(b, &m)
			for _, f := range []string{"kty", "kid", "use", "alg"} {
				if m[f] == "" {
					t.Errorf("JWK JSON %s lacks %q", b, f)
				}
			}
		})
	}
	t.Run("ErrUnknownAlg", func(t *testing.T) {
		if _, err := core.NewSigningKey("none", t0); err == nil {
			t.Error("NewSigningKey(none) succeeded")
		}
	})
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
		set, err := e.svc.JWKS(e.ctx)
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

	old, err := e.db.ActiveSigningKey(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := e.req()
	r.ExpiresAt = fmtExpires(e.clock().Add(2 * time.Hour))
	res, _ := e.mustGetJWT(r)
	oldToken := res.JWT
	oldExp := e.parse(oldToken).ExpiresAt.Time

	e.advance(time.Minute)
	mid, err := e.svc.RotateSigningKey(e.ctx)
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
	newest, err := e.svc.RotateSigningKey(e.ctx)
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
	if err := e.svc.Ready(e.ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestService_EnsureSigningKey(t *testing.T) {
	e := newBareEnv(t)
	k1, err := e.svc.EnsureSigningKey(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := e.svc.EnsureSigningKey(e.ctx)
	if err != nil || k2.Kid != k1.Kid {
		t.Errorf("EnsureSigningKey twice: %v, kid %s then %s; want the same key", err, k1.Kid, k2.Kid)
	}
	e.svc.Alg = core.AlgES256
	k3, err := e.svc.EnsureSigningKey(e.ctx)
	if err != nil || k3.Alg != core.AlgES256 || k3.Kid == k1.Kid {
		t.Errorf("after changing Alg: %v, %+v; want a new ES256 key", err, k3)
	}
	active, err := e.db.ActiveSigningKey(e.ctx)
	if err != nil || active.Kid != k3.Kid {
		t.Errorf("active key = %v, %v; want %s", active, err, k3.Kid)
	}
}

func TestService_Ready(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.Ready(e.ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}
