package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateServiceKey(ctx context.Context, k *core.ServiceKey) (err error) {
	defer wrapErr(&err, "CreateServiceKey(%q)", k.Name)
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO service_keys (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)`,
			k.ID, k.Name, k.SecretHash, k.Created)
		return storeErr(err)
	})
}

const serviceKeyCols = `id, name, secret_hash, created_at, revoked_at`

func scanServiceKey(row pgx.Row) (*core.ServiceKey, error) {
	k := &core.ServiceKey{}
	err := row.Scan(&k.ID, &k.Name, &k.SecretHash, &k.Created, &k.Revoked)
	k.Created, k.Revoked = utc(k.Created), utcPtr(k.Revoked)
	return k, err
}

func (db *DB) ServiceKeyByID(ctx context.Context, id string) (_ *core.ServiceKey, err error) {
	defer wrapErr(&err, "ServiceKeyByID(%q)", id)
	return queryOne(ctx, db, scanServiceKey, `SELECT `+serviceKeyCols+` FROM service_keys WHERE id = $1`, id)
}

func (db *DB) ListServiceKeys(ctx context.Context, p core.Page) (_ []*core.ServiceKey, err error) {
	defer wrapErr(&err, "ListServiceKeys")
	return queryAll(ctx, db, scanServiceKey, `SELECT `+serviceKeyCols+` FROM service_keys ORDER BY created_at, id COLLATE "C"`+limit(p))
}

func (db *DB) RevokeServiceKey(ctx context.Context, idOrName string, at time.Time) (err error) {
	defer wrapErr(&err, "RevokeServiceKey(%q)", idOrName)
	return db.tx(ctx, func(tx pgx.Tx) error {
		// By id (any state, so revoking twice is harmless), else the active key of that name.
		tag, err := tx.Exec(ctx, `UPDATE service_keys SET revoked_at = coalesce(revoked_at, $1)
			WHERE id = $2 OR (revoked_at IS NULL AND lower(name) = lower($2))`, at, idOrName)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		// A name whose keys are all revoked already: harmless.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM service_keys WHERE lower(name) = lower($1))`, idOrName).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return core.ErrNotFound
		}
		return nil
	})
}
