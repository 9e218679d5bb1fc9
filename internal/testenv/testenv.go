// Package testenv builds what the test suites of jwtgate share: a
// core.Service on a fresh SQLite file with cheap password hashing, a log
// they can read, a settable clock, fixtures (users, API keys, service keys)
// and a raw connection for checks the Store interface cannot express.
//
// It holds no fixture values and no protocol: each suite keeps its own
// users, server and assertions. It is imported by tests only (external test
// packages; core's internal tests cannot import it, as it imports core).
package testenv

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver of RawDB

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
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

// NewService returns a Service on store that hashes with CheapArgon2 and
// logs nowhere. It has no signing key yet.
func NewService(store core.Store) *core.Service {
	svc := core.NewService(store)
	svc.Hasher = core.PasswordHasher{Params: CheapArgon2()}
	svc.Logger = slog.New(slog.DiscardHandler)
	return svc
}

// New returns a Service on a new SQLite file (see OpenStore and NewService),
// changed by each configure in turn (a clock, a logger, an issuer, a store
// wrapped around the SQLite one), and then given its first signing key, so
// that the key is made by the configured Service.
func New(tb testing.TB, configure ...func(*core.Service)) (*core.Service, *sqlite.DB) {
	tb.Helper()
	db := OpenStore(tb)
	svc := NewService(db)
	for _, c := range configure {
		c(svc)
	}
	if _, err := svc.EnsureSigningKey(context.Background()); err != nil {
		tb.Fatalf("EnsureSigningKey: %v", err)
	}
	return svc, db
}

// CreateUser creates a user whose account holds credits.
func CreateUser(tb testing.TB, svc *core.Service, name, password string, credits int64) *core.User {
	tb.Helper()
	u, err := svc.CreateUser(context.Background(), core.CreateUserRequest{Username: name, Password: password, Credits: credits})
	if err != nil {
		tb.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// CreateAPIKey creates an API key of user and returns it with its record.
func CreateAPIKey(tb testing.TB, svc *core.Service, user string) (string, *core.APIKey) {
	tb.Helper()
	key, rec, err := svc.CreateAPIKey(context.Background(), user)
	if err != nil {
		tb.Fatalf("CreateAPIKey(%q): %v", user, err)
	}
	return key, rec
}

// CreateServiceKey creates the key of an operator's service named name.
func CreateServiceKey(tb testing.TB, svc *core.Service, name string) string {
	tb.Helper()
	key, _, err := svc.CreateServiceKey(context.Background(), name)
	if err != nil {
		tb.Fatalf("CreateServiceKey(%q): %v", name, err)
	}
	return key
}

// RawDB opens a second, independent connection to db's file, closed when
// the test ends, for checks the Store interface cannot express. It waits up
// to 10 s for a lock rather than failing at once.
func RawDB(tb testing.TB, db *sqlite.DB) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", db.Path+"?_busy_timeout=10000")
	if err != nil {
		tb.Fatalf("open raw db: %v", err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// Count runs a query that returns one integer, such as count(*).
func Count(tb testing.TB, raw *sql.DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := raw.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// Logs is a log sink that handlers write to while the test reads it.
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

// Clock is a clock a test moves by hand, for Service.Now; it is safe for
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
