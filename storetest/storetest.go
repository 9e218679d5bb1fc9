// Package storetest is the conformance suite that every core.Store
// implementation runs, including the concurrency cases (run it under -race).
//
// Beyond what the core.Store comments say, the suite pins down:
//   - account names and usernames are unique and looked up case-insensitively;
//   - ListAccounts orders by name and ListUsers by username, case-insensitively;
//     ListAPIKeys and ListSigningKeys order by creation time;
//   - every time a store returns is in UTC and keeps its nanoseconds;
//   - a failed write leaves nothing behind;
//   - service key names are matched case-insensitively, both for the
//     uniqueness of active keys and by RevokeServiceKey; ListServiceKeys
//     orders by creation time and includes revoked keys;
//   - Charge counts CreditsSpent for tokens without MaxCredits too, and a
//     refusal reports the figures as they stand (nothing charged).
package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// Run runs the suite. open is called once per subtest, with that subtest's t,
// and must return a new, empty store; it may register its own cleanup.
func Run(t *testing.T, open func(t *testing.T) core.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s core.Store)
	}{
		{"CreateAccount/OK", testCreateAccount},
		{"CreateAccount/ErrConflict", testCreateAccountErrConflict},
		{"AccountByName/CaseInsensitive", testAccountByNameCaseInsensitive},
		{"AccountByName/ErrNotFound", testAccountByNameErrNotFound},
		{"AccountByID/ErrNotFound", testAccountByIDErrNotFound},
		{"ListAccounts/Empty", testListAccountsEmpty},
		{"ListAccounts/OrderedByName", testListAccountsOrdered},
		{"AddCredits/OK", testAddCredits},
		{"AddCredits/ErrInvalid", testAddCreditsErrInvalid},
		{"AddCredits/ErrNotFound", testAddCreditsErrNotFound},

		{"CreateUser/NewAccount", testCreateUserNewAccount},
		{"CreateUser/ExistingAccount", testCreateUserExistingAccount},
		{"CreateUser/ErrConflict", testCreateUserErrConflict},
		{"CreateUser/ErrConflictNoOrphanAccount", testCreateUserErrConflictNoOrphan},
		{"CreateUser/ErrNotFoundAccount", testCreateUserErrNotFoundAccount},
		{"UserByName/CaseInsensitive", testUserByNameCaseInsensitive},
		{"UserByName/ErrNotFound", testUserByNameErrNotFound},
		{"UserByID/OK", testUserByID},
		{"UserByID/ErrNotFound", testUserByIDErrNotFound},
		{"ListUsers/OK", testListUsers},
		{"SetPasswordHash/OK", testSetPasswordHash},
		{"SetPasswordHash/ErrNotFound", testSetPasswordHashErrNotFound},
		{"SetUserDisabled/OK", testSetUserDisabled},
		{"SetUserDisabled/ErrNotFound", testSetUserDisabledErrNotFound},
		{"CountUsers/OK", testCountUsers},

		{"CreateAPIKey/OK", testCreateAPIKey},
		{"CreateAPIKey/ErrConflict", testCreateAPIKeyErrConflict},
		{"APIKeyByID/ErrNotFound", testAPIKeyByIDErrNotFound},
		{"ListAPIKeys/OK", testListAPIKeys},
		{"RevokeAPIKey/OK", testRevokeAPIKey},
		{"RevokeAPIKey/Twice", testRevokeAPIKeyTwice},
		{"RevokeAPIKey/ErrNotFound", testRevokeAPIKeyErrNotFound},

		{"CreateServiceKey/OK", testCreateServiceKey},
		{"CreateServiceKey/ErrConflict", testCreateServiceKeyErrConflict},
		{"CreateServiceKey/NameReusableAfterRevoke", testCreateServiceKeyNameReusable},
		{"ServiceKeyByID/ErrNotFound", testServiceKeyByIDErrNotFound},
		{"ListServiceKeys/OK", testListServiceKeys},
		{"RevokeServiceKey/ByID", testRevokeServiceKeyByID},
		{"RevokeServiceKey/ByName", testRevokeServiceKeyByName},
		{"RevokeServiceKey/Twice", testRevokeServiceKeyTwice},
		{"RevokeServiceKey/ErrNotFound", testRevokeServiceKeyErrNotFound},

		{"ActiveSigningKey/ErrNotFound", testActiveSigningKeyErrNotFound},
		{"RotateSigningKey/First", testRotateSigningKeyFirst},
		{"RotateSigningKey/RetiresPrevious", testRotateSigningKeyRetires},
		{"RotateSigningKey/HS256", testRotateSigningKeyHS256},
		{"SigningKeyByKid/OK", testSigningKeyByKid},
		{"SigningKeyByKid/ErrNotFound", testSigningKeyByKidErrNotFound},
		{"ListSigningKeys/OK", testListSigningKeys},
		{"VerificationKeys/OK", testVerificationKeys},

		{"IssueToken/OK", testIssueToken},
		{"IssueToken/Minimal", testIssueTokenMinimal},
		{"IssueToken/ErrUsageRollsBack", testIssueTokenErrUsageRollsBack},
		{"IssueToken/ErrDuplicateJTI", testIssueTokenErrDuplicate},
		{"TokenByJTI/ErrNotFound", testTokenByJTIErrNotFound},
		{"RevokeToken/OK", testRevokeToken},
		{"RevokeToken/Twice", testRevokeTokenTwice},
		{"RevokeToken/ErrNotFound", testRevokeTokenErrNotFound},

		{"Charge/OK", testCharge},
		{"ReplayCharge", testReplayCharge},
		{"TokenByJTI/PrincipalState", testTokenPrincipalState},
		{"TokenByJTI/AccountCredits", testTokenAccountCredits},
		{"Charge/RefusedTokenLimit", testChargeRefusedTokenLimit},
		{"Charge/RefusedBalance", testChargeRefusedBalance},
		{"Charge/NoTokenLimit", testChargeNoTokenLimit},
		{"Charge/ErrRevoked", testChargeErrRevoked},
		{"Charge/ErrNotFound", testChargeErrNotFound},
		{"Charge/Replay", testChargeReplay},
		{"Charge/ReplayRefusal", testChargeReplayRefusal},
		{"Charge/ReplayErrConflict", testChargeReplayErrConflict},
		{"Charge/RequestIDPerToken", testChargeRequestIDPerToken},
		{"Charge/NoRequestID", testChargeNoRequestID},

		{"RecordUsage/Anonymous", testRecordUsageAnonymous},
		{"UsageReport/Empty", testUsageReportEmpty},
		{"UsageReport/Grouped", testUsageReportGrouped},
		{"UsageReport/FilterAccount", testUsageReportFilterAccount},
		{"UsageReport/FilterTime", testUsageReportFilterTime},

		{"Concurrent/IssueToken", testConcurrentIssueToken},
		{"Concurrent/CreateUserSameName", testConcurrentCreateUserSameName},
		{"Concurrent/AddCredits", testConcurrentAddCredits},
		{"Concurrent/RotateSigningKey", testConcurrentRotateSigningKey},
		{"Concurrent/ReadersAndWriters", testConcurrentMixed},
		{"Concurrent/ChargeTokenLimit", testConcurrentChargeTokenLimit},
		{"Concurrent/ChargeBalance", testConcurrentChargeBalance},
		{"Concurrent/ChargeSameRequestID", testConcurrentChargeSameRequestID},
		{"Concurrent/ChargeAndRevoke", testConcurrentChargeAndRevoke},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// base is the suite's clock: fixed, in UTC, with nanoseconds that a store
// must keep.
var base = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

// east is a zone ahead of UTC, to check that stores normalise to UTC.
var east = time.FixedZone("UTC+2", 2*60*60)

// ---- accounts ---------------------------------------------------------------

func testCreateAccount(t *testing.T, s core.Store) {
	a := &core.Account{Name: "Acme", Credits: 250, Created: base.In(east)}
	must(t, s.CreateAccount(t.Context(), a))
	if a.ID == 0 {
		t.Fatal("CreateAccount did not set ID")
	}
	got, err := s.AccountByID(t.Context(), a.ID)
	must(t, err)
	checkAccount(t, got, a)

	b := newAccount(t, s, "Globex", 0)
	if b.ID == a.ID {
		t.Errorf("two accounts share ID %d", a.ID)
	}
}

func testCreateAccountErrConflict(t *testing.T, s core.Store) {
	newAccount(t, s, "Acme", 10)
	for _, name := range []string{"Acme", "ACME", "acme"} {
		err := s.CreateAccount(t.Context(), &core.Account{Name: name, Created: base})
		wantCode(t, err, core.ECONFLICT)
	}
	as, err := s.ListAccounts(t.Context())
	must(t, err)
	if len(as) != 1 || as[0].Name != "Acme" || as[0].Credits != 10 {
		t.Errorf("accounts after conflicts = %v, want only Acme with 10 credits", accountNames(as))
	}
}

func testAccountByNameCaseInsensitive(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 5)
	for _, name := range []string{"Acme", "acme", "ACME", "aCmE"} {
		got, err := s.AccountByName(t.Context(), name)
		must(t, err)
		checkAccount(t, got, a) // keeps the spelling it was created with
	}
}

func testAccountByNameErrNotFound(t *testing.T, s core.Store) {
	_, err := s.AccountByName(t.Context(), "nobody")
	wantCode(t, err, core.ENOTFOUND)
	newAccount(t, s, "Acme", 0)
	_, err = s.AccountByName(t.Context(), "Acm")
	wantCode(t, err, core.ENOTFOUND)
}

func testAccountByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.AccountByID(t.Context(), 1)
	wantCode(t, err, core.ENOTFOUND)
	a := newAccount(t, s, "Acme", 0)
	_, err = s.AccountByID(t.Context(), a.ID+1000)
	wantCode(t, err, core.ENOTFOUND)
}

func testListAccountsEmpty(t *testing.T, s core.Store) {
	as, err := s.ListAccounts(t.Context())
	must(t, err)
	if len(as) != 0 {
		t.Errorf("ListAccounts on an empty store = %v", accountNames(as))
	}
}

