// Package token is jwtgate's token strategy: what a signed token is. Tokens
// are JSON Web Tokens in JWS compact form, signed and checked with
// github.com/golang-jwt/jwt/v5, in the algorithm of the key their kid names.
// Core decides what a token may do; this package only encodes, signs and
// checks, and says why a token is refused (core.TokenError).
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/core"
)

// Strategy signs and checks jwtgate's tokens.
type Strategy struct{}

var _ core.TokenStrategy = Strategy{}

// Claims are a jwtgate token's claims as they are encoded. Downstream
// verifiers written in Go may decode into it.
type Claims struct {
	jwt.RegisteredClaims
	Account        string   `json:"account"`
	AllowedMethods []string `json:"allowed_methods,omitempty"`
	MaxCredits     *int64   `json:"max_credits,omitempty"`
	Application    string   `json:"application,omitempty"`
	ClientIP       string   `json:"client_ip,omitempty"`
}

// Validate checks what golang-jwt's registered-claim checks do not.
func (c *Claims) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("token has no jti")
	case c.Subject == "":
		return errors.New("token has no sub")
	case c.MaxCredits != nil && *c.MaxCredits < 1:
		return errors.New("token has a max_credits below 1")
	}
	return nil
}

// Encode returns the encoded form of c.
func Encode(c *core.Claims) *Claims {
	date := func(t time.Time) *jwt.NumericDate {
		if t.IsZero() {
			return nil
		}
		return jwt.NewNumericDate(t)
	}
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.Subject, ID: c.ID,
			IssuedAt: date(c.IssuedAt), NotBefore: date(c.NotBefore), ExpiresAt: date(c.ExpiresAt),
		},
		Account: c.Account, AllowedMethods: c.AllowedMethods, MaxCredits: c.MaxCredits,
		Application: c.Application, ClientIP: c.ClientIP,
	}
}

// Decode returns what c says.
func (c *Claims) Decode() *core.Claims {
	date := func(d *jwt.NumericDate) time.Time {
		if d == nil {
			return time.Time{}
		}
		return d.UTC()
	}
	return &core.Claims{
		Issuer: c.Issuer, Subject: c.Subject, ID: c.ID,
		IssuedAt: date(c.IssuedAt), NotBefore: date(c.NotBefore), ExpiresAt: date(c.ExpiresAt),
		Account: c.Account, AllowedMethods: c.AllowedMethods, MaxCredits: c.MaxCredits,
		Application: c.Application, ClientIP: c.ClientIP,
	}
}

// NewKey generates a key for alg with a random kid.
func (Strategy) NewKey(alg string, now time.Time) (*core.SigningKey, error) {
	return NewKey(alg, now)
}

// NewKey generates a key for alg with a random kid.
func NewKey(alg string, now time.Time) (*core.SigningKey, error) {
	kid := make([]byte, 12)
	if _, err := rand.Read(kid); err != nil {
		return nil, err
	}
	k := &core.SigningKey{Kid: base64.RawURLEncoding.EncodeToString(kid), Alg: alg, Created: now.UTC()}
	var priv crypto.Signer
	var err error
	switch alg {
	case core.AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case core.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case core.AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case core.AlgHS256:
		k.Private = make([]byte, 32)
		_, err = rand.Read(k.Private)
		return k, err
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	if k.Private, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
		return nil, err
	}
	if k.Public, err = x509.MarshalPKIXPublicKey(priv.Public()); err != nil {
		return nil, err
	}
	return k, nil
}

func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case core.AlgEdDSA:
		return jwt.SigningMethodEdDSA, nil
	case core.AlgES256:
		return jwt.SigningMethodES256, nil
	case core.AlgRS256:
		return jwt.SigningMethodRS256, nil
	case core.AlgHS256:
		return jwt.SigningMethodHS256, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// PublicKey returns k's parsed public key (nil, nil for HS256).
func PublicKey(k *core.SigningKey) (crypto.PublicKey, error) {
	if k.Alg == core.AlgHS256 {
		return nil, nil
	}
	return x509.ParsePKIXPublicKey(k.Public)
}

// Sign signs c with k, naming k's kid.
func (Strategy) Sign(k *core.SigningKey, c *core.Claims) (string, error) {
	return SignClaims(k, Encode(c))
}

