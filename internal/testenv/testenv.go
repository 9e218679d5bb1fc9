// Package testenv builds what the test suites of jwtgate share: a
// core.Service on a fresh SQLite file with cheap password hashing, a log
// they can read, a settable clock, fixtures (users, API keys, service keys),
// reads of the ledger and the tokens through the store, third-party tools
// that must be there in CI (RequireTool), and the built binary started as a
// child process (Binary, Start).
//
// It holds no fixture values and no protocol: each suite keeps its own
// users, server and assertions. It is imported by tests only (external test
// packages; core's internal tests cannot import it, as it imports core).
package testenv

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
	"github.com/jwtgate/jwtgate/token"
)

// CheapArgon2 returns argon2id parameters that run the real algorithm at
// almost no cost, for tests whose subject is not the cost of hashing.
func CheapArgon2() core.Argon2Params {
	return core.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// OpenStore opens a new SQLite database in tb.TempDir(), closed when the
// test ends.
func OpenStore(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "jwtgate.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Config returns core's production defaults on store, with the real token
// strategy, hashing with CheapArgon2 and logging nowhere.
func Config(store core.Store) core.Config {
	cfg := core.DefaultConfig()
	cfg.Store, cfg.Tokens = store, token.Strategy{}
	cfg.Hasher = core.PasswordHasher{Params: CheapArgon2()}
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// NewService returns a Service of Config(store), with no signing key yet.
func NewService(store core.Store) *core.Service { return core.New(Config(store)) }

// New returns a Service on a new SQLite file (see OpenStore and Config),
// its Config changed by each configure in turn (a clock, a logger, an
// issuer, a store wrapped around the SQLite one), and then given its first
// signing key, so that the key is made by the configured Service.
func New(tb testing.TB, configure ...func(*core.Config)) (*core.Service, *sqlite.DB) {
	tb.Helper()
	db := OpenStore(tb)
	cfg := Config(db)
	for _, c := range configure {
		c(&cfg)
	}
	svc := core.New(cfg)
	if _, err := svc.KeyRing.Ensure(context.Background()); err != nil {
		tb.Fatalf("KeyRing.Ensure: %v", err)
	}
	return svc, db
}

// CreateUser creates a user whose account holds credits.
func CreateUser(tb testing.TB, svc *core.Service, name, password string, credits int64) *core.User {
	tb.Helper()
	u, err := svc.Admin.CreateUser(context.Background(), core.CreateUserRequest{Username: name, Password: password, Credits: credits})
	if err != nil {
		tb.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// CreateAPIKey creates an API key of user and returns it with its record.
func CreateAPIKey(tb testing.TB, svc *core.Service, user string) (string, *core.APIKey) {
	tb.Helper()
	key, rec, err := svc.Admin.CreateAPIKey(context.Background(), user)
	if err != nil {
		tb.Fatalf("CreateAPIKey(%q): %v", user, err)
	}
	return key, rec
}

// CreateServiceKey creates the key of an operator's service named name.
func CreateServiceKey(tb testing.TB, svc *core.Service, name string) string {
	tb.Helper()
	key, _, err := svc.Admin.CreateServiceKey(context.Background(), name)
	if err != nil {
		tb.Fatalf("CreateServiceKey(%q): %v", name, err)
	}
	return key
}

// UsageLines returns every line of the usage ledger, oldest first.
func UsageLines(tb testing.TB, store core.UsageStore) []*core.UsageEvent {
	tb.Helper()
	lines, err := store.ListUsage(context.Background(), core.UsageFilter{}, core.Page{})
	if err != nil {
		tb.Fatalf("ListUsage: %v", err)
	}
	return lines
}

// Tokens returns every issued token, newest first.
func Tokens(tb testing.TB, store core.TokenStore) []*core.IssuedToken {
	tb.Helper()
	toks, err := store.ListTokens(context.Background(), core.TokenFilter{}, core.Page{})
	if err != nil {
		tb.Fatalf("ListTokens: %v", err)
	}
	return toks
}

// Logs collects what a logger or a child process writes while the test
// reads it.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// CaptureLogs returns a debug-level text logger and the Logs it writes to.
func CaptureLogs() (*slog.Logger, *Logs) {
	l := &Logs{}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitFor waits until the logs hold want, failing the test after 10 s. A
// child's output reaches them through a pipe, a little after it was
// written.
func (l *Logs) WaitFor(tb testing.TB, want string) {
	tb.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(l.String(), want) {
		select {
		case <-deadline.C:
			tb.Fatalf("no %q in:\n%s", want, l)
		case <-tick.C:
		}
	}
}

// Clock is a clock a test moves by hand, for Config.Now; it is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t until it is advanced.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
