package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) IssueToken(ctx context.Context, t *core.IssuedToken, ev *core.UsageEvent) (err error) {
	defer wrapErr(&err, "IssueToken(%q)", t.JTI)
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tokens (jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip, issued_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			t.JTI, t.Kid, t.AccountID, t.UserID, nullString(t.APIKeyID), t.Application, nonNil(t.AllowedMethods), t.MaxCredits, t.ClientIP,
			t.IssuedAt, t.ExpiresAt)
		if err != nil {
			return storeErr(err)
		}
		return insertUsage(ctx, tx, ev)
	})
}

const tokenCols = `t.jti, t.kid, t.account_id, t.user_id, t.api_key_id, t.application, t.allowed_methods,
		t.max_credits, t.client_ip, t.issued_at, t.expires_at, t.credits_spent, t.revoked_at,
		u.disabled, k.revoked_at IS NOT NULL, a.credits`

// tokenJoin joins a token with its holder's state and balance.
const tokenJoin = ` FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN api_keys k ON k.id = t.api_key_id
		JOIN accounts a ON a.id = t.account_id`

func scanToken(row pgx.Row) (*core.IssuedToken, error) {
	t := &core.IssuedToken{}
	var apiKey *string
	err := row.Scan(&t.JTI, &t.Kid, &t.AccountID, &t.UserID, &apiKey, &t.Application, &t.AllowedMethods, &t.MaxCredits, &t.ClientIP,
		&t.IssuedAt, &t.ExpiresAt, &t.CreditsSpent, &t.Revoked, &t.UserDisabled, &t.APIKeyRevoked, &t.AccountCredits)
	if apiKey != nil {
		t.APIKeyID = *apiKey
	}
	if len(t.AllowedMethods) == 0 {
		t.AllowedMethods = nil
	}
	t.IssuedAt, t.ExpiresAt, t.Revoked = utc(t.IssuedAt), utc(t.ExpiresAt), utcPtr(t.Revoked)
	return t, err
}

func (db *DB) TokenByJTI(ctx context.Context, jti string) (_ *core.IssuedToken, err error) {
	defer wrapErr(&err, "TokenByJTI(%q)", jti)
	return queryOne(ctx, db, scanToken, `SELECT `+tokenCols+tokenJoin+` WHERE t.jti = $1`, jti)
}

func (db *DB) ListTokens(ctx context.Context, f core.TokenFilter, p core.Page) (_ []*core.IssuedToken, err error) {
	defer wrapErr(&err, "ListTokens")
	var live *time.Time
	if !f.LiveAt.IsZero() {
		live = &f.LiveAt
	}
	return queryAll(ctx, db, scanToken, `SELECT `+tokenCols+tokenJoin+`
		WHERE ($1::bigint IS NULL OR t.account_id = $1) AND ($2::timestamptz IS NULL OR (t.expires_at > $2 AND t.revoked_at IS NULL))
		ORDER BY t.issued_at DESC, t.seq DESC`+limit(p), f.AccountID, live)
}

func (db *DB) RevokeToken(ctx context.Context, jti string, at time.Time) (err error) {
	defer wrapErr(&err, "RevokeToken(%q)", jti)
	return db.update(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, $1) WHERE jti = $2`, at, jti)
}

// ChargeTx locks the token's row, then its account's, in that order in every
// transaction, so that charges of one token — from this instance or another
// — run one after the other, and charges of one account too; decide runs
// with both rows locked. The stored charge is read after the lock is held,
// by a statement of its own: one that committed meanwhile is then seen.
func (db *DB) ChargeTx(ctx context.Context, jti, requestID string, decide func(core.ChargeState) (core.ChargeWrite, error)) (err error) {
	var decided error
	defer func() {
		if err != decided || decided == nil {
			wrapErr(&err, "ChargeTx(%q)", jti)
		}
	}()
	return db.tx(ctx, func(tx pgx.Tx) error {
		st, err := chargeState(ctx, tx, jti, requestID)
		if err != nil {
			return err
		}
		out, err := decide(st)
		if err != nil {
			decided = err
			return err
		}
		return writeCharge(ctx, tx, jti, requestID, st.Token.AccountID, out)
	})
}

func chargeState(ctx context.Context, tx pgx.Tx, jti, requestID string) (core.ChargeState, error) {
	var st core.ChargeState
	t := &st.Token
	err := tx.QueryRow(ctx, `SELECT t.account_id, t.max_credits, t.credits_spent, t.revoked_at IS NOT NULL,
			u.disabled, k.revoked_at IS NOT NULL, a.credits`+tokenJoin+`
		WHERE t.jti = $1 FOR UPDATE OF t, a`, jti).
		Scan(&t.AccountID, &t.MaxCredits, &t.CreditsSpent, &t.Revoked, &t.UserDisabled, &t.APIKeyRevoked, &t.Balance)
	if err != nil {
		return st, notFound(err)
	}
	if requestID == "" {
		return st, nil
	}
	prev := &core.ChargeRecord{}
	var outcome string
	err = tx.QueryRow(ctx, `SELECT method, credits, outcome, message, token_remaining, balance, time FROM charges WHERE jti = $1 AND request_id = $2`,
		jti, requestID).Scan(&prev.Method, &prev.Credits, &outcome, &prev.Message, &prev.TokenRemaining, &prev.Balance, &prev.Time)
	switch {
	case err == nil:
		prev.Outcome, prev.Time = core.Outcome(outcome), utc(prev.Time)
		st.Previous = prev
	case !errors.Is(err, pgx.ErrNoRows):
		return st, err
	}
	return st, nil
}

// writeCharge persists what core decided, in one round trip.
func writeCharge(ctx context.Context, tx pgx.Tx, jti, requestID string, accountID int64, out core.ChargeWrite) error {
	b := &pgx.Batch{}
	if out.Credits != 0 {
		b.Queue(`UPDATE accounts SET credits = credits - $1 WHERE id = $2`, out.Credits, accountID)
		b.Queue(`UPDATE tokens SET credits_spent = credits_spent + $1 WHERE jti = $2`, out.Credits, jti)
	}
	if r := out.Record; r != nil && requestID != "" {
		b.Queue(`INSERT INTO charges (jti, request_id, method, credits, outcome, message, token_remaining, balance, time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, jti, requestID, r.Method, r.Credits, string(r.Outcome), r.Message,
			r.TokenRemaining, r.Balance, r.Time)
	}
	if ev := out.Usage; ev != nil {
		queueUsage(b, ev)
	}
	if b.Len() == 0 {
		return nil
	}
	return storeErr(tx.SendBatch(ctx, b).Close())
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
