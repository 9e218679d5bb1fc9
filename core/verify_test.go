package core_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/token"
)

// Refusal messages: each says exactly what is wrong.
const (
	msgRequired       = "jwt is required"
	msgMalformed      = "jwt is not a well-formed JSON Web Token"
	msgAlgNone        = `token is unsigned (alg "none"); only signed tokens are accepted`
	msgNoKid          = "token has no key id (kid) header"
	msgUnknownKid     = "token key id (kid) is not one of this service's keys"
	msgSignature      = "token signature is invalid"
	msgExpired        = "token has expired"
	msgNotYet         = "token is not valid yet (nbf is in the future)"
	msgIssuer         = "token was not issued by this service (iss)"
	msgClaims         = "token claims are invalid"
	msgNotKnown       = "token is not known to this service"
	msgRevoked        = "token has been revoked"
	msgClientIPNeeded = "token is bound to a client IP address; clientIp is required"
)

// attack is a call that must be refused. It starts from a token issued by
// issue(nil) (methods [Email], bound to boundIP, 10 credits, app Checkout)
// and the good call Email.IsValid from boundIP.
type attack struct {
	name  string
	class string // attacks of one class share one message; classes differ
	code  core.Code
	msg   string
	// identified: the refusal names a genuine, recorded token, so its
	// ledger line carries the token's account and application.
	identified bool
	// anonymous: the token was not made by this service, or names no
	// recorded token, so its refusal is attributed to no account.
	anonymous bool
	// make returns the token, method and client IP of the attack.
	make func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string)
}

func good(tok string) (string, string, string) { return tok, emailMethod, boundIP }

// signWith signs claims with a key the service does not own, with header
// fields set as given.
func signWith(t *testing.T, m jwt.SigningMethod, key any, c *token.Claims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	delete(tok.Header, "kid")
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("SignedString: %v", err)
	}
	return s
}

