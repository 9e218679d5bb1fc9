package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/token"
)

// jwk is a public JSON Web Key as a verifier reads it, decoded
// independently of core's types.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// privateMembers are JWK members that carry secret material (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// fetchJWKS gets the published key set, checking it is served as one and
// holds only public, well-formed signature keys.
func (e *env) fetchJWKS() []jwk {
	e.t.Helper()
	r := e.do(http.MethodGet, jwksPath, "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %v", jwksPath, r)
	}
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/jwk-set+json" && mt != "application/json" {
		e.t.Errorf("JWKS Content-Type = %q", r.header.Get("Content-Type"))
	}
	var raw struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		e.t.Fatalf("JWKS %q: %v", r.body, err)
	}
	var keys []jwk
	for _, m := range raw.Keys {
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				e.t.Fatalf("JWKS publishes private member %q: %s", p, r.body)
			}
		}
		b, _ := json.Marshal(m)
		var k jwk
		if err := json.Unmarshal(b, &k); err != nil {
			e.t.Fatalf("JWK %s: %v", b, err)
		}
		if k.Kid == "" || k.Use != "sig" || k.Alg == "" {
			e.t.Errorf("JWK %s lacks kid, use=sig or alg", b)
		}
		if _, err := jwkPublicKey(k); err != nil {
			e.t.Errorf("JWK %s: %v", b, err)
		}
		keys = append(keys, k)
	}
	return keys
}

func kids(keys []jwk) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	sort.Strings(out)
	return out
}

// jwkPublicKey converts a JWK to the Go public key golang-jwt verifies with.
func jwkPublicKey(j jwk) (crypto.PublicKey, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch j.Kty {
	case "OKP":
		if j.Crv != "Ed25519" || j.Alg != "EdDSA" {
			return nil, fmt.Errorf("OKP key with crv %q, alg %q", j.Crv, j.Alg)
		}
		x, err := dec(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("OKP x: %d bytes, %v", len(x), err)
		}
		return ed25519.PublicKey(x), nil
	case "EC":
		if j.Crv != "P-256" || j.Alg != "ES256" {
			return nil, fmt.Errorf("EC key with crv %q, alg %q", j.Crv, j.Alg)
		}
		x, err1 := dec(j.X)
		y, err2 := dec(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("EC x/y: %d/%d bytes, %v %v", len(x), len(y), err1, err2)
		}
		// Rejects a point that is not on the curve.
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
	case "RSA":
		if j.Alg != "RS256" {
			return nil, fmt.Errorf("RSA key with alg %q", j.Alg)
		}
		n, err1 := dec(j.N)
		eb, err2 := dec(j.E)
		if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 || eb[0] == 0 || len(n) == 0 || n[0] == 0 {
			return nil, fmt.Errorf("RSA n/e malformed (%v, %v)", err1, err2)
		}
		exp := 0
		for _, b := range eb {
			exp = exp<<8 | int(b)
		}
		k := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
		if k.N.BitLen() < 2048 || exp < 3 || exp%2 == 0 {
			return nil, fmt.Errorf("RSA key too weak: %d bits, e=%d", k.N.BitLen(), exp)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unknown kty %q", j.Kty)
}

// verify checks tok the strict way a downstream service written in Go
// should: the one expected algorithm, expiry and issuer required, key by kid
// from the JWKS endpoint (decoded above, independently of jwtgate's key
// code), time from the env's clock. The claims are decoded into
// token.Claims, the type jwtgate offers such verifiers.
func (e *env) verify(tok, alg string) (*token.Claims, error) {
	keys := e.fetchJWKS()
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(testIssuer),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(e.clock),
	)
	c := &token.Claims{}
	_, err := p.ParseWithClaims(tok, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.Kid == kid {
				if k.Alg != t.Method.Alg() {
					return nil, fmt.Errorf("JWK %s is for %s, token says %s", kid, k.Alg, t.Method.Alg())
				}
				return jwkPublicKey(k)
			}
		}
		return nil, fmt.Errorf("kid %q not in JWKS %q", kid, kids(keys))
	})
	if err != nil {
		return nil, err
	}
	if c.ID == "" || c.Subject == "" || c.IssuedAt == nil || c.NotBefore == nil {
		return nil, errors.New("token lacks jti, sub, iat or nbf")
	}
	return c, nil
}

func (e *env) mustVerify(tok, alg string) *token.Claims {
	e.t.Helper()
	c, err := e.verify(tok, alg)
	if err != nil {
		e.t.Fatalf("verifying %s token: %v", alg, err)
	}
	return c
}

// segment decodes part i (0 header, 1 payload) of tok.
func segment(t *testing.T, tok string, i int) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return m
}

func sortedKeys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
