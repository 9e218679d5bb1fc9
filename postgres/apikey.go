package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateAPIKey(ctx context.Context, k *core.APIKey) (err error) {
	defer wrapErr(&err, "CreateAPIKey(%q)", k.ID)
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, account_id, user_id, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.AccountID, k.UserID, k.SecretHash, k.Created)
		return storeErr(err)
	})
}

const apiKeyCols = `id, account_id, user_id, secret_hash, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (*core.APIKey, error) {
	k := &core.APIKey{}
	err := row.Scan(&k.ID, &k.AccountID, &k.UserID, &k.SecretHash, &k.Created, &k.Revoked)
	k.Created, k.Revoked = utc(k.Created), utcPtr(k.Revoked)
	return k, err
}

func (db *DB) APIKeyByID(ctx context.Context, id string) (_ *core.APIKey, err error) {
	defer wrapErr(&err, "APIKeyByID(%q)", id)
	return queryOne(ctx, db, scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, id)
}

func (db *DB) ListAPIKeys(ctx context.Context, userID *int64, p core.Page) (_ []*core.APIKey, err error) {
	defer wrapErr(&err, "ListAPIKeys")
	return queryAll(ctx, db, scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys WHERE $1::bigint IS NULL OR user_id = $1
		ORDER BY created_at, id COLLATE "C"`+limit(p), userID)
}

func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) (err error) {
	defer wrapErr(&err, "RevokeAPIKey(%q)", id)
	return db.update(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, at, id)
}