// attackerKey is an Ed25519 key of the attacker, and its JWK.
func attackerKey(t *testing.T, kid string) (ed25519.PrivateKey, core.JWK) {
	t.Helper()
	k, err := token.NewKey(core.AlgEdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	k.Kid = kid
	j, _, err := token.Strategy{}.PublicJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return priv.(ed25519.PrivateKey), j
}

func attacks() []attack {
	return []attack{
		{name: "WrongMethod", class: "method", code: core.EFORBIDDEN, identified: true,
			msg: "token does not allow method Phone.IsValid (allowed: Email)",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return tok, "Phone.IsValid", boundIP
			}},
		{name: "WrongMethodSameServicePrefix", class: "method2", code: core.EFORBIDDEN, identified: true,
			msg: "token does not allow method EmailX.IsValid (allowed: Email)",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return tok, "EmailX.IsValid", boundIP
			}},
		{name: "WrongIPv4", class: "ip4", code: core.EFORBIDDEN, identified: true,
			msg: "token is bound to client IP 198.51.100.9; 198.51.100.10 is not allowed",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return tok, emailMethod, "198.51.100.10"
			}},
		{name: "WrongIPv6AgainstIPv4Binding", class: "ip6", code: core.EFORBIDDEN, identified: true,
			msg: "token is bound to client IP 198.51.100.9; 2001:db8::9 is not allowed",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return tok, emailMethod, "2001:db8::9"
			}},
		{name: "WrongIPv4MappedIPv6", class: "ip4mapped", code: core.EFORBIDDEN, identified: true,
			msg: "token is bound to client IP 198.51.100.9; 198.51.100.8 is not allowed",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return tok, emailMethod, "::ffff:198.51.100.8"
			}},
		{name: "WrongIPv6", class: "ip6b", code: core.EFORBIDDEN, identified: true,
			msg: "token is bound to client IP 2001:db8::1; 2001:db8::2 is not allowed",
			make: func(t *testing.T, e *enf, _ string, _ *token.Claims) (string, string, string) {
				tok, _ := e.issue(func(r *core.GetJWTRequest) { r.ClientIP = "2001:DB8:0::1" })
				return tok, emailMethod, "2001:db8::2"
			}},
		{name: "OutsideCIDR", class: "cidr", code: core.EFORBIDDEN, identified: true,
			msg: "token is bound to client IP 198.51.100.0/24; 198.51.101.1 is not allowed",
			make: func(t *testing.T, e *enf, _ string, _ *token.Claims) (string, string, string) {
				tok, _ := e.issue(func(r *core.GetJWTRequest) { r.ClientIP = "198.51.100.77/24" })
				return tok, emailMethod, "198.51.101.1"
			}},
		{name: "OutsideIPv6CIDR", class: "cidr6", code: core.EFORBIDDEN, identified: true,
			msg: "token is bound to client IP 2001:db8:1::/48; 2001:db8:2::1 is not allowed",
			make: func(t *testing.T, e *enf, _ string, _ *token.Claims) (string, string, string) {
				tok, _ := e.issue(func(r *core.GetJWTRequest) { r.ClientIP = "2001:db8:1::/48" })
				return tok, emailMethod, "2001:db8:2::1"
			}},
		{name: "MissingClientIP", class: "noip", code: core.EFORBIDDEN, identified: true, msg: msgClientIPNeeded,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return tok, emailMethod, "  "
			}},
		{name: "Expired", class: "expired", code: core.EUNAUTHORIZED, msg: msgExpired,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				// Valid up to the last instant of the leeway, refused from its end.
				e.advance(expiry(c).Add(core.Leeway - time.Nanosecond).Sub(e.clock()))
				if _, err := e.verify(good(tok)); err != nil {
					t.Fatalf("within the leeway: %v", err)
				}
				e.advance(time.Nanosecond)
				return good(tok)
			}},
		{name: "NotYetValid", class: "nbf", code: core.EUNAUTHORIZED, msg: msgNotYet,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				// The recorded token, re-signed by the real key with nbf beyond the leeway.
				return good(e.resign(c, func(c *token.Claims) {
					c.NotBefore = jwt.NewNumericDate(e.clock().Add(core.Leeway + 2*time.Second))
				}))
			}},
		{name: "IssuedInTheFuture", class: "nbf", code: core.EUNAUTHORIZED, msg: msgNotYet,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(e.resign(c, func(c *token.Claims) {
					c.IssuedAt = jwt.NewNumericDate(e.clock().Add(time.Hour))
				}))
			}},
		{name: "Revoked", class: "revoked", code: core.EUNAUTHORIZED, msg: msgRevoked, identified: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
					t.Fatalf("RevokeJWT: %v", err)
				}
				return good(tok)
			}},
		{name: "TamperedPayload", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				p := tokenPayload(t, tok)
				p["allowed_methods"] = []byte(`["Phone"]`)
				p["max_credits"] = []byte(`1000000`)
				p["client_ip"] = []byte(`"203.0.113.66"`)
				return setSegment(t, tok, 1, p), "Phone.Lookup", "203.0.113.66"
			}},
		{name: "TamperedSubject", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				e.createUser("mallory", testPassword, 1)
				p := tokenPayload(t, tok)
				p["sub"], p["account"] = []byte(`"mallory"`), []byte(`"mallory"`)
				return good(setSegment(t, tok, 1, p))
			}},
		{name: "TruncatedSignature", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(tok[:len(tok)-4])
			}},
		{name: "AlgNone", class: "none", code: core.EUNAUTHORIZED, msg: msgAlgNone, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				unsigned := setSegment(t, tok, 0, map[string]any{"alg": "none", "typ": "JWT", "kid": kid})
				return good(unsigned[:strings.LastIndex(unsigned, ".")+1]) // empty signature
			}},
		{name: "AlgNoneKeepingSignature", class: "none", code: core.EUNAUTHORIZED, msg: msgAlgNone, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				return good(setSegment(t, tok, 0, map[string]any{"alg": "nOnE", "kid": kid}))
			}},
		{name: "HS256WithPublicKeyPEM", class: "confusion", code: core.EUNAUTHORIZED, anonymous: true,
			msg: "token algorithm HS256 does not match its key's algorithm EdDSA",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				k := e.activeKey()
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.Public})
				return good(signWith(t, jwt.SigningMethodHS256, secret, c, map[string]any{"kid": k.Kid}))
			}},
		{name: "HS256WithPublicKeyDER", class: "confusion", code: core.EUNAUTHORIZED, anonymous: true,
			msg: "token algorithm HS256 does not match its key's algorithm EdDSA",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				k := e.activeKey()
				return good(signWith(t, jwt.SigningMethodHS256, k.Public, c, map[string]any{"kid": k.Kid}))
			}},
		{name: "HS256WithRawPublicKey", class: "confusion", code: core.EUNAUTHORIZED, anonymous: true,
			msg: "token algorithm HS256 does not match its key's algorithm EdDSA",
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				k := e.activeKey()
				pub, err := token.PublicKey(k)
				if err != nil {
					t.Fatal(err)
				}
				return good(signWith(t, jwt.SigningMethodHS256, []byte(pub.(ed25519.PublicKey)), c, map[string]any{"kid": k.Kid}))
			}},
		{name: "AlgNotAccepted", class: "alg", code: core.EUNAUTHORIZED, anonymous: true,
			msg: `token algorithm "HS512" is not accepted; jwtgate signs with EdDSA, ES256, RS256, HS256`,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(signWith(t, jwt.SigningMethodHS512, e.activeKey().Public, c, map[string]any{"kid": e.activeKey().Kid}))
			}},
		{name: "UnknownKid", class: "kid", code: core.EUNAUTHORIZED, msg: msgUnknownKid, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				priv, _ := attackerKey(t, "attacker-kid")
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": "attacker-kid"}))
			}},
		{name: "UnknownKidRealSignature", class: "kid", code: core.EUNAUTHORIZED, msg: msgUnknownKid, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				// The header changes, so the signature cannot hold either:
				// the kid is what is reported, as it is checked first.
				return good(setSegment(t, tok, 0, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid + "x"}))
			}},
		{name: "MissingKid", class: "nokid", code: core.EUNAUTHORIZED, msg: msgNoKid, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				priv, err := x509.ParsePKCS8PrivateKey(e.activeKey().Private)
				if err != nil {
					t.Fatal(err)
				}
				// Signed by the real key, but without a kid.
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, nil))
			}},
		{name: "OtherKeyRightKid", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				priv, _ := attackerKey(t, kid)
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": kid}))
			}},
		{name: "EmbeddedJWK", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				priv, j := attackerKey(t, kid)
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": kid, "jwk": j}))
			}},
		{name: "JKU", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				priv, _ := attackerKey(t, kid)
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{
					"kid": kid, "jku": "https://attacker.example/.well-known/jwks.json"}))
			}},
		{name: "X5U", class: "signature", code: core.EUNAUTHORIZED, msg: msgSignature, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				_, kid := tokenHeader(t, tok)
				priv, _ := attackerKey(t, kid)
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{
					"kid": kid, "x5u": "https://attacker.example/cert.pem"}))
			}},
		{name: "EmbeddedJWKNoKid", class: "nokid", code: core.EUNAUTHORIZED, msg: msgNoKid, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				priv, j := attackerKey(t, "")
				return good(signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"jwk": j, "jku": "https://attacker.example/jwks"}))
			}},
		{name: "WrongIssuer", class: "issuer", code: core.EUNAUTHORIZED, msg: msgIssuer,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(e.resign(c, func(c *token.Claims) { c.Issuer = "someone-else" }))
			}},
		{name: "MissingExp", class: "claims", code: core.EUNAUTHORIZED, msg: msgClaims,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(e.resign(c, func(c *token.Claims) { c.ExpiresAt = nil }))
			}},
		{name: "MissingJTI", class: "claims", code: core.EUNAUTHORIZED, msg: msgClaims,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(e.resign(c, func(c *token.Claims) { c.ID = "" }))
			}},
		{name: "NotRecorded", class: "unknown", code: core.EUNAUTHORIZED, msg: msgNotKnown, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				// A valid signature by the active key, for a jti never issued.
				return good(e.resign(c, func(c *token.Claims) { c.ID = "never-issued-jti" }))
			}},
		{name: "Garbage", class: "malformed", code: core.EUNAUTHORIZED, msg: msgMalformed, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good("this is not a token")
			}},
		{name: "GarbageThreeSegments", class: "malformed", code: core.EUNAUTHORIZED, msg: msgMalformed, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good("a.b.c")
			}},
		{name: "TwoSegments", class: "malformed", code: core.EUNAUTHORIZED, msg: msgMalformed, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(tok[:strings.LastIndex(tok, ".")])
			}},
		{name: "BearerPrefix", class: "malformed", code: core.EUNAUTHORIZED, msg: msgMalformed, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good("Bearer " + tok)
			}},
		{name: "Empty", class: "empty", code: core.EUNAUTHORIZED, msg: msgRequired, anonymous: true,
			make: func(t *testing.T, e *enf, tok string, c *token.Claims) (string, string, string) {
				return good(" \t")
			}},
	}
}

