package core_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

func TestService_ChargeJWT(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		res := e.mustCharge(tok, emailMethod, 3, boundIP, "")
		if res.Replayed || res.JTI != c.ID || res.Username != testUser || res.Account != testUser || res.Application != testApp ||
			res.TokenRemaining == nil || *res.TokenRemaining != 7 || res.CreditsRemaining != testCredits-3 ||
			!slices.Equal(res.AllowedMethods, []string{"Email"}) || !res.ExpiresAt.Equal(expiry(c)) {
			t.Errorf("ChargeResult = %+v", derefInfo(&res.TokenInfo))
		}
		res = e.mustCharge(tok, "email.Send", 2, boundIP, "")
		if *res.TokenRemaining != 5 || res.CreditsRemaining != testCredits-5 {
			t.Errorf("second charge: token %d, balance %d; want 5, %d", *res.TokenRemaining, res.CreditsRemaining, testCredits-5)
		}
		// Both figures are the store's.
		if b := e.balance(testUser); b != testCredits-5 {
			t.Errorf("balance = %d", b)
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 5 {
			t.Errorf("token spent = %d", spent)
		}
		// Each charge is a ledger line with the token's application and the
		// method charged.
		acct := e.accountID(testUser)
		want := []ledgerLine{
			{acct, testApp, emailMethod, 3, core.OutcomeOK, c.ID},
			{acct, testApp, "email.Send", 2, core.OutcomeOK, c.ID},
		}
		if got := e.chargeLines(); !slices.Equal(got, want) {
			t.Errorf("ledger =\n%+v\nwant\n%+v", got, want)
		}
		rows := e.usageReport()
		// Methods sort (and group) case-insensitively.
		wantRows := []core.UsageRow{
			{Day: "2030-01-02", Account: testUser, Application: testApp, Method: emailMethod, Calls: 1, Credits: 3},
			{Day: "2030-01-02", Account: testUser, Application: testApp, Method: "email.Send", Calls: 1, Credits: 2},
			{Day: "2030-01-02", Account: testUser, Application: testApp, Method: core.OpGetJWT.Method, Calls: 1},
		}
		if got := derefRows(rows); fmt.Sprint(got) != fmt.Sprint(wantRows) {
			t.Errorf("usage =\n%+v\nwant\n%+v", got, wantRows)
		}
	})

	t.Run("Unlimited", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		res := e.mustCharge(tok, "Phone.Lookup", testCredits, "", "")
		if res.TokenRemaining != nil || res.CreditsRemaining != 0 {
			t.Errorf("token remaining %v, balance %d; want nil, 0", res.TokenRemaining, res.CreditsRemaining)
		}
		if spent := e.token(c.ID).CreditsSpent; spent != testCredits {
			t.Errorf("token spent = %d", spent)
		}
		// The account is now empty: a token of it can charge no more.
		_, err := e.charge(tok, "Phone.Lookup", 1, "", "")
		assertExact(t, err, core.ENOCREDITS, "account has 0 credits remaining, 1 requested")
	})

	t.Run("ErrTokenLimit", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(func(r *core.GetJWTRequest) { r.MaxCredits = ptr[int64](5) })
		e.mustCharge(tok, emailMethod, 3, boundIP, "")
		res, err := e.charge(tok, emailMethod, 3, boundIP, "")
		if res != nil {
			t.Errorf("result with a refusal: %+v", res)
		}
		assertExact(t, err, core.ENOCREDITS, "token credit limit reached: 3 of 5 spent, 3 more requested")
		if b, spent := e.balance(testUser), e.token(c.ID).CreditsSpent; b != testCredits-3 || spent != 3 {
			t.Errorf("after the refusal: balance %d, spent %d; want %d, 3", b, spent, testCredits-3)
		}
		// What is left can still be spent, exactly.
		res = e.mustCharge(tok, emailMethod, 2, boundIP, "")
		if *res.TokenRemaining != 0 || res.CreditsRemaining != testCredits-5 {
			t.Errorf("last charge: %v, %d", *res.TokenRemaining, res.CreditsRemaining)
		}
		_, err = e.charge(tok, emailMethod, 1, boundIP, "")
		assertExact(t, err, core.ENOCREDITS, "token credit limit reached: 5 of 5 spent, 1 more requested")

		acct := e.accountID(testUser)
		want := []ledgerLine{
			{acct, testApp, emailMethod, 3, core.OutcomeOK, c.ID},
			{acct, testApp, emailMethod, 0, core.Outcome(core.ENOCREDITS), c.ID},
			{acct, testApp, emailMethod, 2, core.OutcomeOK, c.ID},
			{acct, testApp, emailMethod, 0, core.Outcome(core.ENOCREDITS), c.ID},
		}
		if got := e.chargeLines(); !slices.Equal(got, want) {
			t.Errorf("ledger =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("ErrAccountBalance", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil) // the token could spend 10
		if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, 2-testCredits); err != nil {
			t.Fatal(err)
		}
		_, err := e.charge(tok, emailMethod, 3, boundIP, "")
		assertExact(t, err, core.ENOCREDITS, "account has 2 credits remaining, 3 requested")
		if b, spent := e.balance(testUser), e.token(c.ID).CreditsSpent; b != 2 || spent != 0 {
			t.Errorf("after the refusal: balance %d, spent %d; want 2, 0", b, spent)
		}
		res := e.mustCharge(tok, emailMethod, 2, boundIP, "")
		if *res.TokenRemaining != 8 || res.CreditsRemaining != 0 {
			t.Errorf("charge of the whole balance: token %d, balance %d", *res.TokenRemaining, res.CreditsRemaining)
		}
		if got := e.chargeLines(); len(got) != 2 || got[0].Outcome != core.Outcome(core.ENOCREDITS) || got[0].Account != e.accountID(testUser) ||
			got[0].Application != testApp || got[1].Credits != 2 {
			t.Errorf("ledger = %+v", got)
		}
	})

	t.Run("ErrBothLimitsTokenFirst", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.issue(func(r *core.GetJWTRequest) { r.MaxCredits = ptr[int64](2) })
		if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, 1-testCredits); err != nil {
			t.Fatal(err)
		}
		_, err := e.charge(tok, emailMethod, 3, boundIP, "")
		assertExact(t, err, core.ENOCREDITS, "token credit limit reached: 0 of 2 spent, 3 more requested")
		_, err = e.charge(tok, emailMethod, 2, boundIP, "")
		assertExact(t, err, core.ENOCREDITS, "account has 1 credits remaining, 2 requested")
	})

	t.Run("SharedAccount", func(t *testing.T) {
		// Two tokens of one account draw on one balance.
		e := newEnf(t)
		a, _ := e.open()
		b, _ := e.open()
		e.mustCharge(a, emailMethod, 100, "", "")
		res := e.mustCharge(b, emailMethod, 100, "", "")
		if res.CreditsRemaining != testCredits-200 {
			t.Errorf("balance after two tokens' charges = %d", res.CreditsRemaining)
		}
		_, err := e.charge(a, emailMethod, 51, "", "")
		assertExact(t, err, core.ENOCREDITS, "account has 50 credits remaining, 51 requested")
	})

	t.Run("ErrCredits", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		for _, n := range []int64{0, -1, -core.MaxCreditsLimit, core.MaxCreditsLimit + 1, 1 << 62} {
			_, err := e.charge(tok, emailMethod, n, "", "")
			assertExact(t, err, core.EINVALID, fmt.Sprintf("credits must be at least 1 and at most 9007199254740991 (got %d)", n))
		}
		// The largest valid figure is a refusal for credits, not for the figure.
		_, err := e.charge(tok, emailMethod, core.MaxCreditsLimit, "", "")
		assertErr(t, err, core.ENOCREDITS, "account has 250 credits remaining")
		if b, spent := e.balance(testUser), e.token(c.ID).CreditsSpent; b != testCredits || spent != 0 {
			t.Errorf("balance %d, spent %d after refusals", b, spent)
		}
		for _, l := range e.chargeLines()[:5] {
			if l.Outcome != core.Outcome(core.EINVALID) || l.Credits != 0 || l.Method != emailMethod {
				t.Errorf("ledger line of an invalid charge: %+v", l)
			}
		}
	})

	t.Run("ErrRequestID", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		const want = "requestId must be at most 128 printable characters"
		for _, id := range []string{strings.Repeat("r", 129), "a\x00b", "a\nb", "tab\there", "\x7f", "bad\xffutf8", "a\u0085b"} {
			_, err := e.charge(tok, emailMethod, 1, "", id)
			assertExact(t, err, core.EINVALID, want)
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 0 {
			t.Errorf("spent %d after refused requestIds", spent)
		}
		for _, id := range []string{strings.Repeat("r", 128), "order 42 / line 7", "Ünïcødé-✓", "  padded  "} {
			if _, err := e.charge(tok, emailMethod, 1, "", id); err != nil {
				t.Errorf("requestId %q: %v", id, err)
			}
		}
	})

	t.Run("ErrTokenIsRequired", func(t *testing.T) {
		e := newEnf(t)
		_, err := e.charge("", emailMethod, 1, "", "")
		assertExact(t, err, core.EUNAUTHORIZED, msgRequired)
		// Refusals before a token is identified are anonymous ledger lines.
		if got := e.chargeLines(); len(got) != 1 || got[0] != (ledgerLine{Method: emailMethod, Outcome: core.Outcome(core.EUNAUTHORIZED)}) {
			t.Errorf("ledger = %+v", got)
		}
	})
}

