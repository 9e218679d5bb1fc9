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
)

func TestDB(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store {
		return open(t, filepath.Join(t.TempDir(), "test.db"))
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

var created = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

// appliedMigrations returns how many times each migration is recorded in the file.
func appliedMigrations(t *testing.T, path string) map[string]int {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT name, count(*) FROM schema_migrations GROUP BY name`)
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
		if got.ID != a.ID || got.Credits != 42 || !got.Created.Equal(created) {
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
	k, err := core.NewSigningKey(core.AlgEdDSA, created)
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

// Two handles on one file stand for two processes (a server and an admin command).
func TestDB_TwoHandles(t *testing.T) {
	const n = 25
	path := filepath.Join(t.TempDir(), "test.db")
	db1, db2 := open(t, path), open(t, path)
	a := &core.Account{Name: "acme", Created: created}
	if err := db1.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.AccountByID(t.Context(), a.ID); err != nil {
		t.Fatalf("the second handle does not see the first one's write: %v", err)
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, db := range []*sqlite.DB{db1, db2} {
		for range n {
			wg.Go(func() {
				<-start
				if _, err := db.AddCredits(t.Context(), a.ID, 1); err != nil {
					t.Errorf("AddCredits: %v", err)
				}
			})
		}
	}
	close(start)
	wg.Wait()

	for i, db := range []*sqlite.DB{db1, db2} {
		got, err := db.AccountByID(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Credits != 2*n {
			t.Errorf("handle %d sees %d credits, want %d", i+1, got.Credits, 2*n)
		}
	}
}

// Several processes starting on a new file at once apply each migration once.
func TestOpen_Concurrent(t *testing.T) {
	const n = 8
	path := filepath.Join(t.TempDir(), "test.db")
	dbs := make([]*sqlite.DB, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			db, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
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
	for i, db := range dbs {
		if _, err := db.AddCredits(t.Context(), 1, 1); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("handle %d: AddCredits on an empty store = %v, want %s", i, err, core.ENOTFOUND)
		}
	}
}

// ---- charges across handles and processes -------------------------------------

// newChargeToken sets up, without core, a token of application "web" limited
// to maxCredits on an account holding balance credits.
func newChargeToken(t *testing.T, db *sqlite.DB, balance, maxCredits int64) *core.IssuedToken {
	t.Helper()
	a := &core.Account{Name: "acme", Credits: balance, Created: created}
	u := &core.User{Username: "alice", PasswordHash: "hash", Created: created}
	if err := db.CreateUser(t.Context(), u, a); err != nil {
		t.Fatal(err)
	}
	k, err := core.NewSigningKey(core.AlgEdDSA, created)
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

func chargeReq(tok *core.IssuedToken, credits int64, requestID string) *core.ChargeRequest {
	return &core.ChargeRequest{JTI: tok.JTI, AccountID: tok.AccountID, Credits: credits, RequestID: requestID,
		Event: core.UsageEvent{Time: created, AccountID: &tok.AccountID, UserID: &tok.UserID, Application: tok.Application,
			Method: chargeMethod, ClientAddr: "192.0.2.1", JTI: tok.JTI}}
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
			out, err := db.Charge(ctx, chargeReq(tok, 1, fmt.Sprintf("%s-%03d", tag, i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("charge %s-%03d: %w", tag, i, err))
			case out.Charged:
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
	Outcome string
	Credits int64
}

// ledger counts the usage lines of a token for chargeMethod by outcome and
// credits, read straight from the file.
func ledger(t *testing.T, path, jti string) map[ledgerLine]int {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT outcome, credits, count(*) FROM usage WHERE jti = ? AND method = ? GROUP BY outcome, credits`,
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
	want := map[ledgerLine]int{{core.OutcomeOK, 1}: charged, {string(core.ENOCREDITS), 0}: refused}
	if len(lines) != len(want) || lines[ledgerLine{core.OutcomeOK, 1}] != charged || lines[ledgerLine{string(core.ENOCREDITS), 0}] != refused {
		t.Errorf("ledger lines by (outcome, credits) = %v, want %v", lines, want)
	}
}

// Every ledger line of a charge carries what the request's Event said, with
// the credits and outcome the store decided.
func TestDB_ChargeLedgerLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db := open(t, path)
	tok := newChargeToken(t, db, 1000, 5)
	for _, credits := range []int64{5, 1} {
		req := chargeReq(tok, credits, "")
		req.Event.Credits, req.Event.Outcome = 42, "bogus"
		if _, err := db.Charge(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT time, account_id, user_id, application, method, credits, outcome, client_addr, jti
		FROM usage WHERE method = ? ORDER BY id`, chargeMethod)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var at, app, method, outcome, addr, jti string
		var account, user, credits int64
		if err := rows.Scan(&at, &account, &user, &app, &method, &credits, &outcome, &addr, &jti); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d %d %s %s %d %s %s %s", at, account, user, app, method, credits, outcome, addr, jti))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("2030-01-02T03:04:05.000000600Z %d %d web %s", tok.AccountID, tok.UserID, chargeMethod)
	want := []string{
		prefix + " 5 ok 192.0.2.1 jti-1",
		prefix + " 0 no_credits 192.0.2.1 jti-1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ledger lines:\n got  %q\n want %q", got, want)
	}
}

// Two handles on one file stand for two server processes charging one token.
func TestDB_ChargeTwoHandles(t *testing.T) {
	const n, limit, balance = 50, 5, 1000
	path := filepath.Join(t.TempDir(), "test.db")
	db1, db2 := open(t, path), open(t, path)
	tok := newChargeToken(t, db1, balance, limit)

	start := make(chan struct{})
	charged, refused := make([]int, 2), make([]int, 2)
	var wg sync.WaitGroup
	for h, db := range []*sqlite.DB{db1, db2} {
		wg.Go(func() {
			var err error
			charged[h], refused[h], err = chargeConcurrently(t.Context(), db, tok, n, fmt.Sprintf("h%d", h), start)
			if err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("handle 1: %d charged, %d refused; handle 2: %d charged, %d refused", charged[0], refused[0], charged[1], refused[1])
	if c, r := charged[0]+charged[1], refused[0]+refused[1]; c != limit || r != 2*n-limit {
		t.Errorf("%d charged and %d refused, want %d and %d", c, r, limit, 2*n-limit)
	}
	checkCharged(t, db2, tok, balance, limit, 2*n-limit)
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
	if testing.Short() {
		t.Skip("starts two processes")
	}
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
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT request_id FROM charges WHERE jti = ? ORDER BY rowid`, jti)
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
}
