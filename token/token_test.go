package token_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/token"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestClaims_Validate(t *testing.T) {
	valid := func() *token.Claims {
		return &token.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: "j", Subject: "s"}}
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("valid claims: %v", err)
	}
	for name, mod := range map[string]func(*token.Claims){
		"no jti":        func(c *token.Claims) { c.ID = "" },
		"no sub":        func(c *token.Claims) { c.Subject = "" },
		"max_credits 0": func(c *token.Claims) { c.MaxCredits = ptr[int64](0) },
	} {
		c := valid()
		mod(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", name)
		}
	}
}

// TestEncode: what core says a token says is what it carries, under the
// claim names downstream verifiers read, and comes back unchanged.
func TestEncode(t *testing.T) {
	c := &core.Claims{
		Issuer: "jwtgate", Subject: "alice", ID: "jti-1",
		IssuedAt: t0, NotBefore: t0, ExpiresAt: t0.Add(time.Hour),
		Account: "acme", AllowedMethods: []string{"Email", "Phone.Lookup"}, MaxCredits: ptr[int64](42),
		Application: "Checkout", ClientIP: "198.51.100.0/24",
	}
	enc := token.Encode(c)
	b, err := json.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"iss":"jwtgate","sub":"alice","exp":1893557045,"nbf":1893553445,"iat":1893553445,"jti":"jti-1",` +
		`"account":"acme","allowed_methods":["Email","Phone.Lookup"],"max_credits":42,"application":"Checkout","client_ip":"198.51.100.0/24"}`
	if string(b) != want {
		t.Errorf("encoded claims =\n%s\nwant\n%s", b, want)
	}
	if got := enc.Decode(); !reflect.DeepEqual(got, c) {
		t.Errorf("Decode(Encode(c)) =\n%+v\nwant\n%+v", got, c)
	}

	// Optional claims are absent, not empty; a zero time is no claim.
	b, _ = json.Marshal(token.Encode(&core.Claims{Subject: "alice", ID: "j", ExpiresAt: t0}))
	if string(b) != `{"sub":"alice","exp":1893553445,"jti":"j","account":""}` {
		t.Errorf("minimal claims = %s", b)
	}
	if d := token.Encode(&core.Claims{}).Decode(); !d.IssuedAt.IsZero() || !d.NotBefore.IsZero() || !d.ExpiresAt.IsZero() {
		t.Errorf("zero times decode to %+v", d)
	}
	// Decoded times are UTC.
	in := &core.Claims{ExpiresAt: t0.In(time.FixedZone("", 3600))}
	if got := token.Encode(in).Decode().ExpiresAt; got.Location() != time.UTC || !got.Equal(t0) {
		t.Errorf("exp decodes to %v, want %v UTC", got, t0)
	}
}

func TestNewKey_PublicJWK(t *testing.T) {
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
			k, err := token.NewKey(alg, t0.In(time.FixedZone("", 7200)))
			if err != nil {
				t.Fatal(err)
			}
			if k.Kid == "" || k.Alg != alg || !k.Created.Equal(t0) || k.Created.Location() != time.UTC {
				t.Errorf("key kid/alg/created = %q/%q/%v", k.Kid, k.Alg, k.Created)
			}
			if other, _ := token.NewKey(alg, t0); other.Kid == k.Kid || string(other.Private) == string(k.Private) {
				t.Error("two keys share a kid or a private key")
			}
			j, ok, err := token.Strategy{}.PublicJWK(k)
			if err != nil {
				t.Fatal(err)
			}
			if alg == core.AlgHS256 {
				if ok || j != (core.JWK{}) {
					t.Errorf("HS256 JWK = %+v, %v; want nothing", j, ok)
				}
				if pub, err := token.PublicKey(k); pub != nil || err != nil {
					t.Errorf("HS256 PublicKey = %v, %v", pub, err)
				}
				if len(k.Private) < 32 || k.Public != nil {
					t.Errorf("HS256 secret is %d bytes, public part %d bytes", len(k.Private), len(k.Public))
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
			pub, err := testenv.PublicKey(testenv.JWK(j))
			if err != nil {
				t.Fatal(err)
			}
			signed, err := token.Strategy{}.Sign(k, &core.Claims{ID: "j", Subject: "s", ExpiresAt: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return t0 }))
			parsed, err := p.ParseWithClaims(signed, &token.Claims{}, func(*jwt.Token) (any, error) { return pub, nil })
			if err != nil {
				t.Fatalf("verifying with the JWK: %v", err)
			}
			if kid, _ := parsed.Header["kid"].(string); kid != k.Kid {
				t.Errorf("token kid = %q, want the key's %q", kid, k.Kid)
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
		if _, err := token.NewKey("none", t0); err == nil {
			t.Error("NewKey(none) succeeded")
		}
		k, err := token.NewKey(core.AlgEdDSA, t0)
		if err != nil {
			t.Fatal(err)
		}
		k.Alg = "RS512"
		if _, err := token.SignClaims(k, token.Encode(&core.Claims{ID: "j", Subject: "s"})); err == nil {
			t.Error("signing with an unsupported algorithm succeeded")
		}
	})
}

// TestStrategy_Parse: Parse accepts a token only signed by the key its kid
// names, in that key's algorithm, and classifies every refusal as one fault.
func TestStrategy_Parse(t *testing.T) {
	var s token.Strategy
	keys := map[string]*core.SigningKey{}
	for _, alg := range core.Algorithms() {
		k, err := token.NewKey(alg, t0)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
	}
	lookup := func(kid string) (*core.SigningKey, error) {
		for _, k := range keys {
			if k.Kid == kid {
				return k, nil
			}
		}
		return nil, nil
	}
	check := &core.TimeCheck{Now: t0, Issuer: "jwtgate", Leeway: 5 * time.Second}
	claims := func() *core.Claims {
		return &core.Claims{Issuer: "jwtgate", Subject: "alice", ID: "jti-1", Account: "acme",
			IssuedAt: t0.Add(-time.Minute), NotBefore: t0.Add(-time.Minute), ExpiresAt: t0.Add(time.Hour)}
	}
	sign := func(t *testing.T, k *core.SigningKey, mod func(*core.Claims)) string {
		t.Helper()
		c := claims()
		if mod != nil {
			mod(c)
		}
		tok, err := s.Sign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("OK", func(t *testing.T) {
		for alg, k := range keys {
			got, err := s.Parse(sign(t, k, nil), lookup, check)
			if err != nil {
				t.Errorf("%s: %v", alg, err)
				continue
			}
			if !reflect.DeepEqual(got, claims()) {
				t.Errorf("%s: claims =\n%+v\nwant\n%+v", alg, got, claims())
			}
		}
	})

	ed := keys[core.AlgEdDSA]
	expired := sign(t, ed, func(c *core.Claims) { c.ExpiresAt = t0.Add(-6 * time.Second) })
	segment := func(tok string, i int, v string) string {
		parts := strings.Split(tok, ".")
		parts[i] = base64.RawURLEncoding.EncodeToString([]byte(v))
		return strings.Join(parts, ".")
	}
	good := sign(t, ed, nil)
	edKey, err := token.NewKey(core.AlgEdDSA, t0) // not one of the service's
	if err != nil {
		t.Fatal(err)
	}
	edKey.Kid = ed.Kid
	for _, tc := range []struct {
		name   string
		tok    string
		fault  core.TokenFault
		claims bool // the claims come back with the refusal
	}{
		{"Malformed", "not a token", core.FaultMalformed, false},
		{"TwoSegments", good[:strings.LastIndexByte(good, '.')], core.FaultMalformed, false},
		{"LineBreak", good[:20] + "\n" + good[20:], core.FaultMalformed, false},
		{"Unsigned", segment(good, 0, `{"alg":"none","kid":"`+ed.Kid+`"}`), core.FaultUnsigned, false},
		{"Algorithm", segment(good, 0, `{"alg":"HS512","kid":"`+ed.Kid+`"}`), core.FaultAlgorithm, false},
		{"NoKid", segment(good, 0, `{"alg":"EdDSA"}`), core.FaultNoKid, false},
		{"UnknownKid", segment(good, 0, `{"alg":"EdDSA","kid":"nope"}`), core.FaultUnknownKid, false},
		{"KeyAlgorithm", segment(good, 0, `{"alg":"ES256","kid":"`+ed.Kid+`"}`), core.FaultKeyAlgorithm, false},
		{"Signature", sign(t, edKey, nil), core.FaultSignature, false},
		{"TamperedPayload", segment(good, 1, `{"sub":"mallory","jti":"jti-1","exp":1893557045}`), core.FaultSignature, false},
		{"Expired", expired, core.FaultExpired, true},
		{"NotYet", sign(t, ed, func(c *core.Claims) { c.NotBefore = t0.Add(6 * time.Second) }), core.FaultNotYet, true},
		{"IssuedInTheFuture", sign(t, ed, func(c *core.Claims) { c.IssuedAt = t0.Add(time.Hour) }), core.FaultNotYet, true},
		{"Issuer", sign(t, ed, func(c *core.Claims) { c.Issuer = "other" }), core.FaultIssuer, true},
		{"NoExpiry", sign(t, ed, func(c *core.Claims) { c.ExpiresAt = time.Time{} }), core.FaultClaims, true},
		{"NoJTI", sign(t, ed, func(c *core.Claims) { c.ID = "" }), core.FaultClaims, false},
		{"NoSubject", sign(t, ed, func(c *core.Claims) { c.Subject = "" }), core.FaultClaims, true},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			got, err := s.Parse(tc.tok, lookup, check)
			var te *core.TokenError
			if !errors.As(err, &te) || te.Fault != tc.fault {
				t.Fatalf("Parse = %v, want fault %q", err, tc.fault)
			}
			if tc.claims != (got != nil) {
				t.Errorf("claims with the refusal = %+v, want them: %v", got, tc.claims)
			}
			if got != nil && got.ID != "jti-1" {
				t.Errorf("claims with the refusal name jti %q", got.ID)
			}
		})
	}

	t.Run("AlgorithmsNamed", func(t *testing.T) {
		_, err := s.Parse(segment(good, 0, `{"alg":"ES256","kid":"`+ed.Kid+`"}`), lookup, check)
		var te *core.TokenError
		if !errors.As(err, &te) || te.Alg != core.AlgES256 || te.KeyAlg != core.AlgEdDSA {
			t.Errorf("key-algorithm refusal = %+v", te)
		}
		_, err = s.Parse(segment(good, 0, `{"alg":"HS512","kid":"`+ed.Kid+`"}`), lookup, check)
		if !errors.As(err, &te) || te.Alg != "HS512" {
			t.Errorf("algorithm refusal = %+v", te)
		}
	})

	t.Run("SignatureOnly", func(t *testing.T) {
		// Without a time check, an expired token is genuine.
		got, err := s.Parse(expired, lookup, nil)
		if err != nil || got.ID != "jti-1" {
			t.Fatalf("Parse(expired, no check) = %+v, %v", got, err)
		}
		_, err = s.Parse(sign(t, edKey, nil), lookup, nil)
		var te *core.TokenError
		if !errors.As(err, &te) || te.Fault != core.FaultSignature {
			t.Errorf("a forged token without a time check: %v", err)
		}
	})

	t.Run("ErrLookup", func(t *testing.T) {
		// A failed look-up is the look-up's error, not a refusal of the token.
		broken := errors.New("store down")
		_, err := s.Parse(good, func(string) (*core.SigningKey, error) { return nil, broken }, check)
		var te *core.TokenError
		if !errors.Is(err, broken) || errors.As(err, &te) {
			t.Errorf("Parse with a failing look-up = %v, want %v", err, broken)
		}
	})
}
