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
	if claims.ExpiresAt == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]sigEntry)
	}
	if len(c.entries) >= maxSigCache {
		// Drop a tenth, in map order (random): one scan per many inserts.
		n := 0
		for k := range c.entries {
			delete(c.entries, k)
			if n++; n >= maxSigCache/10 {
				break
			}
		}
	}
	c.entries[raw] = sigEntry{claims: claims, exp: claims.ExpiresAt.Time}
}
