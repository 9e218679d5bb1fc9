package sqlite

import (
	"context"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) RecordUsage(ctx context.Context, ev *core.UsageEvent) (err error) {
	defer wrapErr(&err, "RecordUsage(%s)", ev.Method)
	return db.write(ctx, func(w wtx) error { return w.insertUsage(ev) })
}

func (w wtx) insertUsage(ev *core.UsageEvent) error {
	_, err := w.exec(`INSERT INTO usage (time, account_id, user_id, application, method, credits, outcome, client_addr, jti)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		fmtTime(ev.Time), ev.AccountID, ev.UserID, ev.Application, ev.Method, ev.Credits, string(ev.Outcome), ev.ClientAddr, nullString(ev.JTI))
	return err
}

// usageWhere selects the lines of a filter: ?1 account, ?2 from, ?3 to.
const usageWhere = `(?1 IS NULL OR u.account_id = ?1) AND (?2 IS NULL OR u.time >= ?2) AND (?3 IS NULL OR u.time < ?3)`

func usageArgs(f core.UsageFilter) []any {
	var from, to any
	if !f.From.IsZero() {
		from = fmtTime(f.From)
	}
	if !f.To.IsZero() {
		to = fmtTime(f.To)
	}
	return []any{f.AccountID, from, to}
}

func (db *DB) UsageReport(ctx context.Context, f core.UsageFilter) (_ []*core.UsageRow, err error) {
	defer wrapErr(&err, "UsageReport")
	return queryAll(ctx, db, func(row rowScanner) (*core.UsageRow, error) {
		r := &core.UsageRow{}
		err := row.Scan(&r.Day, &r.Account, &r.Application, &r.Method, &r.Calls, &r.Failures, &r.Credits)
		return r, err
	}, `
		SELECT substr(u.time, 1, 10) AS day, coalesce(a.name, ''), u.application, min(u.method),
		       count(*), sum(u.outcome <> 'ok'), sum(u.credits)
		FROM usage u LEFT JOIN accounts a ON a.id = u.account_id
		WHERE `+usageWhere+`
		GROUP BY day, a.name, u.application, u.method COLLATE NOCASE
		ORDER BY day, a.name, u.application, u.method COLLATE NOCASE`, usageArgs(f)...)
}

func (db *DB) ListUsage(ctx context.Context, f core.UsageFilter, p core.Page) (_ []*core.UsageEvent, err error) {
	defer wrapErr(&err, "ListUsage")
	return queryAll(ctx, db, func(row rowScanner) (*core.UsageEvent, error) {
		ev := &core.UsageEvent{}
		var outcome string
		var jti *string
		err := row.Scan(textTime{&ev.Time}, &ev.AccountID, &ev.UserID, &ev.Application, &ev.Method, &ev.Credits, &outcome, &ev.ClientAddr, &jti)
		ev.Outcome = core.Outcome(outcome)
		if jti != nil {
			ev.JTI = *jti
		}
		return ev, err
	}, `SELECT u.time, u.account_id, u.user_id, u.application, u.method, u.credits, u.outcome, u.client_addr, u.jti
		FROM usage u WHERE `+usageWhere+` ORDER BY u.time, u.id`+limit(p), usageArgs(f)...)
}
