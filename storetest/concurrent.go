package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/token"
)

// The concurrency cases run on one handle (Run) and on two handles of one
// database (RunMultiHandle): goroutine i uses handle i mod the number of
// handles.
var concurrentTests = []sharedTest{
	{"Concurrent/IssueToken", testConcurrentIssueToken},
	{"Concurrent/CreateUserSameName", testConcurrentCreateUserSameName},
	{"Concurrent/AddCredits", testConcurrentAddCredits},
	{"Concurrent/RotateSigningKey", testConcurrentRotateSigningKey},
	{"Concurrent/ReadersAndWriters", testConcurrentMixed},
	{"Concurrent/ChargeTokenLimit", testConcurrentChargeTokenLimit},
	{"Concurrent/ChargeBalance", testConcurrentChargeBalance},
	{"Concurrent/ChargeSharedBalance", testConcurrentChargeSharedBalance},
	{"Concurrent/ChargeSameRequestID", testConcurrentChargeSameRequestID},
	{"Concurrent/ChargeAndRevoke", testConcurrentChargeAndRevoke},
}

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

// errRevoked is what oneCredit refuses a revoked token with.
var errRevoked = errors.New("storetest: token revoked")

// oneCredit is the suite's small charging decision: charge 1 credit when the
// token's limit and the balance allow it, with a ledger line either way and a
// record under the request id; answer a request id seen before with nothing;
// refuse a revoked token with errRevoked. It keeps what its last call saw
// and decided (a store may run decide again when it retries a transaction).
type oneCredit struct {
	ev        core.UsageEvent
	requestID string

	saw     core.ChargeState
	charged bool
}

func newOneCredit(tok *core.IssuedToken, requestID string) *oneCredit {
	return &oneCredit{ev: chargeLine(tok, "Address.Clean"), requestID: requestID}
}

func (o *oneCredit) decide(st core.ChargeState) (core.ChargeWrite, error) {
	o.saw, o.charged = st, false
	tok := st.Token
	switch {
	case tok.Revoked:
		return core.ChargeWrite{}, errRevoked
	case st.Previous != nil:
		return core.ChargeWrite{}, nil
	}
	line := o.ev
	line.Outcome = core.Outcome(core.ENOCREDITS)
	w := core.ChargeWrite{Usage: &line}
	if (tok.MaxCredits == nil || tok.CreditsSpent+1 <= *tok.MaxCredits) && tok.Balance >= 1 {
		o.charged = true
		w.Credits, line.Credits, line.Outcome = 1, 1, core.OutcomeOK
	}
	if o.requestID != "" {
		w.Record = &core.ChargeRecord{Method: line.Method, Credits: 1, Outcome: line.Outcome, Balance: tok.Balance - w.Credits, Time: line.Time}
	}
	return w, nil
}

// chargeAll charges 1 credit from n goroutines at once with oneCredit, with
// the request id id(i), and returns what each decided and its error. The
// charges go to each token in turn, and through each handle for each token.
func chargeAll(t *testing.T, ss []core.Store, toks []*core.IssuedToken, n int, id func(i int) string) ([]*oneCredit, []error) {
	cs := make([]*oneCredit, n)
	for i := range n {
		cs[i] = newOneCredit(toks[i%len(toks)], id(i))
	}
	errs := parallel(n, func(i int) error {
		return ss[i/len(toks)%len(ss)].ChargeTx(t.Context(), cs[i].ev.JTI, cs[i].requestID, cs[i].decide)
	})
	return cs, errs
}

// checkNotTorn requires every state a charge saw to be whole: every charge
// takes 1 credit from both the token and the balance, so their sum is
// what the balance was.
func checkNotTorn(t *testing.T, cs []*oneCredit, balance int64) {
	t.Helper()
	for i, o := range cs {
		if st := o.saw.Token; st.CreditsSpent+st.Balance != balance {
			t.Errorf("charge %d saw a torn state: spent %d and balance %d, which must sum to %d", i, st.CreditsSpent, st.Balance, balance)
		}
	}
}

func testConcurrentIssueToken(t *testing.T, ss []core.Store) {
	const n = 50
	s := ss[0]
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	toks := make([]*core.IssuedToken, n)
	errs := parallel(n, func(i int) error {
		toks[i] = newToken(u, k.Kid, fmt.Sprintf("jti-%02d", i), base, base.Add(time.Hour))
		return ss[i%len(ss)].IssueToken(t.Context(), toks[i], issueLine(toks[i]))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("IssueToken %d: %v", i, err)
		}
	}
	for _, s := range ss {
		for _, tok := range toks {
			checkToken(t, s, tok)
		}
		checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
			{Day: "2030-01-02", Account: "alice", Method: "UserAdmin.GetJWT", Calls: n},
		})
	}
}

