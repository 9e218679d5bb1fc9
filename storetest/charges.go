package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// The cases of ChargeTx drive it with decisions of their own: what they
// test is that decide is handed the state as stored, and that what it
// returns is persisted in full or not at all.
var chargeTests = []test{
	{"ChargeTx/State", testChargeTxState},
	{"ChargeTx/StateOfHolder", testChargeTxStateOfHolder},
	{"ChargeTx/Write", testChargeTxWrite},
	{"ChargeTx/WriteNothing", testChargeTxWriteNothing},
	{"ChargeTx/NoTokenLimit", testChargeTxNoTokenLimit},
	{"ChargeTx/Previous", testChargeTxPrevious},
	{"ChargeTx/PreviousPerRequest", testChargeTxPreviousPerRequest},
	{"ChargeTx/NoRequestID", testChargeTxNoRequestID},
	{"ChargeTx/ErrDecide", testChargeTxErrDecide},
	{"ChargeTx/ErrNotFound", testChargeTxErrNotFound},
	{"ChargeTx/ErrOutOfRange", testChargeTxErrOutOfRange},
	{"ChargeTx/ErrWriteRollsBack", testChargeTxErrWriteRollsBack},
}

// take is a decision that writes credits, rec and ev, whatever the state.
func take(credits int64, rec *core.ChargeRecord, ev *core.UsageEvent) func(core.ChargeState) (core.ChargeWrite, error) {
	return func(core.ChargeState) (core.ChargeWrite, error) {
		return core.ChargeWrite{Credits: credits, Record: rec, Usage: ev}, nil
	}
}

// stateOf returns the state ChargeTx hands decide, through a decision that
// writes nothing.
func stateOf(t *testing.T, s core.Store, jti, requestID string) core.ChargeState {
	t.Helper()
	var st *core.ChargeState
	must(t, s.ChargeTx(t.Context(), jti, requestID, func(cs core.ChargeState) (core.ChargeWrite, error) {
		st = &cs
		return core.ChargeWrite{}, nil
	}))
	if st == nil {
		t.Fatalf("ChargeTx(%q, %q) succeeded without calling decide", jti, requestID)
	}
	return *st
}

func checkState(t *testing.T, s core.Store, jti, requestID string, want core.ChargeState) {
	t.Helper()
	check(t, "ChargeTx("+jti+", "+requestID+") state", stateOf(t, s, jti, requestID), want)
}

// stateOfToken is the state a charge reads of tok, with no previous charge.
func stateOfToken(tok *core.IssuedToken) core.ChargeState {
	return core.ChargeState{Token: core.TokenState{AccountID: tok.AccountID, MaxCredits: tok.MaxCredits, Balance: tok.AccountCredits}}
}

// chargeRecord is a record of a charge of 1 credit for Address.Clean.
func chargeRecord(remaining *int64, balance int64) *core.ChargeRecord {
	return &core.ChargeRecord{Method: "Address.Clean", Credits: 1, Outcome: core.OutcomeOK, TokenRemaining: remaining, Balance: balance, Time: base}
}

// The state is the token's and its account's as stored, after every kind
// of change.
func testChargeTxState(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	want := stateOfToken(tok)
	checkState(t, s, tok.JTI, "", want)
	checkState(t, s, tok.JTI, "r1", want) // nothing stored under r1

	must(t, s.ChargeTx(t.Context(), tok.JTI, "", take(3, nil, nil)))
	want.Token.CreditsSpent, want.Token.Balance = 3, 97
	checkState(t, s, tok.JTI, "", want)

	_, err := s.AddCredits(t.Context(), tok.AccountID, 5)
	must(t, err)
	want.Token.Balance = 102
	checkState(t, s, tok.JTI, "", want)

	must(t, s.SetUserDisabled(t.Context(), tok.UserID, true))
	want.Token.UserDisabled = true
	checkState(t, s, tok.JTI, "", want)

	must(t, s.RevokeToken(t.Context(), tok.JTI, base.Add(time.Minute)))
	want.Token.Revoked = true
	checkState(t, s, tok.JTI, "r1", want)

	must(t, s.SetUserDisabled(t.Context(), tok.UserID, false))
	want.Token.UserDisabled = false
	checkState(t, s, tok.JTI, "", want)
}

// The state of a token issued for an API key, without a limit, on an
// account that other tokens spend from.
func testChargeTxStateOfHolder(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 50, ptr[int64](10))
	bob := newUserIn(t, s, "bob", tok.AccountID)
	k := newAPIKey(t, s, bob, "bobs-key", base)
	keyTok := newToken(bob, tok.Kid, "jti-key", base, base.Add(time.Hour))
	keyTok.APIKeyID, keyTok.AccountCredits = k.ID, 50
	issueToken(t, s, keyTok)
	want := stateOfToken(keyTok)
	checkState(t, s, keyTok.JTI, "", want)

	must(t, s.ChargeTx(t.Context(), tok.JTI, "", take(4, nil, nil)))
	want.Token.Balance = 46
	checkState(t, s, keyTok.JTI, "", want) // the shared balance; the other token's spend is its own

	must(t, s.RevokeAPIKey(t.Context(), k.ID, base))
	want.Token.APIKeyRevoked = true
	checkState(t, s, keyTok.JTI, "", want)

	mine := stateOfToken(tok)
	mine.Token.CreditsSpent, mine.Token.Balance = 4, 46
	checkState(t, s, tok.JTI, "", mine) // the key is bob's, not alice's
}

