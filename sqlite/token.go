package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) IssueToken(ctx context.Context, t *core.IssuedToken, ev *core.UsageEvent) (err error) {
	defer wrapErr(&err, "IssueToken(%q)", t.JTI)
	methods, err := json.Marshal(nonNil(t.AllowedMethods))
	if err != nil {
		return err
	}
	return db.write(ctx, func(w wtx) error {
		_, err := w.exec(`INSERT INTO tokens (jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip, issued_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.JTI, t.Kid, t.AccountID, t.UserID, nullString(t.APIKeyID), t.Application, string(methods), t.MaxCredits, t.ClientIP,
			fmtTime(t.IssuedAt), fmtTime(t.ExpiresAt))
		if isConstraint(err, sqlite3.ErrConstraintPrimaryKey) || isConstraint(err, sqlite3.ErrConstraintUnique) {
			return core.ErrConflict
		}
		if err != nil {
			return err
		}
		return w.insertUsage(ev)
	})
}

const tokenCols = `t.jti, t.kid, t.account_id, t.user_id, t.api_key_id, t.application, t.allowed_methods,
		t.max_credits, t.client_ip, t.issued_at, t.expires_at, t.credits_spent, t.revoked_at,
		u.disabled, k.revoked_at IS NOT NULL, a.credits`

// tokenJoin joins a token with its holder's state and balance.
const tokenJoin = ` FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN api_keys k ON k.id = t.api_key_id
		JOIN accounts a ON a.id = t.account_id`

func scanToken(row rowScanner) (*core.IssuedToken, error) {
	t := &core.IssuedToken{}
	var apiKey sql.NullString
	var methods string
	err := row.Scan(&t.JTI, &t.Kid, &t.AccountID, &t.UserID, &apiKey, &t.Application, &methods, &t.MaxCredits, &t.ClientIP,
		textTime{&t.IssuedAt}, textTime{&t.ExpiresAt}, &t.CreditsSpent, nullTime{&t.Revoked}, &t.UserDisabled, &t.APIKeyRevoked,
		&t.AccountCredits)
	if err != nil {
		return nil, err
	}
	t.APIKeyID = apiKey.String
	return t, json.Unmarshal([]byte(methods), &t.AllowedMethods)
}

func (db *DB) TokenByJTI(ctx context.Context, jti string) (_ *core.IssuedToken, err error) {
	defer wrapErr(&err, "TokenByJTI(%q)", jti)
	// One statement: outside a transaction each statement is a read
	// transaction of its own, and the join costs no more than two of them
	// (BenchmarkTokenState).
	t, err := scanToken(db.queryRow(ctx, `SELECT `+tokenCols+tokenJoin+` WHERE t.jti = ?`, jti))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return t, err
}

func (db *DB) ListTokens(ctx context.Context, f core.TokenFilter, p core.Page) (_ []*core.IssuedToken, err error) {
	defer wrapErr(&err, "ListTokens")
	var live any
	if !f.LiveAt.IsZero() {
		live = fmtTime(f.LiveAt)
	}
	return queryAll(ctx, db, scanToken, `SELECT `+tokenCols+tokenJoin+`
		WHERE (?1 IS NULL OR t.account_id = ?1) AND (?2 IS NULL OR (t.expires_at > ?2 AND t.revoked_at IS NULL))
		ORDER BY t.issued_at DESC, t.rowid DESC`+limit(p), f.AccountID, live)
}

// holderState reads, in the write transaction, whether a token's user is
// disabled and whether its API key (if any) is revoked. These are separate
// primary-key reads rather than TokenByJTI's join: inside a transaction
// SQLite answers them in well under half the time (BenchmarkTokenState).
func (w wtx) holderState(userID int64, apiKeyID sql.NullString) (userDisabled, keyRevoked bool, err error) {
	err = w.queryRow(`SELECT disabled FROM users WHERE id = ?`, userID).Scan(&userDisabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, notFound("user %d", userID)
	}
	if err != nil || !apiKeyID.Valid {
		return userDisabled, false, err
	}
	err = w.queryRow(`SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ?`, apiKeyID.String).Scan(&keyRevoked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, notFound("API key %q", apiKeyID.String)
	}
	return userDisabled, keyRevoked, err
}

func (db *DB) RevokeToken(ctx context.Context, jti string, at time.Time) (err error) {
	defer wrapErr(&err, "RevokeToken(%q)", jti)
	return db.write(ctx, func(w wtx) error {
		res, err := w.exec(`UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE jti = ?`, fmtTime(at), jti)
		if err != nil {
			return err
		}
		return affected(res, core.ErrNotFound)
	})
}

// ChargeTx reads the token's state and the charge stored under requestID
// in one immediate transaction, so that concurrent charges, from this
// process or another, are serialised by SQLite's write lock; decide runs
// inside it.
func (db *DB) ChargeTx(ctx context.Context, jti, requestID string, decide func(core.ChargeState) (core.ChargeWrite, error)) error {
	refused := false // decide returned an error: ChargeTx returns it as it is
	err := db.write(ctx, func(w wtx) error {
		st, err := w.chargeState(jti, requestID)
		if err != nil {
			return err
		}
		out, err := decide(st)
		if err != nil {
			refused = true
			return err
		}
		return w.writeCharge(jti, requestID, st.Token.AccountID, out)
	})
	if err != nil && !refused {
		err = fmt.Errorf("sqlite.ChargeTx(%q): %w", jti, err)
	}
	return err
}

const replayQuery = `SELECT method, credits, outcome, message, token_remaining, balance, time FROM charges WHERE jti = ? AND request_id = ?`

// chargeState reads what decide needs, by primary keys.
func (w wtx) chargeState(jti, requestID string) (core.ChargeState, error) {
	var st core.ChargeState
	if requestID != "" {
		prev := &core.ChargeRecord{}
		var outcome string
		err := w.queryRow(replayQuery, jti, requestID).Scan(&prev.Method, &prev.Credits, &outcome, &prev.Message,
			&prev.TokenRemaining, &prev.Balance, textTime{&prev.Time})
		switch {
		case err == nil:
			prev.Outcome = core.Outcome(outcome)
			st.Previous = prev
		case !errors.Is(err, sql.ErrNoRows):
			return st, err
		}
	}
	t := &st.Token
	var userID int64
	var revoked, apiKey sql.NullString
	err := w.queryRow(`SELECT account_id, max_credits, credits_spent, revoked_at, user_id, api_key_id FROM tokens WHERE jti = ?`, jti).
		Scan(&t.AccountID, &t.MaxCredits, &t.CreditsSpent, &revoked, &userID, &apiKey)
	if errors.Is(err, sql.ErrNoRows) {
		return st, core.ErrNotFound
	}
	if err != nil {
		return st, err
	}
	t.Revoked = revoked.Valid
	if t.UserDisabled, t.APIKeyRevoked, err = w.holderState(userID, apiKey); err != nil {
		return st, err
	}
	err = w.queryRow(`SELECT credits FROM accounts WHERE id = ?`, t.AccountID).Scan(&t.Balance)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("account %d of token: %w", t.AccountID, core.ErrNotFound)
	}
	return st, err
}

// writeCharge persists what core decided.
func (w wtx) writeCharge(jti, requestID string, accountID int64, out core.ChargeWrite) error {
	if out.Credits != 0 {
		// A CHECK is a balance leaving 0 … MaxCreditsLimit (or a spend below 0).
		if _, err := w.exec(`UPDATE accounts SET credits = credits - ? WHERE id = ?`, out.Credits, accountID); err != nil {
			return outOfRange(err)
		}
		if _, err := w.exec(`UPDATE tokens SET credits_spent = credits_spent + ? WHERE jti = ?`, out.Credits, jti); err != nil {
			return outOfRange(err)
		}
	}
	if r := out.Record; r != nil && requestID != "" {
		if _, err := w.exec(`INSERT INTO charges (jti, request_id, method, credits, outcome, message, token_remaining, balance, time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, jti, requestID, r.Method, r.Credits, string(r.Outcome), r.Message,
			r.TokenRemaining, r.Balance, fmtTime(r.Time)); err != nil {
			return err
		}
	}
	if out.Usage != nil {
		return w.insertUsage(out.Usage)
	}
	return nil
}

// outOfRange is core.ErrOutOfRange for a failed CHECK constraint, else err.
func outOfRange(err error) error {
	if isConstraint(err, sqlite3.ErrConstraintCheck) {
		return core.ErrOutOfRange
	}
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SeedTokens inserts n expired-in-an-hour copies of like (jti "seed-<i>"), in
// batches, for benchmarks of how cost grows with the number of live tokens.
func (db *DB) SeedTokens(ctx context.Context, n int, like *core.IssuedToken) error {
	const batch = 100_000
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		err := db.write(ctx, func(w wtx) error {
			_, err := w.exec(`WITH RECURSIVE c(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM c WHERE x < ?2)
				INSERT INTO tokens (jti, kid, account_id, user_id, application, allowed_methods, client_ip, issued_at, expires_at)
				SELECT 'seed-' || x, ?3, ?4, ?5, ?6, '[]', '', ?7, ?8 FROM c`,
				done+1, done+k, like.Kid, like.AccountID, like.UserID, like.Application, fmtTime(like.IssuedAt), fmtTime(like.ExpiresAt))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite.SeedTokens: %w", err)
		}
	}
	return nil
}