// Of many users created at once under one name (in any case), each with an
// account of its own, exactly one is, with its account; the others are
// ErrConflict and leave no account behind.
func testConcurrentCreateUserSameName(t *testing.T, ss []core.Store) {
	const n = 20
	users := make([]*core.User, n)
	accounts := make([]*core.Account, n)
	errs := parallel(n, func(i int) error {
		name := "bob"
		if i%4 >= 2 {
			name = "BOB"
		}
		users[i] = &core.User{Username: name, PasswordHash: fmt.Sprint(i), Created: base}
		accounts[i] = &core.Account{Name: fmt.Sprintf("account-%02d", i), Created: base}
		return ss[i%len(ss)].CreateUser(t.Context(), users[i], accounts[i])
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("CreateUser %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, core.ErrConflict):
			t.Errorf("CreateUser %d: %v, want success or %v", i, err, core.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no CreateUser succeeded")
	}
	for _, s := range ss {
		got, err := s.UserByName(t.Context(), "bob")
		must(t, err)
		check(t, "UserByName", got, users[winner])
		checkUserCount(t, s, 1)
		checkAccounts(t, s, accounts[winner])
	}
}

func testConcurrentAddCredits(t *testing.T, ss []core.Store) {
	const n = 50
	a := newAccount(t, ss[0], "acme", 0)
	balances := make([]int64, n)
	errs := parallel(n, func(i int) error {
		var err error
		balances[i], err = ss[i%len(ss)].AddCredits(t.Context(), a.ID, 1)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("AddCredits %d: %v", i, err)
		}
	}
	for _, s := range ss {
		checkCredits(t, s, a.ID, n)
	}
	// Each call saw its own increment: the balances returned are 1..n.
	slices.Sort(balances)
	for i, b := range balances {
		if b != int64(i+1) {
			t.Fatalf("balances returned = %v, want 1..%d each once", balances, n)
		}
	}

	// Spending concurrently never takes the balance below zero.
	errs = parallel(n+10, func(i int) error {
		_, err := ss[i%len(ss)].AddCredits(t.Context(), a.ID, -1)
		return err
	})
	var refused int
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, core.ErrOutOfRange):
			refused++
		default:
			t.Errorf("AddCredits(-1) %d: %v", i, err)
		}
	}
	if refused != 10 {
		t.Errorf("%d spends refused, want 10", refused)
	}
	for _, s := range ss {
		checkCredits(t, s, a.ID, 0)
	}
}

func testConcurrentRotateSigningKey(t *testing.T, ss []core.Store) {
	const n = 10
	k0 := newSigningKey(t, ss[0], base)
	keys := make([]*core.SigningKey, n)
	for i := range keys {
		keys[i] = makeSigningKey(t, core.AlgEdDSA, base.Add(time.Duration(i+1)*time.Second))
	}
	errs := parallel(n, func(i int) error { return ss[i%len(ss)].RotateSigningKey(t.Context(), keys[i]) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("RotateSigningKey %d: %v", i, err)
		}
	}
	for _, s := range ss {
		ks, err := s.ListSigningKeys(t.Context())
		must(t, err)
		if len(ks) != n+1 {
			t.Errorf("ListSigningKeys returned %d keys, want %d", len(ks), n+1)
		}
		active, err := s.ActiveSigningKey(t.Context(), base.Add(1000*time.Hour))
		must(t, err)
		checkOneActive(t, ks, active.Kid)
		if active.Kid == k0.Kid {
			t.Errorf("the first key is still active after %d rotations", n)
		}
	}
}

