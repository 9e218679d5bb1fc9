package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
)

func TestService_CreateUser(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newBareEnv(t)
		u, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "Bob.Smith_1@example-co", Password: "12345678", Credits: 7})
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == 0 || u.AccountID == 0 || !u.Created.Equal(t0) {
			t.Errorf("user = %+v", u)
		}
		if strings.Contains(u.PasswordHash, "12345678") || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Errorf("password hash = %q", u.PasswordHash)
		}
		a, err := e.db.AccountByName(e.ctx, "Bob.Smith_1@example-co")
		if err != nil || a.ID != u.AccountID || a.Credits != 7 {
			t.Errorf("account = %+v, %v; want the user's own account with 7 credits", a, err)
		}
		if _, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: strings.Repeat("a", core.MaxNameLen), Password: "12345678"}); err != nil {
			t.Errorf("%d-character name: %v", core.MaxNameLen, err)
		}
		if _, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "unicodepw", Password: "пароль12"}); err != nil {
			t.Errorf("8-rune non-ASCII password: %v", err)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			req  core.CreateUserRequest
			msg  string
		}{
			{"empty name", core.CreateUserRequest{Username: "", Password: "12345678"}, "username"},
			{"long name", core.CreateUserRequest{Username: strings.Repeat("a", core.MaxNameLen+1), Password: "12345678"}, "username"},
			{"leading dot", core.CreateUserRequest{Username: ".bob", Password: "12345678"}, "username"},
			{"leading hyphen", core.CreateUserRequest{Username: "-bob", Password: "12345678"}, "username"},
			{"space", core.CreateUserRequest{Username: "bob smith", Password: "12345678"}, "username"},
			{"non-ASCII", core.CreateUserRequest{Username: "bøb", Password: "12345678"}, "username"},
			{"slash", core.CreateUserRequest{Username: "bob/x", Password: "12345678"}, "username"},
			{"reserved prefix", core.CreateUserRequest{Username: "apikey-bob", Password: "12345678"}, "apikey-"},
			{"reserved prefix any case", core.CreateUserRequest{Username: "ApiKey-bob", Password: "12345678"}, "apikey-"},
			{"short password", core.CreateUserRequest{Username: "bob", Password: "1234567"}, "password"},
			{"short non-ASCII password", core.CreateUserRequest{Username: "bob", Password: "пароль1"}, "password"},
			{"long password", core.CreateUserRequest{Username: "bob", Password: strings.Repeat("p", core.MaxPasswordBytes+1)}, "password"},
			{"invalid UTF-8 password", core.CreateUserRequest{Username: "bob", Password: "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"}, "password"},
			{"negative credits", core.CreateUserRequest{Username: "bob", Password: "12345678", Credits: -1}, "credits"},
			{"credits when joining", core.CreateUserRequest{Username: "bob", Password: "12345678", Account: "alice", Credits: 5}, "credits"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				_, err := e.svc.Admin.CreateUser(e.ctx, tc.req)
				assertErr(t, err, core.EINVALID, tc.msg)
				if n, _ := e.db.CountUsers(e.ctx); n != 1 {
					t.Errorf("users = %d, want only alice", n)
				}
			})
		}
	})

	t.Run("ErrDuplicate", func(t *testing.T) {
		e := newEnv(t)
		for _, name := range []string{testUser, "ALICE", "Alice"} {
			_, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: name, Password: "12345678"})
			assertErr(t, err, core.ECONFLICT)
		}
		// Also when joining an account, where no new account is created.
		e.createUser("bob", testPassword, 1)
		_, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "aLiCe", Password: "12345678", Account: "bob"})
		assertErr(t, err, core.ECONFLICT)
		if n, _ := e.db.CountUsers(e.ctx); n != 2 {
			t.Errorf("users = %d, want 2", n)
		}
	})

	t.Run("JoinAccount", func(t *testing.T) {
		e := newEnv(t)
		u, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "bob", Password: "bobs password", Account: "ALICE"})
		if err != nil {
			t.Fatal(err)
		}
		alice, _ := e.db.UserByName(e.ctx, testUser)
		if u.AccountID != alice.AccountID {
			t.Errorf("bob's account = %d, want alice's %d", u.AccountID, alice.AccountID)
		}
		r := e.req()
		r.Username, r.Password = "bob", "bobs password"
		res, c := e.mustGetJWT(r)
		if c.Subject != "bob" || c.Account != testUser || res.CreditsRemaining != testCredits {
			t.Errorf("bob's token: sub %q account %q credits %d; want bob, alice, %d", c.Subject, c.Account, res.CreditsRemaining, testCredits)
		}
	})

	t.Run("ErrJoinUnknownAccount", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "bob", Password: "12345678", Account: "nosuch"})
		assertErr(t, err, core.ENOTFOUND)
	})
}

func TestService_SetPassword(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.Admin.SetPassword(e.ctx, "ALICE", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	_, err := e.getJWT(e.req())
	assertErr(t, err, core.EUNAUTHORIZED)
	r := e.req()
	r.Password = "a brand new password"
	e.mustGetJWT(r)

	assertErr(t, e.svc.Admin.SetPassword(e.ctx, testUser, "short"), core.EINVALID, "password")
	assertErr(t, e.svc.Admin.SetPassword(e.ctx, "nosuch", "long enough password"), core.ENOTFOUND)
	e.mustGetJWT(r) // the refused changes left the password alone
}

func TestService_SetUserDisabled(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, true); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.db.UserByName(e.ctx, testUser); !u.Disabled {
		t.Error("user not disabled in the store")
	}
	_, err := e.getJWT(e.req())
	assertErr(t, err, core.EFORBIDDEN)
	if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, false); err != nil {
		t.Fatal(err)
	}
	e.mustGetJWT(e.req())
	assertErr(t, e.svc.Admin.SetUserDisabled(e.ctx, "nosuch", true), core.ENOTFOUND)
}

