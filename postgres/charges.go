package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

// Charges are written in batches, by one writer goroutine per DB: it takes
// every ChargeTx queued at that moment (up to maxBatch) and runs them in
// one transaction that locks their accounts and tokens once, reads their
// state once, runs each decision in order on that state as the decisions
// before it left it, writes what they decided and commits once. A charge's
// decision thus sees exactly what it would see alone, and a batch costs
// three round trips and one commit however many charges it holds: the
// charges of one hot token, serialised by its row lock across instances,
// share the lock and the commit instead of paying for both each.
//
// The batch commits without waiting for its WAL to reach the disk
// (synchronous_commit off, for this transaction only), so that its row
// locks are released at once rather than after an fsync: another
// instance's batch on the same token need not wait for this one's flush.
// Its charges are answered only once a synchronous write of this store's
// durability row has committed — which flushes the WAL past the batch's
// commit record, the WAL being written in order. Nothing is acknowledged
// before it is durable; the flush runs beside the next batch.

const maxBatch = 256

type chargeJob struct {
	ctx        context.Context
	jti, reqID string
	decide     func(core.ChargeState) (core.ChargeWrite, error)
	done       chan error
}

// ChargeTx queues the charge for the writer and waits for its outcome.
func (db *DB) ChargeTx(ctx context.Context, jti, requestID string, decide func(core.ChargeState) (core.ChargeWrite, error)) error {
	job := &chargeJob{ctx: ctx, jti: jti, reqID: requestID, decide: decide, done: make(chan error, 1)}
	select {
	case db.charges <- job:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.stop:
		return errClosed
	}
	// Wait even if ctx ends: the charge may already be in a transaction,
	// and the caller must not report a failure that commits.
	return <-job.done
}

var errClosed = errors.New("postgres: database closed")

// writer runs the batches until Close.
func (db *DB) writer() {
	defer close(db.stopped)
	batch := make([]*chargeJob, 0, maxBatch)
	for {
		select {
		case job := <-db.charges:
			batch = append(batch[:0], job)
		case <-db.stop:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case job := <-db.charges:
				batch = append(batch, job)
			default:
				break gather
			}
		}
		db.runBatch(batch)
	}
}

// flushed is a batch committed and waiting for its flush.
type flushed struct {
	jobs []*chargeJob
	errs []error
}

// flusher makes the committed batches durable, then answers them. One
// flush covers every batch committed before it: those that queued up
// while the previous flush ran share the next one.
func (db *DB) flusher() {
	defer close(db.flushDone)
	var pending []flushed
	for f := range db.flushes {
		pending = append(pending[:0], f)
	drain:
		for {
			select {
			case f, ok := <-db.flushes:
				if !ok {
					break drain
				}
				pending = append(pending, f)
			default:
				break drain
			}
		}
		err := db.flush()
		for _, f := range pending {
			for i, job := range f.jobs {
				switch {
				case err != nil:
					job.done <- fmt.Errorf("postgres.ChargeTx(%q): committed, but whether it is durable is unknown: %w", job.jti, err)
				default:
					job.done <- f.errs[i]
				}
			}
		}
	}
}

// flush commits a synchronous write, so that the WAL is on disk up to it.
func (db *DB) flush() error {
	ctx := context.Background()
	_, err := read(ctx, db, func() (struct{}, error) {
		_, err := db.pool.Exec(ctx, `UPDATE durability SET n = n + 1 WHERE id = $1`, db.id)
		return struct{}{}, err
	})
	return err
}

// runBatch runs the jobs that still want to run, as one transaction; if
// the transaction fails, each job runs again on its own, so that a
// failure is its own job's only.
func (db *DB) runBatch(batch []*chargeJob) {
	live := batch[:0:0]
	for _, job := range batch {
		if err := job.ctx.Err(); err != nil {
			job.done <- err
			continue
		}
		live = append(live, job)
	}
	if len(live) == 0 {
		return
	}
	var errs []error
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if errs, err = db.batchOnce(context.Background(), live); err == nil || !retryable(err) {
			break
		}
	}
	if err != nil && len(live) > 1 {
		for _, job := range live {
			db.runBatch([]*chargeJob{job})
		}
		return
	}
	if err != nil {
		live[0].done <- fmt.Errorf("postgres.ChargeTx(%q): %w", live[0].jti, err)
		return
	}
	db.flushes <- flushed{jobs: live, errs: errs}
}

// batchOnce runs the jobs in one transaction on one connection, in two
// round trips: BEGIN, the locks and the reads; then the writes and COMMIT.
// Its row locks are held for the decisions and one round trip only. A
// failure before the COMMIT was sent left nothing (and may be retried); a
// connection lost during the second round trip leaves the outcome unknown
// (errCommitUnknown).
func (db *DB) batchOnce(ctx context.Context, jobs []*chargeJob) ([]error, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	errs, err := chargeBatch(ctx, conn.Conn(), jobs)
	if err != nil && !conn.Conn().IsClosed() {
		// A statement failed: the transaction is aborted, close it.
		conn.Exec(ctx, `ROLLBACK`) //nolint:errcheck // the error that matters is err
	}
	return errs, err
}

