package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) IssueToken(ctx context.Context, t *core.IssuedToken, ev *core.UsageEvent) error {
	methods, err := json.Marshal(nonNil(t.AllowedMethods))
	if err != nil {
		return core.Internal(err)
	}
	return wrap(db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip, issued_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.JTI, t.Kid, t.AccountID, t.UserID, nullString(t.APIKeyID), t.Application, string(methods), t.MaxCredits, t.ClientIP,
			fmtTime(t.IssuedAt), fmtTime(t.ExpiresAt))
		if err != nil {
			return err
		}
		return insertUsage(ctx, tx, ev)
	}))
}

func (db *DB) TokenByJTI(ctx context.Context, jti string) (*core.IssuedToken, error) {
	t := &core.IssuedToken{}
	var apiKey sql.NullString
	var methods string
	err := db.rdb.QueryRowContext(ctx, `SELECT jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip, issued_at, expires_at
		FROM tokens WHERE jti = ?`, jti).Scan(&t.JTI, &t.Kid, &t.AccountID, &t.UserID, &apiKey, &t.Application, &methods, &t.MaxCredits, &t.ClientIP,
		textTime{&t.IssuedAt}, textTime{&t.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token %q", jti)
	}
	if err != nil {
		return nil, wrap(err)
	}
	t.APIKeyID = apiKey.String
	if err := json.Unmarshal([]byte(methods), &t.AllowedMethods); err != nil {
		return nil, core.Internal(err)
	}
	return t, nil
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