func testListAccountsOrdered(t *testing.T, s core.Store) {
	c := newAccount(t, s, "charlie", 3)
	a := newAccount(t, s, "Alpha", 1)
	b := newAccount(t, s, "bravo", 2)
	as, err := s.ListAccounts(t.Context())
	must(t, err)
	if len(as) != 3 {
		t.Fatalf("ListAccounts = %v, want [Alpha bravo charlie]", accountNames(as))
	}
	for i, want := range []*core.Account{a, b, c} {
		checkAccount(t, as[i], want)
	}
}

func testAddCredits(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 0)
	other := newAccount(t, s, "Globex", 7)
	for _, step := range []struct{ delta, want int64 }{{100, 100}, {-30, 70}, {0, 70}, {-70, 0}, {5, 5}} {
		got, err := s.AddCredits(t.Context(), a.ID, step.delta)
		must(t, err)
		if got != step.want {
			t.Errorf("AddCredits(%d) = %d, want %d", step.delta, got, step.want)
		}
	}
	checkCredits(t, s, a.ID, 5)
	checkCredits(t, s, other.ID, 7)
}

func testAddCreditsErrInvalid(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 10)
	_, err := s.AddCredits(t.Context(), a.ID, -11)
	wantCode(t, err, core.EINVALID)
	checkCredits(t, s, a.ID, 10)

	empty := newAccount(t, s, "Empty", 0)
	_, err = s.AddCredits(t.Context(), empty.ID, -1)
	wantCode(t, err, core.EINVALID)
	checkCredits(t, s, empty.ID, 0)
}

func testAddCreditsErrNotFound(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 10)
	_, err := s.AddCredits(t.Context(), a.ID+1000, 1)
	wantCode(t, err, core.ENOTFOUND)
	_, err = s.AddCredits(t.Context(), a.ID+1000, -1)
	wantCode(t, err, core.ENOTFOUND)
	checkCredits(t, s, a.ID, 10)
}

// ---- users ------------------------------------------------------------------

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
	checkAccount(t, gotA, a)
	gotU, err := s.UserByID(t.Context(), u.ID)
	must(t, err)
	checkUser(t, gotU, u)
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
	for _, want := range []*core.User{u1, u2} {
		got, err := s.UserByID(t.Context(), want.ID)
		must(t, err)
		checkUser(t, got, want)
	}
	as, err := s.ListAccounts(t.Context())
	must(t, err)
	if len(as) != 1 {
		t.Errorf("accounts = %v, want only Acme", accountNames(as))
	}
}

func testCreateUserErrConflict(t *testing.T, s core.Store) {
	first := newUser(t, s, "alice")
	for _, name := range []string{"alice", "Alice", "ALICE"} {
		u := &core.User{AccountID: first.AccountID, Username: name, PasswordHash: "other", Created: base}
		wantCode(t, s.CreateUser(t.Context(), u, nil), core.ECONFLICT)
	}
	got, err := s.UserByName(t.Context(), "alice")
	must(t, err)
	checkUser(t, got, first)
	checkUserCount(t, s, 1)
}

// A user that cannot be created must not leave the account created for it
// in the same call.
func testCreateUserErrConflictNoOrphan(t *testing.T, s core.Store) {
	first := newUser(t, s, "alice")
	u := &core.User{Username: "ALICE", PasswordHash: "other", Created: base}
	err := s.CreateUser(t.Context(), u, &core.Account{Name: "Orphan", Credits: 10, Created: base})
	wantCode(t, err, core.ECONFLICT)

	_, err = s.AccountByName(t.Context(), "Orphan")
	wantCode(t, err, core.ENOTFOUND)
	as, err := s.ListAccounts(t.Context())
	must(t, err)
	if len(as) != 1 || as[0].ID != first.AccountID {
		t.Errorf("accounts = %v, want only alice's", accountNames(as))
	}
	checkUserCount(t, s, 1)
}

func testCreateUserErrNotFoundAccount(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 0)
	u := &core.User{AccountID: a.ID + 1000, Username: "alice", PasswordHash: "h", Created: base}
	wantCode(t, s.CreateUser(t.Context(), u, nil), core.ENOTFOUND)
	_, err := s.UserByName(t.Context(), "alice")
	wantCode(t, err, core.ENOTFOUND)
	checkUserCount(t, s, 0)
}

func testUserByNameCaseInsensitive(t *testing.T, s core.Store) {
	u := newUser(t, s, "Alice")
	for _, name := range []string{"Alice", "alice", "ALICE", "aLiCe"} {
		got, err := s.UserByName(t.Context(), name)
		must(t, err)
		checkUser(t, got, u)
	}
}

func testUserByNameErrNotFound(t *testing.T, s core.Store) {
	_, err := s.UserByName(t.Context(), "alice")
	wantCode(t, err, core.ENOTFOUND)
	newUser(t, s, "alice")
	for _, name := range []string{"alic", "alice2", ""} {
		_, err = s.UserByName(t.Context(), name)
		wantCode(t, err, core.ENOTFOUND)
	}
}

func testUserByID(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	for _, want := range []*core.User{alice, bob} {
		got, err := s.UserByID(t.Context(), want.ID)
		must(t, err)
		checkUser(t, got, want)
	}
}

func testUserByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.UserByID(t.Context(), 1)
	wantCode(t, err, core.ENOTFOUND)
	u := newUser(t, s, "alice")
	_, err = s.UserByID(t.Context(), u.ID+1000)
	wantCode(t, err, core.ENOTFOUND)
}

func testListUsers(t *testing.T, s core.Store) {
	us, err := s.ListUsers(t.Context())
	must(t, err)
	if len(us) != 0 {
		t.Fatalf("ListUsers on an empty store returned %d users", len(us))
	}
	shared := newAccount(t, s, "Shared", 0)
	carol := newUserIn(t, s, "carol", shared.ID)
	alice := newUser(t, s, "alice")
	bob := newUserIn(t, s, "Bob", shared.ID)

	us, err = s.ListUsers(t.Context())
	must(t, err)
	want := []struct {
		u       *core.User
		account string
	}{{alice, "alice"}, {bob, "Shared"}, {carol, "Shared"}}
	if len(us) != len(want) {
		t.Fatalf("ListUsers returned %d users, want 3", len(us))
	}
	for i, w := range want {
		checkUser(t, &us[i].User, w.u)
		if us[i].Account != w.account {
			t.Errorf("user %q: Account = %q, want %q", us[i].Username, us[i].Account, w.account)
		}
	}
}

func testSetPasswordHash(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	must(t, s.SetPasswordHash(t.Context(), alice.ID, "$argon2id$new"))
	alice.PasswordHash = "$argon2id$new"
	for _, want := range []*core.User{alice, bob} {
		got, err := s.UserByID(t.Context(), want.ID)
		must(t, err)
		checkUser(t, got, want)
	}
}

func testSetPasswordHashErrNotFound(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	wantCode(t, s.SetPasswordHash(t.Context(), u.ID+1000, "x"), core.ENOTFOUND)
	got, err := s.UserByID(t.Context(), u.ID)
	must(t, err)
	checkUser(t, got, u)
}

func testSetUserDisabled(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	for _, disabled := range []bool{true, true, false} {
		must(t, s.SetUserDisabled(t.Context(), alice.ID, disabled))
		alice.Disabled = disabled
		for _, want := range []*core.User{alice, bob} {
			got, err := s.UserByID(t.Context(), want.ID)
			must(t, err)
			checkUser(t, got, want)
		}
	}
}

func testSetUserDisabledErrNotFound(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	wantCode(t, s.SetUserDisabled(t.Context(), u.ID+1000, true), core.ENOTFOUND)
	got, err := s.UserByID(t.Context(), u.ID)
	must(t, err)
	checkUser(t, got, u)
}

func testCountUsers(t *testing.T, s core.Store) {
	checkUserCount(t, s, 0)
	a := newUser(t, s, "alice")
	checkUserCount(t, s, 1)
	newUserIn(t, s, "bob", a.AccountID)
	newUser(t, s, "carol")
	checkUserCount(t, s, 3)
}

// ---- API keys ---------------------------------------------------------------

func testCreateAPIKey(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := &core.APIKey{ID: "k1", AccountID: u.AccountID, UserID: u.ID, SecretHash: "$argon2id$secret", Created: base.In(east)}
	must(t, s.CreateAPIKey(t.Context(), k))
	got, err := s.APIKeyByID(t.Context(), "k1")
	must(t, err)
	checkAPIKey(t, got, k)
}

func testCreateAPIKeyErrConflict(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newAPIKey(t, s, u, "k1", base)
	dup := &core.APIKey{ID: "k1", AccountID: u.AccountID, UserID: u.ID, SecretHash: "other", Created: base.Add(time.Hour)}
	wantCode(t, s.CreateAPIKey(t.Context(), dup), core.ECONFLICT)
	got, err := s.APIKeyByID(t.Context(), "k1")
	must(t, err)
	checkAPIKey(t, got, k)
}

func testAPIKeyByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.APIKeyByID(t.Context(), "k1")
	wantCode(t, err, core.ENOTFOUND)
	newAPIKey(t, s, newUser(t, s, "alice"), "k1", base)
	_, err = s.APIKeyByID(t.Context(), "k2")
	wantCode(t, err, core.ENOTFOUND)
}

func testListAPIKeys(t *testing.T, s core.Store) {
	ks, err := s.ListAPIKeys(t.Context(), nil)
	must(t, err)
	if len(ks) != 0 {
		t.Fatalf("ListAPIKeys(nil) on an empty store returned %d keys", len(ks))
	}
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	carol := newUser(t, s, "carol")
	k3 := newAPIKey(t, s, alice, "k3", base.Add(3*time.Second))
	k1 := newAPIKey(t, s, alice, "k1", base.Add(1*time.Second))
	k2 := newAPIKey(t, s, bob, "k2", base.Add(2*time.Second))

	for _, tc := range []struct {
		name   string
		userID *int64
		want   []*core.APIKey
	}{
		{"all", nil, []*core.APIKey{k1, k2, k3}},
		{"alice", &alice.ID, []*core.APIKey{k1, k3}},
		{"bob", &bob.ID, []*core.APIKey{k2}},
		{"carol", &carol.ID, nil},
	} {
		ks, err := s.ListAPIKeys(t.Context(), tc.userID)
		must(t, err)
		if len(ks) != len(tc.want) {
			t.Errorf("ListAPIKeys(%s) returned %d keys, want %d", tc.name, len(ks), len(tc.want))
			continue
		}
		for i := range ks {
			checkAPIKey(t, ks[i], tc.want[i])
		}
	}
}

