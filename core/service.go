package core

import (
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	DefaultHashQueue   = 64              // logins waiting for a hashing slot
	DefaultHashWait    = 5 * time.Second // longest such a wait
	DefaultIssuer      = "jwtgate"
	DefaultMaxLifetime = 24 * time.Hour
)

// Config is what New assembles a Service from. Store, Tokens and Logger are
// required; DefaultConfig fills in the rest.
type Config struct {
	Store       Store
	Tokens      TokenStrategy
	Logger      *slog.Logger
	Hasher      PasswordHasher
	Throttle    *Throttle
	HashGate    *HashGate // nil: hashing unbounded
	Issuer      string    // the iss claim
	MaxLifetime time.Duration
	Alg         string // algorithm of new signing keys
	// PublishAhead is how long a rotated-in key is published before it
	// signs (KeyRing.PublishAhead; default DefaultPublishAhead).
	PublishAhead time.Duration
	Now          func() time.Time
}

// DefaultConfig returns the production defaults, without a store, a token
// strategy or a logger.
func DefaultConfig() Config {
	return Config{
		Hasher:       PasswordHasher{Params: DefaultArgon2Params},
		Throttle:     NewThrottle(),
		HashGate:     NewHashGate(0, DefaultHashQueue, DefaultHashWait),
		Issuer:       DefaultIssuer,
		MaxLifetime:  DefaultMaxLifetime,
		Alg:          AlgEdDSA,
		PublishAhead: DefaultPublishAhead,
		Now:          time.Now,
	}
}

// Service is jwtgate's core, assembled: one value per use case, sharing
// one Authenticator and one KeyRing. Surfaces call the use cases' methods;
// the operation table (Ops) says what each operation is.
type Service struct {
	Authenticator *Authenticator
	KeyRing       *KeyRing
	Issuer        *Issuer
	Enforcer      *Enforcer
	Accounts      *Accounts
	Admin         *Admin
}

// New assembles a Service. It panics without a store, a token strategy or
// a logger: that is a wiring mistake, not a condition to handle.
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Tokens == nil || cfg.Logger == nil {
		panic("core.New: Config needs a Store, a TokenStrategy and a Logger")
	}
	def := DefaultConfig()
	if cfg.Hasher == (PasswordHasher{}) {
		cfg.Hasher = def.Hasher
	}
	if cfg.Throttle == nil {
		cfg.Throttle = def.Throttle
	}
	if cfg.Issuer == "" {
		cfg.Issuer = def.Issuer
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = def.MaxLifetime
	}
	if cfg.Alg == "" {
		cfg.Alg = def.Alg
	}
	if cfg.PublishAhead < 0 {
		cfg.PublishAhead = 0
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	st := cfg.Store
	keys := &KeyRing{Store: st, Strategy: cfg.Tokens, Alg: cfg.Alg, Issuer: cfg.Issuer, PublishAhead: cfg.PublishAhead, Now: cfg.Now}
	auth := &Authenticator{
		Users: st, Accounts: st, APIKeys: st, ServiceKeys: st, Tokens: st, Keys: keys,
		Hasher: cfg.Hasher, Throttle: cfg.Throttle, HashGate: cfg.HashGate, Now: cfg.Now, Logger: cfg.Logger,
	}
	led := ledger{store: st, log: cfg.Logger}
	return &Service{
		Authenticator: auth,
		KeyRing:       keys,
		Issuer:        &Issuer{Auth: auth, Keys: keys, Tokens: st, MaxLifetime: cfg.MaxLifetime, Now: cfg.Now, ledger: led},
		Enforcer:      &Enforcer{Auth: auth, Keys: keys, Tokens: st, Now: cfg.Now, ledger: led},
		Accounts:      &Accounts{Auth: auth, Usage: st, Now: cfg.Now},
		Admin: &Admin{
			Users: st, Accounts: st, APIKeys: st, ServiceKeys: st, Tokens: st, Usage: st,
			Keys: keys, Auth: auth, Now: cfg.Now,
		},
	}
}
