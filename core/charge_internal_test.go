package core

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestDecideCharge covers every branch of the charge decision, on the state
// a charge transaction reads, without a store: what is answered, and what
// the transaction is to write (credits, the record kept under the request
// id, the ledger line).
func TestDecideCharge(t *testing.T) {
	p := func(v int64) *int64 { return &v }
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	acct, user := int64(7), int64(11)
	// The call's ledger line as ChargeJWT hands it over: attributed to the
	// token's account, user and application.
	ev := UsageEvent{Time: now, AccountID: &acct, UserID: &user, Application: "Checkout",
		Method: "Email.IsValid", ClientAddr: "203.0.113.7", JTI: "jti-1"}
	in := func(credits int64, requestID string) chargeInput {
		return chargeInput{method: "Email.IsValid", credits: credits, requestID: requestID}
	}
	live := func(maxCredits *int64, spent, balance int64) ChargeState {
		return ChargeState{Token: TokenState{AccountID: acct, MaxCredits: maxCredits, CreditsSpent: spent, Balance: balance}}
	}
	with := func(st ChargeState, mod func(*ChargeState)) ChargeState { mod(&st); return st }
	prev := func(method string, credits int64, outcome Outcome, message string) *ChargeRecord {
		return &ChargeRecord{Method: method, Credits: credits, Outcome: outcome, Message: message,
			TokenRemaining: p(4), Balance: 90, Time: now.Add(-time.Minute)}
	}
	errExpired := Errorf(EUNAUTHORIZED, "token has expired")
	errMethod := Errorf(EFORBIDDEN, "token does not allow method Email.IsValid (allowed: Phone)")
	// line is the ledger line a decision writes: ev with its figures.
	line := func(credits int64, outcome Outcome) *UsageEvent {
		l := ev
		l.Credits, l.Outcome = credits, outcome
		return &l
	}
	conflict := func(credits int64, method string) string {
		return fmt.Sprintf("requestId %q was already used for a charge of %d credits for %s", "r1", credits, method)
	}

	type want struct {
		code      Code   // "" when charged or replayed
		msg       string // the whole message
		err       error  // when set, the very error passed in
		replayed  bool
		remaining *int64
		balance   int64
		write     ChargeWrite
	}
	for _, tc := range []struct {
		name string
		in   chargeInput
		st   ChargeState
		want want
	}{
		// A request id used before: the first answer again, writing nothing.
		{"ReplayOK", in(3, "r1"), with(live(p(10), 6, 90), func(s *ChargeState) { s.Previous = prev("Email.IsValid", 3, OutcomeOK, "") }),
			want{replayed: true, remaining: p(4), balance: 90}},
		{"ReplayOKMethodInOtherCase", chargeInput{method: "email.ISVALID", credits: 3, requestID: "r1"},
			with(live(nil, 0, 1), func(s *ChargeState) { s.Previous = prev("Email.IsValid", 3, OutcomeOK, "") }),
			want{replayed: true, remaining: p(4), balance: 90}},
		{"ReplayRefused", in(3, "r1"),
			with(live(p(10), 0, 1000), func(s *ChargeState) {
				s.Previous = prev("Email.IsValid", 3, Outcome(ENOCREDITS), "account has 2 credits remaining, 3 requested")
			}),
			want{code: ENOCREDITS, msg: "account has 2 credits remaining, 3 requested", replayed: true, remaining: p(4), balance: 90}},
		{"ReplayBeatsTimeAndState", chargeInput{method: "Email.IsValid", credits: 3, requestID: "r1", timeRefusal: errExpired, useRefusal: errMethod},
			with(live(p(10), 6, 90), func(s *ChargeState) {
				s.Token.Revoked, s.Token.UserDisabled, s.Token.APIKeyRevoked = true, true, true
				s.Previous = prev("Email.IsValid", 3, OutcomeOK, "")
			}),
			want{replayed: true, remaining: p(4), balance: 90}},

		// The same request id for another charge: a conflict, in the ledger.
		{"ConflictOnMethod", chargeInput{method: "Phone.Lookup", credits: 3, requestID: "r1"},
			with(live(nil, 0, 100), func(s *ChargeState) { s.Previous = prev("Email.IsValid", 3, OutcomeOK, "") }),
			want{code: ECONFLICT, msg: conflict(3, "Email.IsValid"), write: ChargeWrite{Usage: line(0, Outcome(ECONFLICT))}}},
		{"ConflictOnCredits", in(5, "r1"),
			with(live(nil, 0, 100), func(s *ChargeState) { s.Previous = prev("Email.IsValid", 3, OutcomeOK, "") }),
			want{code: ECONFLICT, msg: conflict(3, "Email.IsValid"), write: ChargeWrite{Usage: line(0, Outcome(ECONFLICT))}}},
		{"ConflictWithRefusedCharge", in(5, "r1"),
			with(live(nil, 0, 100), func(s *ChargeState) { s.Previous = prev("Email.IsValid", 3, Outcome(ENOCREDITS), "no") }),
			want{code: ECONFLICT, msg: conflict(3, "Email.IsValid"), write: ChargeWrite{Usage: line(0, Outcome(ECONFLICT))}}},
		{"ConflictOnDeadToken", chargeInput{method: "Email.IsValid", credits: 5, requestID: "r1", timeRefusal: errExpired},
			with(live(nil, 0, 100), func(s *ChargeState) {
				s.Token.Revoked = true
				s.Previous = prev("Email.IsValid", 3, OutcomeOK, "")
			}),
			want{code: ECONFLICT, msg: conflict(3, "Email.IsValid"), write: ChargeWrite{Usage: line(0, Outcome(ECONFLICT))}}},

		// Refusals of the token, in order: time, state, use. Each is one
		// ledger line and no record, with or without a request id.
		{"TimeBeatsState", chargeInput{method: "Email.IsValid", credits: 1, requestID: "r2", timeRefusal: errExpired, useRefusal: errMethod},
			with(live(nil, 0, 100), func(s *ChargeState) { s.Token.Revoked, s.Token.UserDisabled, s.Token.APIKeyRevoked = true, true, true }),
			want{err: errExpired, write: ChargeWrite{Usage: line(0, Outcome(EUNAUTHORIZED))}}},
		{"TimeAlone", chargeInput{method: "Email.IsValid", credits: 1, timeRefusal: errExpired}, live(nil, 0, 100),
			want{err: errExpired, write: ChargeWrite{Usage: line(0, Outcome(EUNAUTHORIZED))}}},
		{"RevokedBeatsAll", chargeInput{method: "Email.IsValid", credits: 1, requestID: "r2", useRefusal: errMethod},
			with(live(nil, 0, 100), func(s *ChargeState) { s.Token.Revoked, s.Token.UserDisabled, s.Token.APIKeyRevoked = true, true, true }),
			want{err: errTokenRevoked, code: EUNAUTHORIZED, msg: "token has been revoked", write: ChargeWrite{Usage: line(0, Outcome(EUNAUTHORIZED))}}},
		{"UserDisabledBeatsKeyAndUse", chargeInput{method: "Email.IsValid", credits: 1, useRefusal: errMethod},
			with(live(nil, 0, 100), func(s *ChargeState) { s.Token.UserDisabled, s.Token.APIKeyRevoked = true, true }),
			want{err: errTokenUserDisabled, code: EFORBIDDEN, msg: "token's user has been disabled", write: ChargeWrite{Usage: line(0, Outcome(EFORBIDDEN))}}},
		{"KeyRevokedBeatsUse", chargeInput{method: "Email.IsValid", credits: 1, requestID: "r2", useRefusal: errMethod},
			with(live(nil, 0, 100), func(s *ChargeState) { s.Token.APIKeyRevoked = true }),
			want{err: errTokenKeyRevoked, code: EUNAUTHORIZED, msg: "token was issued for an API key that has since been revoked",
				write: ChargeWrite{Usage: line(0, Outcome(EUNAUTHORIZED))}}},
		{"UseRefusal", chargeInput{method: "Email.IsValid", credits: 1, requestID: "r2", useRefusal: errMethod}, live(p(10), 0, 100),
			want{err: errMethod, write: ChargeWrite{Usage: line(0, Outcome(EFORBIDDEN))}}},
		{"DeadStateBeatsLimits", in(50, ""),
			with(live(p(1), 1, 0), func(s *ChargeState) { s.Token.Revoked = true }),
			want{err: errTokenRevoked, write: ChargeWrite{Usage: line(0, Outcome(EUNAUTHORIZED))}}},

		// The token's limit, then the balance: a refusal of credits is
		// kept under the request id like a charge.
		{"TokenLimit", in(3, "r3"), live(p(5), 3, 100),
			want{code: ENOCREDITS, msg: "token credit limit reached: 3 of 5 spent, 3 more requested", remaining: p(2), balance: 100,
				write: ChargeWrite{
					Record: &ChargeRecord{Method: "Email.IsValid", Credits: 3, Outcome: Outcome(ENOCREDITS),
						Message: "token credit limit reached: 3 of 5 spent, 3 more requested", TokenRemaining: p(2), Balance: 100, Time: now},
					Usage: line(0, Outcome(ENOCREDITS)),
				}}},
		{"TokenLimitWithoutRequestID", in(3, ""), live(p(5), 3, 100),
			want{code: ENOCREDITS, msg: "token credit limit reached: 3 of 5 spent, 3 more requested", remaining: p(2), balance: 100,
				write: ChargeWrite{Usage: line(0, Outcome(ENOCREDITS))}}},
		{"TokenLimitBeatsBalance", in(3, ""), live(p(2), 0, 1),
			want{code: ENOCREDITS, msg: "token credit limit reached: 0 of 2 spent, 3 more requested", remaining: p(2), balance: 1,
				write: ChargeWrite{Usage: line(0, Outcome(ENOCREDITS))}}},
		{"Balance", in(3, "r3"), live(nil, 40, 2),
			want{code: ENOCREDITS, msg: "account has 2 credits remaining, 3 requested", balance: 2,
				write: ChargeWrite{
					Record: &ChargeRecord{Method: "Email.IsValid", Credits: 3, Outcome: Outcome(ENOCREDITS),
						Message: "account has 2 credits remaining, 3 requested", Balance: 2, Time: now},
					Usage: line(0, Outcome(ENOCREDITS)),
				}}},
		{"BalanceUnderLimit", in(3, ""), live(p(10), 0, 2),
			want{code: ENOCREDITS, msg: "account has 2 credits remaining, 3 requested", remaining: p(10), balance: 2,
				write: ChargeWrite{Usage: line(0, Outcome(ENOCREDITS))}}},

		// Charges: credits taken from both, the figures after the charge.
		{"ExactLimit", in(2, "r4"), live(p(5), 3, 100),
			want{remaining: p(0), balance: 98,
				write: ChargeWrite{Credits: 2,
					Record: &ChargeRecord{Method: "Email.IsValid", Credits: 2, Outcome: OutcomeOK, TokenRemaining: p(0), Balance: 98, Time: now},
					Usage:  line(2, OutcomeOK),
				}}},
		{"ExactBalance", in(3, ""), live(p(10), 0, 3),
			want{remaining: p(7), balance: 0, write: ChargeWrite{Credits: 3, Usage: line(3, OutcomeOK)}}},
		{"NoLimit", in(7, ""), live(nil, 1000, 100),
			want{balance: 93, write: ChargeWrite{Credits: 7, Usage: line(7, OutcomeOK)}}},
		{"NoLimitWithRequestID", in(7, "r5"), live(nil, 0, 100),
			want{balance: 93, write: ChargeWrite{Credits: 7,
				Record: &ChargeRecord{Method: "Email.IsValid", Credits: 7, Outcome: OutcomeOK, Balance: 93, Time: now},
				Usage:  line(7, OutcomeOK),
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			given := ev
			st := tc.st
			d := decideCharge(tc.in, st, ev)
			w := tc.want
			switch {
			case w.err != nil && d.err != w.err:
				t.Errorf("err = %v, want %v", d.err, w.err)
			case w.err == nil && w.code == "" && d.err != nil:
				t.Errorf("err = %v, want none", d.err)
			case w.code != "" && (ErrorCode(d.err) != w.code || ErrorMessage(d.err) != w.msg):
				t.Errorf("err = %v, want %s %q", d.err, w.code, w.msg)
			}
			if d.replayed != w.replayed {
				t.Errorf("replayed = %v, want %v", d.replayed, w.replayed)
			}
			if !reflect.DeepEqual(d.remaining, w.remaining) || d.balance != w.balance {
				t.Errorf("figures: remaining %v, balance %d; want %v, %d", deref(d.remaining), d.balance, deref(w.remaining), w.balance)
			}
			if !reflect.DeepEqual(d.write, w.write) {
				t.Errorf("write =\n%s\nwant\n%s", showWrite(d.write), showWrite(w.write))
			}
			// Pure: what it was given, pointers included, is unchanged.
			if !reflect.DeepEqual(ev, given) || !reflect.DeepEqual(st, tc.st) || acct != 7 || user != 11 {
				t.Error("decideCharge changed its inputs")
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func showWrite(w ChargeWrite) string {
	s := fmt.Sprintf("credits %d", w.Credits)
	if r := w.Record; r != nil {
		s += fmt.Sprintf("\n  record %+v (remaining %v)", *r, deref(r.TokenRemaining))
	}
	if u := w.Usage; u != nil {
		s += fmt.Sprintf("\n  usage %+v (account %v, user %v)", *u, deref(u.AccountID), deref(u.UserID))
	}
	return s
}