func TestService_ChargeJWT_Idempotent(t *testing.T) {
	t.Run("SameRequestIDChargesOnce", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		first := e.mustCharge(tok, emailMethod, 3, boundIP, "order-42")
		if first.Replayed {
			t.Error("first call is marked Replayed")
		}
		for i := range 9 {
			res := e.mustCharge(tok, emailMethod, 3, boundIP, "order-42")
			if !res.Replayed {
				t.Errorf("call %d: not Replayed", i+2)
			}
			if *res.TokenRemaining != *first.TokenRemaining || res.CreditsRemaining != first.CreditsRemaining {
				t.Errorf("call %d: token %d, balance %d; want the first figures %d, %d",
					i+2, *res.TokenRemaining, res.CreditsRemaining, *first.TokenRemaining, first.CreditsRemaining)
			}
		}
		if b, spent := e.balance(testUser), e.token(c.ID).CreditsSpent; b != testCredits-3 || spent != 3 {
			t.Errorf("after 10 calls: balance %d, spent %d; want %d, 3", b, spent, testCredits-3)
		}
		if got := e.chargeLines(); len(got) != 1 || got[0].Credits != 3 || got[0].Outcome != core.OutcomeOK {
			t.Errorf("ledger = %+v, want one charge (replays are not recorded again)", got)
		}

		// A replay returns the first figures even after other charges.
		e.mustCharge(tok, emailMethod, 1, boundIP, "order-43")
		res := e.mustCharge(tok, emailMethod, 3, boundIP, "order-42")
		if !res.Replayed || *res.TokenRemaining != 7 || res.CreditsRemaining != testCredits-3 {
			t.Errorf("late replay: %+v", derefInfo(&res.TokenInfo))
		}
		// Another id charges again; no id is never idempotent.
		e.mustCharge(tok, emailMethod, 1, boundIP, "")
		e.mustCharge(tok, emailMethod, 1, boundIP, "")
		if spent := e.token(c.ID).CreditsSpent; spent != 6 {
			t.Errorf("spent %d, want 6", spent)
		}
	})

	t.Run("PerToken", func(t *testing.T) {
		// One requestId on two tokens is two requests.
		e := newEnf(t)
		a, _ := e.open()
		b, _ := e.open()
		e.mustCharge(a, emailMethod, 1, "", "same")
		if res := e.mustCharge(b, emailMethod, 1, "", "same"); res.Replayed {
			t.Error("a requestId of another token was replayed")
		}
		if got := e.balance(testUser); got != testCredits-2 {
			t.Errorf("balance %d, want %d", got, testCredits-2)
		}
	})

	t.Run("RefusalReplayed", func(t *testing.T) {
		// A refused charge is an outcome too: its retry is refused the
		// same way, even once credits are back.
		e := newEnf(t)
		tok, c := e.issue(func(r *core.GetJWTRequest) { r.MaxCredits = ptr[int64](2) })
		_, err := e.charge(tok, emailMethod, 3, boundIP, "r1")
		assertExact(t, err, core.ENOCREDITS, "token credit limit reached: 0 of 2 spent, 3 more requested")
		for range 3 {
			_, err := e.charge(tok, emailMethod, 3, boundIP, "r1")
			assertExact(t, err, core.ENOCREDITS, "token credit limit reached: 0 of 2 spent, 3 more requested")
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 0 {
			t.Errorf("spent %d", spent)
		}
		if got := e.chargeLines(); len(got) != 1 || got[0].Outcome != core.Outcome(core.ENOCREDITS) {
			t.Errorf("ledger = %+v, want the one refusal", got)
		}
	})

	t.Run("ErrReusedForOtherCharge", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		e.mustCharge(tok, emailMethod, 2, "", "r1")
		_, err := e.charge(tok, emailMethod, 5, "", "r1")
		assertExact(t, err, core.ECONFLICT, `requestId "r1" was already used for a charge of 2 credits for Email.IsValid`)
		_, err = e.charge(tok, "Phone.Lookup", 2, "", "r1")
		assertExact(t, err, core.ECONFLICT, `requestId "r1" was already used for a charge of 2 credits for Email.IsValid`)
		// Methods match case-insensitively: the same method in another
		// spelling with the same credits is a replay, not a conflict.
		if res := e.mustCharge(tok, "email.isvalid", 2, "", "r1"); !res.Replayed {
			t.Error("the same charge with the method in another case was not replayed")
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 2 {
			t.Errorf("spent %d, want 2", spent)
		}
		// Each conflict is a ledger line of the token's account charging
		// nothing, under the method it asked for; the replay is none.
		acct := e.accountID(testUser)
		want := []ledgerLine{
			{acct, testApp, emailMethod, 2, core.OutcomeOK, c.ID},
			{acct, testApp, emailMethod, 0, core.Outcome(core.ECONFLICT), c.ID},
			{acct, testApp, "Phone.Lookup", 0, core.Outcome(core.ECONFLICT), c.ID},
		}
		if got := e.chargeLines(); !slices.Equal(got, want) {
			t.Errorf("ledger =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		const n = 50
		var wg sync.WaitGroup
		results := make([]*core.ChargeResult, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { results[i], errs[i] = e.charge(tok, emailMethod, 4, "", "once") })
		}
		wg.Wait()
		fresh := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			if !results[i].Replayed {
				fresh++
			}
			if results[i].CreditsRemaining != testCredits-4 {
				t.Errorf("call %d: balance %d", i, results[i].CreditsRemaining)
			}
		}
		if fresh != 1 {
			t.Errorf("%d calls were not replays, want 1", fresh)
		}
		if b, spent := e.balance(testUser), e.token(c.ID).CreditsSpent; b != testCredits-4 || spent != 4 {
			t.Errorf("balance %d, spent %d", b, spent)
		}
	})
}