// chargeBatch runs the jobs' decisions in one transaction on conn. It
// returns each job's own outcome (its decision's refusal, or ErrNotFound),
// or an error that fails the transaction.
func chargeBatch(ctx context.Context, conn *pgx.Conn, jobs []*chargeJob) ([]error, error) {
	var jtis, reqJTIs, reqIDs []string
	for _, j := range jobs {
		jtis = append(jtis, j.jti)
		if j.reqID != "" {
			reqJTIs, reqIDs = append(reqJTIs, j.jti), append(reqIDs, j.reqID)
		}
	}
	slices.Sort(jtis)
	jtis = slices.Compact(jtis)

	// One round trip: lock the accounts, then the tokens, each in one
	// order (another instance's batch takes them in the same order; the
	// other writers, AddCredits and RevokeToken, lock one row each), then
	// read the stored charges, by a statement run once the locks are held
	// (so it sees a charge another instance committed meanwhile). NO KEY
	// UPDATE: a token issued or a line recorded meanwhile, whose foreign
	// keys share-lock these rows, need not wait.
	b := &pgx.Batch{}
	b.Queue(`BEGIN ISOLATION LEVEL READ COMMITTED`)
	b.Queue(`SET LOCAL synchronous_commit TO OFF`) // answered after flush, see above
	// Every statement here finds its rows by a key. A plan a connection
	// cached while charges was small (statistics say "empty" until an
	// ANALYZE) would instead read every stored charge to find a batch's
	// few, for as long as the plan lived. With sequential scans ruled out
	// in this transaction, the plans it makes and caches are the probes
	// whatever the statistics said; planning each execution afresh
	// (plan_cache_mode) would cost more than the batch's own work.
	b.Queue(`SET LOCAL enable_seqscan TO off`)
	b.Queue(`SELECT a.id FROM accounts a WHERE a.id IN (SELECT account_id FROM tokens WHERE jti = ANY($1)) ORDER BY a.id FOR NO KEY UPDATE`, jtis)
	b.Queue(`SELECT t.jti, t.account_id, t.max_credits, t.credits_spent, t.revoked_at IS NOT NULL,
			u.disabled, k.revoked_at IS NOT NULL, a.credits`+tokenJoin+`
		WHERE t.jti = ANY($1) ORDER BY t.jti COLLATE "C" FOR NO KEY UPDATE OF t`, jtis)
	b.Queue(`SELECT c.jti, c.request_id, c.method, c.credits, c.outcome, c.message, c.token_remaining, c.balance, c.time
		FROM charges c JOIN unnest($1::text[], $2::text[]) AS r(jti, request_id) ON c.jti = r.jti AND c.request_id = r.request_id`, reqJTIs, reqIDs)
	res := conn.SendBatch(ctx, b)
	for range 4 {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return nil, err
		}
	}
	tokens := map[string]*core.TokenState{}
	rows, err := res.Query()
	if err != nil {
		res.Close()
		return nil, err
	}
	for rows.Next() {
		var jti string
		st := &core.TokenState{}
		if err := rows.Scan(&jti, &st.AccountID, &st.MaxCredits, &st.CreditsSpent, &st.Revoked, &st.UserDisabled, &st.APIKeyRevoked, &st.Balance); err != nil {
			rows.Close()
			res.Close()
			return nil, err
		}
		tokens[jti] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		res.Close()
		return nil, err
	}
	stored := map[[2]string]*core.ChargeRecord{}
	rows, err = res.Query()
	if err != nil {
		res.Close()
		return nil, err
	}
	for rows.Next() {
		var jti, reqID, outcome string
		c := &core.ChargeRecord{}
		if err := rows.Scan(&jti, &reqID, &c.Method, &c.Credits, &outcome, &c.Message, &c.TokenRemaining, &c.Balance, &c.Time); err != nil {
			rows.Close()
			res.Close()
			return nil, err
		}
		c.Outcome, c.Time = core.Outcome(outcome), utc(c.Time)
		stored[[2]string{jti, reqID}] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		res.Close()
		return nil, err
	}
	if err := res.Close(); err != nil {
		return nil, err
	}

	// The decisions, in order, each on the state the ones before it left.
	balances := map[int64]int64{} // by account, as the batch leaves them
	for _, st := range tokens {
		balances[st.AccountID] = st.Balance
	}
	spent := map[string]int64{} // credits each token's spend grows by
	taken := map[int64]int64{}  // credits each account's balance drops by
	errs := make([]error, len(jobs))
	w := &pgx.Batch{}
	var recs chargeRows
	var lines usageRows
	for i, j := range jobs {
		tok, ok := tokens[j.jti]
		if !ok {
			errs[i] = fmt.Errorf("postgres.ChargeTx(%q): %w", j.jti, core.ErrNotFound)
			continue
		}
		st := core.ChargeState{Token: *tok}
		st.Token.Balance = balances[tok.AccountID]
		if j.reqID != "" {
			st.Previous = stored[[2]string{j.jti, j.reqID}]
		}
		out, err := j.decide(st)
		if err != nil {
			errs[i] = err
			continue
		}
		// What the database's constraints would refuse is refused first,
		// so that a refused charge leaves nothing behind.
		key := [2]string{j.jti, j.reqID}
		if after := balances[tok.AccountID] - out.Credits; out.Credits != 0 && (after < 0 || after > core.MaxCreditsLimit || tok.CreditsSpent+out.Credits < 0) {
			errs[i] = fmt.Errorf("postgres.ChargeTx(%q): %w", j.jti, core.ErrOutOfRange)
			continue
		}
		if out.Record != nil && j.reqID != "" && stored[key] != nil {
			// Stored already, by an earlier charge of this batch.
			errs[i] = fmt.Errorf("postgres.ChargeTx(%q): request %q: %w", j.jti, j.reqID, core.ErrConflict)
			continue
		}
		if out.Credits != 0 {
			balances[tok.AccountID] -= out.Credits
			tok.CreditsSpent += out.Credits
			spent[j.jti] += out.Credits
			taken[tok.AccountID] += out.Credits
		}
		if r := out.Record; r != nil && j.reqID != "" {
			rec := *r
			stored[key] = &rec
			recs.add(j.jti, j.reqID, r)
		}
		if ev := out.Usage; ev != nil {
			lines.add(ev)
		}
	}
	// Every line and record of the batch in one statement each.
	recs.queue(w)
	lines.queue(w)
	for _, jti := range jtis {
		if n := spent[jti]; n != 0 {
			w.Queue(`UPDATE tokens SET credits_spent = credits_spent + $1 WHERE jti = $2`, n, jti)
		}
	}
	accounts := make([]int64, 0, len(taken))
	for id := range taken {
		accounts = append(accounts, id)
	}
	slices.Sort(accounts)
	for _, id := range accounts {
		w.Queue(`UPDATE accounts SET credits = credits - $1 WHERE id = $2`, taken[id], id)
	}
	w.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, w).Close(); err != nil {
		if err := commitErr(err); errors.Is(err, errCommitUnknown) {
			return nil, err
		}
		return nil, storeErr(err) // refused by the server, or never sent: nothing committed
	}
	return errs, nil
}

