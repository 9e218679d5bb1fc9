// Package sqlite is the embedded SQLite store of jwtgate (github.com/mattn/go-sqlite3).
//
// It keeps two pools on one file: a single writer connection, so that writes
// queue in Go instead of spinning on SQLITE_BUSY, and several readers, which
// WAL lets run beside the writer. Other processes (admin commands, a second
// server) share the file through SQLite's own locking and busy timeout.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a core.Store on a SQLite file.
type DB struct {
	Path  string
	rdb   *sql.DB   // readers
	wdb   *sql.DB   // the writer's pool, of one connection:
	wconn *sql.Conn // held by the writer goroutine, which alone uses it

	rstmts stmts                // prepared on rdb
	wstmts map[string]*sql.Stmt // prepared on wconn; writer goroutine only

	jobs      chan *writeJob
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

var _ core.Store = (*DB)(nil)

// BusyTimeout is how long a connection waits for another process's lock.
const BusyTimeout = 10 * time.Second

// Open opens (creating if needed, with mode 0600) the database at path and
// applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q: give a plain file path", path)
	}
	// Keys and hashes live here: create the file private before SQLite does.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	if err := walMode(ctx, path); err != nil {
		return nil, fmt.Errorf("sqlite: WAL mode: %w", err)
	}

	// database/sql never uses a connection from two goroutines at once, so
	// SQLite's own per-connection mutex (_mutex=no) would only cost time.
	params := fmt.Sprintf("?_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_mutex=no&_busy_timeout=%d", BusyTimeout.Milliseconds())
	db := &DB{Path: path, jobs: make(chan *writeJob), stop: make(chan struct{}), stopped: make(chan struct{}), wstmts: map[string]*sql.Stmt{}}
	if db.wdb, err = sql.Open("sqlite3", path+params); err != nil {
		return nil, err
	}
	db.wdb.SetMaxOpenConns(1)
	if db.wconn, err = db.wdb.Conn(ctx); err != nil {
		db.wdb.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if db.rdb, err = sql.Open("sqlite3", path+params); err != nil {
		db.wconn.Close()
		db.wdb.Close()
		return nil, err
	}
	db.rdb.SetMaxOpenConns(max(4, 2*runtime.GOMAXPROCS(0)))
	db.rdb.SetMaxIdleConns(max(4, 2*runtime.GOMAXPROCS(0)))
	db.rstmts.pool = db.rdb
	go db.writer()
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// walMode puts the file in WAL mode, which the file keeps: after its first
// open this only reads it. SQLite turns a new file to WAL under an exclusive
// lock that it does not wait for on the busy timeout, so processes opening a
// new file at once would fail with "database is locked"; here they wait
// their turn, within BusyTimeout.
func walMode(ctx context.Context, path string) error {
	conn, err := sql.Open("sqlite3", fmt.Sprintf("%s?_busy_timeout=%d", path, BusyTimeout.Milliseconds()))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(BusyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := conn.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		var se sqlite3.Error
		if busy := errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked); !busy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the writer and closes both pools: the batch being written is
// finished and answered; callers still waiting to hand over a write get an
// error and their writes are not run. It is safe to call more than once.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.stopped
		for _, st := range db.wstmts {
			st.Close()
		}
		err = errors.Join(db.wconn.Close(), db.rdb.Close(), db.wdb.Close())
	})
	return err
}

// Ping checks that the file is reachable.
func (db *DB) Ping(ctx context.Context) error { return db.rdb.PingContext(ctx) }

// migrate applies each embedded migration not yet recorded, in name order,
// each in its own (immediate, so cross-process safe) transaction.
func (db *DB) migrate(ctx context.Context) error {
	if err := db.write(ctx, func(w wtx) error {
		_, err := w.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`)
		return err
	}); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateOne(ctx, name); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, name string) error {
	return db.write(ctx, func(w wtx) error {
		var n int
		if err := w.queryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil || n > 0 {
			return err
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		// Several statements: executed, not prepared.
		if _, err := w.db.wconn.ExecContext(w.ctx, string(body)); err != nil {
			return err
		}
		_, err = w.exec(`INSERT INTO schema_migrations (name) VALUES (?)`, name)
		return err
	})
}

const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

// nullTime scans a nullable time column.
type nullTime struct{ t **time.Time }

func (n nullTime) Scan(v any) error {
	if v == nil {
		*n.t = nil
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("time column holds %T", v)
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	*n.t = &t
	return nil
}

// textTime scans a non-null time column.
type textTime struct{ t *time.Time }

func (n textTime) Scan(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("time column holds %T", v)
	}
	t, err := parseTime(s)
	*n.t = t
	return err
}

// isConstraint reports whether err is a SQLite constraint violation of the
// given extended code.
func isConstraint(err error, code sqlite3.ErrNoExtended) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint && se.ExtendedCode == code
}

// notFound is core.ErrNotFound, saying what was not found.
func notFound(what string, args ...any) error {
	return fmt.Errorf(what+": %w", append(args, core.ErrNotFound)...)
}

// wrapErr annotates a failed store call with the call (pkgsite's derrors
// style): a logged internal error then says which call failed. The error's
// chain is kept, so core still finds core.ErrNotFound and its kin.
func wrapErr(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("sqlite."+format+": %w", append(args, *errp)...)
	}
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a read and scans every row with scan.
func queryAll[T any](ctx context.Context, db *DB, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// limit renders a page as SQLite's LIMIT clause (-1: no limit).
func limit(p core.Page) string {
	n := p.Limit
	if n <= 0 {
		n = -1
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", n, max(p.Offset, 0))
}

// affected returns errNone if res changed no row.
func affected(res sql.Result, errNone error) error {
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return errNone
	}
	return err
}

// stmts caches prepared statements of one pool, by query text: SQLite
// otherwise compiles a statement on every call of the hot queries.
type stmts struct {
	pool *sql.DB
	m    sync.Map // query -> *sql.Stmt
}

func (s *stmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a hot read through a prepared statement.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.rstmts.get(ctx, query)
	if err != nil {
		// Unprepared: the error (a cancelled ctx, a closed database)
		// surfaces at Scan, like any query error.
		return db.rdb.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// wtx is the write transaction a job runs in. Its context is the writer's,
// never the caller's: a job that has started runs to its end (the caller
// waits for the outcome anyway), and the driver would otherwise watch each
// statement's context from a goroutine of its own. Its statements are
// prepared once on the writer's connection and kept: SQLite would otherwise
// compile them again in every transaction.
type wtx struct {
	db  *DB
	ctx context.Context
}

func (w wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.db.wstmts[query]; ok {
		return st, nil
	}
	st, err := w.db.wconn.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, err
	}
	w.db.wstmts[query] = st
	return st, nil
}

func (w wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		return w.db.wconn.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}