func testRevokeAPIKey(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k1 := newAPIKey(t, s, u, "k1", base)
	k2 := newAPIKey(t, s, u, "k2", base)
	at := base.Add(time.Hour).In(east)
	must(t, s.RevokeAPIKey(t.Context(), "k1", at))
	k1.Revoked = &at
	for _, want := range []*core.APIKey{k1, k2} {
		got, err := s.APIKeyByID(t.Context(), want.ID)
		must(t, err)
		checkAPIKey(t, got, want)
	}
}

func testRevokeAPIKeyTwice(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newAPIKey(t, s, u, "k1", base)
	first := base.Add(time.Hour)
	must(t, s.RevokeAPIKey(t.Context(), "k1", first))
	must(t, s.RevokeAPIKey(t.Context(), "k1", first.Add(time.Hour)))
	k.Revoked = &first
	got, err := s.APIKeyByID(t.Context(), "k1")
	must(t, err)
	checkAPIKey(t, got, k)
}

func testRevokeAPIKeyErrNotFound(t *testing.T, s core.Store) {
	wantCode(t, s.RevokeAPIKey(t.Context(), "k1", base), core.ENOTFOUND)
	k := newAPIKey(t, s, newUser(t, s, "alice"), "k1", base)
	wantCode(t, s.RevokeAPIKey(t.Context(), "k2", base), core.ENOTFOUND)
	got, err := s.APIKeyByID(t.Context(), "k1")
	must(t, err)
	checkAPIKey(t, got, k)
}

// ---- service keys -----------------------------------------------------------

func testCreateServiceKey(t *testing.T, s core.Store) {
	k := &core.ServiceKey{ID: "0123456789abcdef", Name: "Billing", SecretHash: strings.Repeat("ab", 32), Created: base.In(east)}
	must(t, s.CreateServiceKey(t.Context(), k))
	got, err := s.ServiceKeyByID(t.Context(), k.ID)
	must(t, err)
	checkServiceKey(t, got, k)
	checkServiceKeys(t, s, k)
}

func testCreateServiceKeyErrConflict(t *testing.T, s core.Store) {
	k := newServiceKey(t, s, "sk1", "Billing", base)
	for i, name := range []string{"Billing", "billing", "BILLING"} {
		dup := &core.ServiceKey{ID: fmt.Sprintf("dup%d", i), Name: name, SecretHash: "other", Created: base.Add(time.Hour)}
		wantCode(t, s.CreateServiceKey(t.Context(), dup), core.ECONFLICT)
		_, err := s.ServiceKeyByID(t.Context(), dup.ID)
		wantCode(t, err, core.ENOTFOUND)
	}
	// The same id under another name is a conflict too.
	dup := &core.ServiceKey{ID: "sk1", Name: "shipping", SecretHash: "other", Created: base.Add(time.Hour)}
	wantCode(t, s.CreateServiceKey(t.Context(), dup), core.ECONFLICT)
	checkServiceKeys(t, s, k)
}

// A name is unique among active keys only: a revoked key's name can be reused,
// once at a time.
func testCreateServiceKeyNameReusable(t *testing.T, s core.Store) {
	k1 := newServiceKey(t, s, "sk1", "billing", base)
	at := base.Add(time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), "sk1", at))
	k1.Revoked = &at
	k2 := newServiceKey(t, s, "sk2", "Billing", base.Add(2*time.Hour))
	dup := &core.ServiceKey{ID: "sk3", Name: "BILLING", SecretHash: "other", Created: base.Add(3 * time.Hour)}
	wantCode(t, s.CreateServiceKey(t.Context(), dup), core.ECONFLICT)
	checkServiceKeys(t, s, k1, k2)
}

func testServiceKeyByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.ServiceKeyByID(t.Context(), "sk1")
	wantCode(t, err, core.ENOTFOUND)
	newServiceKey(t, s, "sk1", "billing", base)
	for _, id := range []string{"sk2", "billing", "SK1", ""} {
		_, err = s.ServiceKeyByID(t.Context(), id)
		wantCode(t, err, core.ENOTFOUND)
	}
}

func testListServiceKeys(t *testing.T, s core.Store) {
	checkServiceKeys(t, s)
	k3 := newServiceKey(t, s, "sk3", "reports", base.Add(3*time.Second))
	k1 := newServiceKey(t, s, "sk1", "shipping", base.Add(1*time.Second))
	k2 := newServiceKey(t, s, "sk2", "billing", base.Add(2*time.Second))
	at := base.Add(time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), "sk2", at))
	k2.Revoked = &at
	checkServiceKeys(t, s, k1, k2, k3)
}

func testRevokeServiceKeyByID(t *testing.T, s core.Store) {
	k1 := newServiceKey(t, s, "sk1", "billing", base)
	k2 := newServiceKey(t, s, "sk2", "shipping", base)
	at := base.Add(time.Hour).In(east)
	must(t, s.RevokeServiceKey(t.Context(), "sk1", at))
	k1.Revoked = &at
	checkServiceKeys(t, s, k1, k2)
}

// By name, only the active key of that name is revoked; an older, revoked
// key of the same name keeps its time.
func testRevokeServiceKeyByName(t *testing.T, s core.Store) {
	old := newServiceKey(t, s, "sk1", "billing", base)
	first := base.Add(time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), "sk1", first))
	old.Revoked = &first
	k := newServiceKey(t, s, "sk2", "Billing", base.Add(2*time.Hour))
	other := newServiceKey(t, s, "sk3", "shipping", base.Add(3*time.Hour))

	at := base.Add(4 * time.Hour).In(east)
	must(t, s.RevokeServiceKey(t.Context(), "BILLING", at))
	k.Revoked = &at
	checkServiceKeys(t, s, old, k, other)
}

func testRevokeServiceKeyTwice(t *testing.T, s core.Store) {
	k1 := newServiceKey(t, s, "sk1", "billing", base)
	k2 := newServiceKey(t, s, "sk2", "shipping", base)
	first, later := base.Add(time.Hour), base.Add(2*time.Hour)
	// By id, then again by id and by name.
	must(t, s.RevokeServiceKey(t.Context(), "sk1", first))
	must(t, s.RevokeServiceKey(t.Context(), "sk1", later))
	must(t, s.RevokeServiceKey(t.Context(), "billing", later))
	// By name, then again by name and by id.
	must(t, s.RevokeServiceKey(t.Context(), "shipping", first))
	must(t, s.RevokeServiceKey(t.Context(), "Shipping", later))
	must(t, s.RevokeServiceKey(t.Context(), "sk2", later))
	k1.Revoked, k2.Revoked = &first, &first
	checkServiceKeys(t, s, k1, k2)
}

func testRevokeServiceKeyErrNotFound(t *testing.T, s core.Store) {
	wantCode(t, s.RevokeServiceKey(t.Context(), "sk1", base), core.ENOTFOUND)
	k := newServiceKey(t, s, "sk1", "billing", base)
	for _, idOrName := range []string{"sk2", "shipping", "bill", ""} {
		wantCode(t, s.RevokeServiceKey(t.Context(), idOrName, base), core.ENOTFOUND)
	}
	checkServiceKeys(t, s, k)
}

// ---- signing keys -----------------------------------------------------------

func testActiveSigningKeyErrNotFound(t *testing.T, s core.Store) {
	_, err := s.ActiveSigningKey(t.Context())
	wantCode(t, err, core.ENOTFOUND)
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	if len(ks) != 0 {
		t.Errorf("ListSigningKeys on an empty store returned %d keys", len(ks))
	}
	ks, err = s.VerificationKeys(t.Context(), base)
	must(t, err)
	if len(ks) != 0 {
		t.Errorf("VerificationKeys on an empty store returned %d keys", len(ks))
	}
}

func testRotateSigningKeyFirst(t *testing.T, s core.Store) {
	k := newSigningKey(t, s, base)
	got, err := s.ActiveSigningKey(t.Context())
	must(t, err)
	checkSigningKey(t, got, k)
}

func testRotateSigningKeyRetires(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := newSigningKey(t, s, base.Add(time.Hour))
	got, err := s.ActiveSigningKey(t.Context())
	must(t, err)
	checkSigningKey(t, got, k2)

	got, err = s.SigningKeyByKid(t.Context(), k1.Kid)
	must(t, err)
	k1.Retired = &k2.Created
	checkSigningKey(t, got, k1)

	k3 := newSigningKey(t, s, base.Add(2*time.Hour))
	k2.Retired = &k3.Created
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	checkOneActive(t, ks, k3.Kid)
	got, err = s.SigningKeyByKid(t.Context(), k1.Kid)
	must(t, err)
	checkSigningKey(t, got, k1) // an already retired key keeps its retirement time
	got, err = s.SigningKeyByKid(t.Context(), k2.Kid)
	must(t, err)
	checkSigningKey(t, got, k2)
}

func testRotateSigningKeyHS256(t *testing.T, s core.Store) {
	k, err := core.NewSigningKey(core.AlgHS256, base)
	must(t, err)
	must(t, s.RotateSigningKey(t.Context(), k))
	got, err := s.ActiveSigningKey(t.Context())
	must(t, err)
	checkSigningKey(t, got, k)
	if len(got.Public) != 0 {
		t.Errorf("HS256 key has a public key of %d bytes", len(got.Public))
	}
}

func testSigningKeyByKid(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := newSigningKey(t, s, base.Add(time.Minute))
	k1.Retired = &k2.Created
	for _, want := range []*core.SigningKey{k1, k2} {
		got, err := s.SigningKeyByKid(t.Context(), want.Kid)
		must(t, err)
		checkSigningKey(t, got, want)
	}
}

