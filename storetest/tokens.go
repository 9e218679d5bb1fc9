package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

var tokenTests = []test{
	{"IssueToken/OK", testIssueToken},
	{"IssueToken/Minimal", testIssueTokenMinimal},
	{"IssueToken/ErrUsageRollsBack", testIssueTokenErrUsageRollsBack},
	{"IssueToken/ErrConflict", testIssueTokenErrConflict},
	{"TokenByJTI/ErrNotFound", testTokenByJTIErrNotFound},
	{"TokenByJTI/PrincipalState", testTokenPrincipalState},
	{"TokenByJTI/AccountCredits", testTokenAccountCredits},
	{"RevokeToken/OK", testRevokeToken},
	{"RevokeToken/Twice", testRevokeTokenTwice},
	{"RevokeToken/ErrNotFound", testRevokeTokenErrNotFound},
	{"ListTokens/OK", testListTokens},
	{"ListTokens/LiveAt", testListTokensLiveAt},
	{"ListTokens/Paged", testListTokensPaged},
}

func testIssueToken(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	newAPIKey(t, s, u, "apikey1", base)
	tok := &core.IssuedToken{
		JTI:            "jti-1",
		Kid:            k.Kid,
		AccountID:      u.AccountID,
		UserID:         u.ID,
		APIKeyID:       "apikey1",
		Application:    "web shop",
		AllowedMethods: []string{"UserAdmin.GetJWT", "AddressCapture"},
		MaxCredits:     ptr[int64](50),
		ClientIP:       "2001:db8::1",
		IssuedAt:       base.In(east),
		ExpiresAt:      base.Add(time.Hour + 654321*time.Microsecond),
	}
	ev := usageEvent(u, base.In(east), "web shop", "UserAdmin.GetJWT", core.OutcomeOK, 0)
	ev.JTI = tok.JTI
	must(t, s.IssueToken(t.Context(), tok, ev))

	checkToken(t, s, tok)
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{ev})
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
		checkToken(t, s, tok)
	}
}

// The token and its usage line are written together or not at all.
func testIssueTokenErrUsageRollsBack(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	ev := usageEvent(u, base, "", "UserAdmin.GetJWT", core.OutcomeOK, 0)
	noAccount := u.AccountID + 1000
	ev.AccountID = &noAccount
	if err := s.IssueToken(t.Context(), tok, ev); err == nil {
		t.Fatal("IssueToken with a usage line for an unknown account succeeded")
	}
	_, err := s.TokenByJTI(t.Context(), "jti-1")
	wantErr(t, err, core.ErrNotFound)
	checkLines(t, s, core.UsageFilter{}, nil)
	checkKids(t, s, base, k.Kid)
}

func testIssueTokenErrConflict(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	issueToken(t, s, tok)
	dup := newToken(u, k.Kid, "jti-1", base, base.Add(2*time.Hour))
	dup.Application = "other"
	wantErr(t, s.IssueToken(t.Context(), dup, usageEvent(u, base, "other", "UserAdmin.GetJWT", core.OutcomeOK, 0)), core.ErrConflict)
	checkToken(t, s, tok)
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{issueLine(tok)})
}

func testTokenByJTIErrNotFound(t *testing.T, s core.Store) {
	_, err := s.TokenByJTI(t.Context(), "jti-1")
	wantErr(t, err, core.ErrNotFound)
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	issueToken(t, s, newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour)))
	for _, jti := range []string{"jti-2", "JTI-1", ""} {
		_, err = s.TokenByJTI(t.Context(), jti)
		wantErr(t, err, core.ErrNotFound)
	}
}

