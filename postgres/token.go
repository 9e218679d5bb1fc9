package postgres

import (
	"context"
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
