package storetest

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// pairTest is a case on two handles of one database.
type pairTest struct {
	name string
	fn   func(t *testing.T, a, b core.Store)
}

// What one handle writes, the other reads at once: neither keeps a copy
// that the other's writes leave stale.
var visibleTests = []pairTest{
	{"Visible/User", testVisibleUser},
	{"Visible/APIKeyRevocation", testVisibleAPIKeyRevocation},
	{"Visible/TokenRevocation", testVisibleTokenRevocation},
	{"Visible/SigningKeyRotation", testVisibleSigningKeyRotation},
	{"Visible/Charge", testVisibleCharge},
}

func testVisibleUser(t *testing.T, a, b core.Store) {
	u := newUser(t, a, "alice")
	got, err := b.UserByName(t.Context(), "ALICE")
	must(t, err)
	check(t, "the other handle's UserByName", got, u)

	must(t, b.SetUserDisabled(t.Context(), u.ID, true))
	u.Disabled = true
	checkUsers(t, a, u)
	must(t, b.SetPasswordHash(t.Context(), u.ID, "$argon2id$new"))
	u.PasswordHash = "$argon2id$new"
	checkUsers(t, a, u)
	checkUserCount(t, a, 1)

	bob := newUser(t, b, "bob")
	us, err := a.ListUsers(t.Context(), core.Page{})
	must(t, err)
	check(t, "the other handle's ListUsers", us, []*core.UserInfo{{User: *u, Account: "alice"}, {User: *bob, Account: "bob"}})
}

func testVisibleAPIKeyRevocation(t *testing.T, a, b core.Store) {
	u := newUser(t, a, "alice")
	k := newAPIKey(t, a, u, "k1", base)
	sk := newSigningKey(t, a, base)
	tok := newToken(u, sk.Kid, "jti-1", base, base.Add(time.Hour))
	tok.APIKeyID = k.ID
	issueToken(t, a, tok)
	checkToken(t, a, tok) // read once, so that a cache would hold it

	at := base.Add(time.Minute)
	must(t, b.RevokeAPIKey(t.Context(), k.ID, at))
	k.Revoked = &at
	checkAPIKeys(t, a, k)
	tok.APIKeyRevoked = true
	checkToken(t, a, tok)
	if st := stateOf(t, a, tok.JTI, ""); !st.Token.APIKeyRevoked {
		t.Error("a charge through the other handle does not see the API key revoked")
	}
}

func testVisibleTokenRevocation(t *testing.T, a, b core.Store) {
	u := newUser(t, a, "alice")
	k := newSigningKey(t, a, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	issueToken(t, a, tok)
	checkToken(t, b, tok)
	live, err := a.ListTokens(t.Context(), core.TokenFilter{LiveAt: base}, core.Page{})
	must(t, err)
	check(t, "ListTokens(live)", live, []*core.IssuedToken{tok})

	at := base.Add(time.Minute)
	must(t, b.RevokeToken(t.Context(), tok.JTI, at))
	tok.Revoked = &at
	checkToken(t, a, tok)
	if st := stateOf(t, a, tok.JTI, ""); !st.Token.Revoked {
		t.Error("a charge through the other handle does not see the token revoked")
	}
	live, err = a.ListTokens(t.Context(), core.TokenFilter{LiveAt: base.Add(2 * time.Minute)}, core.Page{})
	must(t, err)
	check(t, "the other handle's ListTokens(live)", live, []*core.IssuedToken{})
}

func testVisibleSigningKeyRotation(t *testing.T, a, b core.Store) {
	u := newUser(t, a, "alice")
	k1 := newSigningKey(t, a, base)
	checkActive(t, b, k1)
	checkKids(t, b, base, k1.Kid)
	issueToken(t, b, newToken(u, k1.Kid, "jti-1", base, base.Add(2*time.Hour)))

	k2 := newSigningKey(t, b, base.Add(time.Hour))
	k1.Retired = &k2.Activates
	checkActive(t, a, k2)
	checkSigningKeys(t, a, k1, k2)
	checkKids(t, a, base.Add(90*time.Minute), k2.Kid, k1.Kid) // k1 still verifies the token b issued
	checkKids(t, a, base.Add(2*time.Hour), k2.Kid)

	k3 := newSigningKey(t, a, base.Add(3*time.Hour))
	k2.Retired = &k3.Activates
	checkActive(t, b, k3)
	checkSigningKeys(t, b, k1, k2, k3)
}

func testVisibleCharge(t *testing.T, a, b core.Store) {
	tok := chargeFixture(t, a, 100, ptr[int64](10))
	checkToken(t, b, tok)
	ev := chargeLine(tok, "Address.Clean")
	ev.Credits, ev.Outcome = 2, core.OutcomeOK
	rec := chargeRecord(ptr[int64](8), 98)
	must(t, a.ChargeTx(t.Context(), tok.JTI, "r1", take(2, rec, &ev)))

	tok.CreditsSpent, tok.AccountCredits = 2, 98
	checkToken(t, b, tok)
	checkCredits(t, b, tok.AccountID, 98)
	checkLines(t, b, core.UsageFilter{}, []*core.UsageEvent{issueLine(tok), &ev})
	want := stateOfToken(tok)
	want.Token.CreditsSpent, want.Previous = 2, rec
	checkState(t, b, tok.JTI, "r1", want)

	_, err := b.AddCredits(t.Context(), tok.AccountID, 5)
	must(t, err)
	want.Token.Balance, want.Previous = 103, nil
	checkState(t, a, tok.JTI, "", want)
}
