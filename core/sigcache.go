package core

import (
	"sync"
	"time"
)

// sigCache remembers tokens whose signature and registered claims have
// verified, until their expiry: verifying a signature is the largest CPU cost
// of a metered call, and the same token is presented again and again. It
// decides nothing else: revocation, the user's and API key's state, spend,
// method and client IP are checked from the store on every call, so a cached
// signature never outlives the token nor survives its revocation.
type sigCache struct {
	mu      sync.Mutex
	entries map[string]sigEntry // by the exact token string
}

type sigEntry struct {
	claims *Claims // read-only once cached
	exp    time.Time
}

// maxSigCache bounds the cache (about 600 bytes a token).
const maxSigCache = 16384

// makeRoom keeps a cache under maxSigCache entries by dropping a tenth of
// them, in map order (random): one scan per many inserts.
func makeRoom[V any](m map[string]V) {
	if len(m) < maxSigCache {
		return
	}
	n := 0
	for k := range m {
		delete(m, k)
		if n++; n >= maxSigCache/10 {
			return
		}
	}
}

// get returns the claims of a token verified before and still unexpired at now.
func (c *sigCache) get(raw string, now time.Time) (*Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[raw]
	if !ok {
		return nil, false
	}
	// The same bound as golang-jwt's: valid while now < exp + leeway.
	if !now.Before(e.exp.Add(Leeway)) {
		delete(c.entries, raw)
		return nil, false
	}
	return e.claims, true
}

// put remembers a verified token until its expiry.
func (c *sigCache) put(raw string, claims *Claims) {
	if claims.ExpiresAt.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]sigEntry)
	}
	makeRoom(c.entries)
	c.entries[raw] = sigEntry{claims: claims, exp: claims.ExpiresAt}
}

// recCache holds the immutable part of issued-token records (limits, owner,
// expiry) by jti until the token expires. Everything that can change —
// revocation, spend, the user's and API key's state — is never taken from
// it: ChargeJWT re-checks all of it inside its charge transaction.
type recCache struct {
	mu      sync.Mutex
	entries map[string]*IssuedToken
}

func (c *recCache) get(jti string, now time.Time) (*IssuedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.entries[jti]
	if ok && !now.Before(r.ExpiresAt.Add(Leeway)) {
		delete(c.entries, jti)
		return nil, false
	}
	return r, ok
}

func (c *recCache) put(r *IssuedToken) {
	static := *r
	static.CreditsSpent, static.Revoked, static.UserDisabled, static.APIKeyRevoked, static.AccountCredits = 0, nil, false, false, 0
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*IssuedToken)
	}
	makeRoom(c.entries)
	c.entries[r.JTI] = &static
}

// keyCache remembers service keys that verified, for serviceKeyTTL: a
// revocation by this process clears it at once; one by another process
// (the CLI) takes effect within the TTL.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]time.Time // the whole key -> verified until
}

const serviceKeyTTL = 2 * time.Second

func (c *keyCache) ok(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, found := c.entries[key]
	return found && now.Before(until)
}

func (c *keyCache) put(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= 1024 {
		c.entries = make(map[string]time.Time)
	}
	c.entries[key] = now.Add(serviceKeyTTL)
}

func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}