func testSigningKeyByKidErrNotFound(t *testing.T, s core.Store) {
	_, err := s.SigningKeyByKid(t.Context(), "nokid")
	wantCode(t, err, core.ENOTFOUND)
	newSigningKey(t, s, base)
	_, err = s.SigningKeyByKid(t.Context(), "nokid")
	wantCode(t, err, core.ENOTFOUND)
}

func testListSigningKeys(t *testing.T, s core.Store) {
	k1 := newSigningKey(t, s, base)
	k2 := newSigningKey(t, s, base.Add(time.Minute))
	k3 := newSigningKey(t, s, base.Add(2*time.Minute))
	k1.Retired, k2.Retired = &k2.Created, &k3.Created
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	if len(ks) != 3 {
		t.Fatalf("ListSigningKeys returned %d keys, want 3", len(ks))
	}
	for i, want := range []*core.SigningKey{k1, k2, k3} {
		checkSigningKey(t, ks[i], want)
	}
}

func testVerificationKeys(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	newSigningKey(t, s, base.Add(-time.Hour)) // retired with no token, so never listed
	k1 := newSigningKey(t, s, base)
	checkKids(t, s, base, k1.Kid)
	checkKids(t, s, base.Add(1000*time.Hour), k1.Kid) // the active key never expires

	// k1 signs a token alive until base+2h, then k2 takes over at base+1h.
	issueToken(t, s, newToken(u, k1.Kid, "t1", base, base.Add(2*time.Hour)))
	issueToken(t, s, newToken(u, k1.Kid, "t0", base, base.Add(30*time.Minute)))
	k2 := newSigningKey(t, s, base.Add(time.Hour))
	checkKids(t, s, base.Add(time.Hour), k1.Kid, k2.Kid)
	checkKids(t, s, base.Add(2*time.Hour-time.Nanosecond), k1.Kid, k2.Kid)
	checkKids(t, s, base.Add(2*time.Hour), k2.Kid) // ExpiresAt > now, strictly
	checkKids(t, s, base.Add(3*time.Hour), k2.Kid)
	checkKids(t, s, base.Add(90*time.Minute).In(east), k1.Kid, k2.Kid)

	// Tokens signed by the active key change nothing.
	issueToken(t, s, newToken(u, k2.Kid, "t2", base.Add(time.Hour), base.Add(5*time.Hour)))
	checkKids(t, s, base.Add(3*time.Hour), k2.Kid)

	// A key retired twice over still verifies its live tokens.
	k3 := newSigningKey(t, s, base.Add(4*time.Hour))
	checkKids(t, s, base.Add(4*time.Hour), k2.Kid, k3.Kid)
	checkKids(t, s, base.Add(5*time.Hour), k3.Kid)
}

// ---- tokens -----------------------------------------------------------------

func testIssueToken(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	newAPIKey(t, s, u, "apikey1", base)
	maxCredits := int64(50)
	tok := &core.IssuedToken{
		JTI:            "jti-1",
		Kid:            k.Kid,
		AccountID:      u.AccountID,
		UserID:         u.ID,
		APIKeyID:       "apikey1",
		Application:    "web shop",
		AllowedMethods: []string{"UserAdmin.GetJWT", "AddressCapture"},
		MaxCredits:     &maxCredits,
		ClientIP:       "2001:db8::1",
		IssuedAt:       base.In(east),
		ExpiresAt:      base.Add(time.Hour + 123456789*time.Nanosecond),
	}
	ev := usageEvent(u, base, "web shop", "UserAdmin.GetJWT", core.OutcomeOK, 0)
	ev.JTI = tok.JTI
	must(t, s.IssueToken(t.Context(), tok, ev))

	got, err := s.TokenByJTI(t.Context(), "jti-1")
	must(t, err)
	checkToken(t, got, tok)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		{Day: "2030-01-02", Account: "alice", Application: "web shop", Method: "UserAdmin.GetJWT", Calls: 1},
	})
}

func testIssueTokenMinimal(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	for i, methods := range [][]string{nil, {}} {
		tok := newToken(u, k.Kid, fmt.Sprintf("jti-%d", i), base, base.Add(time.Minute))
		tok.AllowedMethods = methods
		issueToken(t, s, tok)
		got, err := s.TokenByJTI(t.Context(), tok.JTI)
		must(t, err)
		checkToken(t, got, tok)
	}
}

// The token and its usage event are written together or not at all.
func testIssueTokenErrUsageRollsBack(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	ev := usageEvent(u, base, "", "UserAdmin.GetJWT", core.OutcomeOK, 0)
	noAccount := u.AccountID + 1000
	ev.AccountID = &noAccount
	if err := s.IssueToken(t.Context(), tok, ev); err == nil {
		t.Fatal("IssueToken with a usage event for an unknown account succeeded")
	}
	_, err := s.TokenByJTI(t.Context(), "jti-1")
	wantCode(t, err, core.ENOTFOUND)
	checkReport(t, s, core.UsageFilter{}, nil)
	checkKids(t, s, base, k.Kid)
}

func testIssueTokenErrDuplicate(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	issueToken(t, s, tok)
	dup := newToken(u, k.Kid, "jti-1", base, base.Add(2*time.Hour))
	dup.Application = "other"
	if err := s.IssueToken(t.Context(), dup, usageEvent(u, base, "other", "UserAdmin.GetJWT", core.OutcomeOK, 0)); err == nil {
		t.Fatal("IssueToken with a duplicate jti succeeded")
	}
	got, err := s.TokenByJTI(t.Context(), "jti-1")
	must(t, err)
	checkToken(t, got, tok)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		{Day: "2030-01-02", Account: "alice", Method: "UserAdmin.GetJWT", Calls: 1},
	})
}

func testTokenByJTIErrNotFound(t *testing.T, s core.Store) {
	_, err := s.TokenByJTI(t.Context(), "jti-1")
	wantCode(t, err, core.ENOTFOUND)
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	issueToken(t, s, newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour)))
	_, err = s.TokenByJTI(t.Context(), "jti-2")
	wantCode(t, err, core.ENOTFOUND)
}

func testRevokeToken(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	t1 := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	t2 := newToken(u, k.Kid, "jti-2", base, base.Add(time.Hour))
	issueToken(t, s, t1)
	issueToken(t, s, t2)
	at := base.Add(time.Minute).In(east)
	must(t, s.RevokeToken(t.Context(), "jti-1", at))
	t1.Revoked = &at
	for _, want := range []*core.IssuedToken{t1, t2} {
		got, err := s.TokenByJTI(t.Context(), want.JTI)
		must(t, err)
		checkToken(t, got, want)
	}
}

func testRevokeTokenTwice(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	issueToken(t, s, tok)
	first := base.Add(time.Minute)
	must(t, s.RevokeToken(t.Context(), "jti-1", first))
	must(t, s.RevokeToken(t.Context(), "jti-1", first.Add(time.Minute)))
	must(t, s.RevokeToken(t.Context(), "jti-1", first.Add(-time.Minute)))
	tok.Revoked = &first
	got, err := s.TokenByJTI(t.Context(), "jti-1")
	must(t, err)
	checkToken(t, got, tok)
}

func testRevokeTokenErrNotFound(t *testing.T, s core.Store) {
	wantCode(t, s.RevokeToken(t.Context(), "jti-1", base), core.ENOTFOUND)
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	issueToken(t, s, tok)
	wantCode(t, s.RevokeToken(t.Context(), "jti-2", base), core.ENOTFOUND)
	got, err := s.TokenByJTI(t.Context(), "jti-1")
	must(t, err)
	checkToken(t, got, tok)
}

// ---- charges ----------------------------------------------------------------

// The ledger line every charge fixture starts with: the token's GetJWT.
var getJWTRow = row("2030-01-02", "alice", "web", "UserAdmin.GetJWT", 1, 0, 0)

func testCharge(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	req := chargeReq(tok, "Address.Clean", 3, "")
	req.Event.Credits, req.Event.Outcome = 999, "bogus" // the store sets both
	out, err := s.Charge(t.Context(), req)
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](7), Balance: 97})
	checkCredits(t, s, tok.AccountID, 97)
	checkSpent(t, s, tok.JTI, 3)

	// Up to the token's limit exactly.
	out, err = s.Charge(t.Context(), chargeReq(tok, "Phone.Validate", 7, ""))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](0), Balance: 90})
	checkCredits(t, s, tok.AccountID, 90)
	checkSpent(t, s, tok.JTI, 10)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 1, 0, 3),
		row("2030-01-02", "alice", "web", "Phone.Validate", 1, 0, 7),
	})
}

func testReplayCharge(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	if _, _, _, err := s.ReplayCharge(t.Context(), tok.JTI, "r1"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("ReplayCharge before any charge: %v, want ENOTFOUND", err)
	}
	_, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 3, "r1"))
	must(t, err)
	out, method, credits, err := s.ReplayCharge(t.Context(), tok.JTI, "r1")
	must(t, err)
	if method != "Address.Clean" || credits != 3 {
		t.Errorf("ReplayCharge terms = %s, %d; want Address.Clean, 3", method, credits)
	}
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, Replayed: true, TokenRemaining: ptr[int64](7), Balance: 97})
	if _, _, _, err := s.ReplayCharge(t.Context(), "other-jti", "r1"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("ReplayCharge for another token: %v, want ENOTFOUND", err)
	}
}

func testTokenPrincipalState(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, nil)
	got, err := s.TokenByJTI(t.Context(), tok.JTI)
	must(t, err)
	if got.UserDisabled || got.APIKeyRevoked {
		t.Fatalf("fresh token: UserDisabled=%v APIKeyRevoked=%v", got.UserDisabled, got.APIKeyRevoked)
	}
	must(t, s.SetUserDisabled(t.Context(), tok.UserID, true))
	got, err = s.TokenByJTI(t.Context(), tok.JTI)
	must(t, err)
	if !got.UserDisabled {
		t.Fatal("TokenByJTI does not report the user's disabling")
	}
	k := &core.APIKey{ID: "0123456789abcdef", AccountID: tok.AccountID, UserID: tok.UserID, SecretHash: "x", Created: base}
	must(t, s.CreateAPIKey(t.Context(), k))
	keyTok := newToken(&core.User{ID: tok.UserID, AccountID: tok.AccountID}, tok.Kid, "jti-key", base, base.Add(time.Hour))
	keyTok.APIKeyID = k.ID
	issueToken(t, s, keyTok)
	must(t, s.RevokeAPIKey(t.Context(), k.ID, base))
	got, err = s.TokenByJTI(t.Context(), "jti-key")
	must(t, err)
	if !got.APIKeyRevoked {
		t.Fatal("TokenByJTI does not report the revocation of the token's API key")
	}
}