// TestService_VerifyJWT_Attacks refuses each attack, through VerifyJWT and
// ChargeJWT alike, with its own accurate message, and charges nothing.
func TestService_VerifyJWT_Attacks(t *testing.T) {
	got := map[string]string{} // attack name -> message seen
	for _, a := range attacks() {
		t.Run(a.name, func(t *testing.T) {
			e := newEnf(t)
			tok, c := e.issue(nil)
			jwtStr, method, ip := a.make(t, e, tok, c)
			balance := e.balance(testUser)
			lines := len(e.ledger())

			info, err := e.verify(jwtStr, method, ip)
			if info != nil {
				t.Errorf("VerifyJWT returned %+v with its error", info)
			}
			assertExact(t, err, a.code, a.msg)
			if n := len(e.ledger()); n != lines {
				t.Errorf("VerifyJWT wrote %d ledger lines", n-lines)
			}
			got[a.name] = core.ErrorMessage(err)

			res, err := e.charge(jwtStr, method, 1, ip, "req-1")
			if res != nil {
				t.Errorf("ChargeJWT returned %+v with its error", res)
			}
			assertExact(t, err, a.code, a.msg)
			if b := e.balance(testUser); b != balance {
				t.Errorf("balance %d -> %d after a refused charge", balance, b)
			}
			if spent := e.token(c.ID).CreditsSpent; spent != 0 {
				t.Errorf("token spent %d after a refused charge", spent)
			}

			// The refusal is one ledger line, charging nothing.
			all := e.ledger()
			if len(all) != lines+1 {
				t.Fatalf("ledger has %d new lines, want 1: %+v", len(all)-lines, all[lines:])
			}
			l := all[lines]
			if l.Outcome != core.Outcome(a.code) || l.Credits != 0 {
				t.Errorf("ledger line %+v, want outcome %s and no credits", l, a.code)
			}
			if l.Method != method {
				t.Errorf("ledger method %q, want the method charged %q", l.Method, method)
			}
			switch {
			case a.identified:
				if l.Account != e.accountID(testUser) || l.Application != testApp || l.JTI == "" {
					t.Errorf("ledger line %+v, want the token's account, application %q and jti", l, testApp)
				}
			case a.anonymous:
				if l.Account != 0 || l.Application != "" || l.JTI != "" {
					t.Errorf("ledger line %+v attributes an unidentified token", l)
				}
			}
		})
	}

	// Distinct classes have distinct messages; one class has one message.
	t.Run("DistinctMessages", func(t *testing.T) {
		if len(got) != len(attacks()) {
			t.Skipf("%d of %d attacks ran; run them all to compare their messages", len(got), len(attacks()))
		}
		byClass := map[string]string{}
		for _, a := range attacks() {
			msg := got[a.name]
			if prev, ok := byClass[a.class]; ok && prev != msg {
				t.Errorf("class %s: %q and %q", a.class, prev, msg)
			}
			byClass[a.class] = msg
		}
		seen := map[string]string{}
		for class, msg := range byClass {
			if other, ok := seen[msg]; ok {
				t.Errorf("classes %s and %s share the message %q", class, other, msg)
			}
			seen[msg] = class
		}
		if len(byClass) < 20 {
			t.Errorf("only %d classes seen", len(byClass))
		}
	})
}

