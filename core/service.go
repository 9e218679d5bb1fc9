package core

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Service is jwtgate's protocol-neutral API. Every transport calls it and
// maps its results and *Error codes.
type Service struct {
	Store       Store
	Hasher      PasswordHasher
	Throttle    *Throttle
	HashGate    *HashGate // nil: hashing unbounded
	Issuer      string
	MaxLifetime time.Duration // longest expiresAt accepted, from now
	Alg         string        // algorithm of newly created signing keys
	Now         func() time.Time
	Logger      *slog.Logger

	dummyOnce sync.Once
	dummyHash string
	verify    verifier
	sigs      sigCache
	recs      recCache
	svcKeys   keyCache
	keysVer   atomic.Uint64
}

// Defaults used when a Service field is left zero.
const (
	DefaultHashQueue   = 64              // logins waiting for a hashing slot
	DefaultHashWait    = 5 * time.Second // longest such a wait
	DefaultIssuer      = "jwtgate"
	DefaultMaxLifetime = 24 * time.Hour
)

// NewService returns a Service with production defaults on store.
func NewService(store Store) *Service {
	return &Service{
		Store:       store,
		Hasher:      PasswordHasher{Params: DefaultArgon2Params},
		Throttle:    NewThrottle(),
		HashGate:    NewHashGate(0, DefaultHashQueue, DefaultHashWait),
		Issuer:      DefaultIssuer,
		MaxLifetime: DefaultMaxLifetime,
		Alg:         AlgEdDSA,
		Now:         time.Now,
		Logger:      slog.Default(),
	}
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// dummy returns a hash verified in place of a missing user's or key's, so that
// "no such user" costs the same time as "wrong password".
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, err := s.Hasher.Hash(randomID(16))
		if err != nil {
			panic("hashing the dummy password failed: " + err.Error())
		}
		s.dummyHash = h
	})
	return s.dummyHash
}

// EnsureSigningKey makes sure an active signing key of s.Alg exists, rotating
// to a new one if the active key uses another algorithm.
func (s *Service) EnsureSigningKey(ctx context.Context) (*SigningKey, error) {
	k, err := s.Store.ActiveSigningKey(ctx)
	switch {
	case err == nil && k.Alg == s.Alg:
		return k, nil
	case err != nil && ErrorCode(err) != ENOTFOUND:
		return nil, err
	}
	return s.RotateSigningKey(ctx)
}

// RotateSigningKey creates a new active key of s.Alg. The previous key is
// retired but stays published while tokens it signed are alive.
func (s *Service) RotateSigningKey(ctx context.Context) (*SigningKey, error) {
	// Generate outside the store's transaction: RSA generation is slow.
	k, err := NewSigningKey(s.Alg, s.now())
	if err != nil {
		return nil, Internal(err)
	}
	if err := s.Store.RotateSigningKey(ctx, k); err != nil {
		return nil, err
	}
	s.keysVer.Add(1)
	return k, nil
}

// KeysVersion changes whenever this Service rotates a signing key, so that
// a cached key set can be refreshed at once. Rotations by another process
// are not seen: caches also expire with time.
func (s *Service) KeysVersion() uint64 { return s.keysVer.Load() }

// JWKS returns the public keys that can verify a live token.
func (s *Service) JWKS(ctx context.Context) (*JWKSet, error) {
	keys, err := s.Store.VerificationKeys(ctx, s.now())
	if err != nil {
		return nil, err
	}
	set := &JWKSet{Keys: []JWK{}}
	for _, k := range keys {
		j, ok, err := k.JWK()
		if err != nil {
			return nil, Internal(err)
		}
		if ok {
			set.Keys = append(set.Keys, j)
		}
	}
	return set, nil
}

// Ready reports whether the service can issue tokens.
func (s *Service) Ready(ctx context.Context) error {
	_, err := s.Store.ActiveSigningKey(ctx)
	return err
}
