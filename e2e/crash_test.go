package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/testenv"
)

var (
	crashRounds = flag.Int("crash.rounds", 0, "SIGKILL rounds of TestCrash_SIGKILL (default: 12, or fewer but at least 5 past 45 s; 3 with -short)")
	crashSeed   = flag.Uint64("crash.seed", 0, "random seed of TestCrash_SIGKILL (default: from the clock; the test logs it)")
)

const (
	crashPassword = "crash-test-password"
	chargePath    = "/UserAdmin/ChargeJWT.json"
	chargeWorkers = 12
	issueWorkers  = 2
	topUp         = 50 // credits added to "tight" by another process each round
)

// crashAccounts: one that never runs dry, and one kept near empty so that
// balance refusals race with charges and with top-ups from another process.
var crashAccounts = []struct {
	name    string
	credits int64
}{{"crash", 1_000_000}, {"tight", 200}}

type crashToken struct {
	jwt, jti, account string
	max               *int64
}

type chargeCall struct {
	tok       *crashToken
	method    string
	credits   int64
	requestID string // empty: not idempotent
}

func (c chargeCall) body(serviceKey string) map[string]any {
	b := map[string]any{"serviceKey": serviceKey, "jwt": c.tok.jwt, "method": c.method, "credits": c.credits, "clientIp": "198.51.100.7"}
	if c.requestID != "" {
		b["requestId"] = c.requestID
	}
	return b
}

// chargeAck is a charge the server acknowledged (HTTP 200, Success true).
type chargeAck struct {
	chargeCall
	round          int
	tokenRemaining *int64
	balance        int64
}

// chargeRefusal is a refusal of the store's (credit limit or balance) with a
// requestId: it is in the charges table and is replayed.
type chargeRefusal struct {
	chargeCall
	message string
}

func storedRefusal(msg string) bool {
	return strings.HasPrefix(msg, "token credit limit reached") || strings.HasPrefix(msg, "account has ")
}

// crashRun holds what clients were told, across rounds.
type crashRun struct {
	t                  *testing.T
	bin, db            string
	serviceKey, apiKey string

	mu         sync.Mutex
	tokens     []*crashToken
	acks       []chargeAck
	refusals   []chargeRefusal
	inDoubt    []chargeCall // sent with a requestId, never answered
	added      map[string]int64
	unexpected []string
	sent       int // ChargeJWT requests
}

func (c *crashRun) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.unexpected) < 20 {
		c.unexpected = append(c.unexpected, fmt.Sprintf(format, args...))
	}
}

// TestCrash_SIGKILL runs the real binary under concurrent ChargeJWT and
// GetJWT, kills it with SIGKILL at a random moment, and checks on the dead
// file and after a restart that nothing acknowledged was lost and nothing
// was overspent.
func TestCrash_SIGKILL(t *testing.T) {
	// By default 12 rounds, but on a busy machine (CI runs packages side by
	// side) no new round starts past 45 s once 5 are done.
	rounds, minRounds, budget := *crashRounds, *crashRounds, time.Duration(0)
	switch {
	case rounds > 0:
	case testing.Short():
		rounds, minRounds = 3, 3
	default:
		rounds, minRounds, budget = 12, 5, 45*time.Second
	}
	start := time.Now()
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("up to %d SIGKILL rounds, seed %d (rerun with -crash.seed=%d)", rounds, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6a77746761746531))

	dir := t.TempDir()
	c := &crashRun{t: t, bin: testenv.Binary(t), db: filepath.Join(dir, "crash.db"), added: map[string]int64{}}
	logf, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	for _, a := range crashAccounts {
		admin(t, c.db, crashPassword+"\n", "user", "add", a.name, "--credits", strconv.FormatInt(a.credits, 10))
	}
	c.apiKey = lastLine(admin(t, c.db, "", "apikey", "create", "crash"))
	c.serviceKey = lastLine(admin(t, c.db, "", "servicekey", "create", "crash-test"))

	conns := chargeWorkers + issueWorkers + 4
	g := startGate(t, c.db, logf, conns)
	for i := range 6 {
		c.issue(t.Context(), g, i, rng)
		if len(c.tokens) != i+1 {
			t.Fatalf("GetJWT before the first round: %v", c.unexpected)
		}
	}
	survived := 0
	for round := 1; round <= rounds; round++ {
		if budget > 0 && round > minRounds && time.Since(start) > budget {
			t.Logf("stopping after %d rounds: %v spent (budget %v)", survived, time.Since(start).Round(time.Second), budget)
			break
		}
		if round > 1 {
			g = startGate(t, c.db, logf, conns)
			c.afterRestart(g, round-1, rng)
		}
		c.round(g, round, rng)
		c.check(fmt.Sprintf("round %d (after SIGKILL)", round))
		if t.Failed() {
			t.FailNow()
		}
		survived = round
	}
	g = startGate(t, c.db, logf, conns)
	c.afterRestart(g, survived, rng)
	g.stop(t)
	c.check("final (after a clean stop)")

	t.Logf("%d SIGKILL rounds survived in %v", survived, time.Since(start).Round(time.Second))
	if len(c.unexpected) > 0 {
		t.Errorf("unexpected answers:\n%s", strings.Join(c.unexpected, "\n"))
	}
	logs, err := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatal(err)
	}
	if bad := regexp.MustCompile(`(?m)^.*(level=ERROR|panic).*$`).FindAll(logs, 10); len(bad) > 0 {
		t.Errorf("the server logged errors:\n%s", bad)
	}
}