// TestService_VerifyJWT_AlgorithmConfusion signs HS256 tokens with the public
// key of each asymmetric algorithm, in every form a library might accept.
func TestService_VerifyJWT_AlgorithmConfusion(t *testing.T) {
	for _, alg := range []string{core.AlgEdDSA, core.AlgES256, core.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnf(t)
			k, err := e.svc.Admin.RotateSigningKey(e.ctx, alg, true)
			if err != nil {
				t.Fatal(err)
			}
			tok, c := e.issue(nil)
			if _, err := e.verify(good(tok)); err != nil {
				t.Fatalf("genuine %s token: %v", alg, err)
			}
			pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.Public})
			secrets := map[string][]byte{
				"DER":     k.Public,
				"PEM":     pemKey,
				"PEMTrim": []byte(strings.TrimSpace(string(pemKey))),
				"PEMCRLF": []byte(strings.ReplaceAll(string(pemKey), "\n", "\r\n")),
			}
			want := fmt.Sprintf("token algorithm HS256 does not match its key's algorithm %s", alg)
			for name, secret := range secrets {
				t.Run("HS256With"+name, func(t *testing.T) {
					forged := signWith(t, jwt.SigningMethodHS256, secret, c, map[string]any{"kid": k.Kid})
					_, err := e.verify(good(forged))
					assertExact(t, err, core.EUNAUTHORIZED, want)
					_, err = e.charge(forged, emailMethod, 1, boundIP, "")
					assertExact(t, err, core.EUNAUTHORIZED, want)
				})
			}
			// Another asymmetric algorithm under this kid is refused too.
			other := core.AlgEdDSA
			if alg == core.AlgEdDSA {
				other = core.AlgES256
			}
			ok, err := token.NewKey(other, t0)
			if err != nil {
				t.Fatal(err)
			}
			ok.Kid = k.Kid
			forged, err := token.SignClaims(ok, c)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.verify(good(forged))
			assertExact(t, err, core.EUNAUTHORIZED, fmt.Sprintf("token algorithm %s does not match its key's algorithm %s", other, alg))
			if spent := e.token(c.ID).CreditsSpent; spent != 0 {
				t.Errorf("token spent %d", spent)
			}
		})
	}

	// With an HS256 key, an asymmetric token under its kid is refused, and
	// an HS256 token signed with anything but the secret fails its signature.
	t.Run(core.AlgHS256, func(t *testing.T) {
		e := newEnf(t)
		k, err := e.svc.Admin.RotateSigningKey(e.ctx, core.AlgHS256, true)
		if err != nil {
			t.Fatal(err)
		}
		tok, c := e.issue(nil)
		if _, err := e.verify(good(tok)); err != nil {
			t.Fatalf("genuine HS256 token: %v", err)
		}
		priv, _ := attackerKey(t, k.Kid)
		forged := signWith(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": k.Kid})
		_, err = e.verify(good(forged))
		assertExact(t, err, core.EUNAUTHORIZED, "token algorithm EdDSA does not match its key's algorithm HS256")
		forged = signWith(t, jwt.SigningMethodHS256, []byte("guessed secret"), c, map[string]any{"kid": k.Kid})
		_, err = e.verify(good(forged))
		assertExact(t, err, core.EUNAUTHORIZED, msgSignature)
	})
}