// TokenByJTI reads the account's balance as it is now, with the token.
func testTokenAccountCredits(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, nil)
	got, err := s.TokenByJTI(t.Context(), tok.JTI)
	must(t, err)
	if got.AccountCredits != 100 {
		t.Fatalf("AccountCredits = %d, want 100", got.AccountCredits)
	}
	_, err = s.AddCredits(t.Context(), tok.AccountID, 25)
	must(t, err)
	_, err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 5, ""))
	must(t, err)
	got, err = s.TokenByJTI(t.Context(), tok.JTI)
	must(t, err)
	if got.AccountCredits != 120 {
		t.Fatalf("after +25 and a charge of 5: AccountCredits = %d, want 120", got.AccountCredits)
	}
}

func testChargeRefusedTokenLimit(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](5))
	out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 4, ""))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](1), Balance: 96})

	out, err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Refusal: "token", TokenRemaining: ptr[int64](1), Balance: 96})
	checkCredits(t, s, tok.AccountID, 96)
	checkSpent(t, s, tok.JTI, 4)
	// The refusal is on the ledger, as a failure that charged nothing.
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 2, 1, 4),
	})
}

func testChargeRefusedBalance(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 5, ptr[int64](100))
	out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 5, ""))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](95), Balance: 0})

	out, err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, ""))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Refusal: "account", TokenRemaining: ptr[int64](95), Balance: 0})
	checkCredits(t, s, tok.AccountID, 0)
	checkSpent(t, s, tok.JTI, 5)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 2, 1, 5),
	})
}

func testChargeNoTokenLimit(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 50, nil)
	for _, step := range []struct {
		credits int64
		want    core.ChargeOutcome
	}{
		{20, core.ChargeOutcome{Charged: true, Balance: 30}},
		{30, core.ChargeOutcome{Charged: true, Balance: 0}},
		{1, core.ChargeOutcome{Refusal: "account", Balance: 0}},
	} {
		out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", step.credits, ""))
		must(t, err)
		checkOutcome(t, out, step.want)
	}
	checkCredits(t, s, tok.AccountID, 0)
	checkSpent(t, s, tok.JTI, 50)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 3, 1, 50),
	})
}

// A revoked token is an error, not a refusal: nothing is written.
func testChargeErrRevoked(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	_, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, ""))
	must(t, err)
	must(t, s.RevokeToken(t.Context(), tok.JTI, base.Add(time.Minute)))
	for _, id := range []string{"", "r1"} {
		_, err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, id))
		wantCode(t, err, core.EUNAUTHORIZED)
	}
	checkCredits(t, s, tok.AccountID, 99)
	checkSpent(t, s, tok.JTI, 1)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 1, 0, 1),
	})
}

func testChargeErrNotFound(t *testing.T, s core.Store) {
	unknown := &core.IssuedToken{JTI: "jti-0", AccountID: 1, UserID: 1}
	_, err := s.Charge(t.Context(), chargeReq(unknown, "Address.Clean", 1, ""))
	wantCode(t, err, core.ENOTFOUND)

	tok := chargeFixture(t, s, 100, ptr[int64](10))
	other := *tok
	other.JTI = "jti-2"
	for _, id := range []string{"", "r1"} {
		_, err = s.Charge(t.Context(), chargeReq(&other, "Address.Clean", 1, id))
		wantCode(t, err, core.ENOTFOUND)
	}
	checkCredits(t, s, tok.AccountID, 100)
	checkSpent(t, s, tok.JTI, 0)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{getJWTRow})
}

// A retry returns the first outcome with its figures, and charges and records nothing.
func testChargeReplay(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](8), Balance: 98})
	out, err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, ""))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](7), Balance: 97})

	for range 2 {
		out, err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
		must(t, err)
		checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](8), Balance: 98, Replayed: true})
	}
	checkCredits(t, s, tok.AccountID, 97)
	checkSpent(t, s, tok.JTI, 3)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 2, 0, 3),
	})
}

// A refusal is an outcome too: its retry is refused even once credits are there.
func testChargeReplayRefusal(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 1, nil)
	first, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, first, core.ChargeOutcome{Refusal: "account", Balance: 1})
	if _, err := s.AddCredits(t.Context(), tok.AccountID, 10); err != nil {
		t.Fatal(err)
	}

	again, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, again, core.ChargeOutcome{Refusal: "account", Balance: 1, Replayed: true})
	if again.Refusal != first.Refusal {
		t.Errorf("replayed Refusal = %q, want the first one, %q", again.Refusal, first.Refusal)
	}
	checkCredits(t, s, tok.AccountID, 11)

	// A new request is charged.
	out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r2"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, Balance: 9})
	checkSpent(t, s, tok.JTI, 2)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 2, 1, 2),
	})
}

func testChargeReplayErrConflict(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	_, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
	must(t, err)
	for _, req := range []*core.ChargeRequest{
		chargeReq(tok, "Address.Clean", 3, "r1"),
		chargeReq(tok, "Address.Clean", 1, "r1"),
		chargeReq(tok, "Phone.Validate", 2, "r1"),
	} {
		_, err = s.Charge(t.Context(), req)
		wantCode(t, err, core.ECONFLICT)
	}
	// The first request still replays.
	out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](8), Balance: 98, Replayed: true})
	checkCredits(t, s, tok.AccountID, 98)
	checkSpent(t, s, tok.JTI, 2)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 1, 0, 2),
	})
}

// A requestId is scoped to its token: two tokens may use the same one.
func testChargeRequestIDPerToken(t *testing.T, s core.Store) {
	tok1 := chargeFixture(t, s, 100, ptr[int64](10))
	tok2 := *tok1
	tok2.JTI = "jti-2"
	issueToken(t, s, &tok2)

	out, err := s.Charge(t.Context(), chargeReq(tok1, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](8), Balance: 98})
	out, err = s.Charge(t.Context(), chargeReq(&tok2, "Phone.Validate", 3, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](7), Balance: 95})

	out, err = s.Charge(t.Context(), chargeReq(tok1, "Address.Clean", 2, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](8), Balance: 98, Replayed: true})
	out, err = s.Charge(t.Context(), chargeReq(&tok2, "Phone.Validate", 3, "r1"))
	must(t, err)
	checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](7), Balance: 95, Replayed: true})

	checkCredits(t, s, tok1.AccountID, 95)
	checkSpent(t, s, tok1.JTI, 2)
	checkSpent(t, s, tok2.JTI, 3)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		row("2030-01-02", "alice", "web", "UserAdmin.GetJWT", 2, 0, 0),
		row("2030-01-02", "alice", "web", "Address.Clean", 1, 0, 2),
		row("2030-01-02", "alice", "web", "Phone.Validate", 1, 0, 3),
	})
}

func testChargeNoRequestID(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	for i := range int64(3) {
		out, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, ""))
		must(t, err)
		checkOutcome(t, out, core.ChargeOutcome{Charged: true, TokenRemaining: ptr(9 - i), Balance: 99 - i})
	}
	checkCredits(t, s, tok.AccountID, 97)
	checkSpent(t, s, tok.JTI, 3)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 3, 0, 3),
	})
}

// ---- usage ------------------------------------------------------------------

func testRecordUsageAnonymous(t *testing.T, s core.Store) {
	ev := &core.UsageEvent{Time: base, Method: "UserAdmin.GetJWT", Outcome: string(core.EUNAUTHORIZED), ClientAddr: "192.0.2.1"}
	must(t, s.RecordUsage(t.Context(), ev))
	must(t, s.RecordUsage(t.Context(), ev))
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		{Day: "2030-01-02", Method: "UserAdmin.GetJWT", Calls: 2, Failures: 2},
	})
}

func testUsageReportEmpty(t *testing.T, s core.Store) {
	checkReport(t, s, core.UsageFilter{}, nil)
	a := newAccount(t, s, "acme", 0)
	checkReport(t, s, core.UsageFilter{AccountID: &a.ID, From: base, To: base.Add(time.Hour)}, nil)
}

// usageFixture records a ledger over two days and returns the two users.
func usageFixture(t *testing.T, s core.Store) (acme, globex *core.User) {
	acme, globex = newUser(t, s, "acme"), newUser(t, s, "globex")
	day2 := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	for _, ev := range []*core.UsageEvent{
		usageEvent(acme, base, "web", "Address.Clean", core.OutcomeOK, 2),
		usageEvent(acme, base.Add(6*time.Hour), "web", "Address.Clean", string(core.ENOCREDITS), 0),
		usageEvent(acme, day2.Add(-time.Nanosecond), "web", "Address.Clean", core.OutcomeOK, 3),
		usageEvent(acme, day2.Add(-time.Hour).In(east), "web", "Address.Clean", core.OutcomeOK, 1), // 01:00+02:00 is still day 1 in UTC
		usageEvent(acme, day2, "web", "Address.Clean", core.OutcomeOK, 5),
		usageEvent(acme, base, "mobile", "Address.Clean", core.OutcomeOK, 1),
		usageEvent(acme, base, "web", "Phone.Validate", string(core.EFORBIDDEN), 0),
		usageEvent(globex, base, "web", "Address.Clean", core.OutcomeOK, 7),
		{Time: base, Method: "UserAdmin.GetJWT", Outcome: string(core.EUNAUTHORIZED)},
	} {
		must(t, s.RecordUsage(t.Context(), ev))
	}
	return acme, globex
}