// Readers run beside writers and always see a consistent state.
func testConcurrentMixed(t *testing.T, ss []core.Store) {
	const writers, readers, rounds = 10, 10, 10
	u := newUser(t, ss[0], "alice")
	k := newSigningKey(t, ss[0], base)
	seed := newToken(u, k.Kid, "seed", base, base.Add(time.Hour))
	issueToken(t, ss[0], seed)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		s := ss[w%len(ss)]
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
		s := ss[i%len(ss)]
		wg.Go(func() {
			<-start
			for r := range 3 {
				nk, err := token.NewKey(core.AlgEdDSA, base.Add(time.Duration(10*i+r+1)*time.Second))
				if err == nil {
					err = s.RotateSigningKey(t.Context(), nk)
				}
				if err != nil {
					t.Errorf("RotateSigningKey: %v", err)
				}
			}
		})
	}
	for r := range readers {
		s := ss[r%len(ss)]
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
				if _, err := s.ActiveSigningKey(t.Context(), base.Add(1000*time.Hour)); err != nil {
					t.Errorf("ActiveSigningKey during rotation: %v", err)
				}
				if ks, err := s.VerificationKeys(t.Context(), base); err != nil {
					t.Errorf("VerificationKeys: %v", err)
				} else if n := countActive(ks); n != 1 {
					t.Errorf("VerificationKeys returned %d active keys, want 1", n)
				}
				if tok, err := s.TokenByJTI(t.Context(), "seed"); err != nil {
					t.Errorf("TokenByJTI: %v", err)
				} else if tok.AccountCredits < last {
					t.Errorf("TokenByJTI read a balance of %d after one of %d", tok.AccountCredits, last)
				}
				if _, err := s.UsageReport(t.Context(), core.UsageFilter{AccountID: &u.AccountID}); err != nil {
					t.Errorf("UsageReport: %v", err)
				}
				if us, err := s.ListUsers(t.Context(), core.Page{}); err != nil || len(us) != 1 {
					t.Errorf("ListUsers = %d users, %v; want 1", len(us), err)
				}
				if toks, err := s.ListTokens(t.Context(), core.TokenFilter{}, core.Page{Limit: 5}); err != nil || len(toks) == 0 {
					t.Errorf("ListTokens = %d tokens, %v; want some", len(toks), err)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	for _, s := range ss {
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
}

// Request ids of chargeAll's charges: none, one each, one every other charge.
func noRequestID(int) string     { return "" }
func eachRequestID(i int) string { return fmt.Sprintf("req-%03d", i) }
func everyOtherRequestID(i int) string {
	if i%2 == 0 {
		return eachRequestID(i)
	}
	return ""
}

// The headline: concurrent charges never spend more than the token's limit,
// and each one sees the one before it.
func testConcurrentChargeTokenLimit(t *testing.T, ss []core.Store) {
	const n, limit, balance = 100, 5, 1000
	tok := chargeFixture(t, ss[0], balance, ptr[int64](limit))
	cs, errs := chargeAll(t, ss, []*core.IssuedToken{tok}, n, everyOtherRequestID)
	var spent []int64
	for i, err := range errs {
		switch o := cs[i]; {
		case err != nil:
			t.Errorf("ChargeTx %d: %v", i, err)
		case o.charged:
			spent = append(spent, o.saw.Token.CreditsSpent)
		case o.saw.Token.CreditsSpent != limit:
			t.Errorf("charge %d was refused on a state of %d spent of %d", i, o.saw.Token.CreditsSpent, limit)
		}
	}
	checkNotTorn(t, cs, balance)
	slices.Sort(spent)
	if !slices.Equal(spent, []int64{0, 1, 2, 3, 4}) {
		t.Errorf("the charges that charged saw %v spent, want 0..4 each once", spent)
	}
	for _, s := range ss {
		tok.CreditsSpent, tok.AccountCredits = limit, balance-limit
		checkToken(t, s, tok)
		checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
			row("2030-01-02", "alice", "web", "UserAdmin.GetJWT", 1, 0, 0),
			row("2030-01-02", "alice", "web", "Address.Clean", n, n-limit, limit),
		})
	}
}

// Concurrent charges never take the balance below zero.
func testConcurrentChargeBalance(t *testing.T, ss []core.Store) {
	const n, balance = 50, 3
	tok := chargeFixture(t, ss[0], balance, nil)
	cs, errs := chargeAll(t, ss, []*core.IssuedToken{tok}, n, eachRequestID)
	var balances []int64
	for i, err := range errs {
		switch o := cs[i]; {
		case err != nil:
			t.Errorf("ChargeTx %d: %v", i, err)
		case o.charged:
			balances = append(balances, o.saw.Token.Balance)
		case o.saw.Token.Balance != 0:
			t.Errorf("charge %d was refused on a balance of %d", i, o.saw.Token.Balance)
		}
	}
	checkNotTorn(t, cs, balance)
	slices.Sort(balances)
	if !slices.Equal(balances, []int64{1, 2, 3}) {
		t.Errorf("the charges that charged saw balances %v, want 1..3 each once", balances)
	}
	for _, s := range ss {
		tok.CreditsSpent, tok.AccountCredits = balance, 0
		checkToken(t, s, tok)
		checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
			row("2030-01-02", "alice", "web", "UserAdmin.GetJWT", 1, 0, 0),
			row("2030-01-02", "alice", "web", "Address.Clean", n, n-balance, balance),
		})
	}
}

