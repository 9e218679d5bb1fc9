package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit. Every write goes through one writer goroutine on the one
// writer connection. It takes every job queued at that moment (up to
// maxBatch), runs each in a SAVEPOINT of one immediate transaction, so that a
// failing job rolls back alone, commits once (one WAL fsync under
// synchronous=FULL), and only then answers each job. Nothing is acknowledged
// before it is durable, and under load the fsync is shared by the batch.

const maxBatch = 256

type writeJob struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

var errClosed = errors.New("sqlite: database closed")

// write runs fn in a write transaction and returns once its effects are
// committed (or fn failed and was rolled back).
func (db *DB) write(ctx context.Context, fn func(*sql.Tx) error) error {
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
	for {
		select {
		case job := <-db.jobs:
			batch = append(batch[:0], job)
		case <-db.stop:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case job := <-db.jobs:
				batch = append(batch, job)
			default:
				break gather
			}
		}
		db.runBatch(batch)
	}
}

func (db *DB) runBatch(batch []*writeJob) {
	errs := make([]error, len(batch))
	commitErr := db.inTx(func(tx *sql.Tx) error {
		if len(batch) == 1 {
			// Alone: the transaction itself is the job's.
			if err := batch[0].ctx.Err(); err != nil {
				return err
			}
			return batch[0].fn(tx)
		}
		for i, job := range batch {
			if errs[i] = job.ctx.Err(); errs[i] != nil {
				continue
			}
			w := wtx{db: db, tx: tx, ctx: context.Background()}
			if _, err := w.exec(`SAVEPOINT job`); err != nil {
				return err
			}
			if errs[i] = job.fn(tx); errs[i] != nil {
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

// inTx runs fn in an immediate transaction on the writer connection.
func (db *DB) inTx(fn func(*sql.Tx) error) error {
	tx, err := db.wdb.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	// Statements prepared on tx close with it.
	defer func() { clear(db.batchStmts) }()
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
