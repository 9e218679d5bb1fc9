package core

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jwtgate/jwtgate/internal/argon2id"
)

// Argon2Params are the cost parameters of an argon2id hash. Every stored hash
// records its own parameters (PHC string format), so they can be raised later:
// a login with a hash weaker than the current parameters re-hashes it.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultArgon2Params is the OWASP recommendation for argon2id
// (m=19 MiB, t=2, p=1).
var DefaultArgon2Params = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// PasswordHasher hashes and verifies secrets (passwords and API-key secrets).
type PasswordHasher struct {
	Params Argon2Params
}

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of secret under h.Params with a fresh salt.
func (h PasswordHasher) Hash(secret string) (string, error) {
	return h.HashWith(new(argon2id.Memory), secret)
}

// HashWith is Hash computing in m, a working memory kept for reuse.
func (h PasswordHasher) HashWith(m *argon2id.Memory, secret string) (string, error) {
	p := h.Params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := m.Key([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether secret matches the PHC string encoded, and whether
// the hash is weaker than h.Params and should be replaced.
func (h PasswordHasher) Verify(encoded, secret string) (ok, rehash bool, err error) {
	return h.VerifyWith(new(argon2id.Memory), encoded, secret)
}

// VerifyWith is Verify computing in m, a working memory kept for reuse. A
// stored hash with more memory than h.Params does not grow m for good.
func (h PasswordHasher) VerifyWith(m *argon2id.Memory, encoded, secret string) (ok, rehash bool, err error) {
	p, salt, key, err := parseArgon2(encoded)
	if err != nil {
		return false, false, err
	}
	got := m.Key([]byte(secret), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if p.Memory > h.Params.Memory {
		*m = argon2id.Memory{}
	}
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory < h.Params.Memory || p.Time < h.Params.Time || p.Threads < h.Params.Threads
	return ok, rehash, nil
}

func parseArgon2(encoded string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2id.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads) != parts[3] {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("bad argon2 salt: %w", err)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, errors.New("bad argon2 key")
	}
	return p, salt, key, nil
}
