package storetest

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

var userTests = []test{
	{"CreateUser/NewAccount", testCreateUserNewAccount},
	{"CreateUser/ExistingAccount", testCreateUserExistingAccount},
	{"CreateUser/ErrConflict", testCreateUserErrConflict},
	{"CreateUser/ErrConflictNoOrphanAccount", testCreateUserErrConflictNoOrphan},
	{"CreateUser/ErrConflictAccount", testCreateUserErrConflictAccount},
	{"CreateUser/ErrNotFoundAccount", testCreateUserErrNotFoundAccount},
	{"UserByName/CaseInsensitive", testUserByNameCaseInsensitive},
	{"UserByName/ErrNotFound", testUserByNameErrNotFound},
	{"UserByID/OK", testUserByID},
	{"UserByID/ErrNotFound", testUserByIDErrNotFound},
	{"ListUsers/OK", testListUsers},
	{"ListUsers/Paged", testListUsersPaged},
	{"SetPasswordHash/OK", testSetPasswordHash},
	{"SetPasswordHash/ErrNotFound", testSetPasswordHashErrNotFound},
	{"SetUserDisabled/OK", testSetUserDisabled},
	{"SetUserDisabled/ErrNotFound", testSetUserDisabledErrNotFound},
	{"CountUsers/OK", testCountUsers},
}

func checkUsers(t *testing.T, s core.Store, want ...*core.User) {
	t.Helper()
	for _, w := range want {
		got, err := s.UserByID(t.Context(), w.ID)
		must(t, err)
		check(t, "UserByID", got, w)
	}
}

func testCreateUserNewAccount(t *testing.T, s core.Store) {
	a := &core.Account{Name: "Acme", Credits: 100, Created: base}
	u := &core.User{Username: "alice", PasswordHash: "$argon2id$hash", Created: base.In(east)}
	must(t, s.CreateUser(t.Context(), u, a))
	if a.ID == 0 || u.ID == 0 {
		t.Fatalf("CreateUser left account ID %d, user ID %d", a.ID, u.ID)
	}
	if u.AccountID != a.ID {
		t.Errorf("user AccountID = %d, want the new account's ID %d", u.AccountID, a.ID)
	}
	gotA, err := s.AccountByName(t.Context(), "Acme")
	must(t, err)
	check(t, "AccountByName", gotA, a)
	checkUsers(t, s, u)
}

func testCreateUserExistingAccount(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 0)
	u1 := &core.User{AccountID: a.ID, Username: "alice", PasswordHash: "h1", Created: base}
	must(t, s.CreateUser(t.Context(), u1, nil))
	u2 := &core.User{AccountID: a.ID, Username: "bob", PasswordHash: "h2", Disabled: true, Created: base.Add(time.Second)}
	must(t, s.CreateUser(t.Context(), u2, nil))
	if u1.ID == 0 || u2.ID == 0 || u1.ID == u2.ID {
		t.Fatalf("user IDs = %d, %d; want two distinct non-zero IDs", u1.ID, u2.ID)
	}
	if u1.AccountID != a.ID || u2.AccountID != a.ID {
		t.Errorf("AccountIDs = %d, %d; want %d", u1.AccountID, u2.AccountID, a.ID)
	}
	checkUsers(t, s, u1, u2)
	checkAccounts(t, s, a)
}

func testCreateUserErrConflict(t *testing.T, s core.Store) {
	first := newUser(t, s, "alice")
	for _, name := range []string{"alice", "Alice", "ALICE"} {
		u := &core.User{AccountID: first.AccountID, Username: name, PasswordHash: "other", Created: base}
		wantErr(t, s.CreateUser(t.Context(), u, nil), core.ErrConflict)
	}
	got, err := s.UserByName(t.Context(), "alice")
	must(t, err)
	check(t, "UserByName", got, first)
	checkUserCount(t, s, 1)
}

// A user that cannot be created must not leave the account created for it
// in the same call.
func testCreateUserErrConflictNoOrphan(t *testing.T, s core.Store) {
	first := newUser(t, s, "alice")
	acc, err := s.AccountByID(t.Context(), first.AccountID)
	must(t, err)
	u := &core.User{Username: "ALICE", PasswordHash: "other", Created: base}
	err = s.CreateUser(t.Context(), u, &core.Account{Name: "Orphan", Credits: 10, Created: base})
	wantErr(t, err, core.ErrConflict)

	_, err = s.AccountByName(t.Context(), "Orphan")
	wantErr(t, err, core.ErrNotFound)
	checkAccounts(t, s, acc)
	checkUserCount(t, s, 1)
}