// TokenByJTI reads the state of the token's user and API key as they are now.
func testTokenPrincipalState(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, nil)
	checkToken(t, s, tok)
	must(t, s.SetUserDisabled(t.Context(), tok.UserID, true))
	tok.UserDisabled = true
	checkToken(t, s, tok)

	bob := newUser(t, s, "bob")
	k := newAPIKey(t, s, bob, "0123456789abcdef", base)
	keyTok := newToken(bob, tok.Kid, "jti-key", base, base.Add(time.Hour))
	keyTok.APIKeyID = k.ID
	issueToken(t, s, keyTok)
	checkToken(t, s, keyTok)
	must(t, s.RevokeAPIKey(t.Context(), k.ID, base))
	keyTok.APIKeyRevoked = true
	checkToken(t, s, keyTok)
	checkToken(t, s, tok) // alice's, of another user and no key, is as it was

	must(t, s.SetUserDisabled(t.Context(), tok.UserID, false))
	tok.UserDisabled = false
	checkToken(t, s, tok)
}

// TokenByJTI reads the account's balance as it is now, with the token.
func testTokenAccountCredits(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, nil)
	other := *tok
	other.JTI = "jti-2"
	issueToken(t, s, &other)
	checkToken(t, s, tok)
	_, err := s.AddCredits(t.Context(), tok.AccountID, 25)
	must(t, err)
	must(t, s.ChargeTx(t.Context(), other.JTI, "", take(5, nil, nil)))
	tok.AccountCredits = 120
	checkToken(t, s, tok)
	other.AccountCredits, other.CreditsSpent = 120, 5
	checkToken(t, s, &other)
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
	checkToken(t, s, t1)
	checkToken(t, s, t2)
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
	checkToken(t, s, tok)
}

func testRevokeTokenErrNotFound(t *testing.T, s core.Store) {
	wantErr(t, s.RevokeToken(t.Context(), "jti-1", base), core.ErrNotFound)
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	tok := newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour))
	issueToken(t, s, tok)
	wantErr(t, s.RevokeToken(t.Context(), "jti-2", base), core.ErrNotFound)
	checkToken(t, s, tok)
}

// tokenSet issues tokens to alice (whose account holds 40 credits) and bob
// (7), newest first as ListTokens orders them.
func tokenSet(t *testing.T, s core.Store) (alice, bob *core.User, newestFirst []*core.IssuedToken) {
	t.Helper()
	alice, bob = newUser(t, s, "alice"), newUser(t, s, "bob")
	_, err := s.AddCredits(t.Context(), alice.AccountID, 40)
	must(t, err)
	_, err = s.AddCredits(t.Context(), bob.AccountID, 7)
	must(t, err)
	k := newSigningKey(t, s, base)
	for i, u := range []*core.User{alice, bob, alice, alice, bob} {
		tok := newToken(u, k.Kid, fmt.Sprintf("jti-%d", i), base.Add(time.Duration(i)*time.Minute), base.Add(time.Hour))
		tok.Application, tok.AllowedMethods = "app", []string{"Address.Clean"}
		issueToken(t, s, tok)
		tok.AccountCredits = 40
		if u == bob {
			tok.AccountCredits = 7
		}
		newestFirst = append([]*core.IssuedToken{tok}, newestFirst...)
	}
	return alice, bob, newestFirst
}

func testListTokens(t *testing.T, s core.Store) {
	toks, err := s.ListTokens(t.Context(), core.TokenFilter{}, core.Page{})
	must(t, err)
	check(t, "ListTokens on an empty store", toks, []*core.IssuedToken{})

	alice, bob, all := tokenSet(t, s)
	// What changes after issue comes with each token.
	must(t, s.ChargeTx(t.Context(), "jti-2", "", take(3, nil, nil)))
	at := base.Add(time.Minute)
	must(t, s.RevokeToken(t.Context(), "jti-1", at))
	must(t, s.SetUserDisabled(t.Context(), bob.ID, true))
	for _, tok := range all {
		switch tok.UserID {
		case alice.ID:
			tok.AccountCredits = 37
		case bob.ID:
			tok.UserDisabled = true
		}
	}
	all[2].CreditsSpent, all[3].Revoked = 3, &at // jti-2 and jti-1

	nobody := bob.AccountID + 1000
	for _, tc := range []struct {
		name string
		f    core.TokenFilter
		want []*core.IssuedToken
	}{
		{"all", core.TokenFilter{}, all},
		{"alice", core.TokenFilter{AccountID: &alice.AccountID}, []*core.IssuedToken{all[1], all[2], all[4]}},
		{"bob", core.TokenFilter{AccountID: &bob.AccountID}, []*core.IssuedToken{all[0], all[3]}},
		{"nobody", core.TokenFilter{AccountID: &nobody}, nil},
	} {
		toks, err := s.ListTokens(t.Context(), tc.f, core.Page{})
		must(t, err)
		check(t, "ListTokens("+tc.name+")", toks, tc.want)
	}
}

