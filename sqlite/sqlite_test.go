package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
	"github.com/jwtgate/jwtgate/storetest"
	"github.com/jwtgate/jwtgate/token"
)

func TestDB(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store {
		return open(t, filepath.Join(t.TempDir(), "test.db"))
	})
}

// Two handles on one file stand for two processes (two servers, or a server
// and an admin command): each has its own writer and pools, and they meet
// only in SQLite's locking, which the busy timeout makes them wait on.
func TestDB_MultiHandle(t *testing.T) {
	storetest.RunMultiHandle(t, func(t *testing.T) (core.Store, core.Store) {
		path := filepath.Join(t.TempDir(), "test.db")
		return open(t, path), open(t, path)
	})
}

// open opens path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// rawDB opens path with database/sql alone, to read what the store wrote.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// created has nanoseconds: SQLite keeps them, beyond the microseconds a
// store must keep.
var created = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

// appliedMigrations returns how many times each migration is recorded in the file.
func appliedMigrations(t *testing.T, path string) map[string]int {
	t.Helper()
	rows, err := rawDB(t, path).QueryContext(t.Context(), `SELECT name, count(*) FROM schema_migrations GROUP BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	applied := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		applied[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return applied
}

// checkMigrations requires every migration file to be recorded exactly once.
func checkMigrations(t *testing.T, path string) {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found: %v", err)
	}
	applied := appliedMigrations(t, path)
	if len(applied) != len(files) {
		t.Errorf("%d migrations recorded (%v), want %d", len(applied), applied, len(files))
	}
	for _, f := range files {
		if n := applied["migrations/"+filepath.Base(f)]; n != 1 {
			t.Errorf("migration %s recorded %d times, want 1 (recorded: %v)", f, n, applied)
		}
	}
}

func TestOpen_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	a := &core.Account{Name: "acme", Credits: 42, Created: created}
	if err := db.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		db = open(t, path)
		got, err := db.AccountByName(t.Context(), "acme")
		if err != nil {
			t.Fatalf("after re-opening: %v", err)
		}
		if *got != *a {
			t.Errorf("after re-opening: account = %+v, want %+v", got, a)
		}
		checkMigrations(t, path)
	}
}

func TestOpen_ErrPath(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		"",
		":memory:",
		"file::memory:",
		"file:" + filepath.Join(dir, "a.db"),
		filepath.Join(dir, "b.db") + "?mode=memory",
		filepath.Join(dir, "c.db?_foreign_keys=off"),
	} {
		db, err := sqlite.Open(t.Context(), path)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused opens left files behind: %v", entries)
	}
	if _, err := os.Stat(":memory:"); err == nil {
		t.Error(`Open created a file named ":memory:"`)
	}
}

// Keys and password hashes live in the file and its WAL: only the owner may read them.
func TestOpen_FileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test.db")
	db := open(t, path)
	k, err := token.NewKey(core.AlgEdDSA, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RotateSigningKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", e.Name(), perm)
		}
	}
	if len(names) == 0 || names[0] != "test.db" {
		t.Errorf("files = %v, want test.db first", names)
	}
}

// Several processes starting on a new file at once all open it, in WAL mode,
// and apply each migration once. (SQLite turns a new file to WAL under an
// exclusive lock without waiting on the busy timeout: starts that collide
// there once failed with "database is locked".) Each round is a new file.
func TestOpen_Concurrent(t *testing.T) {
	const rounds, n = 20, 8
	for r := range rounds {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("test-%d.db", r))
		dbs := make([]*sqlite.DB, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				db, err := sqlite.Open(t.Context(), path)
				if err != nil {
					t.Errorf("round %d: Open %d: %v", r, i, err)
					return
				}
				dbs[i] = db
			})
		}
		close(start)
		wg.Wait()
		for _, db := range dbs {
			if db != nil {
				t.Cleanup(func() { db.Close() })
			}
		}
		if t.Failed() {
			return
		}
		checkMigrations(t, path)
		var mode string
		if err := rawDB(t, path).QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("round %d: journal mode %q (%v), want wal", r, mode, err)
		}
		for i, db := range dbs {
			if _, err := db.AddCredits(t.Context(), 1, 1); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("round %d: handle %d: AddCredits on an empty store = %v, want %v", r, i, err, core.ErrNotFound)
			}
		}
	}
}

// ---- charges across processes -------------------------------------------------

// newChargeToken sets up, without core, a token of application "web" limited
// to maxCredits on an account holding balance credits.
func newChargeToken(t *testing.T, db *sqlite.DB, balance, maxCredits int64) *core.IssuedToken {
	t.Helper()
	a := &core.Account{Name: "acme", Credits: balance, Created: created}
	u := &core.User{Username: "alice", PasswordHash: "hash", Created: created}
	if err := db.CreateUser(t.Context(), u, a); err != nil {
		t.Fatal(err)
	}
	k, err := token.NewKey(core.AlgEdDSA, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RotateSigningKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	tok := &core.IssuedToken{JTI: "jti-1", Kid: k.Kid, AccountID: a.ID, UserID: u.ID, Application: "web",
		MaxCredits: &maxCredits, IssuedAt: created, ExpiresAt: created.Add(time.Hour)}
	ev := &core.UsageEvent{Time: created, AccountID: &a.ID, UserID: &u.ID, Application: "web",
		Method: "UserAdmin.GetJWT", Outcome: core.OutcomeOK, JTI: tok.JTI}
	if err := db.IssueToken(t.Context(), tok, ev); err != nil {
		t.Fatal(err)
	}
	return tok
}

// chargeMethod is the method every charge here is for.
const chargeMethod = "Address.Clean"

// chargeOne is a charge of 1 credit to tok under requestID, decided as core
// would in short: charged when the token's limit and the balance allow,
// refused otherwise, a ledger line and a record either way. It reports
// whether it charged.
func chargeOne(tok *core.IssuedToken, requestID string, charged *bool) func(core.ChargeState) (core.ChargeWrite, error) {
	return func(st core.ChargeState) (core.ChargeWrite, error) {
		*charged = false
		if st.Previous != nil {
			return core.ChargeWrite{}, nil
		}
		ev := &core.UsageEvent{Time: created, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: tok.Application,
			Method: chargeMethod, Outcome: core.Outcome(core.ENOCREDITS), ClientAddr: "192.0.2.1", JTI: tok.JTI}
		w := core.ChargeWrite{Usage: ev}
		if m := st.Token.MaxCredits; (m == nil || st.Token.CreditsSpent < *m) && st.Token.Balance >= 1 {
			*charged = true
			w.Credits, ev.Credits, ev.Outcome = 1, 1, core.OutcomeOK
		}
		var remaining *int64
		if m := st.Token.MaxCredits; m != nil {
			r := *m - st.Token.CreditsSpent - w.Credits
			remaining = &r
		}
		w.Record = &core.ChargeRecord{Method: chargeMethod, Credits: 1, Outcome: ev.Outcome, TokenRemaining: remaining,
			Balance: st.Token.Balance - w.Credits, Time: ev.Time}
		return w, nil
	}
}

// chargeConcurrently charges tok 1 credit from n goroutines released together
// when start closes, each with its own requestId, and counts the outcomes.
func chargeConcurrently(ctx context.Context, db *sqlite.DB, tok *core.IssuedToken, n int, tag string, start <-chan struct{}) (charged, refused int, err error) {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			var ok bool
			id := fmt.Sprintf("%s-%03d", tag, i)
			err := db.ChargeTx(ctx, tok.JTI, id, chargeOne(tok, id, &ok))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("charge %s: %w", id, err))
			case ok:
				charged++
			default:
				refused++
			}
		})
	}
	wg.Wait()
	return charged, refused, errors.Join(errs...)
}

// ledgerLine is one kind of usage line: its outcome and credits.
type ledgerLine struct {
	Outcome core.Outcome
	Credits int64
}

// ledger counts the usage lines of a token for chargeMethod by outcome and
// credits, read straight from the file.
func ledger(t *testing.T, path, jti string) map[ledgerLine]int {
	t.Helper()
	rows, err := rawDB(t, path).QueryContext(t.Context(), `SELECT outcome, credits, count(*) FROM usage WHERE jti = ? AND method = ? GROUP BY outcome, credits`,
		jti, chargeMethod)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	lines := map[ledgerLine]int{}
	for rows.Next() {
		var l ledgerLine
		var n int
		if err := rows.Scan(&l.Outcome, &l.Credits, &n); err != nil {
			t.Fatal(err)
		}
		lines[l] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// checkCharged requires the token, the account and the ledger to show
// exactly charged charges of 1 credit and refused refusals.
func checkCharged(t *testing.T, db *sqlite.DB, tok *core.IssuedToken, balanceBefore int64, charged, refused int) {
	t.Helper()
	a, err := db.AccountByID(t.Context(), tok.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Credits != balanceBefore-int64(charged) {
		t.Errorf("balance = %d, want %d - %d = %d", a.Credits, balanceBefore, charged, balanceBefore-int64(charged))
	}
	got, err := db.TokenByJTI(t.Context(), tok.JTI)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreditsSpent != int64(charged) {
		t.Errorf("token CreditsSpent = %d, want %d", got.CreditsSpent, charged)
	}
	lines := ledger(t, db.Path, tok.JTI)
	ok, no := ledgerLine{core.OutcomeOK, 1}, ledgerLine{core.Outcome(core.ENOCREDITS), 0}
	want := map[ledgerLine]int{ok: charged, no: refused}
	if len(lines) != len(want) || lines[ok] != charged || lines[no] != refused {
		t.Errorf("ledger lines by (outcome, credits) = %v, want %v", lines, want)
	}
}

// What ChargeTx writes is in the file in the schema's form: times as
// fixed-width UTC text with nanoseconds (so that they sort as text), a
// token without a limit as NULL remaining, outcomes as their text; and a
// charge without a request id keeps no row in charges.
func TestDB_ChargeStoredForm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db := open(t, path)
	tok := newChargeToken(t, db, 1000, 5)
	east := time.FixedZone("UTC+2", 2*60*60)
	at := created.Add(time.Second).In(east)
	for i, step := range []struct {
		requestID string
		credits   int64
		rec       *core.ChargeRecord
	}{
		{"r1", 5, &core.ChargeRecord{Method: chargeMethod, Credits: 5, Outcome: core.OutcomeOK, TokenRemaining: new(int64), Balance: 995, Time: at}},
		{"r2", 0, &core.ChargeRecord{Method: chargeMethod, Credits: 1, Outcome: core.Outcome(core.ENOCREDITS), Message: "limit", Balance: 995, Time: at}},
		{"", 0, &core.ChargeRecord{Method: chargeMethod, Credits: 1, Outcome: core.OutcomeOK, Balance: 995, Time: at}},
	} {
		ev := &core.UsageEvent{Time: at, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: "web", Method: chargeMethod,
			Credits: step.credits, Outcome: step.rec.Outcome, ClientAddr: "192.0.2.1", JTI: tok.JTI}
		if i == 2 {
			ev.JTI, ev.UserID = "", nil
		}
		err := db.ChargeTx(t.Context(), tok.JTI, step.requestID, func(core.ChargeState) (core.ChargeWrite, error) {
			return core.ChargeWrite{Credits: step.credits, Record: step.rec, Usage: ev}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDB(t, path)
	dump := func(query string) []string {
		t.Helper()
		rows, err := raw.QueryContext(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fields := make([]string, len(vals))
			for i, v := range vals {
				fields[i] = "<nil>"
				if v.Valid {
					fields[i] = v.String
				}
			}
			out = append(out, strings.Join(fields, " "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got  %q\n want %q", what, got, want)
		}
	}
	const stamp = "2030-01-02T03:04:06.000000600Z"
	ids := fmt.Sprintf("%d %d", tok.AccountID, tok.UserID)
	check("usage rows", dump(`SELECT time, account_id, user_id, application, method, credits, outcome, client_addr, jti
		FROM usage WHERE method = '`+chargeMethod+`' ORDER BY id`), []string{
		stamp + " " + ids + " web Address.Clean 5 ok 192.0.2.1 jti-1",
		stamp + " " + ids + " web Address.Clean 0 no_credits 192.0.2.1 jti-1",
		stamp + fmt.Sprintf(" %d <nil> web Address.Clean 0 ok 192.0.2.1 <nil>", tok.AccountID),
	})
	check("charges rows", dump(`SELECT jti, request_id, method, credits, outcome, '"' || message || '"', token_remaining, balance, time
		FROM charges ORDER BY rowid`), []string{
		"jti-1 r1 Address.Clean 5 ok \"\" 0 995 " + stamp,
		"jti-1 r2 Address.Clean 1 no_credits \"limit\" <nil> 995 " + stamp,
	})
	check("token", dump(`SELECT credits_spent, issued_at, expires_at FROM tokens`), []string{
		"5 2030-01-02T03:04:05.000000600Z 2030-01-02T04:04:05.000000600Z",
	})
}

// chargeProcessEnv carries a chargeProcess to the test binary re-executed
// as TestHelperChargeProcess.
const chargeProcessEnv = "JWTGATE_TEST_CHARGE_PROCESS"

// chargeProcess is what a child process charges.
type chargeProcess struct {
	Path              string
	JTI, Application  string
	AccountID, UserID int64
	N                 int
	Tag               string
}

// TestHelperChargeProcess is not a test: TestDB_ChargeTwoProcesses runs the
// test binary again with only this test and chargeProcessEnv set. It opens
// the file, says "ready", waits for a line on stdin, charges from N
// goroutines at once and prints the counts.
func TestHelperChargeProcess(t *testing.T) {
	spec := os.Getenv(chargeProcessEnv)
	if spec == "" {
		return // run as an ordinary test: nothing to do
	}
	var p chargeProcess
	if err := json.Unmarshal([]byte(spec), &p); err != nil {
		t.Fatal(err)
	}
	db := open(t, p.Path)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for the go-ahead: %v", err)
	}
	tok := &core.IssuedToken{JTI: p.JTI, AccountID: p.AccountID, UserID: p.UserID, Application: p.Application}
	start := make(chan struct{})
	close(start)
	began := time.Now()
	charged, refused, err := chargeConcurrently(t.Context(), db, tok, p.N, p.Tag, start)
	ended := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("result charged=%d refused=%d began=%d ended=%d\n", charged, refused, began.UnixNano(), ended.UnixNano())
}

// chargeChild is a running TestHelperChargeProcess.
type chargeChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	stderr bytes.Buffer
}

func startChargeChild(t *testing.T, ctx context.Context, p chargeProcess) *chargeChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	c := &chargeChild{cmd: exec.CommandContext(ctx, exe, "-test.run=^TestHelperChargeProcess$", "-test.count=1", "-test.timeout=2m")}
	c.cmd.Env = append(os.Environ(), chargeProcessEnv+"="+string(spec))
	c.cmd.Stderr = &c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewScanner(stdout)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil { // not waited for: the test failed early
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// line returns the child's next line of output that starts with prefix.
func (c *chargeChild) line(t *testing.T, prefix string) string {
	t.Helper()
	for c.stdout.Scan() {
		if strings.HasPrefix(c.stdout.Text(), prefix) {
			return c.stdout.Text()
		}
	}
	err := c.cmd.Wait()
	t.Fatalf("child %d ended without printing %q: %v\n%s", c.cmd.Process.Pid, prefix, err, c.stderr.String())
	return ""
}

// The issue's proof: two OS processes sharing the SQLite file charge one
// token with maxCredits=5 from 50 goroutines each, and exactly 5 succeed.
func TestDB_ChargeTwoProcesses(t *testing.T) {
	const n, limit, balance = 50, 5, 1000
	path := filepath.Join(t.TempDir(), "test.db")
	db := open(t, path)
	tok := newChargeToken(t, db, balance, limit)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	children := make([]*chargeChild, 2)
	for i := range children {
		children[i] = startChargeChild(t, ctx, chargeProcess{Path: path, JTI: tok.JTI, Application: tok.Application,
			AccountID: tok.AccountID, UserID: tok.UserID, N: n, Tag: fmt.Sprintf("p%d", i)})
	}
	// Both have opened the file before either charges.
	for _, c := range children {
		c.line(t, "ready")
	}
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		c.stdin.Close()
	}

	var charged, refused int
	var spans [2][2]int64
	for i, c := range children {
		var ch, re int
		res := c.line(t, "result ")
		if _, err := fmt.Sscanf(res, "result charged=%d refused=%d began=%d ended=%d", &ch, &re, &spans[i][0], &spans[i][1]); err != nil {
			t.Fatalf("child %d printed %q: %v", c.cmd.Process.Pid, res, err)
		}
		for c.stdout.Scan() { // drain to EOF before Wait
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", c.cmd.Process.Pid, err, c.stderr.String())
		}
		t.Logf("process %d (pid %d): %d charged, %d refused in %v", i+1, c.cmd.Process.Pid, ch, re,
			time.Duration(spans[i][1]-spans[i][0]))
		charged, refused = charged+ch, refused+re
	}
	overlap := min(spans[0][1], spans[1][1]) - max(spans[0][0], spans[1][0])
	t.Logf("the two processes charged side by side for %v; their transactions alternated %d times",
		time.Duration(max(overlap, 0)), alternations(t, path, tok.JTI))
	if charged != limit || refused != 2*n-limit {
		t.Errorf("%d charged and %d refused across both processes, want %d and %d", charged, refused, limit, 2*n-limit)
	}
	checkCharged(t, db, tok, balance, limit, 2*n-limit)
}

// alternations counts how often the process that wrote a token's idempotency
// records changes, in commit order: evidence that the processes interleaved.
func alternations(t *testing.T, path, jti string) int {
	t.Helper()
	rows, err := rawDB(t, path).QueryContext(t.Context(), `SELECT request_id FROM charges WHERE jti = ? ORDER BY rowid`, jti)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n, last := 0, ""
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		tag, _, _ := strings.Cut(id, "-")
		if last != "" && tag != last {
			n++
		}
		last = tag
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A read whose statement cannot be prepared (its ctx has ended, or the
// database is closed) fails like any query; it once recursed until the
// stack overflowed.
func TestRead_Unprepared(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.UserByName(ctx, "nobody"); err == nil {
		t.Error("UserByName with an ended ctx: no error")
	}
	db.Close()
	if _, err := db.CountUsers(context.Background()); err == nil {
		t.Error("CountUsers after Close: no error")
	}
	if err := db.Ping(context.Background()); err == nil {
		t.Error("Ping after Close: no error")
	}
}

func TestDB_Copy(t *testing.T) {
	openSQLite := func(t *testing.T) storetest.CopyStore { return open(t, filepath.Join(t.TempDir(), "copy.db")) }
	storetest.RunCopy(t, openSQLite, openSQLite)
}
