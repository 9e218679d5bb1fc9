package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) RotateSigningKey(ctx context.Context, k *core.SigningKey) (err error) {
	defer wrapErr(&err, "RotateSigningKey(%q)", k.Kid)
	return db.write(ctx, func(w wtx) error {
		// Every key signs until the next one activates: each key's
		// window ends where the new one's begins.
		if _, err := w.exec(`UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL OR retired_at > ?1`, fmtTime(k.Activates)); err != nil {
			return err
		}
		_, err := w.exec(`INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at, activates_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.Kid, k.Alg, k.Private, k.Public, fmtTime(k.Created), fmtTime(k.Activates))
		return err
	})
}

const signingKeyCols = `kid, alg, private_key, public_key, created_at, activates_at, retired_at`

func scanSigningKey(row rowScanner) (*core.SigningKey, error) {
	k := &core.SigningKey{}
	err := row.Scan(&k.Kid, &k.Alg, &k.Private, &k.Public, textTime{&k.Created}, textTime{&k.Activates}, nullTime{&k.Retired})
	return k, err
}

func (db *DB) ActiveSigningKey(ctx context.Context, now time.Time) (_ *core.SigningKey, err error) {
	defer wrapErr(&err, "ActiveSigningKey")
	k, err := scanSigningKey(db.queryRow(ctx, `SELECT `+signingKeyCols+` FROM signing_keys
		WHERE activates_at <= ?1 AND (retired_at IS NULL OR retired_at > ?1) ORDER BY activates_at DESC LIMIT 1`, fmtTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return k, err
}

func (db *DB) SigningKeyByKid(ctx context.Context, kid string) (_ *core.SigningKey, err error) {
	defer wrapErr(&err, "SigningKeyByKid(%q)", kid)
	k, err := scanSigningKey(db.queryRow(ctx, `SELECT `+signingKeyCols+` FROM signing_keys WHERE kid = ?`, kid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return k, err
}

func (db *DB) ListSigningKeys(ctx context.Context) (_ []*core.SigningKey, err error) {
	defer wrapErr(&err, "ListSigningKeys")
	return queryAll(ctx, db, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at, kid`)
}

func (db *DB) VerificationKeys(ctx context.Context, now time.Time) (_ []*core.SigningKey, err error) {
	defer wrapErr(&err, "VerificationKeys")
	return queryAll(ctx, db, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys k
		WHERE k.retired_at IS NULL OR k.retired_at > ?1
		   OR EXISTS (SELECT 1 FROM tokens t WHERE t.kid = k.kid AND t.expires_at > ?1)
		ORDER BY k.created_at DESC, k.kid`, fmtTime(now))
}
