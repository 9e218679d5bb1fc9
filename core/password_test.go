package core_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

func TestPasswordHasher_Hash(t *testing.T) {
	h := core.PasswordHasher{Params: core.Argon2Params{Memory: 64, Time: 2, Threads: 3, SaltLen: 16, KeyLen: 32}}
	enc, err := h.Hash("s3cret-passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	// $argon2id$v=19$m=64,t=2,p=3$<22 chars salt>$<43 chars key>
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=2,p=3\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(enc) {
		t.Errorf("hash %q is not the expected PHC string", enc)
	}
	if strings.Contains(enc, "s3cret") {
		t.Error("hash contains the secret")
	}
	again, _ := h.Hash("s3cret-passw0rd")
	if again == enc {
		t.Error("two hashes of one secret are equal: the salt is not random")
	}
}

func TestPasswordHasher_Verify(t *testing.T) {
	weak := core.PasswordHasher{Params: testenv.CheapArgon2()}
	enc, err := weak.Hash("s3cret-passw0rd")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		ok, rehash, err := weak.Verify(enc, "s3cret-passw0rd")
		if !ok || rehash || err != nil {
			t.Errorf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		for _, s := range []string{"s3cret-passw0rD", "", "s3cret-passw0rd ", "s3cret-passw0r"} {
			ok, _, err := weak.Verify(enc, s)
			if ok || err != nil {
				t.Errorf("Verify(%q) = %v, %v; want false, nil", s, ok, err)
			}
		}
	})
	t.Run("Rehash", func(t *testing.T) {
		for _, tc := range []struct {
			p      core.Argon2Params
			rehash bool
		}{
			{testenv.CheapArgon2(), false},
			{core.Argon2Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
			{core.Argon2Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
			{core.Argon2Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
			{core.Argon2Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false}, // weaker current params never downgrade
		} {
			ok, rehash, err := core.PasswordHasher{Params: tc.p}.Verify(enc, "s3cret-passw0rd")
			if !ok || err != nil || rehash != tc.rehash {
				t.Errorf("params %+v: Verify = %v, %v, %v; want true, %v, nil", tc.p, ok, rehash, err, tc.rehash)
			}
		}
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		parts := strings.Split(enc, "$") // "", argon2id, v=19, m=..., salt, key
		with := func(i int, v string) string {
			p := append([]string(nil), parts...)
			p[i] = v
			return strings.Join(p, "$")
		}
		for _, bad := range []string{
			"",
			"plaintext",
			"$argon2id$",
			strings.TrimPrefix(enc, "$"),
			enc + "$extra",
			with(1, "argon2i"),
			with(1, "bcrypt"),
			with(2, "v=16"),
			with(2, "v=x"),
			with(3, "m=0,t=1,p=1"),
			with(3, "m=64,t=0,p=1"),
			with(3, "m=64,t=1,p=0"),
			with(3, "m=64,t=1"),
			with(3, "m=99999999999,t=1,p=1"),
			with(3, "m=64,t=1,p=300"),
			with(3, "t=1,m=64,p=1"),
			with(4, "!!!"),
			with(5, "!!!"),
			with(5, ""),
		} {
			ok, rehash, err := weak.Verify(bad, "s3cret-passw0rd")
			if err == nil || ok || rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want an error", bad, ok, rehash, err)
			}
		}
	})
}

func TestService_GetJWT_RehashOnLogin(t *testing.T) {
	e := newEnv(t) // alice's hash was made with testenv.CheapArgon2
	before, err := e.db.UserByName(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	stronger := core.Argon2Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	e.svc.Authenticator.Hasher = core.PasswordHasher{Params: stronger}

	// A failed login changes nothing.
	r := e.req()
	r.Password = "wrong password"
	assertErr(t, func() error { _, err := e.getJWT(r); return err }(), core.EUNAUTHORIZED)
	if u, _ := e.db.UserByName(e.ctx, testUser); u.PasswordHash != before.PasswordHash {
		t.Error("a failed login changed the stored hash")
	}

	e.mustGetJWT(e.req())
	after, err := e.db.UserByName(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, fmt.Sprintf("$m=%d,t=%d,p=%d$", stronger.Memory, stronger.Time, stronger.Threads)) {
		t.Errorf("hash after login = %q, want it upgraded to m=128,t=2", after.PasswordHash)
	}
	ok, rehash, err := e.svc.Authenticator.Hasher.Verify(after.PasswordHash, testPassword)
	if !ok || rehash || err != nil {
		t.Errorf("upgraded hash: Verify = %v, %v, %v", ok, rehash, err)
	}
	// And the login still works with it, without a further change.
	e.mustGetJWT(e.req())
	if again, _ := e.db.UserByName(e.ctx, testUser); again.PasswordHash != after.PasswordHash {
		t.Error("the hash was replaced again though it is current")
	}
}