// chargeRows are charge records written by one multi-row INSERT.
type chargeRows struct {
	jti, reqID, method, outcome, message []string
	credits, balance                     []int64
	remaining                            []*int64
	time                                 []time.Time
}

func (c *chargeRows) add(jti, reqID string, r *core.ChargeRecord) {
	c.jti, c.reqID, c.method = append(c.jti, jti), append(c.reqID, reqID), append(c.method, r.Method)
	c.outcome, c.message = append(c.outcome, string(r.Outcome)), append(c.message, r.Message)
	c.credits, c.balance, c.remaining = append(c.credits, r.Credits), append(c.balance, r.Balance), append(c.remaining, r.TokenRemaining)
	c.time = append(c.time, r.Time)
}

func (c *chargeRows) queue(b *pgx.Batch) {
	if len(c.jti) == 0 {
		return
	}
	b.Queue(`INSERT INTO charges (jti, request_id, method, credits, outcome, message, token_remaining, balance, time)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::timestamptz[])`,
		c.jti, c.reqID, c.method, c.credits, c.outcome, c.message, c.remaining, c.balance, c.time)
}

// usageRows are ledger lines written by one multi-row INSERT, in order.
type usageRows struct {
	time                                     []time.Time
	account, user                            []*int64
	application, method, outcome, clientAddr []string
	credits                                  []int64
	jti                                      []*string
}

func (u *usageRows) add(ev *core.UsageEvent) {
	u.time, u.account, u.user = append(u.time, ev.Time), append(u.account, ev.AccountID), append(u.user, ev.UserID)
	u.application, u.method, u.outcome = append(u.application, ev.Application), append(u.method, ev.Method), append(u.outcome, string(ev.Outcome))
	u.clientAddr, u.credits, u.jti = append(u.clientAddr, ev.ClientAddr), append(u.credits, ev.Credits), append(u.jti, nullString(ev.JTI))
}

func (u *usageRows) queue(b *pgx.Batch) {
	if len(u.time) == 0 {
		return
	}
	b.Queue(`INSERT INTO usage (time, account_id, user_id, application, method, credits, outcome, client_addr, jti)
		SELECT time, account_id, user_id, application, method, credits, outcome, client_addr, jti
		FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[])
		WITH ORDINALITY AS r(time, account_id, user_id, application, method, credits, outcome, client_addr, jti, n) ORDER BY n`,
		u.time, u.account, u.user, u.application, u.method, u.credits, u.outcome, u.clientAddr, u.jti)
}