// SignClaims signs encoded claims with k, naming k's kid; tests use it to
// make tokens that core would never sign.
func SignClaims(k *core.SigningKey, c *Claims) (string, error) {
	m, err := signingMethod(k.Alg)
	if err != nil {
		return "", err
	}
	var key any = k.Private
	if k.Alg != core.AlgHS256 {
		if key, err = x509.ParsePKCS8PrivateKey(k.Private); err != nil {
			return "", fmt.Errorf("signing key %s: %w", k.Kid, err)
		}
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["kid"] = k.Kid
	return t.SignedString(key)
}

// Parse checks raw (see core.TokenStrategy).
func (Strategy) Parse(raw string, lookup core.KeyLookup, check *core.TimeCheck) (*core.Claims, error) {
	if err := checkForm(raw); err != nil {
		return nil, err
	}
	// Strict base64url: a token is byte-exact, so the unused low bits of a
	// segment's last character cannot vary (found by FuzzVerifyJWT).
	opts := []jwt.ParserOption{jwt.WithValidMethods(core.Algorithms()), jwt.WithStrictDecoding()}
	if check != nil {
		opts = append(opts, jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithIssuer(check.Issuer),
			jwt.WithLeeway(check.Leeway), jwt.WithTimeFunc(func() time.Time { return check.Now }))
	} else {
		opts = append(opts, jwt.WithoutClaimsValidation())
	}
	var lookupErr error
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, &core.TokenError{Fault: core.FaultNoKid}
		}
		k, err := lookup(kid)
		switch {
		case err != nil:
			lookupErr = err
			return nil, err
		case k == nil:
			return nil, &core.TokenError{Fault: core.FaultUnknownKid}
		}
		// The key decides the algorithm, never the token: an HS256 token
		// "signed" with a public key, or any other mismatch, is refused.
		if t.Method.Alg() != k.Alg {
			return nil, &core.TokenError{Fault: core.FaultKeyAlgorithm, Alg: t.Method.Alg(), KeyAlg: k.Alg}
		}
		if k.Alg == core.AlgHS256 {
			return k.Private, nil
		}
		return PublicKey(k)
	}, opts...)
	if err != nil {
		if lookupErr != nil {
			return nil, lookupErr
		}
		if errors.Is(err, jwt.ErrTokenInvalidClaims) && claims.ID != "" {
			// golang-jwt validates claims only after the signature verified.
			return claims.Decode(), classify(err)
		}
		return nil, classify(err)
	}
	return claims.Decode(), nil
}

// checkForm refuses, before any key is looked up, a token that is not
// three base64url segments of the JWS compact form (nothing else: base64
// decoders skip line breaks, which would make one token many), whose header
// is unreadable or names an algorithm jwtgate never signs with, or whose
// signature segment does not decode.
func checkForm(raw string) error {
	malformed := &core.TokenError{Fault: core.FaultMalformed}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return malformed
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if c := p[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return malformed
			}
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil {
		return malformed
	}
	if strings.EqualFold(h.Alg, "none") {
		return &core.TokenError{Fault: core.FaultUnsigned}
	}
	if !slices.Contains(core.Algorithms(), h.Alg) {
		return &core.TokenError{Fault: core.FaultAlgorithm, Alg: h.Alg}
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(parts[2]); err != nil {
		return &core.TokenError{Fault: core.FaultSignature}
	}
	return nil
}

// classify maps golang-jwt's errors to one fault each.
func classify(err error) error {
	var te *core.TokenError
	fault := core.FaultClaims
	switch {
	case errors.As(err, &te):
		return te
	case errors.Is(err, jwt.ErrTokenMalformed):
		fault = core.FaultMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		fault = core.FaultSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		fault = core.FaultExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		fault = core.FaultNotYet
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		fault = core.FaultIssuer
	}
	return &core.TokenError{Fault: fault}
}

// PublicJWK returns k's public key as a JWK; ok is false for HS256, whose
// secret is never published.
func (Strategy) PublicJWK(k *core.SigningKey) (j core.JWK, ok bool, err error) {
	pub, err := PublicKey(k)
	if err != nil || pub == nil {
		return j, false, err
	}
	enc := base64.RawURLEncoding.EncodeToString
	j = core.JWK{Kid: k.Kid, Use: "sig", Alg: k.Alg}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc(p)
	case *ecdsa.PublicKey:
		ecdh, err := p.ECDH()
		if err != nil {
			return j, false, err
		}
		b := ecdh.Bytes() // 0x04 || X || Y, fixed width
		size := (len(b) - 1) / 2
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", enc(b[1:1+size]), enc(b[1+size:])
	case *rsa.PublicKey:
		j.Kty, j.N = "RSA", enc(p.N.Bytes())
		e := p.E
		var eb []byte
		for ; e > 0; e >>= 8 {
			eb = append([]byte{byte(e)}, eb...)
		}
		j.E = enc(eb)
	default:
		return j, false, fmt.Errorf("unsupported public key %T", pub)
	}
	return j, true, nil
}
