package postgres

import (
	"context"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

var (
	_ core.Dumper = (*DB)(nil)
	_ core.Loader = (*DB)(nil)
)

func (db *DB) TableCounts(ctx context.Context) (_ map[string]int64, err error) {
	defer wrapErr(&err, "TableCounts")
	out := map[string]int64{}
	for _, t := range core.Tables() {
		var n int64
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}

const tokenOnlyCols = `jti, kid, account_id, user_id, api_key_id, application, allowed_methods,
	max_credits, client_ip, issued_at, expires_at, credits_spent, revoked_at`

func scanTokenOnly(row pgx.Row) (*core.IssuedToken, error) {
	t := &core.IssuedToken{}
	var apiKey *string
	err := row.Scan(&t.JTI, &t.Kid, &t.AccountID, &t.UserID, &apiKey, &t.Application, &t.AllowedMethods, &t.MaxCredits, &t.ClientIP,
		&t.IssuedAt, &t.ExpiresAt, &t.CreditsSpent, &t.Revoked)
	if apiKey != nil {
		t.APIKeyID = *apiKey
	}
	if len(t.AllowedMethods) == 0 {
		t.AllowedMethods = nil
	}
	t.IssuedAt, t.ExpiresAt, t.Revoked = utc(t.IssuedAt), utc(t.ExpiresAt), utcPtr(t.Revoked)
	return t, err
}

func scanStoredCharge(row pgx.Row) (*core.StoredCharge, error) {
	c := &core.StoredCharge{}
	var outcome string
	err := row.Scan(&c.JTI, &c.RequestID, &c.Method, &c.Credits, &outcome, &c.Message, &c.TokenRemaining, &c.Balance, &c.Time)
	c.Outcome, c.Time = core.Outcome(outcome), utc(c.Time)
	return c, err
}

func scanUsageEvent(row pgx.Row) (*core.UsageEvent, error) {
	ev := &core.UsageEvent{}
	var outcome string
	var jti *string
	err := row.Scan(&ev.Time, &ev.AccountID, &ev.UserID, &ev.Application, &ev.Method, &ev.Credits, &outcome, &ev.ClientAddr, &jti)
	ev.Time, ev.Outcome = utc(ev.Time), core.Outcome(outcome)
	if jti != nil {
		ev.JTI = *jti
	}
	return ev, err
}

func dumpTable[T any](ctx context.Context, db *DB, yield func(core.Row, error) bool, scan func(pgx.Row) (T, error), wrap func(T) core.Row, query string) bool {
	rows, err := db.pool.Query(ctx, query)
	if err != nil {
		return yield(core.Row{}, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return yield(core.Row{}, err)
		}
		if !yield(wrap(v), nil) {
			return false
		}
	}
	if err := rows.Err(); err != nil {
		return yield(core.Row{}, err)
	}
	return true
}

// Dump reads every row, table by table.
func (db *DB) Dump(ctx context.Context) iter.Seq2[core.Row, error] {
	return func(yield func(core.Row, error) bool) {
		_ = dumpTable(ctx, db, yield, scanAccount, func(v *core.Account) core.Row { return core.Row{Account: v} },
			`SELECT `+accountCols+` FROM accounts ORDER BY id`) &&
			dumpTable(ctx, db, yield, scanUser, func(v *core.User) core.Row { return core.Row{User: v} },
				`SELECT `+userCols+` FROM users u ORDER BY u.id`) &&
			dumpTable(ctx, db, yield, scanAPIKey, func(v *core.APIKey) core.Row { return core.Row{APIKey: v} },
				`SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at, id COLLATE "C"`) &&
			dumpTable(ctx, db, yield, scanServiceKey, func(v *core.ServiceKey) core.Row { return core.Row{ServiceKey: v} },
				`SELECT `+serviceKeyCols+` FROM service_keys ORDER BY created_at, id COLLATE "C"`) &&
			dumpTable(ctx, db, yield, scanSigningKey, func(v *core.SigningKey) core.Row { return core.Row{SigningKey: v} },
				`SELECT `+signingKeyCols+` FROM signing_keys ORDER BY seq`) &&
			dumpTable(ctx, db, yield, scanTokenOnly, func(v *core.IssuedToken) core.Row { return core.Row{Token: v} },
				`SELECT `+tokenOnlyCols+` FROM tokens ORDER BY seq`) &&
			dumpTable(ctx, db, yield, scanStoredCharge, func(v *core.StoredCharge) core.Row { return core.Row{Charge: v} },
				`SELECT jti, request_id, method, credits, outcome, message, token_remaining, balance, time FROM charges ORDER BY time, jti, request_id`) &&
			dumpTable(ctx, db, yield, scanUsageEvent, func(v *core.UsageEvent) core.Row { return core.Row{Usage: v} },
				`SELECT time, account_id, user_id, application, method, credits, outcome, client_addr, jti FROM usage ORDER BY id`)
	}
}

// loadBatch is how many rows go to the server in one round trip.
const loadBatch = 1000

// Load writes rows into an empty database in one transaction, and moves
// the id sequences past the ids it wrote.
func (db *DB) Load(ctx context.Context, rows iter.Seq2[core.Row, error]) (err error) {
	defer wrapErr(&err, "Load")
	counts, err := db.TableCounts(ctx)
	if err != nil {
		return err
	}
	for t, n := range counts {
		if n > 0 {
			return fmt.Errorf("table %s holds %d rows: %w", t, n, core.ErrConflict)
		}
	}
	// Not db.tx: the rows can be read only once, so this never reruns.
	return db.txOnce(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		flush := func() error {
			if b.Len() == 0 {
				return nil
			}
			err := tx.SendBatch(ctx, b).Close()
			b = &pgx.Batch{}
			return storeErr(err)
		}
		for r, err := range rows {
			if err != nil {
				return err
			}
			queueRow(b, r)
			if b.Len() >= loadBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		for _, t := range []string{"accounts", "users"} {
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce(max(id), 0) + 1, false) FROM `+t, t); err != nil {
				return err
			}
		}
		return nil
	})
}

func queueRow(b *pgx.Batch, r core.Row) {
	switch {
	case r.Account != nil:
		a := r.Account
		b.Queue(`INSERT INTO accounts (id, name, credits, created_at) VALUES ($1, $2, $3, $4)`, a.ID, a.Name, a.Credits, a.Created)
	case r.User != nil:
		u := r.User
		b.Queue(`INSERT INTO users (id, account_id, username, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			u.ID, u.AccountID, u.Username, u.PasswordHash, u.Disabled, u.Created)
	case r.APIKey != nil:
		k := r.APIKey
		b.Queue(`INSERT INTO api_keys (id, account_id, user_id, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, k.AccountID, k.UserID, k.SecretHash, k.Created, k.Revoked)
	case r.ServiceKey != nil:
		k := r.ServiceKey
		b.Queue(`INSERT INTO service_keys (id, name, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.Name, k.SecretHash, k.Created, k.Revoked)
	case r.SigningKey != nil:
		k := r.SigningKey
		b.Queue(`INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at, activates_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.Kid, k.Alg, k.Private, k.Public, k.Created, k.Activates, k.Retired)
	case r.Token != nil:
		t := r.Token
		b.Queue(`INSERT INTO tokens (jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip,
			issued_at, expires_at, credits_spent, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			t.JTI, t.Kid, t.AccountID, t.UserID, nullString(t.APIKeyID), t.Application, nonNil(t.AllowedMethods), t.MaxCredits, t.ClientIP,
			t.IssuedAt, t.ExpiresAt, t.CreditsSpent, t.Revoked)
	case r.Charge != nil:
		c := r.Charge
		b.Queue(`INSERT INTO charges (jti, request_id, method, credits, outcome, message, token_remaining, balance, time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.JTI, c.RequestID, c.Method, c.Credits, string(c.Outcome), c.Message,
			c.TokenRemaining, c.Balance, c.Time)
	case r.Usage != nil:
		queueUsage(b, r.Usage)
	}
}