func testUsageReportGrouped(t *testing.T, s core.Store) {
	usageFixture(t, s)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		row("2030-01-02", "", "", "UserAdmin.GetJWT", 1, 1, 0),
		row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
		row("2030-01-02", "acme", "web", "Address.Clean", 4, 1, 6),
		row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		row("2030-01-02", "globex", "web", "Address.Clean", 1, 0, 7),
		row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5),
	})
}

func testUsageReportFilterAccount(t *testing.T, s core.Store) {
	acme, globex := usageFixture(t, s)
	checkReport(t, s, core.UsageFilter{AccountID: &acme.AccountID}, []core.UsageRow{
		row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
		row("2030-01-02", "acme", "web", "Address.Clean", 4, 1, 6),
		row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5),
	})
	checkReport(t, s, core.UsageFilter{AccountID: &globex.AccountID}, []core.UsageRow{
		row("2030-01-02", "globex", "web", "Address.Clean", 1, 0, 7),
	})
	none := globex.AccountID + 1000
	checkReport(t, s, core.UsageFilter{AccountID: &none}, nil)
}

func testUsageReportFilterTime(t *testing.T, s core.Store) {
	acme, _ := usageFixture(t, s)
	day2 := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	day1 := []core.UsageRow{
		row("2030-01-02", "", "", "UserAdmin.GetJWT", 1, 1, 0),
		row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
		row("2030-01-02", "acme", "web", "Address.Clean", 4, 1, 6),
		row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		row("2030-01-02", "globex", "web", "Address.Clean", 1, 0, 7),
	}
	lastDay := []core.UsageRow{row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5)}
	lateDay1 := []core.UsageRow{row("2030-01-02", "acme", "web", "Address.Clean", 2, 0, 4)}
	for _, tc := range []struct {
		name string
		f    core.UsageFilter
		want []core.UsageRow
	}{
		{"To is exclusive", core.UsageFilter{To: day2}, day1},
		{"From is inclusive", core.UsageFilter{From: day2}, lastDay},
		{"From and To", core.UsageFilter{From: day2.Add(-time.Hour), To: day2}, lateDay1},
		{"From and To in another zone", core.UsageFilter{From: day2.Add(-time.Hour).In(east), To: day2.In(east)}, lateDay1},
		{"nanosecond bounds", core.UsageFilter{From: day2.Add(-time.Nanosecond), To: day2.Add(time.Nanosecond)}, []core.UsageRow{
			row("2030-01-02", "acme", "web", "Address.Clean", 1, 0, 3),
			row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5),
		}},
		{"account and time", core.UsageFilter{AccountID: &acme.AccountID, From: base, To: base.Add(time.Nanosecond)}, []core.UsageRow{
			row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
			row("2030-01-02", "acme", "web", "Address.Clean", 1, 0, 2),
			row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		}},
		{"empty range", core.UsageFilter{From: day2, To: day2}, nil},
		{"after everything", core.UsageFilter{From: day2.Add(time.Nanosecond)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkReport(t, s, tc.f, tc.want) })
	}
}

// ---- concurrency ------------------------------------------------------------

// parallel runs fn(0..n-1) in n goroutines released at once, and returns
// their errors by index.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentIssueToken(t *testing.T, s core.Store) {
	const n = 50
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	errs := parallel(n, func(i int) error {
		tok := newToken(u, k.Kid, fmt.Sprintf("jti-%02d", i), base, base.Add(time.Hour))
		ev := usageEvent(u, base, "app", "UserAdmin.GetJWT", core.OutcomeOK, 0)
		ev.JTI = tok.JTI
		return s.IssueToken(t.Context(), tok, ev)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("IssueToken %d: %v", i, err)
		}
	}
	for i := range n {
		if _, err := s.TokenByJTI(t.Context(), fmt.Sprintf("jti-%02d", i)); err != nil {
			t.Errorf("TokenByJTI(jti-%02d): %v", i, err)
		}
	}
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		{Day: "2030-01-02", Account: "alice", Application: "app", Method: "UserAdmin.GetJWT", Calls: n},
	})
}

func testConcurrentCreateUserSameName(t *testing.T, s core.Store) {
	const n = 20
	users := make([]*core.User, n)
	errs := parallel(n, func(i int) error {
		name := "bob"
		if i%2 == 1 {
			name = "BOB"
		}
		users[i] = &core.User{Username: name, PasswordHash: fmt.Sprint(i), Created: base}
		return s.CreateUser(t.Context(), users[i], &core.Account{Name: fmt.Sprintf("account-%02d", i), Created: base})
	})
	winner := -1
	for i, err := range errs {
		switch core.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Errorf("CreateUser %d and %d both succeeded", winner, i)
			}
			winner = i
		case core.ECONFLICT:
		default:
			t.Errorf("CreateUser %d: %v, want success or %s", i, err, core.ECONFLICT)
		}
	}
	if winner < 0 {
		t.Fatal("no CreateUser succeeded")
	}
	got, err := s.UserByName(t.Context(), "bob")
	must(t, err)
	checkUser(t, got, users[winner])
	checkUserCount(t, s, 1)
	as, err := s.ListAccounts(t.Context())
	must(t, err)
	if len(as) != 1 || as[0].ID != users[winner].AccountID {
		t.Errorf("accounts = %v, want only the winner's account-%02d", accountNames(as), winner)
	}
}

func testConcurrentAddCredits(t *testing.T, s core.Store) {
	const n = 50
	a := newAccount(t, s, "acme", 0)
	balances := make([]int64, n)
	errs := parallel(n, func(i int) error {
		var err error
		balances[i], err = s.AddCredits(t.Context(), a.ID, 1)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("AddCredits %d: %v", i, err)
		}
	}
	checkCredits(t, s, a.ID, n)
	// Each call saw its own increment: the balances returned are 1..n.
	slices.Sort(balances)
	for i, b := range balances {
		if b != int64(i+1) {
			t.Fatalf("balances returned = %v, want 1..%d each once", balances, n)
		}
	}

	// Spending concurrently never takes the balance below zero.
	errs = parallel(n+10, func(i int) error {
		_, err := s.AddCredits(t.Context(), a.ID, -1)
		return err
	})
	var refused int
	for i, err := range errs {
		switch core.ErrorCode(err) {
		case "":
		case core.EINVALID:
			refused++
		default:
			t.Errorf("AddCredits(-1) %d: %v", i, err)
		}
	}
	if refused != 10 {
		t.Errorf("%d spends refused, want 10", refused)
	}
	checkCredits(t, s, a.ID, 0)
}

func testConcurrentRotateSigningKey(t *testing.T, s core.Store) {
	const n = 10
	k0 := newSigningKey(t, s, base)
	keys := make([]*core.SigningKey, n)
	for i := range keys {
		var err error
		keys[i], err = core.NewSigningKey(core.AlgEdDSA, base.Add(time.Duration(i+1)*time.Second))
		must(t, err)
	}
	errs := parallel(n, func(i int) error { return s.RotateSigningKey(t.Context(), keys[i]) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("RotateSigningKey %d: %v", i, err)
		}
	}
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	if len(ks) != n+1 {
		t.Errorf("ListSigningKeys returned %d keys, want %d", len(ks), n+1)
	}
	active, err := s.ActiveSigningKey(t.Context())
	must(t, err)
	checkOneActive(t, ks, active.Kid)
	if active.Kid == k0.Kid {
		t.Error("the first key is still active after 10 rotations")
	}
}

// Readers run beside writers and always see a consistent state.
func testConcurrentMixed(t *testing.T, s core.Store) {
	const writers, readers, rounds = 10, 10, 10
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	issueToken(t, s, newToken(u, k.Kid, "seed", base, base.Add(time.Hour)))

	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for r := range rounds {
				if _, err := s.AddCredits(t.Context(), u.AccountID, 1); err != nil {
					t.Errorf("AddCredits: %v", err)
				}
				if err := s.RecordUsage(t.Context(), usageEvent(u, base, "app", "Address.Clean", core.OutcomeOK, 1)); err != nil {
					t.Errorf("RecordUsage: %v", err)
				}
				tok := newToken(u, k.Kid, fmt.Sprintf("jti-%d-%d", w, r), base, base.Add(time.Hour))
				if err := s.IssueToken(t.Context(), tok, usageEvent(u, base, "", "UserAdmin.GetJWT", core.OutcomeOK, 0)); err != nil {
					t.Errorf("IssueToken: %v", err)
				}
			}
		})
	}
	for i := range 2 {
		wg.Go(func() {
			<-start
			for r := range 3 {
				nk, err := core.NewSigningKey(core.AlgEdDSA, base.Add(time.Duration(10*i+r+1)*time.Second))
				if err == nil {
					err = s.RotateSigningKey(t.Context(), nk)
				}
				if err != nil {
					t.Errorf("RotateSigningKey: %v", err)
				}
			}
		})
	}
	for range readers {
		wg.Go(func() {
			<-start
			var last int64
			for range rounds {
				a, err := s.AccountByID(t.Context(), u.AccountID)
				switch {
				case err != nil:
					t.Errorf("AccountByID: %v", err)
				case a.Credits < last || a.Credits > writers*rounds:
					t.Errorf("balance went from %d to %d", last, a.Credits)
				default:
					last = a.Credits
				}
				if _, err := s.ActiveSigningKey(t.Context()); err != nil {
					t.Errorf("ActiveSigningKey during rotation: %v", err)
				}
				if ks, err := s.VerificationKeys(t.Context(), base); err != nil {
					t.Errorf("VerificationKeys: %v", err)
				} else if n := countActive(ks); n != 1 {
					t.Errorf("VerificationKeys returned %d active keys, want 1", n)
				}
				if _, err := s.TokenByJTI(t.Context(), "seed"); err != nil {
					t.Errorf("TokenByJTI: %v", err)
				}
				if _, err := s.UsageReport(t.Context(), core.UsageFilter{AccountID: &u.AccountID}); err != nil {
					t.Errorf("UsageReport: %v", err)
				}
				if us, err := s.ListUsers(t.Context()); err != nil || len(us) != 1 {
					t.Errorf("ListUsers = %d users, %v; want 1", len(us), err)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	checkCredits(t, s, u.AccountID, writers*rounds)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		{Day: "2030-01-02", Account: "alice", Method: "UserAdmin.GetJWT", Calls: writers*rounds + 1},
		{Day: "2030-01-02", Account: "alice", Application: "app", Method: "Address.Clean", Calls: writers * rounds, Credits: writers * rounds},
	})
	ks, err := s.ListSigningKeys(t.Context())
	must(t, err)
	if len(ks) != 7 || countActive(ks) != 1 {
		t.Errorf("after rotations: %d keys, %d active; want 7 and 1", len(ks), countActive(ks))
	}
}

// The issue's headline: concurrent charges never spend more than the token's
// limit, and each one sees the one before it.
func testConcurrentChargeTokenLimit(t *testing.T, s core.Store) {
	const n, limit = 100, 5
	tok := chargeFixture(t, s, 1000, ptr[int64](limit))
	outs := make([]*core.ChargeOutcome, n)
	errs := parallel(n, func(i int) error {
		id := ""
		if i%2 == 0 {
			id = fmt.Sprintf("req-%03d", i)
		}
		var err error
		outs[i], err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, id))
		return err
	})
	var remaining, balances []int64
	refused := 0
	for i, err := range errs {
		out := outs[i]
		switch {
		case err != nil:
			t.Errorf("Charge %d: %v", i, err)
		case out.Replayed || out.TokenRemaining == nil:
			t.Errorf("Charge %d = %+v: replayed or without the token's remaining credits", i, *out)
		case out.Charged:
			remaining, balances = append(remaining, *out.TokenRemaining), append(balances, out.Balance)
		default:
			refused++
			if !strings.Contains(strings.ToLower(out.Refusal), "token") || *out.TokenRemaining != 0 || out.Balance != 1000-limit {
				t.Errorf("refusal %d = %+v (remaining %d), want one for the token's limit with 0 remaining and a balance of %d",
					i, *out, *out.TokenRemaining, 1000-limit)
			}
		}
	}
	if len(balances) != limit || refused != n-limit {
		t.Fatalf("%d charged and %d refused, want %d and %d", len(balances), refused, limit, n-limit)
	}
	slices.Sort(remaining)
	slices.Sort(balances)
	if !slices.Equal(remaining, []int64{0, 1, 2, 3, 4}) || !slices.Equal(balances, []int64{995, 996, 997, 998, 999}) {
		t.Errorf("charges returned remaining %v and balances %v, want 0..4 and 995..999 each once", remaining, balances)
	}
	checkCredits(t, s, tok.AccountID, 1000-limit)
	checkSpent(t, s, tok.JTI, limit)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", n, n-limit, limit),
	})
}