// Two tokens of one account, charged at once, share its balance: neither
// takes it below zero.
func testConcurrentChargeSharedBalance(t *testing.T, ss []core.Store) {
	const n, balance = 40, 10
	tok1 := chargeFixture(t, ss[0], balance, nil)
	tok2 := *tok1
	tok2.JTI = "jti-2"
	issueToken(t, ss[0], &tok2)
	cs, errs := chargeAll(t, ss, []*core.IssuedToken{tok1, &tok2}, n, noRequestID)
	charged := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("ChargeTx %d: %v", i, err)
		}
		if cs[i].charged {
			charged++
		}
	}
	if charged != balance {
		t.Errorf("%d charges charged, want %d", charged, balance)
	}
	for _, s := range ss {
		checkCredits(t, s, tok1.AccountID, 0)
		a, err := s.TokenByJTI(t.Context(), tok1.JTI)
		must(t, err)
		b, err := s.TokenByJTI(t.Context(), tok2.JTI)
		must(t, err)
		if a.CreditsSpent+b.CreditsSpent != balance {
			t.Errorf("the tokens spent %d and %d, want %d in all", a.CreditsSpent, b.CreditsSpent, balance)
		}
	}
}

// The same request id charged at once from many goroutines is written
// once; every other charge reads that one's record.
func testConcurrentChargeSameRequestID(t *testing.T, ss []core.Store) {
	const n = 10
	tok := chargeFixture(t, ss[0], 1000, ptr[int64](5))
	cs, errs := chargeAll(t, ss, []*core.IssuedToken{tok}, n, func(int) string { return "same" })
	first := -1
	for i, err := range errs {
		switch o := cs[i]; {
		case err != nil:
			t.Errorf("ChargeTx %d: %v", i, err)
		case o.saw.Previous == nil:
			if first >= 0 {
				t.Errorf("charges %d and %d both found no record of the request", first, i)
			}
			first = i
		}
	}
	if first < 0 {
		t.Fatal("every charge found a record of the request: which one wrote it?")
	}
	rec := &core.ChargeRecord{Method: "Address.Clean", Credits: 1, Outcome: core.OutcomeOK, Balance: 999, Time: base}
	for i, o := range cs {
		if i != first {
			check(t, fmt.Sprintf("charge %d: the record it read", i), o.saw.Previous, rec)
		}
	}
	for _, s := range ss {
		tok.CreditsSpent, tok.AccountCredits = 1, 999
		checkToken(t, s, tok)
		checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
			row("2030-01-02", "alice", "web", "UserAdmin.GetJWT", 1, 0, 0),
			row("2030-01-02", "alice", "web", "Address.Clean", 1, 0, 1),
		})
	}
}

// Revoking a token while it is being charged: each charge saw the token
// revoked or not, and whole; those that saw it live charged in full
// (token, account and ledger), the others wrote nothing.
func testConcurrentChargeAndRevoke(t *testing.T, ss []core.Store) {
	const n, balance = 50, 1000
	tok := chargeFixture(t, ss[0], balance, nil)
	cs := make([]*oneCredit, n)
	for i := range cs {
		cs[i] = newOneCredit(tok, eachRequestID(i))
	}
	errs := parallel(n, func(i int) error {
		s := ss[i%len(ss)]
		if i == n/2 {
			return s.RevokeToken(t.Context(), tok.JTI, base.Add(time.Minute))
		}
		return s.ChargeTx(t.Context(), tok.JTI, cs[i].requestID, cs[i].decide)
	})
	if errs[n/2] != nil {
		t.Errorf("RevokeToken: %v", errs[n/2])
	}
	var charged int64
	for i, err := range errs {
		if i == n/2 {
			continue
		}
		o := cs[i]
		switch {
		case o.saw.Token.Revoked && err != errRevoked:
			t.Errorf("charge %d saw the token revoked, and ChargeTx returned %v, want %v", i, err, errRevoked)
		case !o.saw.Token.Revoked && err != nil:
			t.Errorf("charge %d: %v", i, err)
		case o.charged:
			charged++
		}
	}
	checkNotTorn(t, append(cs[:n/2:n/2], cs[n/2+1:]...), balance)
	for _, s := range ss {
		got, err := s.TokenByJTI(t.Context(), tok.JTI)
		must(t, err)
		if got.Revoked == nil || got.CreditsSpent != charged || got.AccountCredits != balance-charged {
			t.Errorf("token after the race = %s, want revoked with %d spent and a balance of %d", show(normal(got, precise)), charged, balance-charged)
		}
		want := []core.UsageRow{row("2030-01-02", "alice", "web", "UserAdmin.GetJWT", 1, 0, 0)}
		if charged > 0 { // the revocation may come before every charge
			want = append(want, row("2030-01-02", "alice", "web", "Address.Clean", charged, 0, charged))
		}
		checkReport(t, s, core.UsageFilter{}, want)
		if st := stateOf(t, s, tok.JTI, ""); !st.Token.Revoked {
			t.Error("a charge after the revocation sees the token live")
		}
	}
}
