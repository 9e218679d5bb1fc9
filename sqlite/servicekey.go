package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateServiceKey(ctx context.Context, k *core.ServiceKey) (err error) {
	defer wrapErr(&err, "CreateServiceKey(%q)", k.Name)
	return db.write(ctx, func(w wtx) error {
		_, err := w.exec(`INSERT INTO service_keys (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)`,
			k.ID, k.Name, k.SecretHash, fmtTime(k.Created))
		if isConstraint(err, sqlite3.ErrConstraintUnique) || isConstraint(err, sqlite3.ErrConstraintPrimaryKey) {
			return core.ErrConflict
		}
		return err
	})
}

const serviceKeyCols = `id, name, secret_hash, created_at, revoked_at`

func scanServiceKey(row rowScanner) (*core.ServiceKey, error) {
	k := &core.ServiceKey{}
	err := row.Scan(&k.ID, &k.Name, &k.SecretHash, textTime{&k.Created}, nullTime{&k.Revoked})
	return k, err
}

func (db *DB) ServiceKeyByID(ctx context.Context, id string) (_ *core.ServiceKey, err error) {
	defer wrapErr(&err, "ServiceKeyByID(%q)", id)
	k, err := scanServiceKey(db.queryRow(ctx, `SELECT `+serviceKeyCols+` FROM service_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return k, err
}

func (db *DB) ListServiceKeys(ctx context.Context, p core.Page) (_ []*core.ServiceKey, err error) {
	defer wrapErr(&err, "ListServiceKeys")
	return queryAll(ctx, db, scanServiceKey, `SELECT `+serviceKeyCols+` FROM service_keys ORDER BY created_at, id`+limit(p))
}

func (db *DB) RevokeServiceKey(ctx context.Context, idOrName string, at time.Time) (err error) {
	defer wrapErr(&err, "RevokeServiceKey(%q)", idOrName)
	return db.write(ctx, func(w wtx) error {
		// By id (any state, so revoking twice is harmless), else the active key of that name.
		res, err := w.exec(`UPDATE service_keys SET revoked_at = coalesce(revoked_at, ?1)
			WHERE id = ?2 OR (revoked_at IS NULL AND name = ?2)`, fmtTime(at), idOrName)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n > 0 {
			return err
		}
		// A name whose keys are all revoked already: harmless.
		var exists int
		if err := w.queryRow(`SELECT count(*) FROM service_keys WHERE name = ?`, idOrName).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return core.ErrNotFound
		}
		return nil
	})
}