func testConcurrentChargeBalance(t *testing.T, s core.Store) {
	const n, balance = 50, 3
	tok := chargeFixture(t, s, balance, nil)
	outs := make([]*core.ChargeOutcome, n)
	errs := parallel(n, func(i int) error {
		var err error
		outs[i], err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, fmt.Sprintf("req-%03d", i)))
		return err
	})
	var balances []int64
	refused := 0
	for i, err := range errs {
		out := outs[i]
		switch {
		case err != nil:
			t.Errorf("Charge %d: %v", i, err)
		case out.Replayed || out.TokenRemaining != nil:
			t.Errorf("Charge %d = %+v: replayed, or a token limit for a token without one", i, *out)
		case out.Charged:
			balances = append(balances, out.Balance)
		default:
			refused++
			if !strings.Contains(strings.ToLower(out.Refusal), "account") || out.Balance != 0 {
				t.Errorf("refusal %d = %+v, want one for the account's balance, at 0", i, *out)
			}
		}
	}
	if len(balances) != balance || refused != n-balance {
		t.Fatalf("%d charged and %d refused, want %d and %d", len(balances), refused, balance, n-balance)
	}
	slices.Sort(balances)
	if !slices.Equal(balances, []int64{0, 1, 2}) {
		t.Errorf("charges returned balances %v, want 0..2 each once", balances)
	}
	checkCredits(t, s, tok.AccountID, 0)
	checkSpent(t, s, tok.JTI, balance)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", n, n-balance, balance),
	})
}

// The same requestId sent at once from many goroutines charges once, and
// every caller sees that charge.
func testConcurrentChargeSameRequestID(t *testing.T, s core.Store) {
	const n = 10
	tok := chargeFixture(t, s, 1000, ptr[int64](5))
	outs := make([]*core.ChargeOutcome, n)
	errs := parallel(n, func(i int) error {
		var err error
		outs[i], err = s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, "same"))
		return err
	})
	fresh := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("Charge %d: %v", i, err)
			continue
		}
		if !outs[i].Replayed {
			fresh++
		}
		got := *outs[i]
		got.Replayed = false
		checkOutcome(t, &got, core.ChargeOutcome{Charged: true, TokenRemaining: ptr[int64](4), Balance: 999})
	}
	if fresh != 1 {
		t.Errorf("%d charges were not replays, want 1", fresh)
	}
	checkCredits(t, s, tok.AccountID, 999)
	checkSpent(t, s, tok.JTI, 1)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", 1, 0, 1),
	})
}

// Revoking a token while it is being charged: each charge either happened
// in full (token, account and ledger) or not at all.
func testConcurrentChargeAndRevoke(t *testing.T, s core.Store) {
	const n = 50
	tok := chargeFixture(t, s, 1000, nil)
	errs := parallel(n, func(i int) error {
		if i == n/2 {
			return s.RevokeToken(t.Context(), tok.JTI, base.Add(time.Minute))
		}
		_, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, fmt.Sprintf("req-%03d", i)))
		return err
	})
	var charged int64
	for i, err := range errs {
		switch core.ErrorCode(err) {
		case "":
			if i != n/2 {
				charged++
			}
		case core.EUNAUTHORIZED:
		default:
			t.Errorf("call %d: %v, want success or %s", i, err, core.EUNAUTHORIZED)
		}
	}
	if errs[n/2] != nil {
		t.Errorf("RevokeToken: %v", errs[n/2])
	}
	checkCredits(t, s, tok.AccountID, 1000-charged)
	checkSpent(t, s, tok.JTI, charged)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		getJWTRow,
		row("2030-01-02", "alice", "web", "Address.Clean", charged, 0, charged),
	})
	_, err := s.Charge(t.Context(), chargeReq(tok, "Address.Clean", 1, ""))
	wantCode(t, err, core.EUNAUTHORIZED)
}

// ---- fixtures ---------------------------------------------------------------

func newAccount(t *testing.T, s core.Store, name string, credits int64) *core.Account {
	t.Helper()
	a := &core.Account{Name: name, Credits: credits, Created: base}
	must(t, s.CreateAccount(t.Context(), a))
	return a
}

// newUser creates a user with an account of the same name.
func newUser(t *testing.T, s core.Store, username string) *core.User {
	t.Helper()
	u := &core.User{Username: username, PasswordHash: "hash of " + username, Created: base}
	must(t, s.CreateUser(t.Context(), u, &core.Account{Name: username, Created: base}))
	return u
}

func newUserIn(t *testing.T, s core.Store, username string, accountID int64) *core.User {
	t.Helper()
	u := &core.User{AccountID: accountID, Username: username, PasswordHash: "hash of " + username, Created: base}
	must(t, s.CreateUser(t.Context(), u, nil))
	return u
}

func newAPIKey(t *testing.T, s core.Store, u *core.User, id string, created time.Time) *core.APIKey {
	t.Helper()
	k := &core.APIKey{ID: id, AccountID: u.AccountID, UserID: u.ID, SecretHash: "hash of " + id, Created: created}
	must(t, s.CreateAPIKey(t.Context(), k))
	return k
}

// newSigningKey makes a new EdDSA key the active one.
func newSigningKey(t *testing.T, s core.Store, created time.Time) *core.SigningKey {
	t.Helper()
	k, err := core.NewSigningKey(core.AlgEdDSA, created)
	must(t, err)
	must(t, s.RotateSigningKey(t.Context(), k))
	return k
}

func newToken(u *core.User, kid, jti string, issued, expires time.Time) *core.IssuedToken {
	return &core.IssuedToken{JTI: jti, Kid: kid, AccountID: u.AccountID, UserID: u.ID, IssuedAt: issued, ExpiresAt: expires}
}

// issueToken issues tok with the usage event GetJWT records for it.
func issueToken(t *testing.T, s core.Store, tok *core.IssuedToken) {
	t.Helper()
	ev := &core.UsageEvent{Time: tok.IssuedAt, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: tok.Application,
		Method: "UserAdmin.GetJWT", Outcome: core.OutcomeOK, JTI: tok.JTI}
	must(t, s.IssueToken(t.Context(), tok, ev))
}

func usageEvent(u *core.User, at time.Time, app, method, outcome string, credits int64) *core.UsageEvent {
	return &core.UsageEvent{Time: at, AccountID: &u.AccountID, UserID: &u.ID, Application: app, Method: method,
		Credits: credits, Outcome: outcome, ClientAddr: "192.0.2.1"}
}

func newServiceKey(t *testing.T, s core.Store, id, name string, created time.Time) *core.ServiceKey {
	t.Helper()
	k := &core.ServiceKey{ID: id, Name: name, SecretHash: "sha256 of " + id, Created: created}
	must(t, s.CreateServiceKey(t.Context(), k))
	return k
}

// chargeFixture issues the token jti-1 (application "web", limit maxCredits)
// on alice's account, which holds balance credits.
func chargeFixture(t *testing.T, s core.Store, balance int64, maxCredits *int64) *core.IssuedToken {
	t.Helper()
	u := newUser(t, s, "alice")
	if _, err := s.AddCredits(t.Context(), u.AccountID, balance); err != nil {
		t.Fatal(err)
	}
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	tok.Application, tok.MaxCredits = "web", maxCredits
	issueToken(t, s, tok)
	return tok
}

// chargeReq charges credits to tok for a call of method, as ChargeJWT does.
func chargeReq(tok *core.IssuedToken, method string, credits int64, requestID string) *core.ChargeRequest {
	return &core.ChargeRequest{JTI: tok.JTI, AccountID: tok.AccountID, Credits: credits, RequestID: requestID,
		Event: core.UsageEvent{Time: base, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: tok.Application,
			Method: method, ClientAddr: "192.0.2.1", JTI: tok.JTI}}
}