// TestService_VerifyJWT_RetiredKey: a token signed by a key since rotated
// out still verifies; rotation invalidates nothing.
func TestService_VerifyJWT_RetiredKey(t *testing.T) {
	e := newEnf(t)
	tok, _ := e.issue(nil)
	if _, err := e.svc.Admin.RotateSigningKey(e.ctx, "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(good(tok)); err != nil {
		t.Errorf("token of a retired key: %v", err)
	}
	newTok, _ := e.issue(nil)
	if _, err := e.verify(good(newTok)); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
}

func TestService_VerifyJWT_ClientIP(t *testing.T) {
	for _, tc := range []struct {
		name, binding string
		ok, refused   []string
	}{
		{"IPv4", "198.51.100.9",
			[]string{"198.51.100.9", " 198.51.100.9 ", "::ffff:198.51.100.9", "::FFFF:c633:6409"},
			[]string{"198.51.100.10", "2001:db8::9", "::198.51.100.9", "64:ff9b::198.51.100.9"}},
		{"IPv4MappedBinding", "::ffff:198.51.100.9",
			[]string{"198.51.100.9", "::ffff:198.51.100.9"},
			[]string{"198.51.100.8"}},
		{"IPv6", "2001:db8::1",
			[]string{"2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:0db8::0001"},
			[]string{"2001:db8::2", "198.51.100.9"}},
		{"IPv4CIDR", "198.51.100.0/24",
			[]string{"198.51.100.0", "198.51.100.255", "::ffff:198.51.100.1"},
			[]string{"198.51.101.0", "198.51.99.255", "2001:db8::1"}},
		{"IPv4MappedCIDR", "::ffff:198.51.100.0/120",
			[]string{"198.51.100.3", "::ffff:198.51.100.3"},
			[]string{"198.51.101.3"}},
		{"IPv6CIDR", "2001:db8:1::/48",
			[]string{"2001:db8:1::1", "2001:db8:1:ffff:ffff:ffff:ffff:ffff"},
			[]string{"2001:db8:2::1", "198.51.100.9"}},
		{"Unbound", "",
			[]string{"198.51.100.9", "2001:db8::1", ""},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnf(t)
			tok, c := e.issue(func(r *core.GetJWTRequest) { r.ClientIP = tc.binding })
			for _, ip := range tc.ok {
				if _, err := e.verify(tok, emailMethod, ip); err != nil {
					t.Errorf("VerifyJWT from %q: %v", ip, err)
				}
				if _, err := e.charge(tok, emailMethod, 1, ip, ""); err != nil {
					t.Errorf("ChargeJWT from %q: %v", ip, err)
				}
			}
			for _, ip := range tc.refused {
				_, err := e.verify(tok, emailMethod, ip)
				assertErr(t, err, core.EFORBIDDEN, "token is bound to client IP "+c.ClientIP+"; ", " is not allowed")
				_, err = e.charge(tok, emailMethod, 1, ip, "")
				assertErr(t, err, core.EFORBIDDEN, "token is bound to client IP "+c.ClientIP+"; ")
			}
			if spent := e.token(c.ID).CreditsSpent; spent != int64(len(tc.ok)) {
				t.Errorf("token spent %d, want %d", spent, len(tc.ok))
			}
		})
	}

	t.Run("ErrInvalidClientIP", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.issue(nil)
		for _, ip := range []string{"198.51.100.9/32", "198.51.100", "fe80::1%eth0", "localhost", "198.51.100.9:443"} {
			_, err := e.verify(tok, emailMethod, ip)
			assertExact(t, err, core.EINVALID, fmt.Sprintf("clientIp %q is not a valid IP address", ip))
		}
	})
}

