package storetest

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/token"
)

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

func newServiceKey(t *testing.T, s core.Store, id, name string, created time.Time) *core.ServiceKey {
	t.Helper()
	k := &core.ServiceKey{ID: id, Name: name, SecretHash: "sha256 of " + id, Created: created}
	must(t, s.CreateServiceKey(t.Context(), k))
	return k
}

func makeSigningKey(t *testing.T, alg string, created time.Time) *core.SigningKey {
	t.Helper()
	k, err := token.NewKey(alg, created)
	must(t, err)
	k.Activates = k.Created // signs at once; publishedAhead tests the other case
	return k
}

// newSigningKey makes a new EdDSA key the active one.
func newSigningKey(t *testing.T, s core.Store, created time.Time) *core.SigningKey {
	t.Helper()
	k := makeSigningKey(t, core.AlgEdDSA, created)
	must(t, s.RotateSigningKey(t.Context(), k))
	return k
}

func newToken(u *core.User, kid, jti string, issued, expires time.Time) *core.IssuedToken {
	return &core.IssuedToken{JTI: jti, Kid: kid, AccountID: u.AccountID, UserID: u.ID, IssuedAt: issued, ExpiresAt: expires}
}

// issueToken issues tok with the usage line GetJWT records for it.
func issueToken(t *testing.T, s core.Store, tok *core.IssuedToken) {
	t.Helper()
	must(t, s.IssueToken(t.Context(), tok, issueLine(tok)))
}

func issueLine(tok *core.IssuedToken) *core.UsageEvent {
	return &core.UsageEvent{Time: tok.IssuedAt, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: tok.Application,
		Method: "UserAdmin.GetJWT", Outcome: core.OutcomeOK, JTI: tok.JTI}
}

func usageEvent(u *core.User, at time.Time, app, method string, outcome core.Outcome, credits int64) *core.UsageEvent {
	return &core.UsageEvent{Time: at, AccountID: &u.AccountID, UserID: &u.ID, Application: app, Method: method,
		Credits: credits, Outcome: outcome, ClientAddr: "192.0.2.1"}
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
	tok.AccountCredits = balance
	return tok
}

// chargeLine is the ledger line of a charge of tok for method, before the
// decision sets its credits and outcome.
func chargeLine(tok *core.IssuedToken, method string) core.UsageEvent {
	return core.UsageEvent{Time: base, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: tok.Application,
		Method: method, ClientAddr: "192.0.2.1", JTI: tok.JTI}
}

func ptr[T any](v T) *T { return &v }