// TestService_ChargeJWT_Concurrent: 100 goroutines charge 1 credit each on a
// token limited to 5; exactly 5 succeed, and the balance and the ledger agree.
func TestService_ChargeJWT_Concurrent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   *int64 // the token's maxCredits
		balance int64  // the account's balance
		refusal string
	}{
		{"TokenLimit", ptr[int64](5), testCredits, "token credit limit reached: 5 of 5 spent, 1 more requested"},
		{"AccountBalance", nil, 5, "account has 0 credits remaining, 1 requested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnf(t)
			tok, c := e.issue(func(r *core.GetJWTRequest) { r.MaxCredits = tc.limit })
			if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, tc.balance-testCredits); err != nil {
				t.Fatal(err)
			}
			const n = 100
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					_, errs[i] = e.charge(tok, emailMethod, 1, boundIP, fmt.Sprintf("req-%d", i))
				})
			}
			wg.Wait()
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case core.ErrorCode(err) != core.ENOCREDITS || core.ErrorMessage(err) != tc.refusal:
					t.Errorf("call %d: %v, want %q", i, err, tc.refusal)
				}
			}
			if ok != 5 {
				t.Errorf("%d charges succeeded, want exactly 5", ok)
			}
			if b := e.balance(testUser); b != tc.balance-5 {
				t.Errorf("balance dropped by %d, want exactly 5", tc.balance-b)
			}
			if spent := e.token(c.ID).CreditsSpent; spent != 5 {
				t.Errorf("token spent %d, want 5", spent)
			}
			var charges, refusals int
			for _, l := range e.chargeLines() {
				switch {
				case l.Outcome == core.OutcomeOK && l.Credits == 1:
					charges++
				case l.Outcome == core.Outcome(core.ENOCREDITS) && l.Credits == 0:
					refusals++
				default:
					t.Errorf("unexpected ledger line %+v", l)
				}
			}
			if charges != 5 || refusals != n-5 {
				t.Errorf("ledger: %d charges, %d refusals; want 5, %d", charges, refusals, n-5)
			}
			_, _, credits := e.usageTotals()
			if credits != 5 {
				t.Errorf("usage report: %d credits, want 5", credits)
			}
		})
	}
}
