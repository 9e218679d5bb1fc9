package core

import (
	"fmt"
	"strings"
)

// chargeInput is a charge request checked, with what its token's checks
// found before the charge transaction.
type chargeInput struct {
	method    string
	credits   int64
	requestID string
	// timeRefusal is the token's expiry, start or issuer refusal; a retry
	// of an earlier charge is still answered as it was.
	timeRefusal error
	// useRefusal is the token's method or client IP refusal, reported after
	// the token's state (a dead token is reported as dead).
	useRefusal error
}

// chargeDecision is what decideCharge decided: what the transaction writes
// and what the caller is answered.
type chargeDecision struct {
	write     ChargeWrite
	err       error  // the refusal; nil when charged or replayed
	remaining *int64 // the token's credits left; nil: no limit of its own
	balance   int64
	replayed  bool
}

// decideCharge decides a charge on the state its transaction read; ev is
// the call's ledger line. It is pure: the store persists what it returns.
//
// In order: a request id used before answers as it did then (or conflicts
// with a different charge); a token refused for its time, its state (revoked,
// its user disabled, its API key revoked) or its use (method, client IP) is
// refused; a charge over the token's limit or the balance is refused, and
// kept under the request id like a charge; otherwise credits are taken from
// both. Every outcome but a replay writes the ledger line.
func decideCharge(in chargeInput, st ChargeState, ev UsageEvent) chargeDecision {
	if prev := st.Previous; prev != nil {
		if !strings.EqualFold(prev.Method, in.method) || prev.Credits != in.credits {
			err := Errorf(ECONFLICT, "requestId %q was already used for a charge of %d credits for %s", in.requestID, prev.Credits, prev.Method)
			return refused(err, ev)
		}
		d := chargeDecision{remaining: prev.TokenRemaining, balance: prev.Balance, replayed: true}
		if prev.Outcome != OutcomeOK {
			d.err = &Error{Code: ENOCREDITS, Message: prev.Message}
		}
		return d
	}
	tok := st.Token
	for _, err := range []error{in.timeRefusal, tok.refusal(), in.useRefusal} {
		if err != nil {
			return refused(err, ev)
		}
	}
	d := chargeDecision{balance: tok.Balance}
	spent := tok.CreditsSpent
	var refusal string
	switch {
	case tok.MaxCredits != nil && spent+in.credits > *tok.MaxCredits:
		refusal = fmt.Sprintf("token credit limit reached: %d of %d spent, %d more requested", spent, *tok.MaxCredits, in.credits)
	case tok.Balance < in.credits:
		refusal = fmt.Sprintf("account has %d credits remaining, %d requested", tok.Balance, in.credits)
	default:
		d.write.Credits = in.credits
		d.balance -= in.credits
		spent += in.credits
	}
	if tok.MaxCredits != nil {
		r := *tok.MaxCredits - spent
		d.remaining = &r
	}
	ev.Credits, ev.Outcome = d.write.Credits, OutcomeOK
	if refusal != "" {
		d.err = &Error{Code: ENOCREDITS, Message: refusal}
		ev.Outcome = OutcomeOf(d.err)
	}
	d.write.Usage = &ev
	if in.requestID != "" {
		d.write.Record = &ChargeRecord{
			Method: in.method, Credits: in.credits, Outcome: ev.Outcome, Message: refusal,
			TokenRemaining: d.remaining, Balance: d.balance, Time: ev.Time,
		}
	}
	return d
}

// refused is the decision to refuse with err: the ledger line only.
func refused(err error, ev UsageEvent) chargeDecision {
	ev.Credits, ev.Outcome = 0, OutcomeOf(err)
	return chargeDecision{err: err, write: ChargeWrite{Usage: &ev}}
}
