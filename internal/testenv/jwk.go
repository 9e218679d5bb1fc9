package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
)

// JWK is a public JSON Web Key as a verifier reads it, declared apart from
// core's types so that the suites check jwtgate's keys against their own
// reading of RFC 7517/7518 (a core.JWK converts to it).
type JWK struct {
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

// PublicKey converts j to the Go public key golang-jwt verifies with, the
// strict way a downstream verifier should: the curve and the alg must
// agree with the key type, an EC point must be on its curve, and an RSA
// key must be at least 2048 bits with an odd exponent.
func PublicKey(j JWK) (crypto.PublicKey, error) {
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
