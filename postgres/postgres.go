// Package postgres is the PostgreSQL store of jwtgate (github.com/jackc/pgx/v5),
// for several jwtgate instances on one database. It persists what core
// decides and decides nothing; every read-decide-write runs in one
// transaction that locks the rows it decides on, so instances sharing the
// database are serialised by PostgreSQL as goroutines of one are.
//
// Charges go through one writer per DB that runs them in batches, one
// transaction and one commit each (charges.go).
//
// The URL is pgx's: postgres://user:password@host:port/db?sslmode=…, with
// pool_max_conns (the pool's size, default 4 or one per CPU),
// statement_timeout (e.g. 5s, a server parameter sent at connect) and the
// other pgx and libpq parameters.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jwtgate/jwtgate/core"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a core.Store on a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	url  string // without its password, for messages

	id        string          // this store's durability row
	charges   chan *chargeJob // to the writer (charges.go)
	flushes   chan flushed    // from the writer to the flusher
	stop      chan struct{}
	stopped   chan struct{}
	flushDone chan struct{}
	closeOnce sync.Once
}

var _ core.Store = (*DB)(nil)

// Open connects to the database at url and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", redact(dsn), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", redact(dsn), err)
	}
	id := make([]byte, 12)
	rand.Read(id) //nolint:errcheck // crypto/rand does not fail
	db := &DB{pool: pool, url: redact(dsn), id: hex.EncodeToString(id),
		charges: make(chan *chargeJob), flushes: make(chan flushed, 4),
		stop: make(chan struct{}), stopped: make(chan struct{}), flushDone: make(chan struct{})}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", db.url, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO durability (id) VALUES ($1)`, db.id); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", db.url, err)
	}
	go db.writer()
	go db.flusher()
	return db, nil
}

// Close stops the charge writer (the batch being written is finished and
// answered; charges still waiting to be handed over get an error and are
// not run) and closes the pool. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.stopped
		close(db.flushes)
		<-db.flushDone
		db.pool.Exec(context.Background(), `DELETE FROM durability WHERE id = $1`, db.id) //nolint:errcheck // a row left behind costs nothing
		db.pool.Close()
	})
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// String is the database's URL without its password.
func (db *DB) String() string { return db.url }

// migrationLock is the advisory lock under which instances that start at
// once apply migrations one after the other.
const migrationLock = 0x6a77_7467 // "jwtg"

// migrate applies each embedded migration not yet recorded, in name order,
// each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		err = db.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY)`); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// maxAttempts bounds the retries of a transaction that failed for a lost
// connection (before it could commit) or a serialization failure.
const maxAttempts = 3

// tx runs fn in a transaction and commits it. A transaction that failed
// before its commit could take effect — a connection lost before COMMIT
// was sent, a serialization failure or a deadlock — is run again; a COMMIT
// whose outcome is unknown is not, and is an error: never a wrong answer.
// fn may run more than once and must not keep state between runs.
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = db.txOnce(ctx, fn); err == nil || !retryable(err) {
			return err
		}
		if attempt < maxAttempts {
			time.Sleep(time.Duration(attempt) * 20 * time.Millisecond) // let a failed-over server come back
		}
	}
	return err
}

// errCommitUnknown marks a COMMIT that may or may not have taken effect.
var errCommitUnknown = errors.New("the connection failed during COMMIT: the transaction's outcome is unknown")

func (db *DB) txOnce(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the error that matters is fn's
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return commitErr(err)
	}
	return nil
}

// commitErr classifies a failed COMMIT: refused by the server, or never
// sent, nothing committed; the connection lost on the way, the outcome is
// unknown (errCommitUnknown).
func commitErr(err error) error {
	var pe *pgconn.PgError
	if pgconn.SafeToRetry(err) || errors.As(err, &pe) && !connectionLost(err) {
		return err
	}
	return fmt.Errorf("%w: %v", errCommitUnknown, err)
}

// retryable reports whether a transaction that failed with err, before
// its COMMIT, did nothing and may be run again.
func retryable(err error) bool {
	if errors.Is(err, errCommitUnknown) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	// A connection lost, a server gone: the server rolled back.
	return pgconn.SafeToRetry(err) || connectionLost(err)
}

// connectionLost reports a failure of the connection (refused, reset,
// closed, cut short, terminated by the server: SQLSTATE classes 08 and 57)
// rather than of a statement.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// read runs a read, once more if its connection was lost.
func read[T any](ctx context.Context, db *DB, fn func() (T, error)) (T, error) {
	v, err := fn()
	for attempt := 2; attempt <= maxAttempts && err != nil && (pgconn.SafeToRetry(err) || connectionLost(err)) && ctx.Err() == nil; attempt++ {
		v, err = fn()
	}
	return v, err
}

// Constraint errors, by SQLSTATE.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// storeErr maps constraint violations to core's store errors.
func storeErr(err error) error {
	switch pgCode(err) {
	case "23505": // unique_violation
		return core.ErrConflict
	case "23514": // check_violation
		return core.ErrOutOfRange
	case "23503": // foreign_key_violation
		return fmt.Errorf("a row it refers to: %w", core.ErrNotFound)
	}
	return err
}

// wrapErr annotates a failed store call with the call (pkgsite's derrors
// style), keeping the chain for errors.Is.
func wrapErr(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("postgres."+format+": %w", append(args, *errp)...)
	}
}

// notFound maps pgx's no-rows to core.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return core.ErrNotFound
	}
	return err
}

// limit renders a page as LIMIT/OFFSET (ALL: no limit).
func limit(p core.Page) string {
	if p.Limit <= 0 {
		return fmt.Sprintf(" OFFSET %d", max(p.Offset, 0))
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", p.Limit, max(p.Offset, 0))
}

// queryAll runs a read and scans every row with scan.
func queryAll[T any](ctx context.Context, db *DB, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	return read(ctx, db, func() ([]T, error) {
		rows, err := db.pool.Query(ctx, query, args...)
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
	})
}

// queryOne runs a read of one row.
func queryOne[T any](ctx context.Context, db *DB, scan func(pgx.Row) (T, error), query string, args ...any) (T, error) {
	v, err := read(ctx, db, func() (T, error) { return scan(db.pool.QueryRow(ctx, query, args...)) })
	return v, notFound(err)
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// redact hides a URL's password.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Settings are what a DB runs with, for operators and tests.
type Settings struct {
	MaxConns         int32  // the pool's size
	StatementTimeout string // as the server has it, e.g. 5s; 0 for none
}

// Settings reads them.
func (db *DB) Settings(ctx context.Context) (Settings, error) {
	s := Settings{MaxConns: db.pool.Config().MaxConns}
	err := db.pool.QueryRow(ctx, `SHOW statement_timeout`).Scan(&s.StatementTimeout)
	return s, err
}