// issue gets one token over the plain GetJWT endpoint: by password or API
// key, for either account, with a small or no credit limit.
func (c *crashRun) issue(ctx context.Context, g *gate, i int, r *rand.Rand) {
	limits := []*int64{nil, ptr[int64](3), ptr[int64](5), ptr[int64](8), ptr[int64](20)}
	body := map[string]any{"expiresAt": expires(2 * time.Hour), "allowedMethods": []string{"Email", "Phone"},
		"options": map[string]any{"ApplicationName": "crash"}}
	limit := limits[r.IntN(len(limits))]
	if limit != nil {
		body["maxCredits"] = *limit
	}
	path, account := "/UserAdmin/GetJWT.json", "crash"
	switch i % 3 {
	case 0:
		body["username"], body["password"] = "crash", crashPassword
	case 1:
		path += "?key=" + c.apiKey
	case 2:
		body["username"], body["password"], account = "tight", crashPassword, "tight"
	}
	code, res, err := g.postJSON(ctx, path, body)
	switch {
	case err != nil:
		return // killed: no token was handed out
	case code == 200 && !res.Status.Success && strings.HasPrefix(res.message(), "account has no credits"):
		return // "tight" ran dry; a top-up comes
	case code != 200 || !res.Status.Success || res.Jwt == nil:
		c.note("GetJWT: HTTP %d %q", code, res.message())
		return
	}
	tok := &crashToken{jwt: *res.Jwt, jti: jtiOf(c.t, *res.Jwt), account: account, max: limit}
	c.mu.Lock()
	c.tokens = append(c.tokens, tok)
	c.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

// pick returns a token, mostly a recent one (so that limits are reached
// while charges race).
func (c *crashRun) pick(r *rand.Rand) *crashToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.tokens)
	if n > 12 && r.IntN(10) < 7 {
		return c.tokens[n-1-r.IntN(12)]
	}
	return c.tokens[r.IntN(n)]
}

var crashMethods = []string{"Email.IsValid", "Email.Send", "Phone.IsValid"}

// charge makes one ChargeJWT call and files what it was told.
func (c *crashRun) charge(ctx context.Context, g *gate, call chargeCall, round int) {
	c.mu.Lock()
	c.sent++
	c.mu.Unlock()
	code, res, err := g.postJSON(ctx, chargePath, call.body(c.serviceKey))
	c.file(call, round, code, res, err)
}

// file records an answer (or its absence) to call.
func (c *crashRun) file(call chargeCall, round, code int, res *result, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		// Sent after the kill: never reached a server.
	case err != nil:
		if call.requestID != "" {
			c.inDoubt = append(c.inDoubt, call)
		}
	case code != 200:
		if len(c.unexpected) < 20 {
			c.unexpected = append(c.unexpected, fmt.Sprintf("ChargeJWT: HTTP %d %q", code, res.message()))
		}
	case res.Status.Success:
		c.acks = append(c.acks, chargeAck{chargeCall: call, round: round, tokenRemaining: res.TokenCreditsRemaining, balance: int64(res.Status.CreditsRemaining)})
	case call.requestID != "" && storedRefusal(res.message()):
		c.refusals = append(c.refusals, chargeRefusal{chargeCall: call, message: res.message()})
	}
}