func TestService_CreateAPIKey(t *testing.T) {
	e := newEnv(t)
	key1, k1, err := e.svc.Admin.CreateAPIKey(e.ctx, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	key2, k2, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if key1 == key2 || k1.ID == k2.ID {
		t.Error("two keys are equal")
	}
	alice, _ := e.db.UserByName(e.ctx, testUser)
	if k1.UserID != alice.ID || k1.AccountID != alice.AccountID || k1.Revoked != nil || !k1.Created.Equal(t0) {
		t.Errorf("key = %+v", k1)
	}
	if !strings.HasPrefix(key1, "jg_"+k1.ID+"_") || len(k1.ID) != 16 {
		t.Errorf("key %q / id %q: want jg_<16 hex>_<secret>", key1, k1.ID)
	}
	_, _, err = e.svc.Admin.CreateAPIKey(e.ctx, "nosuch")
	assertErr(t, err, core.ENOTFOUND)
}

func TestService_AddCredits(t *testing.T) {
	e := newEnv(t)
	bal, err := e.svc.Admin.AddCredits(e.ctx, "ALICE", 50)
	if err != nil || bal != testCredits+50 {
		t.Fatalf("AddCredits(+50) = %d, %v; want %d", bal, err, testCredits+50)
	}
	bal, err = e.svc.Admin.AddCredits(e.ctx, testUser, -100)
	if err != nil || bal != testCredits-50 {
		t.Fatalf("AddCredits(-100) = %d, %v; want %d", bal, err, testCredits-50)
	}
	_, err = e.svc.Admin.AddCredits(e.ctx, testUser, -(testCredits - 50 + 1))
	assertErr(t, err, core.EINVALID, "below zero")
	_, err = e.svc.Admin.AddCredits(e.ctx, testUser, core.MaxCreditsLimit+1)
	assertErr(t, err, core.EINVALID)
	_, err = e.svc.Admin.AddCredits(e.ctx, testUser, -core.MaxCreditsLimit-1)
	assertErr(t, err, core.EINVALID)
	_, err = e.svc.Admin.AddCredits(e.ctx, "nosuch", 1)
	assertErr(t, err, core.ENOTFOUND)

	a, _ := e.db.AccountByName(e.ctx, testUser)
	if a.Credits != testCredits-50 {
		t.Errorf("balance = %d after refused changes, want %d", a.Credits, testCredits-50)
	}
	bal, err = e.svc.Admin.AddCredits(e.ctx, testUser, -(testCredits - 50))
	if err != nil || bal != 0 {
		t.Errorf("spending to exactly zero = %d, %v", bal, err)
	}
}

func TestService_Bootstrap(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newBareEnv(t)
		pw, err := e.svc.Admin.Bootstrap(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) < 16 {
			t.Errorf("bootstrap password %q is short", pw)
		}
		a, err := e.db.AccountByName(e.ctx, core.BootstrapUser)
		if err != nil || a.Credits != core.BootstrapCredits {
			t.Errorf("admin account = %+v, %v; want %d credits", a, err, core.BootstrapCredits)
		}
		r := e.req()
		r.Username, r.Password = core.BootstrapUser, pw
		res, _ := e.mustGetJWT(r)
		if res.CreditsRemaining != core.BootstrapCredits {
			t.Errorf("CreditsRemaining = %d", res.CreditsRemaining)
		}

		pw2, err := e.svc.Admin.Bootstrap(e.ctx)
		if err != nil || pw2 != "" {
			t.Errorf("second Bootstrap = %q, %v; want \"\", nil", pw2, err)
		}
		if n, _ := e.db.CountUsers(e.ctx); n != 1 {
			t.Errorf("users = %d, want 1", n)
		}
		e.mustGetJWT(r) // the first password still works
	})
	t.Run("ExistingUsers", func(t *testing.T) {
		e := newEnv(t)
		pw, err := e.svc.Admin.Bootstrap(e.ctx)
		if err != nil || pw != "" {
			t.Errorf("Bootstrap with a user = %q, %v; want \"\", nil", pw, err)
		}
		if _, err := e.db.UserByName(e.ctx, core.BootstrapUser); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("admin user created anyway: %v", err)
		}
	})
}

// staleCount is a store whose user count is always 0, as another process
// sees it just before it bootstraps too.
type staleCount struct{ *sqlite.DB }

func (staleCount) CountUsers(context.Context) (int64, error) { return 0, nil }

func TestService_Bootstrap_Race(t *testing.T) {
	t.Run("LostRace", func(t *testing.T) {
		e := newBareEnv(t)
		if pw, err := e.svc.Admin.Bootstrap(e.ctx); err != nil || pw == "" {
			t.Fatalf("first Bootstrap = %q, %v", pw, err)
		}
		e.svc.Admin.Users = staleCount{e.db}
		pw, err := e.svc.Admin.Bootstrap(e.ctx)
		if err != nil || pw != "" {
			t.Errorf("Bootstrap that lost the race = %q, %v; want \"\", nil", pw, err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		e := newBareEnv(t)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			pws  []string
			errs []error
		)
		for range 8 {
			wg.Go(func() {
				pw, err := e.svc.Admin.Bootstrap(e.ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if pw != "" {
					pws = append(pws, pw)
				}
			})
		}
		wg.Wait()
		if len(errs) != 0 || len(pws) != 1 {
			t.Errorf("concurrent Bootstrap: errors %v, %d passwords; want none and exactly 1", errs, len(pws))
		}
		if n, _ := e.db.CountUsers(e.ctx); n != 1 {
			t.Errorf("users = %d, want 1", n)
		}
	})
}
