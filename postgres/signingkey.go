package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) RotateSigningKey(ctx context.Context, k *core.SigningKey) (err error) {
	defer wrapErr(&err, "RotateSigningKey(%q)", k.Kid)
	return db.tx(ctx, func(tx pgx.Tx) error {
		// Rotations, from any instance, one at a time: the next one's UPDATE
		// must see the key this one made active.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, rotationLock); err != nil {
			return err
		}
		// Every key signs until the next one activates: each key's
		// window ends where the new one's begins.
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > $1`, k.Activates); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at, activates_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.Kid, k.Alg, k.Private, k.Public, k.Created, k.Activates)
		return storeErr(err)
	})
}

// rotationLock is the advisory lock of key rotations.
const rotationLock = migrationLock + 1

const signingKeyCols = `kid, alg, private_key, public_key, created_at, activates_at, retired_at`

func scanSigningKey(row pgx.Row) (*core.SigningKey, error) {
	k := &core.SigningKey{}
	err := row.Scan(&k.Kid, &k.Alg, &k.Private, &k.Public, &k.Created, &k.Activates, &k.Retired)
	k.Created, k.Activates, k.Retired = utc(k.Created), utc(k.Activates), utcPtr(k.Retired)
	return k, err
}

func (db *DB) ActiveSigningKey(ctx context.Context, now time.Time) (_ *core.SigningKey, err error) {
	defer wrapErr(&err, "ActiveSigningKey")
	return queryOne(ctx, db, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys
		WHERE activates_at <= $1 AND (retired_at IS NULL OR retired_at > $1) ORDER BY activates_at DESC LIMIT 1`, now)
}

func (db *DB) SigningKeyByKid(ctx context.Context, kid string) (_ *core.SigningKey, err error) {
	defer wrapErr(&err, "SigningKeyByKid(%q)", kid)
	return queryOne(ctx, db, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys WHERE kid = $1`, kid)
}

func (db *DB) ListSigningKeys(ctx context.Context) (_ []*core.SigningKey, err error) {
	defer wrapErr(&err, "ListSigningKeys")
	return queryAll(ctx, db, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at, kid COLLATE "C"`)
}

func (db *DB) VerificationKeys(ctx context.Context, now time.Time) (_ []*core.SigningKey, err error) {
	defer wrapErr(&err, "VerificationKeys")
	return queryAll(ctx, db, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys k
		WHERE k.retired_at IS NULL OR k.retired_at > $1
		   OR EXISTS (SELECT 1 FROM tokens t WHERE t.kid = k.kid AND t.expires_at > $1)
		ORDER BY k.created_at DESC, k.kid COLLATE "C"`, now)
}
