package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Group commit. Every write goes through one writer goroutine on the one
// writer connection. It takes every job queued at that moment (up to
// maxBatch), runs each in a SAVEPOINT of one immediate transaction, so that a
// failing job rolls back alone, commits once (one WAL fsync under
// synchronous=FULL), and only then answers each job. Nothing is acknowledged
// before it is durable, and under load the fsync is shared by the batch.

const maxBatch = 256

// gatherWait bounds how long the writer waits for more jobs before a batch.
// It waits only under load — the previous batch held at least gatherMin
// jobs — and only while fewer are queued than that batch held: the callers a
// commit answered are usually about to send their next writes, and a batch
// started without them pays a whole fsync for a few jobs. (When the process
// has nothing else to do, Go rounds a timer under 1 ms up to about 1 ms; the
// threshold keeps light load, where nobody else is coming, from paying it.)
const (
	gatherWait = 300 * time.Microsecond
	gatherMin  = 4
)

type writeJob struct {
	ctx  context.Context // only whether the job still wants to run
	fn   func(wtx) error
	done chan error
}

var errClosed = errors.New("sqlite: database closed")

// write runs fn in a write transaction and returns once its effects are
// committed (or fn failed and was rolled back). A job whose ctx has ended
// before its turn is not run.
func (db *DB) write(ctx context.Context, fn func(wtx) error) error {
	job := &writeJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.jobs <- job:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.stop:
		return errClosed
	}
	// Wait for the outcome even if ctx ends: the job may already be in a
	// transaction, and the caller must not report a failure that commits.
	return <-job.done
}

// writer is the one goroutine that writes.
func (db *DB) writer() {
	defer close(db.stopped)
	batch := make([]*writeJob, 0, maxBatch)
	wait := time.NewTimer(gatherWait)
	wait.Stop()
	last := 0 // jobs in the previous batch
	for {
		select {
		case job := <-db.jobs:
			batch = append(batch[:0], job)
		case <-db.stop:
			return
		}
		armed := false
	gather:
		for len(batch) < maxBatch {
			select {
			case job := <-db.jobs:
				batch = append(batch, job)
				continue
			default:
			}
			if last < gatherMin || len(batch) >= last {
				break
			}
			if !armed {
				wait.Reset(gatherWait)
				armed = true
			}
			select {
			case job := <-db.jobs:
				batch = append(batch, job)
			case <-wait.C:
				armed = false
				break gather
			}
		}
		if armed {
			wait.Stop()
		}
		last = len(batch)
		db.runBatch(batch)
	}
}

func (db *DB) runBatch(batch []*writeJob) {
	errs := make([]error, len(batch))
	commitErr := db.inTx(func(w wtx) error {
		if len(batch) == 1 {
			// Alone: the transaction itself is the job's.
			if err := batch[0].ctx.Err(); err != nil {
				return err
			}
			return batch[0].fn(w)
		}
		for i, job := range batch {
			if errs[i] = job.ctx.Err(); errs[i] != nil {
				continue
			}
			if _, err := w.exec(`SAVEPOINT job`); err != nil {
				return err
			}
			if errs[i] = job.fn(w); errs[i] != nil {
				if _, err := w.exec(`ROLLBACK TO job`); err != nil {
					return err
				}
			}
			if _, err := w.exec(`RELEASE job`); err != nil {
				return err
			}
		}
		return nil
	})
	for i, job := range batch {
		switch {
		case len(batch) == 1:
			job.done <- commitErr
		case commitErr != nil && errs[i] == nil:
			job.done <- fmt.Errorf("group commit: %w", commitErr)
		default:
			job.done <- errs[i]
		}
	}
}

// inTx runs fn in an immediate transaction on the writer's connection, and
// commits it if fn succeeds. On any failure the transaction is rolled back
// (unless SQLite already did).
func (db *DB) inTx(fn func(wtx) error) (err error) {
	w := wtx{db: db, ctx: context.Background()}
	if db.inTransaction() {
		// A ROLLBACK that failed left one open: close it, or no write
		// would ever begin again.
		if _, err := w.exec(`ROLLBACK`); err != nil {
			return err
		}
	}
	if _, err := w.exec(`BEGIN IMMEDIATE`); err != nil {
		return err
	}
	defer func() {
		if err != nil && db.inTransaction() {
			if _, rerr := w.exec(`ROLLBACK`); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err := fn(w); err != nil {
		return err
	}
	_, err = w.exec(`COMMIT`)
	return err
}

// inTransaction reports whether the writer's connection is in a
// transaction. SQLite ends one by itself on some errors (a full disk, an
// I/O error), after which ROLLBACK would fail.
func (db *DB) inTransaction() bool {
	in := true
	db.wconn.Raw(func(dc any) error { //nolint:errcheck // the closure cannot fail
		if c, ok := dc.(*sqlite3.SQLiteConn); ok {
			in = !c.AutoCommit()
		}
		return nil
	})
	return in
}
