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
		if _, err := w.exec(`UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`, fmtTime(k.Created)); err != nil {
			return err
		}
		_, err := w.exec(`INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.Kid, k.Alg, k.Private, k.Public, fmtTime(k.Created))
		return err
	})
}

const signingKeyCols = `kid, alg, private_key, public_key, created_at, retired_at`

func scanSigningKey(row rowScanner) (*core.SigningKey, error) {
	k := &core.SigningKey{}
	err := row.Scan(&k.Kid, &k.Alg, &k.Private, &k.Public, textTime{&k.Created}, nullTime{&k.Retired})
	return k, err
}

func (db *DB) ActiveSigningKey(ctx context.Context) (_ *core.SigningKey, err error) {
	defer wrapErr(&err, "ActiveSigningKey")
	k, err := scanSigningKey(db.queryRow(ctx, `SELECT `+signingKeyCols+` FROM signing_keys WHERE retired_at IS NULL`))
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
		WHERE k.retired_at IS NULL
		   OR EXISTS (SELECT 1 FROM tokens t WHERE t.kid = k.kid AND t.expires_at > ?)
		ORDER BY k.created_at DESC, k.kid`, fmtTime(now))
}
