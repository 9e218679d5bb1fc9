package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"time"

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
		if err := db.queryRow(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}

// tokenOnlyCols are a token's own columns, without its holder's state.
const tokenOnlyCols = `jti, kid, account_id, user_id, api_key_id, application, allowed_methods,
	max_credits, client_ip, issued_at, expires_at, credits_spent, revoked_at`

func scanTokenOnly(row rowScanner) (*core.IssuedToken, error) {
	t := &core.IssuedToken{}
	var apiKey sql.NullString
	var methods string
	if err := row.Scan(&t.JTI, &t.Kid, &t.AccountID, &t.UserID, &apiKey, &t.Application, &methods, &t.MaxCredits, &t.ClientIP,
		textTime{&t.IssuedAt}, textTime{&t.ExpiresAt}, &t.CreditsSpent, nullTime{&t.Revoked}); err != nil {
		return nil, err
	}
	t.APIKeyID = apiKey.String
	return t, json.Unmarshal([]byte(methods), &t.AllowedMethods)
}

func scanStoredCharge(row rowScanner) (*core.StoredCharge, error) {
	c := &core.StoredCharge{}
	var outcome string
	err := row.Scan(&c.JTI, &c.RequestID, &c.Method, &c.Credits, &outcome, &c.Message, &c.TokenRemaining, &c.Balance, textTime{&c.Time})
	c.Outcome = core.Outcome(outcome)
	return c, err
}

func scanUsageEvent(row rowScanner) (*core.UsageEvent, error) {
	ev := &core.UsageEvent{}
	var outcome string
	var jti *string
	err := row.Scan(textTime{&ev.Time}, &ev.AccountID, &ev.UserID, &ev.Application, &ev.Method, &ev.Credits, &outcome, &ev.ClientAddr, &jti)
	ev.Outcome = core.Outcome(outcome)
	if jti != nil {
		ev.JTI = *jti
	}
	return ev, err
}

// dumpTable yields the rows of one query as Rows made by wrap.
func dumpTable[T any](ctx context.Context, db *DB, yield func(core.Row, error) bool, scan func(rowScanner) (T, error), wrap func(T) core.Row, query string) bool {
	rows, err := db.rdb.QueryContext(ctx, query)
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

// Dump reads every row, table by table. Run it on a database no server
// writes to: each table is read as it stands when its turn comes.
func (db *DB) Dump(ctx context.Context) iter.Seq2[core.Row, error] {
	return func(yield func(core.Row, error) bool) {
		_ = dumpTable(ctx, db, yield, scanAccount, func(v *core.Account) core.Row { return core.Row{Account: v} },
			`SELECT `+accountCols+` FROM accounts ORDER BY id`) &&
			dumpTable(ctx, db, yield, scanUser, func(v *core.User) core.Row { return core.Row{User: v} },
				`SELECT `+userCols+` FROM users u ORDER BY u.id`) &&
			dumpTable(ctx, db, yield, scanAPIKey, func(v *core.APIKey) core.Row { return core.Row{APIKey: v} },
				`SELECT `+apiKeyCols+` FROM api_keys ORDER BY rowid`) &&
			dumpTable(ctx, db, yield, scanServiceKey, func(v *core.ServiceKey) core.Row { return core.Row{ServiceKey: v} },
				`SELECT `+serviceKeyCols+` FROM service_keys ORDER BY rowid`) &&
			dumpTable(ctx, db, yield, scanSigningKey, func(v *core.SigningKey) core.Row { return core.Row{SigningKey: v} },
				`SELECT `+signingKeyCols+` FROM signing_keys ORDER BY rowid`) &&
			dumpTable(ctx, db, yield, scanTokenOnly, func(v *core.IssuedToken) core.Row { return core.Row{Token: v} },
				`SELECT `+tokenOnlyCols+` FROM tokens ORDER BY rowid`) &&
			dumpTable(ctx, db, yield, scanStoredCharge, func(v *core.StoredCharge) core.Row { return core.Row{Charge: v} },
				`SELECT jti, request_id, method, credits, outcome, message, token_remaining, balance, time FROM charges ORDER BY rowid`) &&
			dumpTable(ctx, db, yield, scanUsageEvent, func(v *core.UsageEvent) core.Row { return core.Row{Usage: v} },
				`SELECT time, account_id, user_id, application, method, credits, outcome, client_addr, jti FROM usage ORDER BY id`)
	}
}

// Load writes rows into an empty database in one transaction.
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
	return db.write(ctx, func(w wtx) error {
		for r, err := range rows {
			if err != nil {
				return err
			}
			if err := w.load(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func (w wtx) load(r core.Row) error {
	var err error
	switch {
	case r.Account != nil:
		a := r.Account
		_, err = w.exec(`INSERT INTO accounts (id, name, credits, created_at) VALUES (?, ?, ?, ?)`, a.ID, a.Name, a.Credits, fmtTime(a.Created))
	case r.User != nil:
		u := r.User
		_, err = w.exec(`INSERT INTO users (id, account_id, username, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.AccountID, u.Username, u.PasswordHash, u.Disabled, fmtTime(u.Created))
	case r.APIKey != nil:
		k := r.APIKey
		_, err = w.exec(`INSERT INTO api_keys (id, account_id, user_id, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.AccountID, k.UserID, k.SecretHash, fmtTime(k.Created), nullTimeValue(k.Revoked))
	case r.ServiceKey != nil:
		k := r.ServiceKey
		_, err = w.exec(`INSERT INTO service_keys (id, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.SecretHash, fmtTime(k.Created), nullTimeValue(k.Revoked))
	case r.SigningKey != nil:
		k := r.SigningKey
		_, err = w.exec(`INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at, activates_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.Kid, k.Alg, k.Private, k.Public, fmtTime(k.Created), fmtTime(k.Activates), nullTimeValue(k.Retired))
	case r.Token != nil:
		t := r.Token
		methods, merr := json.Marshal(nonNil(t.AllowedMethods))
		if merr != nil {
			return merr
		}
		_, err = w.exec(`INSERT INTO tokens (jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip,
			issued_at, expires_at, credits_spent, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.JTI, t.Kid, t.AccountID, t.UserID, nullString(t.APIKeyID), t.Application, string(methods), t.MaxCredits, t.ClientIP,
			fmtTime(t.IssuedAt), fmtTime(t.ExpiresAt), t.CreditsSpent, nullTimeValue(t.Revoked))
	case r.Charge != nil:
		c := r.Charge
		_, err = w.exec(`INSERT INTO charges (jti, request_id, method, credits, outcome, message, token_remaining, balance, time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.JTI, c.RequestID, c.Method, c.Credits, string(c.Outcome), c.Message,
			c.TokenRemaining, c.Balance, fmtTime(c.Time))
	case r.Usage != nil:
		err = w.insertUsage(r.Usage)
	}
	return err
}

// nullTimeValue is a nullable time column's value.
func nullTimeValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}