// round drives load until a random moment, then SIGKILLs the server.
func (c *crashRun) round(g *gate, round int, rng *rand.Rand) {
	t := c.t
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	killAfter := 100*time.Millisecond + time.Duration(rng.Int64N(int64(1400*time.Millisecond)))
	topUpAt := time.Duration(rng.Int64N(int64(killAfter)))
	c.mu.Lock()
	acks0, tokens0, sent0 := len(c.acks), len(c.tokens), c.sent
	c.mu.Unlock()

	var wg sync.WaitGroup
	for w := range chargeWorkers {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				call := chargeCall{tok: c.pick(r), method: crashMethods[r.IntN(len(crashMethods))], credits: 1 + r.Int64N(3)}
				if r.IntN(10) < 8 {
					call.requestID = fmt.Sprintf("r%d-w%d-%d", round, w, n)
				}
				if r.IntN(40) == 0 {
					call.method = "Address.Find" // not allowed: refused, recorded
				}
				c.charge(ctx, g, call, round)
			}
		})
	}
	for w := range issueWorkers {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += issueWorkers {
				c.issue(ctx, g, i, r)
			}
		})
	}
	// Another process adds credits while the server charges.
	topUpDone := make(chan struct{})
	go func() {
		defer close(topUpDone)
		select {
		case <-time.After(topUpAt):
		case <-ctx.Done():
			return
		}
		if _, err := adminErr(c.bin, c.db, "", "credits", "add", "tight", strconv.Itoa(topUp)); err != nil {
			c.note("credits add during load: %v", err)
			return
		}
		c.mu.Lock()
		c.added["tight"] += topUp
		c.mu.Unlock()
	}()

	<-time.After(killAfter) // the random moment of the kill
	g.kill(t)
	cancel()
	wg.Wait()
	<-topUpDone
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("round %d: SIGKILL after %v: %d ChargeJWT sent, %d acknowledged, %d tokens issued, %d charges in doubt",
		round, killAfter.Round(time.Millisecond), c.sent-sent0, len(c.acks)-acks0, len(c.tokens)-tokens0, len(c.inDoubt))
}

// afterRestart retries, on the restarted server, the charges left in doubt
// by the kill and a sample of acknowledged ones: a retried requestId is
// answered from the ledger, with the first outcome.
func (c *crashRun) afterRestart(g *gate, round int, rng *rand.Rand) {
	t := c.t
	ctx := t.Context()
	c.mu.Lock()
	inDoubt := c.inDoubt
	c.inDoubt = nil
	var sample []chargeAck
	var recent []chargeAck
	for _, a := range c.acks {
		if a.requestID != "" {
			sample = append(sample, a)
			if a.round == round {
				recent = append(recent, a)
			}
		}
	}
	refusals := append([]chargeRefusal(nil), c.refusals...)
	c.mu.Unlock()

	var committed, charged, refused int
	for _, call := range inDoubt {
		code, res, err := g.postJSON(ctx, chargePath, call.body(c.serviceKey))
		if err != nil {
			t.Fatalf("retrying in-doubt %s after restart: %v", call.requestID, err)
		}
		if code != 200 {
			t.Errorf("retrying in-doubt %s: HTTP %d %+v", call.requestID, code, res)
			continue
		}
		switch {
		case res.Status.Success && res.Replayed:
			committed++
		case res.Status.Success:
			charged++
		default:
			refused++
		}
		c.file(call, round, code, res, nil)
	}

	// The last acknowledged charges before the kill, and some older ones.
	recent = recent[max(0, len(recent)-25):]
	rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	sample = append(recent, sample[:min(25, len(sample))]...)
	for _, a := range sample {
		code, res, err := g.postJSON(ctx, chargePath, a.body(c.serviceKey))
		if err != nil {
			t.Fatalf("retrying acknowledged %s after restart: %v", a.requestID, err)
		}
		if code != 200 || !res.Status.Success || !res.Replayed || !equalPtr(res.TokenCreditsRemaining, a.tokenRemaining) ||
			int64(res.Status.CreditsRemaining) != a.balance {
			t.Errorf("retry of acknowledged charge %s (token %s, %d credits, token remaining %v, balance %d) after restart: HTTP %d %+v %v",
				a.requestID, a.tok.jti, a.credits, fmtPtr(a.tokenRemaining), a.balance, code, res, err)
		}
	}
	rng.Shuffle(len(refusals), func(i, j int) { refusals[i], refusals[j] = refusals[j], refusals[i] })
	refusals = refusals[:min(10, len(refusals))]
	for _, f := range refusals {
		code, res, err := g.postJSON(ctx, chargePath, f.body(c.serviceKey))
		if err != nil {
			t.Fatalf("retrying refused %s after restart: %v", f.requestID, err)
		}
		if code != 200 || res.Status.Success || res.message() != f.message {
			t.Errorf("retry of refused charge %s (%q) after restart: HTTP %d %+v %v", f.requestID, f.message, code, res, err)
		}
	}
	t.Logf("restart after round %d: %d in-doubt charges retried (%d had been committed and were replayed, %d charged now, %d refused); "+
		"%d acknowledged charges and %d refusals replayed with their first outcome", round, len(inDoubt), committed, charged, refused, len(sample), len(refusals))
}