func TestService_VerifyJWT_Methods(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		ok      []string
		refused []string
	}{
		{"ServiceEntry", []string{"email"},
			[]string{"Email.IsValid", "EMAIL.ISVALID", "email.Other"},
			[]string{"Phone.IsValid", "EmailX.IsValid", "Emai.IsValid", "X.Email"}},
		{"MethodEntry", []string{"Email.IsValid"},
			[]string{"Email.IsValid", "email.isvalid"},
			[]string{"Email.Other", "Email.IsValidX", "Phone.IsValid"}},
		{"Mixed", []string{"Phone", "Email.IsValid", "UserAdmin.GetUsage"},
			[]string{"phone.Lookup", "Email.IsValid", "UserAdmin.GetUsage"},
			[]string{"Email.Other", "UserAdmin.GetJWT"}},
		{"Unlimited", nil,
			[]string{"Email.IsValid", "Anything.At_All", "a.b"},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnf(t)
			tok, c := e.issue(func(r *core.GetJWTRequest) { r.AllowedMethods = tc.allowed })
			for _, m := range tc.ok {
				if _, err := e.verify(tok, m, boundIP); err != nil {
					t.Errorf("VerifyJWT(%s): %v", m, err)
				}
				if _, err := e.charge(tok, m, 1, boundIP, ""); err != nil {
					t.Errorf("ChargeJWT(%s): %v", m, err)
				}
			}
			for _, m := range tc.refused {
				want := fmt.Sprintf("token does not allow method %s (allowed: %s)", m, strings.Join(tc.allowed, ", "))
				_, err := e.verify(tok, m, boundIP)
				assertExact(t, err, core.EFORBIDDEN, want)
				_, err = e.charge(tok, m, 1, boundIP, "")
				assertExact(t, err, core.EFORBIDDEN, want)
			}
			if spent := e.token(c.ID).CreditsSpent; spent != int64(len(tc.ok)) {
				t.Errorf("token spent %d, want %d", spent, len(tc.ok))
			}
		})
	}

	t.Run("ErrMethodForm", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		for _, m := range []string{"Email", ".IsValid", "Email.", "Email.Is.Valid", "Email IsValid", "Email/IsValid",
			"Émail.IsValid", "Email.IsValid;", strings.Repeat("a", 64) + "." + strings.Repeat("b", 64)} {
			shown := m
			if len(shown) > 64 {
				shown = shown[:64] + "…" // long values are clipped in messages
			}
			want := fmt.Sprintf("method %q is not Service.Method (letters, digits and _ only)", shown)
			_, err := e.verify(tok, m, "")
			assertExact(t, err, core.EINVALID, want)
			_, err = e.charge(tok, m, 1, "", "")
			assertExact(t, err, core.EINVALID, want)
		}
		for _, m := range []string{"", "   "} {
			_, err := e.verify(tok, m, "")
			assertExact(t, err, core.EINVALID, "method is required (Service.Method)")
			_, err = e.charge(tok, m, 1, "", "")
			assertExact(t, err, core.EINVALID, "method is required (Service.Method)")
		}
		// The longest valid name is accepted.
		long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 64)
		if _, err := e.verify(tok, long, ""); err != nil {
			t.Errorf("%d-character method: %v", len(long), err)
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 0 {
			t.Errorf("token spent %d", spent)
		}
	})
}

