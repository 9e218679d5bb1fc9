package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

// A batch of group commit is one transaction: each job runs in a savepoint
// of it, sees the jobs before it and no commit between them; a job that
// fails is rolled back alone, a job whose ctx ended before its turn is not
// run, and each job is answered with its own outcome.
func TestWriter_Batch(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := &core.Account{Name: "acme", Created: time.Now()}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}

	// Hold the writer inside a job, queue the batch behind it, let it go:
	// the writer then takes every queued job into one batch.
	entered, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- db.write(ctx, func(wtx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	// The writer reads db.jobs again only after release.
	db.jobs = make(chan *writeJob, maxBatch)

	committed := func() int64 { // the balance as readers see it
		var n int64
		if err := db.rdb.QueryRowContext(ctx, `SELECT credits FROM accounts WHERE id = ?`, a.ID).Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}
	add := func(w wtx, delta int64) (int64, error) {
		var n int64
		err := w.queryRow(`UPDATE accounts SET credits = credits + ? WHERE id = ? RETURNING credits`, delta, a.ID).Scan(&n)
		return n, err
	}
	errBoom := errors.New("boom")
	ended, cancel := context.WithCancel(ctx)
	cancel()
	ran := make([]bool, 6)
	var inTx []int64 // the balance each job's transaction saw after its own write
	var seen []int64 // the committed balance each job saw
	jobs := []struct {
		ctx context.Context
		fn  func(w wtx) error
	}{
		{ctx, func(w wtx) error { n, err := add(w, 1); inTx = append(inTx, n); return err }},
		{ctx, func(w wtx) error {
			if _, err := add(w, 100); err != nil {
				return err
			}
			return errBoom
		}},
		{ended, func(w wtx) error { _, err := add(w, 1000); return err }},
		{ctx, func(w wtx) error { n, err := add(w, 1); inTx = append(inTx, n); return err }},
		{ctx, func(w wtx) error { _, err := add(w, -10); return err }}, // below zero: the CHECK fails
		{ctx, func(w wtx) error { n, err := add(w, 1); inTx = append(inTx, n); return err }},
	}
	queued := make([]*writeJob, len(jobs))
	for i, j := range jobs {
		queued[i] = &writeJob{ctx: j.ctx, done: make(chan error, 1), fn: func(w wtx) error {
			ran[i] = true
			seen = append(seen, committed())
			return j.fn(w)
		}}
		db.jobs <- queued[i]
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(queued))
	for i, j := range queued {
		errs[i] = <-j.done
	}

	for i, want := range []error{nil, errBoom, context.Canceled, nil, nil, nil} {
		switch {
		case i == 4:
			if !isConstraint(errs[i], sqlite3.ErrConstraintCheck) {
				t.Errorf("job 4 = %v, want its CHECK constraint failure", errs[i])
			}
		case !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil):
			t.Errorf("job %d = %v, want %v", i, errs[i], want)
		}
	}
	if ran[2] {
		t.Error("the job whose ctx had ended was run")
	}
	if want := []int64{1, 2, 3}; !slices.Equal(inTx, want) {
		t.Errorf("the jobs that succeeded saw balances %v in the transaction, want %v: each sees those before it, and not the failed ones", inTx, want)
	}
	if want := []int64{0, 0, 0, 0, 0}; !slices.Equal(seen, want) {
		t.Errorf("readers saw balances %v while the batch ran, want %v: nothing is committed before the batch is", seen, want)
	}
	got, err := db.AccountByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Credits != 3 {
		t.Errorf("balance after the batch = %d, want 3", got.Credits)
	}
}