// What decide returns is written: credits from the token's spend and the
// account's balance, the record under the request id, the ledger line as
// it was given.
func testChargeTxWrite(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	sibling := *tok
	sibling.JTI = "jti-2"
	issueToken(t, s, &sibling)
	other := newAccount(t, s, "Globex", 9)

	ev := chargeLine(tok, "Address.Clean")
	ev.Time, ev.Credits, ev.Outcome = base.Add(time.Second).In(east), 3, core.OutcomeOK
	rec := &core.ChargeRecord{Method: "Address.Clean", Credits: 3, Outcome: core.OutcomeOK, TokenRemaining: ptr[int64](7), Balance: 97, Time: ev.Time}
	must(t, s.ChargeTx(t.Context(), tok.JTI, "r1", take(3, rec, &ev)))

	tok.CreditsSpent, tok.AccountCredits = 3, 97
	checkToken(t, s, tok)
	sibling.AccountCredits = 97
	checkToken(t, s, &sibling)
	checkCredits(t, s, other.ID, 9)
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{issueLine(tok), issueLine(&sibling), &ev})
	want := stateOfToken(tok)
	want.Token.CreditsSpent, want.Previous = 3, rec
	checkState(t, s, tok.JTI, "r1", want)

	must(t, s.ChargeTx(t.Context(), tok.JTI, "", take(7, nil, nil)))
	tok.CreditsSpent, tok.AccountCredits = 10, 90
	checkToken(t, s, tok)
	checkCredits(t, s, tok.AccountID, 90)
}

func testChargeTxWriteNothing(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	for _, id := range []string{"", "r1"} {
		must(t, s.ChargeTx(t.Context(), tok.JTI, id, take(0, nil, nil)))
	}
	checkToken(t, s, tok)
	checkState(t, s, tok.JTI, "r1", stateOfToken(tok))
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{issueLine(tok)})
}

// A token without a limit of its own counts what it spends too.
func testChargeTxNoTokenLimit(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 50, nil)
	must(t, s.ChargeTx(t.Context(), tok.JTI, "", take(20, nil, nil)))
	must(t, s.ChargeTx(t.Context(), tok.JTI, "r1", take(30, nil, nil)))
	tok.CreditsSpent, tok.AccountCredits = 50, 0
	checkToken(t, s, tok)
	want := stateOfToken(tok)
	want.Token.CreditsSpent = 50
	checkState(t, s, tok.JTI, "", want)
}

// A record comes back field for field: each outcome, an empty and a
// worded message, a remaining count of nil, zero and more, the balance,
// the time in UTC.
func testChargeTxPrevious(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	records := map[string]*core.ChargeRecord{
		"ok": {Method: "Address.Clean", Credits: 3, Outcome: core.OutcomeOK, TokenRemaining: ptr[int64](7), Balance: 97,
			Time: base.Add(time.Microsecond).In(east)},
		"refused": {Method: "Phone.Validate", Credits: 50, Outcome: core.Outcome(core.ENOCREDITS),
			Message: `token credit limit reached: 3 of 10 spent, 50 more requested ("über" limit)`, Balance: 97, Time: base.Add(time.Hour)},
		"last": {Method: "Address.Clean", Credits: 7, Outcome: core.OutcomeOK, TokenRemaining: ptr[int64](0), Balance: core.MaxCreditsLimit,
			Time: base.Add(-24 * time.Hour)},
	}
	for _, id := range []string{"ok", "refused", "last"} {
		must(t, s.ChargeTx(t.Context(), tok.JTI, id, take(0, records[id], nil)))
	}
	for id, rec := range records {
		want := stateOfToken(tok)
		want.Previous = rec
		checkState(t, s, tok.JTI, id, want)
	}
}

// A request id names a charge of one token: another token's charge of the
// same id is another charge.
func testChargeTxPreviousPerRequest(t *testing.T, s core.Store) {
	tok1 := chargeFixture(t, s, 100, ptr[int64](10))
	tok2 := *tok1
	tok2.JTI = "jti-2"
	issueToken(t, s, &tok2)

	rec1, rec2 := chargeRecord(ptr[int64](9), 99), chargeRecord(ptr[int64](9), 98)
	rec2.Method = "Phone.Validate"
	must(t, s.ChargeTx(t.Context(), tok1.JTI, "r1", take(1, rec1, nil)))
	want2 := stateOfToken(&tok2)
	want2.Token.Balance = 99
	checkState(t, s, tok2.JTI, "r1", want2)
	must(t, s.ChargeTx(t.Context(), tok2.JTI, "r1", take(1, rec2, nil)))

	want1 := stateOfToken(tok1)
	want1.Token.CreditsSpent, want1.Token.Balance = 1, 98
	checkState(t, s, tok1.JTI, "r2", want1)
	want1.Previous = rec1
	checkState(t, s, tok1.JTI, "r1", want1)
	want2.Token.CreditsSpent, want2.Token.Balance, want2.Previous = 1, 98, rec2
	checkState(t, s, tok2.JTI, "r1", want2)
}

