package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateAPIKey(ctx context.Context, k *core.APIKey) (err error) {
	defer wrapErr(&err, "CreateAPIKey(%q)", k.ID)
	return db.write(ctx, func(w wtx) error {
		_, err := w.exec(`INSERT INTO api_keys (id, account_id, user_id, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.AccountID, k.UserID, k.SecretHash, fmtTime(k.Created))
		switch {
		case isConstraint(err, sqlite3.ErrConstraintPrimaryKey), isConstraint(err, sqlite3.ErrConstraintUnique):
			return core.ErrConflict
		case isConstraint(err, sqlite3.ErrConstraintForeignKey):
			return notFound("user %d or account %d", k.UserID, k.AccountID)
		}
		return err
	})
}

const apiKeyCols = `id, account_id, user_id, secret_hash, created_at, revoked_at`

func scanAPIKey(row rowScanner) (*core.APIKey, error) {
	k := &core.APIKey{}
	err := row.Scan(&k.ID, &k.AccountID, &k.UserID, &k.SecretHash, textTime{&k.Created}, nullTime{&k.Revoked})
	return k, err
}

func (db *DB) APIKeyByID(ctx context.Context, id string) (_ *core.APIKey, err error) {
	defer wrapErr(&err, "APIKeyByID(%q)", id)
	k, err := scanAPIKey(db.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return k, err
}

func (db *DB) ListAPIKeys(ctx context.Context, userID *int64, p core.Page) (_ []*core.APIKey, err error) {
	defer wrapErr(&err, "ListAPIKeys")
	return queryAll(ctx, db, scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created_at, id`+limit(p), userID)
}

func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) (err error) {
	defer wrapErr(&err, "RevokeAPIKey(%q)", id)
	return db.write(ctx, func(w wtx) error {
		res, err := w.exec(`UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, fmtTime(at), id)
		if err != nil {
			return err
		}
		return affected(res, core.ErrNotFound)
	})
}