func ptr[T any](v T) *T { return &v }

// ---- checks -----------------------------------------------------------------

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, want core.Code) {
	t.Helper()
	if got := core.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (error: %v)", got, want, err)
	}
}

// checkTime requires got to be the same instant as want, in UTC.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

func checkTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, fmtPtr(got), fmtPtr(want))
	default:
		checkTime(t, what, *got, *want)
	}
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func checkAccount(t *testing.T, got, want *core.Account) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Credits != want.Credits {
		t.Errorf("account = {ID:%d Name:%q Credits:%d}, want {ID:%d Name:%q Credits:%d}",
			got.ID, got.Name, got.Credits, want.ID, want.Name, want.Credits)
	}
	checkTime(t, "account Created", got.Created, want.Created)
}

func checkCredits(t *testing.T, s core.Store, accountID, want int64) {
	t.Helper()
	a, err := s.AccountByID(t.Context(), accountID)
	must(t, err)
	if a.Credits != want {
		t.Errorf("account %q has %d credits, want %d", a.Name, a.Credits, want)
	}
}

func row(day, account, app, method string, calls, failures, credits int64) core.UsageRow {
	return core.UsageRow{Day: day, Account: account, Application: app, Method: method, Calls: calls, Failures: failures, Credits: credits}
}

func accountNames(as []*core.Account) []string {
	var names []string
	for _, a := range as {
		names = append(names, a.Name)
	}
	return names
}

func checkUser(t *testing.T, got, want *core.User) {
	t.Helper()
	if got.ID != want.ID || got.AccountID != want.AccountID || got.Username != want.Username ||
		got.PasswordHash != want.PasswordHash || got.Disabled != want.Disabled {
		t.Errorf("user = {ID:%d AccountID:%d Username:%q PasswordHash:%q Disabled:%v}, want {ID:%d AccountID:%d Username:%q PasswordHash:%q Disabled:%v}",
			got.ID, got.AccountID, got.Username, got.PasswordHash, got.Disabled,
			want.ID, want.AccountID, want.Username, want.PasswordHash, want.Disabled)
	}
	checkTime(t, "user Created", got.Created, want.Created)
}

func checkUserCount(t *testing.T, s core.Store, want int64) {
	t.Helper()
	n, err := s.CountUsers(t.Context())
	must(t, err)
	if n != want {
		t.Errorf("CountUsers = %d, want %d", n, want)
	}
}

func checkAPIKey(t *testing.T, got, want *core.APIKey) {
	t.Helper()
	if got.ID != want.ID || got.AccountID != want.AccountID || got.UserID != want.UserID || got.SecretHash != want.SecretHash {
		t.Errorf("API key = {ID:%q AccountID:%d UserID:%d SecretHash:%q}, want {ID:%q AccountID:%d UserID:%d SecretHash:%q}",
			got.ID, got.AccountID, got.UserID, got.SecretHash, want.ID, want.AccountID, want.UserID, want.SecretHash)
	}
	checkTime(t, "API key Created", got.Created, want.Created)
	checkTimePtr(t, "API key Revoked", got.Revoked, want.Revoked)
}

func checkSigningKey(t *testing.T, got, want *core.SigningKey) {
	t.Helper()
	if got.Kid != want.Kid || got.Alg != want.Alg || !bytes.Equal(got.Private, want.Private) || !bytes.Equal(got.Public, want.Public) {
		t.Errorf("signing key %s (%s) differs from %s (%s) in kid, alg or key bytes", got.Kid, got.Alg, want.Kid, want.Alg)
	}
	checkTime(t, "signing key Created", got.Created, want.Created)
	checkTimePtr(t, "signing key Retired", got.Retired, want.Retired)
}

func countActive(ks []*core.SigningKey) int {
	n := 0
	for _, k := range ks {
		if k.Retired == nil {
			n++
		}
	}
	return n
}

// checkOneActive requires kid to be the only key in ks without Retired.
func checkOneActive(t *testing.T, ks []*core.SigningKey, kid string) {
	t.Helper()
	for _, k := range ks {
		if (k.Retired == nil) != (k.Kid == kid) {
			t.Errorf("key %s: Retired = %s; want only %s active", k.Kid, fmtPtr(k.Retired), kid)
		}
	}
	if n := countActive(ks); n != 1 {
		t.Errorf("%d active keys, want 1", n)
	}
}

// checkKids requires VerificationKeys(now) to be exactly the keys kids, in any order.
func checkKids(t *testing.T, s core.Store, now time.Time, kids ...string) {
	t.Helper()
	ks, err := s.VerificationKeys(t.Context(), now)
	must(t, err)
	var got []string
	for _, k := range ks {
		got = append(got, k.Kid)
	}
	slices.Sort(got)
	kids = slices.Sorted(slices.Values(kids))
	if !slices.Equal(got, kids) {
		t.Errorf("VerificationKeys(%v) = %v, want %v", now, got, kids)
	}
}

func checkToken(t *testing.T, got, want *core.IssuedToken) {
	t.Helper()
	if got.JTI != want.JTI || got.Kid != want.Kid || got.AccountID != want.AccountID || got.UserID != want.UserID ||
		got.APIKeyID != want.APIKeyID || got.Application != want.Application || got.ClientIP != want.ClientIP {
		t.Errorf("token = %+v, want %+v", *got, *want)
	}
	// nil and empty both mean "every method".
	if !slices.Equal(got.AllowedMethods, want.AllowedMethods) {
		t.Errorf("token AllowedMethods = %q, want %q", got.AllowedMethods, want.AllowedMethods)
	}
	if (got.MaxCredits == nil) != (want.MaxCredits == nil) || got.MaxCredits != nil && *got.MaxCredits != *want.MaxCredits {
		t.Errorf("token MaxCredits = %s, want %s", fmtPtr(got.MaxCredits), fmtPtr(want.MaxCredits))
	}
	if got.CreditsSpent != want.CreditsSpent {
		t.Errorf("token CreditsSpent = %d, want %d", got.CreditsSpent, want.CreditsSpent)
	}
	checkTime(t, "token IssuedAt", got.IssuedAt, want.IssuedAt)
	checkTime(t, "token ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTimePtr(t, "token Revoked", got.Revoked, want.Revoked)
}

// checkReport requires UsageReport(f) to hold exactly want, in any order.
func checkReport(t *testing.T, s core.Store, f core.UsageFilter, want []core.UsageRow) {
	t.Helper()
	rows, err := s.UsageReport(t.Context(), f)
	must(t, err)
	got := make([]core.UsageRow, 0, len(rows))
	for _, r := range rows {
		got = append(got, *r)
	}
	byKey := func(a, b core.UsageRow) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Account, b.Account),
			strings.Compare(a.Application, b.Application), strings.Compare(a.Method, b.Method))
	}
	slices.SortFunc(got, byKey)
	want = slices.SortedFunc(slices.Values(want), byKey)
	if !slices.Equal(got, want) {
		t.Errorf("UsageReport(%+v):\n got  %+v\n want %+v", f, got, want)
	}
}

func checkServiceKey(t *testing.T, got, want *core.ServiceKey) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.SecretHash != want.SecretHash {
		t.Errorf("service key = {ID:%q Name:%q SecretHash:%q}, want {ID:%q Name:%q SecretHash:%q}",
			got.ID, got.Name, got.SecretHash, want.ID, want.Name, want.SecretHash)
	}
	checkTime(t, "service key "+want.ID+" Created", got.Created, want.Created)
	checkTimePtr(t, "service key "+want.ID+" Revoked", got.Revoked, want.Revoked)
}

// checkServiceKeys requires ListServiceKeys to be want, in order, and each
// key to read back the same by id.
func checkServiceKeys(t *testing.T, s core.Store, want ...*core.ServiceKey) {
	t.Helper()
	ks, err := s.ListServiceKeys(t.Context())
	must(t, err)
	if len(ks) != len(want) {
		var ids []string
		for _, k := range ks {
			ids = append(ids, k.ID)
		}
		t.Fatalf("ListServiceKeys = %v, want %d keys", ids, len(want))
	}
	for i, w := range want {
		checkServiceKey(t, ks[i], w)
		got, err := s.ServiceKeyByID(t.Context(), w.ID)
		must(t, err)
		checkServiceKey(t, got, w)
	}
}

// checkOutcome compares a charge's outcome with want, where want.Refusal is
// a word the refusal must contain (case-insensitively).
func checkOutcome(t *testing.T, got *core.ChargeOutcome, want core.ChargeOutcome) {
	t.Helper()
	if got == nil {
		t.Fatalf("Charge returned no outcome, want %+v", want)
	}
	if got.Charged != want.Charged || got.Replayed != want.Replayed || got.Balance != want.Balance ||
		fmtPtr(got.TokenRemaining) != fmtPtr(want.TokenRemaining) {
		t.Errorf("outcome = {Charged:%v Replayed:%v TokenRemaining:%s Balance:%d Refusal:%q}, want {Charged:%v Replayed:%v TokenRemaining:%s Balance:%d}",
			got.Charged, got.Replayed, fmtPtr(got.TokenRemaining), got.Balance, got.Refusal,
			want.Charged, want.Replayed, fmtPtr(want.TokenRemaining), want.Balance)
	}
	switch {
	case want.Charged && got.Refusal != "":
		t.Errorf("a charge has Refusal %q", got.Refusal)
	case !want.Charged && !strings.Contains(strings.ToLower(got.Refusal), want.Refusal):
		t.Errorf("Refusal = %q, want one about the %s", got.Refusal, want.Refusal)
	}
}

func checkSpent(t *testing.T, s core.Store, jti string, want int64) {
	t.Helper()
	tok, err := s.TokenByJTI(t.Context(), jti)
	must(t, err)
	if tok.CreditsSpent != want {
		t.Errorf("token %s CreditsSpent = %d, want %d", jti, tok.CreditsSpent, want)
	}
}
