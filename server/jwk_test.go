package server_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/token"
)

// privateMembers are JWK members that carry secret material (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// fetchJWKS gets the published key set, checking it is served as one and
// holds only public, well-formed signature keys.
func (e *env) fetchJWKS() []testenv.JWK {
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
	var keys []testenv.JWK
	for _, m := range raw.Keys {
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				e.t.Fatalf("JWKS publishes private member %q: %s", p, r.body)
			}
		}
		b, _ := json.Marshal(m)
		var k testenv.JWK
		if err := json.Unmarshal(b, &k); err != nil {
			e.t.Fatalf("JWK %s: %v", b, err)
		}
		if k.Kid == "" || k.Use != "sig" || k.Alg == "" {
			e.t.Errorf("JWK %s lacks kid, use=sig or alg", b)
		}
		if _, err := testenv.PublicKey(k); err != nil {
			e.t.Errorf("JWK %s: %v", b, err)
		}
		keys = append(keys, k)
	}
	return keys
}

func kids(keys []testenv.JWK) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	sort.Strings(out)
	return out
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
				return testenv.PublicKey(k)
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