// Without a request id a charge is written, but no record is kept, and
// none is read.
func testChargeTxNoRequestID(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	var lines []*core.UsageEvent
	for i := range int64(3) {
		ev := chargeLine(tok, "Address.Clean")
		ev.Credits, ev.Outcome = 1, core.OutcomeOK
		lines = append(lines, &ev)
		var prev *core.ChargeRecord
		must(t, s.ChargeTx(t.Context(), tok.JTI, "", func(st core.ChargeState) (core.ChargeWrite, error) {
			prev = st.Previous
			return core.ChargeWrite{Credits: 1, Record: chargeRecord(ptr(9-i), 99-i), Usage: &ev}, nil
		}))
		if prev != nil {
			t.Errorf("charge %d without a request id read a record: %s", i, show(prev))
		}
	}
	tok.CreditsSpent, tok.AccountCredits = 3, 97
	checkToken(t, s, tok)
	want := stateOfToken(tok)
	want.Token.CreditsSpent = 3
	checkState(t, s, tok.JTI, "", want)
	checkLines(t, s, core.UsageFilter{}, append([]*core.UsageEvent{issueLine(tok)}, lines...))
}

// checkUnchanged requires tok, its record under "r1" and the ledger to be as
// the charge fixture left them.
func checkUnchanged(t *testing.T, s core.Store, tok *core.IssuedToken) {
	t.Helper()
	checkToken(t, s, tok)
	checkCredits(t, s, tok.AccountID, tok.AccountCredits)
	checkState(t, s, tok.JTI, "r1", stateOfToken(tok))
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{issueLine(tok)})
}

// The error decide returns is ChargeTx's, as it is, and what decide returned
// with it is not written.
func testChargeTxErrDecide(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	ev := chargeLine(tok, "Address.Clean")
	for _, want := range []error{
		errors.New("refused"),
		&core.Error{Code: core.ENOCREDITS, Message: "no credits"},
		core.ErrConflict,
	} {
		for _, id := range []string{"", "r1"} {
			err := s.ChargeTx(t.Context(), tok.JTI, id, func(core.ChargeState) (core.ChargeWrite, error) {
				return core.ChargeWrite{Credits: 5, Record: chargeRecord(ptr[int64](5), 95), Usage: &ev}, want
			})
			if err != want {
				t.Errorf("ChargeTx(%q) = %v (%T), want decide's error as it is: %v (%T)", id, err, err, want, want)
			}
		}
	}
	checkUnchanged(t, s, tok)
}

func testChargeTxErrNotFound(t *testing.T, s core.Store) {
	called := false
	decide := func(core.ChargeState) (core.ChargeWrite, error) {
		called = true
		return core.ChargeWrite{}, nil
	}
	wantErr(t, s.ChargeTx(t.Context(), "jti-1", "", decide), core.ErrNotFound)

	tok := chargeFixture(t, s, 100, ptr[int64](10))
	must(t, s.ChargeTx(t.Context(), tok.JTI, "r1", take(1, chargeRecord(ptr[int64](9), 99), nil)))
	for _, id := range []string{"", "r1", "r2"} {
		wantErr(t, s.ChargeTx(t.Context(), "jti-2", id, decide), core.ErrNotFound)
	}
	if called {
		t.Error("ChargeTx called decide for an unknown token")
	}
	tok.CreditsSpent, tok.AccountCredits = 1, 99
	checkToken(t, s, tok)
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{issueLine(tok)})
}

// A charge that would take the balance below zero is refused by the store,
// which bounds it, and writes nothing.
func testChargeTxErrOutOfRange(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 5, nil)
	ev := chargeLine(tok, "Address.Clean")
	ev.Credits, ev.Outcome = 6, core.OutcomeOK
	err := s.ChargeTx(t.Context(), tok.JTI, "r1", take(6, chargeRecord(nil, 0), &ev))
	wantErr(t, err, core.ErrOutOfRange)
	checkUnchanged(t, s, tok)
}

// A write that fails part of the way leaves nothing behind: here its
// ledger line names an account that does not exist.
func testChargeTxErrWriteRollsBack(t *testing.T, s core.Store) {
	tok := chargeFixture(t, s, 100, ptr[int64](10))
	ev := chargeLine(tok, "Address.Clean")
	noAccount := tok.AccountID + 1000
	ev.AccountID, ev.Credits, ev.Outcome = &noAccount, 3, core.OutcomeOK
	if err := s.ChargeTx(t.Context(), tok.JTI, "r1", take(3, chargeRecord(ptr[int64](7), 97), &ev)); err == nil {
		t.Fatal("ChargeTx with a ledger line for an unknown account succeeded")
	}
	checkUnchanged(t, s, tok)
}