func TestService_VerifyJWT_Result(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(func(r *core.GetJWTRequest) { r.AllowedMethods = []string{"Email", "Phone.Lookup"} })
		e.mustCharge(tok, emailMethod, 3, boundIP, "")
		e.advance(10 * time.Minute)
		lines := e.ledger()

		info, err := e.verify(tok, "email.isvalid", boundIP)
		if err != nil {
			t.Fatal(err)
		}
		want := core.TokenInfo{
			JTI: c.ID, Username: testUser, Account: testUser, Application: testApp,
			ExpiresAt: expiry(c).UTC(), AllowedMethods: []string{"Email", "Phone.Lookup"},
			TokenRemaining: ptr[int64](7), CreditsRemaining: testCredits - 3,
		}
		if fmt.Sprintf("%+v", derefInfo(info)) != fmt.Sprintf("%+v", derefInfo(&want)) {
			t.Errorf("TokenInfo =\n%+v\nwant\n%+v", derefInfo(info), derefInfo(&want))
		}
		if !info.ExpiresAt.Equal(expiry(c)) || info.ExpiresAt.Location() != time.UTC {
			t.Errorf("ExpiresAt = %v, want %v UTC", info.ExpiresAt, expiry(c))
		}
		// Read-only: nothing charged, nothing written.
		if b := e.balance(testUser); b != testCredits-3 {
			t.Errorf("balance = %d after VerifyJWT", b)
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 3 {
			t.Errorf("token spent = %d after VerifyJWT", spent)
		}
		if got := e.ledger(); !slices.Equal(got, lines) {
			t.Errorf("VerifyJWT changed the ledger: %+v", got[len(lines):])
		}
		for range 5 {
			if _, err := e.verify(good(tok)); err != nil {
				t.Fatal(err)
			}
		}
		if b := e.balance(testUser); b != testCredits-3 {
			t.Errorf("balance = %d after repeated VerifyJWT", b)
		}
	})

	t.Run("Unlimited", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		info, err := e.verify(tok, "Any.Method", "")
		if err != nil {
			t.Fatal(err)
		}
		if info.TokenRemaining != nil || info.CreditsRemaining != testCredits || len(info.AllowedMethods) != 0 ||
			info.Application != testApp || info.JTI != c.ID {
			t.Errorf("TokenInfo = %+v, want no token limit, %d credits, all methods", derefInfo(info), testCredits)
		}
	})

	t.Run("SpentToken", func(t *testing.T) {
		// A token that has spent its limit still verifies, with 0 remaining:
		// VerifyJWT says what the token may do, ChargeJWT refuses the spend.
		e := newEnf(t)
		tok, _ := e.issue(func(r *core.GetJWTRequest) { r.MaxCredits = ptr[int64](2) })
		e.mustCharge(tok, emailMethod, 2, boundIP, "")
		info, err := e.verify(good(tok))
		if err != nil {
			t.Fatal(err)
		}
		if info.TokenRemaining == nil || *info.TokenRemaining != 0 {
			t.Errorf("TokenRemaining = %v, want 0", info.TokenRemaining)
		}
	})

	t.Run("BalanceFollowsAccount", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.issue(nil)
		if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, 40); err != nil {
			t.Fatal(err)
		}
		info, err := e.verify(good(tok))
		if err != nil {
			t.Fatal(err)
		}
		if info.CreditsRemaining != testCredits+40 {
			t.Errorf("CreditsRemaining = %d, want %d", info.CreditsRemaining, testCredits+40)
		}
	})

	t.Run("APIKeyToken", func(t *testing.T) {
		e := newEnf(t)
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := e.issue(func(r *core.GetJWTRequest) { r.Username, r.Password = core.APIKeyUserPrefix+key, "" })
		info, err := e.verify(good(tok))
		if err != nil {
			t.Fatal(err)
		}
		if info.Username != testUser || info.Account != testUser {
			t.Errorf("username/account = %q/%q", info.Username, info.Account)
		}
	})
}

// derefInfo makes a TokenInfo printable with its TokenRemaining value.
func derefInfo(i *core.TokenInfo) any {
	type shown struct {
		core.TokenInfo
		Remaining string
	}
	s := shown{TokenInfo: *i, Remaining: "nil"}
	if i.TokenRemaining != nil {
		s.Remaining = fmt.Sprint(*i.TokenRemaining)
	}
	s.TokenInfo.TokenRemaining = nil
	return s
}
