package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) RecordUsage(ctx context.Context, ev *core.UsageEvent) (err error) {
	defer wrapErr(&err, "RecordUsage(%s)", ev.Method)
	return db.tx(ctx, func(tx pgx.Tx) error { return insertUsage(ctx, tx, ev) })
}

const insertUsageSQL = `INSERT INTO usage (time, account_id, user_id, application, method, credits, outcome, client_addr, jti)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

func usageValues(ev *core.UsageEvent) []any {
	return []any{ev.Time, ev.AccountID, ev.UserID, ev.Application, ev.Method, ev.Credits, string(ev.Outcome), ev.ClientAddr, nullString(ev.JTI)}
}

func insertUsage(ctx context.Context, tx pgx.Tx, ev *core.UsageEvent) error {
	_, err := tx.Exec(ctx, insertUsageSQL, usageValues(ev)...)
	return storeErr(err)
}

func queueUsage(b *pgx.Batch, ev *core.UsageEvent) { b.Queue(insertUsageSQL, usageValues(ev)...) }

// usageWhere selects the lines of a filter: $1 account, $2 from, $3 to.
const usageWhere = `($1::bigint IS NULL OR u.account_id = $1) AND ($2::timestamptz IS NULL OR u.time >= $2) AND ($3::timestamptz IS NULL OR u.time < $3)`

func usageArgs(f core.UsageFilter) []any {
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	return []any{f.AccountID, from, to}
}

func (db *DB) UsageReport(ctx context.Context, f core.UsageFilter) (_ []*core.UsageRow, err error) {
	defer wrapErr(&err, "UsageReport")
	// Ordered as SQLite orders: byte order, the unattributed (NULL) account first.
	return queryAll(ctx, db, func(row pgx.Row) (*core.UsageRow, error) {
		r := &core.UsageRow{}
		err := row.Scan(&r.Day, &r.Account, &r.Application, &r.Method, &r.Calls, &r.Failures, &r.Credits)
		return r, err
	}, `
		SELECT to_char(u.time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, coalesce(a.name, ''), u.application, min(u.method COLLATE "C"),
		       count(*), count(*) FILTER (WHERE u.outcome <> 'ok'), coalesce(sum(u.credits), 0)
		FROM usage u LEFT JOIN accounts a ON a.id = u.account_id
		WHERE `+usageWhere+`
		GROUP BY day, a.name, u.application, lower(u.method)
		ORDER BY day, a.name COLLATE "C" NULLS FIRST, u.application COLLATE "C", lower(u.method) COLLATE "C"`, usageArgs(f)...)
}

func (db *DB) ListUsage(ctx context.Context, f core.UsageFilter, p core.Page) (_ []*core.UsageEvent, err error) {
	defer wrapErr(&err, "ListUsage")
	return queryAll(ctx, db, func(row pgx.Row) (*core.UsageEvent, error) {
		ev := &core.UsageEvent{}
		var outcome string
		var jti *string
		err := row.Scan(&ev.Time, &ev.AccountID, &ev.UserID, &ev.Application, &ev.Method, &ev.Credits, &outcome, &ev.ClientAddr, &jti)
		ev.Time, ev.Outcome = utc(ev.Time), core.Outcome(outcome)
		if jti != nil {
			ev.JTI = *jti
		}
		return ev, err
	}, `SELECT u.time, u.account_id, u.user_id, u.application, u.method, u.credits, u.outcome, u.client_addr, u.jti
		FROM usage u WHERE `+usageWhere+` ORDER BY u.time, u.id`+limit(p), usageArgs(f)...)
}
