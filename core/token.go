package core

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms jwtgate can issue tokens with.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

// Algorithms lists the supported signing algorithms; the first is the default.
func Algorithms() []string { return []string{AlgEdDSA, AlgES256, AlgRS256, AlgHS256} }

// ParseAlg returns the canonical spelling of a signing algorithm name.
func ParseAlg(s string) (string, error) {
	for _, a := range Algorithms() {
		if strings.EqualFold(s, a) {
			return a, nil
		}
	}
	return "", Errorf(EINVALID, "unknown signing algorithm %q; use one of %s", clip(s, 32), strings.Join(Algorithms(), ", "))
}

// Claims are the claims of a jwtgate token.
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

// NewSigningKey generates a key for alg with a random kid.
func NewSigningKey(alg string, now time.Time) (*SigningKey, error) {
	k := &SigningKey{Kid: randomID(12), Alg: alg, Created: now.UTC()}
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgHS256:
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
	case AlgEdDSA:
		return jwt.SigningMethodEdDSA, nil
	case AlgES256:
		return jwt.SigningMethodES256, nil
	case AlgRS256:
		return jwt.SigningMethodRS256, nil
	case AlgHS256:
		return jwt.SigningMethodHS256, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// signingKey returns the key golang-jwt signs with for k.
func (k *SigningKey) signingKey() (any, error) {
	if k.Alg == AlgHS256 {
		return k.Private, nil
	}
	return x509.ParsePKCS8PrivateKey(k.Private)
}

// PublicKey returns the parsed public key (nil, nil for HS256).
func (k *SigningKey) PublicKey() (crypto.PublicKey, error) {
	if k.Alg == AlgHS256 {
		return nil, nil
	}
	return x509.ParsePKIXPublicKey(k.Public)
}

// Sign signs claims with k, setting the kid header.
func (k *SigningKey) Sign(c *Claims) (string, error) {
	m, err := signingMethod(k.Alg)
	if err != nil {
		return "", err
	}
	key, err := k.signingKey()
	if err != nil {
		return "", fmt.Errorf("signing key %s: %w", k.Kid, err)
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["kid"] = k.Kid
	return t.SignedString(key)
}

// JWK is one public key in JSON Web Key form (RFC 7517, 8037).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKSet is a JSON Web Key Set.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// JWK returns k's public key as a JWK; ok is false for HS256, whose secret
// is never published.
func (k *SigningKey) JWK() (j JWK, ok bool, err error) {
	pub, err := k.PublicKey()
	if err != nil || pub == nil {
		return j, false, err
	}
	enc := base64.RawURLEncoding.EncodeToString
	j = JWK{Kid: k.Kid, Use: "sig", Alg: k.Alg}
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