func equalPtr(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func fmtPtr(p *int64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatInt(*p, 10)
}

// chargeKey identifies charges that cannot be told apart in the usage
// ledger (which has no requestId).
type chargeKey struct {
	jti, method string
	credits     int64
}

func keyOf(jti, method string, credits int64) chargeKey {
	return chargeKey{jti, strings.ToLower(method), credits}
}

// check opens the file read-only and checks it against what clients were
// told.
func (c *crashRun) check(label string) {
	t := c.t
	t.Helper()
	db := openReadOnly(t, c.db)
	defer db.Close()
	ctx := t.Context()
	var errs []string
	fail := func(format string, args ...any) {
		if len(errs) < 15 {
			errs = append(errs, fmt.Sprintf(format, args...))
		} else if len(errs) == 15 {
			errs = append(errs, "…")
		}
	}
	rows := func(query string, scan func(*sql.Rows) error) {
		rs, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatalf("%s: %s: %v", label, query, err)
		}
		defer rs.Close()
		for rs.Next() {
			if err := scan(rs); err != nil {
				t.Fatalf("%s: %s: %v", label, query, err)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %s: %v", label, query, err)
		}
	}

	// (d) The file is sound.
	var integrity []string
	rows(`PRAGMA integrity_check`, func(r *sql.Rows) error {
		var s string
		integrity = append(integrity, s)
		return r.Scan(&integrity[len(integrity)-1])
	})
	if len(integrity) != 1 || integrity[0] != "ok" {
		fail("PRAGMA integrity_check: %q", integrity)
	}
	var fkViolations int
	rows(`PRAGMA foreign_key_check`, func(*sql.Rows) error { fkViolations++; return nil })
	if fkViolations > 0 {
		fail("PRAGMA foreign_key_check: %d violations", fkViolations)
	}

	type account struct {
		name    string
		credits int64
	}
	accounts := map[int64]account{}
	rows(`SELECT id, name, credits FROM accounts`, func(r *sql.Rows) error {
		var id int64
		var a account
		err := r.Scan(&id, &a.name, &a.credits)
		accounts[id] = a
		return err
	})
	type token struct {
		account     int64
		max         sql.NullInt64
		spent       int64
		okCredits   int64
		minRemained *int64 // the least TokenCreditsRemaining a client was told
	}
	tokens := map[string]*token{}
	rows(`SELECT jti, account_id, max_credits, credits_spent FROM tokens`, func(r *sql.Rows) error {
		var jti string
		tk := &token{}
		err := r.Scan(&jti, &tk.account, &tk.max, &tk.spent)
		tokens[jti] = tk
		return err
	})
	ledger := map[chargeKey]int{} // ok charges in the usage ledger
	accountCharged := map[int64]int64{}
	var usageRows, okCharges int
	rows(`SELECT coalesce(jti, ''), coalesce(account_id, 0), method, credits, outcome FROM usage`, func(r *sql.Rows) error {
		var jti, method, outcome string
		var acct, credits int64
		if err := r.Scan(&jti, &acct, &method, &credits, &outcome); err != nil {
			return err
		}
		usageRows++
		switch {
		case outcome != "ok" && credits != 0:
			fail("usage row of %s for %s: outcome %s with %d credits", jti, method, outcome, credits)
		case outcome == "ok" && method != "UserAdmin.GetJWT":
			okCharges++
			ledger[keyOf(jti, method, credits)]++
			accountCharged[acct] += credits
			if tk := tokens[jti]; tk != nil {
				tk.okCredits += credits
			} else {
				fail("usage row charges %d credits to unknown token %q", credits, jti)
			}
		}
		return nil
	})
	type chargeRow struct {
		method, outcome, message string
		credits, balance         int64
		remaining                *int64
	}
	charges := map[[2]string]chargeRow{}
	chargesLedger := map[chargeKey]int{}
	rows(`SELECT jti, request_id, method, credits, outcome, message, token_remaining, balance FROM charges`, func(r *sql.Rows) error {
		var jti, rid string
		var ch chargeRow
		var rem sql.NullInt64
		if err := r.Scan(&jti, &rid, &ch.method, &ch.credits, &ch.outcome, &ch.message, &rem, &ch.balance); err != nil {
			return err
		}
		if rem.Valid {
			ch.remaining = &rem.Int64
		}
		charges[[2]string{jti, rid}] = ch
		if ch.outcome == "ok" {
			chargesLedger[keyOf(jti, ch.method, ch.credits)]++
		}
		return nil
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	// Every token handed out is recorded.
	for _, tk := range c.tokens {
		rec := tokens[tk.jti]
		if rec == nil || accounts[rec.account].name != tk.account || rec.max.Valid != (tk.max != nil) {
			fail("token %s handed out to %s is missing or wrong in the tokens table: %+v", tk.jti, tk.account, rec)
		}
	}
	// (a) Every acknowledged charge is in the ledger, and in the charges
	// table under its requestId with the outcome the client was told.
	told := map[chargeKey]int{}
	for _, a := range c.acks {
		told[keyOf(a.tok.jti, a.method, a.credits)]++
		if tk := tokens[a.tok.jti]; tk != nil && a.tokenRemaining != nil && (tk.minRemained == nil || *a.tokenRemaining < *tk.minRemained) {
			tk.minRemained = a.tokenRemaining
		}
		if a.requestID == "" {
			continue
		}
		ch, ok := charges[[2]string{a.tok.jti, a.requestID}]
		if !ok || ch.outcome != "ok" || ch.credits != a.credits || !strings.EqualFold(ch.method, a.method) ||
			!equalPtr(ch.remaining, a.tokenRemaining) || ch.balance != a.balance {
			fail("acknowledged charge %s (token %s, %s, %d credits, remaining %s, balance %d): charges row %+v (found %v)",
				a.requestID, a.tok.jti, a.method, a.credits, fmtPtr(a.tokenRemaining), a.balance, ch, ok)
		}
	}
	for k, n := range told {
		if ledger[k] < n {
			fail("token %s: %d acknowledged charges of %d credits for %s, %d in the usage ledger", k.jti, n, k.credits, k.method, ledger[k])
		}
	}
	// A charges row and its usage line are written together.
	for k, n := range chargesLedger {
		if ledger[k] < n {
			fail("token %s: %d ok charges rows of %d credits for %s, %d usage lines", k.jti, n, k.credits, k.method, ledger[k])
		}
	}
	for _, f := range c.refusals {
		ch, ok := charges[[2]string{f.tok.jti, f.requestID}]
		if !ok || ch.outcome == "ok" || ch.message != f.message {
			fail("refused charge %s (%q): charges row %+v (found %v)", f.requestID, f.message, ch, ok)
		}
	}
	// (b) No token spent past its limit; what it spent is its ledger.
	for jti, tk := range tokens {
		if tk.max.Valid && tk.spent > tk.max.Int64 {
			fail("token %s spent %d credits, its limit is %d", jti, tk.spent, tk.max.Int64)
		}
		if tk.spent != tk.okCredits {
			fail("token %s: credits_spent %d, its usage ledger charges %d", jti, tk.spent, tk.okCredits)
		}
		if tk.max.Valid && tk.minRemained != nil && tk.spent < tk.max.Int64-*tk.minRemained {
			fail("token %s spent %d of %d, but a client was told only %d remained", jti, tk.spent, tk.max.Int64, *tk.minRemained)
		}
	}
	// (c) Each balance is what it started with, plus what was added, minus
	// the ledger.
	for id, a := range accounts {
		var initial int64
		for _, ca := range crashAccounts {
			if ca.name == a.name {
				initial = ca.credits
			}
		}
		if want := initial + c.added[a.name] - accountCharged[id]; a.credits != want {
			fail("account %s: balance %d, want %d (initial %d + added %d - charged %d in the ledger)",
				a.name, a.credits, want, initial, c.added[a.name], accountCharged[id])
		}
	}
	var bal []string
	for _, a := range accounts {
		bal = append(bal, fmt.Sprintf("%s=%d", a.name, a.credits))
	}
	slices.Sort(bal)
	withID := 0
	for _, a := range c.acks {
		if a.requestID != "" {
			withID++
		}
	}
	t.Logf("%s: %d charges acknowledged so far (%d with a requestId), all in the ledger: %d usage lines, %d ok charges, %d charges rows; "+
		"%d tokens (%d handed out); balances %s; integrity_check %s",
		label, len(c.acks), withID, usageRows, okCharges, len(charges), len(tokens), len(c.tokens), strings.Join(bal, " "), strings.Join(integrity, ","))
	if len(errs) > 0 {
		t.Errorf("%s:\n%s", label, strings.Join(errs, "\n"))
	}
}
