package core

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 5 * time.Second

// KeyRing holds the signing keys: the active one signs, retired ones keep
// verifying the tokens they signed. It signs and verifies tokens through
// the token strategy, and publishes the public keys (JWKS).
type KeyRing struct {
	Store    SigningKeyStore
	Strategy TokenStrategy
	Alg      string // algorithm of new keys
	Issuer   string // the iss claim of every token signed and accepted
	// PublishAhead is how long a new key is published before it signs:
	// longer than any instance's key set takes to be re-read, so that no
	// verifier sees a kid before the key it names.
	PublishAhead time.Duration
	Now          func() time.Time

	version atomic.Uint64
	mu      sync.RWMutex
	byKid   map[string]*SigningKey // a kid never changes its key
	sigs    sigCache
}

// DefaultPublishAhead is KeyRing.PublishAhead's default: twice the second
// for which a server keeps its encoded key set.
const DefaultPublishAhead = 2 * time.Second

// Ensure makes sure a signing key of k.Alg exists: it makes one that signs
// at once when there is none, and rotates to one (published ahead) when the
// newest key is of another algorithm.
func (k *KeyRing) Ensure(ctx context.Context) (*SigningKey, error) {
	keys, err := k.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, Internal(err)
	}
	switch cur := newest(keys); {
	case cur == nil:
		return k.rotate(ctx, k.Alg, 0)
	case cur.Alg != k.Alg:
		return k.rotate(ctx, k.Alg, k.PublishAhead)
	default:
		return cur, nil
	}
}

// newest is the key the last rotation made: the one not retired (a
// rotation retires the key before it, at the moment the new one starts
// signing). Creation times alone may tie: two rotations within the
// store's precision, or a test's stopped clock.
func newest(keys []*SigningKey) *SigningKey {
	for _, key := range slices.Backward(keys) {
		if key.Retired == nil {
			return key
		}
	}
	if len(keys) > 0 {
		return keys[len(keys)-1]
	}
	return nil
}

// Rotate adds a key of alg (k.Alg when empty) that is published at once and
// signs after k.PublishAhead (at once with now). The key it replaces is
// retired then, and stays published while tokens it signed live.
func (k *KeyRing) Rotate(ctx context.Context, alg string, now bool) (*SigningKey, error) {
	if now {
		return k.rotate(ctx, alg, 0)
	}
	return k.rotate(ctx, alg, k.PublishAhead)
}

func (k *KeyRing) rotate(ctx context.Context, alg string, ahead time.Duration) (*SigningKey, error) {
	if alg == "" {
		alg = k.Alg
	}
	alg, err := ParseAlg(alg)
	if err != nil {
		return nil, err
	}
	if ahead > 0 {
		// The first key has nobody to be published ahead of.
		if _, err := k.Store.ActiveSigningKey(ctx, k.Now().UTC()); errors.Is(err, ErrNotFound) {
			ahead = 0
		} else if err != nil {
			return nil, Internal(err)
		}
	}
	// Generate outside the store's transaction: RSA generation is slow.
	key, err := k.Strategy.NewKey(alg, k.Now().UTC())
	if err != nil {
		return nil, Internal(err)
	}
	key.Activates = key.Created.Add(ahead)
	if err := k.Store.RotateSigningKey(ctx, key); err != nil {
		return nil, Internal(err)
	}
	k.version.Add(1)
	return key, nil
}

// Version changes whenever this KeyRing rotates a key, so that a cached key
// set can be refreshed at once. Rotations by another process are not seen:
// caches also expire with time.
func (k *KeyRing) Version() uint64 { return k.version.Load() }

// Keys lists every signing key, oldest first.
func (k *KeyRing) Keys(ctx context.Context) ([]*SigningKey, error) {
	keys, err := k.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, Internal(err)
	}
	return keys, nil
}

// JWKS returns the public keys that can verify a live token.
func (k *KeyRing) JWKS(ctx context.Context) (*JWKSet, error) {
	keys, err := k.Store.VerificationKeys(ctx, k.Now().UTC())
	if err != nil {
		return nil, Internal(err)
	}
	set := &JWKSet{Keys: []JWK{}}
	for _, key := range keys {
		j, ok, err := k.Strategy.PublicJWK(key)
		if err != nil {
			return nil, Internal(err)
		}
		if ok {
			set.Keys = append(set.Keys, j)
		}
	}
	return set, nil
}

// Ready reports whether tokens can be issued.
func (k *KeyRing) Ready(ctx context.Context) error {
	_, err := k.Store.ActiveSigningKey(ctx, k.Now().UTC())
	return err
}

// sign signs c with the active key, as k.Issuer. The key is read for each
// token: a rotation by any instance or the CLI takes effect at its
// activation on every instance.
func (k *KeyRing) sign(ctx context.Context, c *Claims) (kid, token string, err error) {
	key, err := k.Store.ActiveSigningKey(ctx, k.Now().UTC())
	if err != nil {
		return "", "", Internal(err)
	}
	c.Issuer = k.Issuer
	token, err = k.Strategy.Sign(key, c)
	if err != nil {
		return "", "", Internal(err)
	}
	return key.Kid, token, nil
}

// verify checks a token's signature and its time and issuer at now. A
// token that verified is remembered until it expires: a signature is the
// largest CPU cost of a metered call, and the same token comes again and
// again. When only the time or issuer fails, the claims come back with the
// refusal, so that it can be attributed.
func (k *KeyRing) verify(ctx context.Context, raw string, now time.Time) (*Claims, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errTokenMissing
	}
	if c, ok := k.sigs.get(raw, now); ok {
		return c, nil
	}
	c, err := k.parse(ctx, raw, &TimeCheck{Now: now, Issuer: k.Issuer, Leeway: Leeway})
	if err == nil {
		k.sigs.put(raw, c)
	}
	return c, err
}

// verifySignature checks only a token's signature: expired, early or not,
// it is genuine.
func (k *KeyRing) verifySignature(ctx context.Context, raw string) (*Claims, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errTokenMissing
	}
	return k.parse(ctx, raw, nil)
}

func (k *KeyRing) parse(ctx context.Context, raw string, check *TimeCheck) (*Claims, error) {
	var lookupErr error
	c, err := k.Strategy.Parse(raw, func(kid string) (*SigningKey, error) {
		key, err := k.keyByKid(ctx, kid)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		lookupErr = err
		return key, err
	}, check)
	switch {
	case lookupErr != nil:
		return nil, Internal(lookupErr)
	case err != nil:
		var te *TokenError
		if !errors.As(err, &te) {
			return nil, Internal(err)
		}
		return c, tokenRefusal(te)
	case c.ID == "":
		return nil, errTokenClaims
	}
	return c, nil
}

// keyByKid returns a signing key, cached: a kid never changes its key.
func (k *KeyRing) keyByKid(ctx context.Context, kid string) (*SigningKey, error) {
	k.mu.RLock()
	key := k.byKid[kid]
	k.mu.RUnlock()
	if key != nil {
		return key, nil
	}
	key, err := k.Store.SigningKeyByKid(ctx, kid)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if k.byKid == nil {
		k.byKid = make(map[string]*SigningKey)
	}
	k.byKid[kid] = key
	k.mu.Unlock()
	return key, nil
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