// A new account whose name is taken: neither it nor the user is created.
func testCreateUserErrConflictAccount(t *testing.T, s core.Store) {
	taken := newAccount(t, s, "Acme", 3)
	u := &core.User{Username: "alice", PasswordHash: "h", Created: base}
	wantErr(t, s.CreateUser(t.Context(), u, &core.Account{Name: "ACME", Created: base}), core.ErrConflict)
	_, err := s.UserByName(t.Context(), "alice")
	wantErr(t, err, core.ErrNotFound)
	checkAccounts(t, s, taken)
	checkUserCount(t, s, 0)
}

func testCreateUserErrNotFoundAccount(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 0)
	u := &core.User{AccountID: a.ID + 1000, Username: "alice", PasswordHash: "h", Created: base}
	wantErr(t, s.CreateUser(t.Context(), u, nil), core.ErrNotFound)
	_, err := s.UserByName(t.Context(), "alice")
	wantErr(t, err, core.ErrNotFound)
	checkUserCount(t, s, 0)
}

func testUserByNameCaseInsensitive(t *testing.T, s core.Store) {
	u := newUser(t, s, "Alice")
	for _, name := range []string{"Alice", "alice", "ALICE", "aLiCe"} {
		got, err := s.UserByName(t.Context(), name)
		must(t, err)
		check(t, "UserByName("+name+")", got, u)
	}
}

func testUserByNameErrNotFound(t *testing.T, s core.Store) {
	_, err := s.UserByName(t.Context(), "alice")
	wantErr(t, err, core.ErrNotFound)
	newUser(t, s, "alice")
	for _, name := range []string{"alic", "alice2", ""} {
		_, err = s.UserByName(t.Context(), name)
		wantErr(t, err, core.ErrNotFound)
	}
}

func testUserByID(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	checkUsers(t, s, alice, bob)
}

func testUserByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.UserByID(t.Context(), 1)
	wantErr(t, err, core.ErrNotFound)
	u := newUser(t, s, "alice")
	_, err = s.UserByID(t.Context(), u.ID+1000)
	wantErr(t, err, core.ErrNotFound)
}

func testListUsers(t *testing.T, s core.Store) {
	us, err := s.ListUsers(t.Context(), core.Page{})
	must(t, err)
	check(t, "ListUsers on an empty store", us, []*core.UserInfo{})

	shared := newAccount(t, s, "Shared", 0)
	carol := newUserIn(t, s, "carol", shared.ID)
	alice := newUser(t, s, "alice")
	bob := newUserIn(t, s, "Bob", shared.ID)
	us, err = s.ListUsers(t.Context(), core.Page{})
	must(t, err)
	check(t, "ListUsers", us, []*core.UserInfo{{User: *alice, Account: "alice"}, {User: *bob, Account: "Shared"}, {User: *carol, Account: "Shared"}})
}

func testListUsersPaged(t *testing.T, s core.Store) {
	shared := newAccount(t, s, "Shared", 0)
	users := map[string]*core.User{}
	for _, name := range []string{"dave", "Carol", "bob", "alice", "Eve"} {
		users[name] = newUserIn(t, s, name, shared.ID)
	}
	var all []*core.UserInfo
	for _, name := range []string{"alice", "bob", "Carol", "dave", "Eve"} {
		all = append(all, &core.UserInfo{User: *users[name], Account: "Shared"})
	}
	checkPages(t, "ListUsers", all, func(p core.Page) ([]*core.UserInfo, error) { return s.ListUsers(t.Context(), p) })
}

func testSetPasswordHash(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	must(t, s.SetPasswordHash(t.Context(), alice.ID, "$argon2id$new"))
	alice.PasswordHash = "$argon2id$new"
	checkUsers(t, s, alice, bob)
}

func testSetPasswordHashErrNotFound(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	wantErr(t, s.SetPasswordHash(t.Context(), u.ID+1000, "x"), core.ErrNotFound)
	checkUsers(t, s, u)
}

func testSetUserDisabled(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	for _, disabled := range []bool{true, true, false} {
		must(t, s.SetUserDisabled(t.Context(), alice.ID, disabled))
		alice.Disabled = disabled
		checkUsers(t, s, alice, bob)
	}
}

func testSetUserDisabledErrNotFound(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	wantErr(t, s.SetUserDisabled(t.Context(), u.ID+1000, true), core.ErrNotFound)
	checkUsers(t, s, u)
}

func testCountUsers(t *testing.T, s core.Store) {
	checkUserCount(t, s, 0)
	a := newUser(t, s, "alice")
	checkUserCount(t, s, 1)
	newUserIn(t, s, "bob", a.AccountID)
	newUser(t, s, "carol")
	checkUserCount(t, s, 3)
}