// LiveAt selects the tokens that expire after it and are not revoked.
func testListTokensLiveAt(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	other := newUser(t, s, "bob")
	k := newSigningKey(t, s, base)
	now := base.Add(time.Hour)
	var live []*core.IssuedToken
	for i, tc := range []struct {
		jti     string
		u       *core.User
		expires time.Time
		revoked bool
		live    bool
	}{
		{"expired", u, now.Add(-time.Minute), false, false},
		{"expires-now", u, now, false, false}, // ExpiresAt > LiveAt, strictly
		{"expires-just-after", u, now.Add(time.Microsecond), false, true},
		{"live", u, now.Add(time.Hour), false, true},
		{"revoked", u, now.Add(time.Hour), true, false},
		{"revoked-expired", u, now.Add(-time.Hour), true, false},
		{"bobs", other, now.Add(time.Hour), false, true},
	} {
		tok := newToken(tc.u, k.Kid, tc.jti, base.Add(time.Duration(i)*time.Second), tc.expires)
		issueToken(t, s, tok)
		if tc.revoked {
			at := base.Add(time.Minute)
			must(t, s.RevokeToken(t.Context(), tok.JTI, at))
			tok.Revoked = &at
		}
		if tc.live {
			live = append([]*core.IssuedToken{tok}, live...)
		}
	}
	for _, at := range []time.Time{now, now.In(east)} {
		toks, err := s.ListTokens(t.Context(), core.TokenFilter{LiveAt: at}, core.Page{})
		must(t, err)
		check(t, fmt.Sprintf("ListTokens(LiveAt %v)", at), toks, live)
	}
	toks, err := s.ListTokens(t.Context(), core.TokenFilter{AccountID: &u.AccountID, LiveAt: now}, core.Page{})
	must(t, err)
	check(t, "ListTokens(alice's, LiveAt)", toks, live[1:])
	toks, err = s.ListTokens(t.Context(), core.TokenFilter{LiveAt: now.Add(2 * time.Hour)}, core.Page{})
	must(t, err)
	check(t, "ListTokens(LiveAt after every expiry)", toks, []*core.IssuedToken{})
}

// Pages of the tokens, newest first, some issued at the same time.
func testListTokensPaged(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	var all []*core.IssuedToken
	for i, issued := range []time.Time{base, base.Add(time.Second), base.Add(time.Second), base.Add(time.Second),
		base.Add(time.Minute), base.Add(time.Minute)} {
		tok := newToken(u, k.Kid, fmt.Sprintf("jti-%d", 9-i), issued, base.Add(time.Hour))
		issueToken(t, s, tok)
		all = append(all, tok)
	}
	full, err := s.ListTokens(t.Context(), core.TokenFilter{}, core.Page{})
	must(t, err)
	checkOrder(t, "ListTokens", full, all, func(tok *core.IssuedToken) time.Time { return tok.IssuedAt }, true)
	checkPages(t, "ListTokens", full, func(p core.Page) ([]*core.IssuedToken, error) {
		return s.ListTokens(t.Context(), core.TokenFilter{}, p)
	})
	full, err = s.ListTokens(t.Context(), core.TokenFilter{AccountID: &u.AccountID, LiveAt: base}, core.Page{})
	must(t, err)
	checkPages(t, "ListTokens(alice's, live)", full, func(p core.Page) ([]*core.IssuedToken, error) {
		return s.ListTokens(t.Context(), core.TokenFilter{AccountID: &u.AccountID, LiveAt: base}, p)
	})
}
