package sqlite

import (
	"context"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) RecordUsage(ctx context.Context, ev *core.UsageEvent) error {
	return wrap(db.write(ctx, func(w wtx) error { return w.insertUsage(ev) }))
}

func (w wtx) insertUsage(ev *core.UsageEvent) error {
	_, err := w.exec(`INSERT INTO usage (time, account_id, user_id, application, method, credits, outcome, client_addr, jti)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		fmtTime(ev.Time), ev.AccountID, ev.UserID, ev.Application, ev.Method, ev.Credits, ev.Outcome, ev.ClientAddr, nullString(ev.JTI))
	return err
}

func (db *DB) UsageReport(ctx context.Context, f core.UsageFilter) ([]*core.UsageRow, error) {
	var from, to any
	if !f.From.IsZero() {
		from = fmtTime(f.From)
	}
	if !f.To.IsZero() {
		to = fmtTime(f.To)
	}
	rows, err := db.rdb.QueryContext(ctx, `
		SELECT substr(u.time, 1, 10) AS day, coalesce(a.name, ''), u.application, min(u.method),
		       count(*), sum(u.outcome <> 'ok'), sum(u.credits)
		FROM usage u LEFT JOIN accounts a ON a.id = u.account_id
		WHERE (?1 IS NULL OR u.account_id = ?1) AND (?2 IS NULL OR u.time >= ?2) AND (?3 IS NULL OR u.time < ?3)
		GROUP BY day, a.name, u.application, u.method COLLATE NOCASE
		ORDER BY day, a.name, u.application, u.method COLLATE NOCASE`, f.AccountID, from, to)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*core.UsageRow
	for rows.Next() {
		r := &core.UsageRow{}
		if err := rows.Scan(&r.Day, &r.Account, &r.Application, &r.Method, &r.Calls, &r.Failures, &r.Credits); err != nil {
			return nil, wrap(err)
		}
		out = append(out, r)
	}
	return out, wrap(rows.Err())
}
