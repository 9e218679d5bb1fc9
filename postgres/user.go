package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateUser(ctx context.Context, u *core.User, account *core.Account) (err error) {
	defer wrapErr(&err, "CreateUser(%q)", u.Username)
	return db.tx(ctx, func(tx pgx.Tx) error {
		if account != nil {
			if err := createAccount(ctx, tx, account); err != nil {
				return err
			}
			u.AccountID = account.ID
		}
		err := tx.QueryRow(ctx, `INSERT INTO users (account_id, username, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			u.AccountID, u.Username, u.PasswordHash, u.Disabled, u.Created).Scan(&u.ID)
		return storeErr(err)
	})
}

const userCols = `u.id, u.account_id, u.username, u.password_hash, u.disabled, u.created_at`

func scanUser(row pgx.Row) (*core.User, error) {
	u := &core.User{}
	err := row.Scan(&u.ID, &u.AccountID, &u.Username, &u.PasswordHash, &u.Disabled, &u.Created)
	u.Created = utc(u.Created)
	return u, err
}

func scanUserInfo(row pgx.Row) (*core.UserInfo, error) {
	ui := &core.UserInfo{}
	u := &ui.User
	err := row.Scan(&u.ID, &u.AccountID, &u.Username, &u.PasswordHash, &u.Disabled, &u.Created, &ui.Account)
	u.Created = utc(u.Created)
	return ui, err
}

func (db *DB) UserByName(ctx context.Context, username string) (_ *core.User, err error) {
	defer wrapErr(&err, "UserByName(%q)", username)
	return queryOne(ctx, db, scanUser, `SELECT `+userCols+` FROM users u WHERE lower(u.username) = lower($1)`, username)
}

func (db *DB) UserByID(ctx context.Context, id int64) (_ *core.User, err error) {
	defer wrapErr(&err, "UserByID(%d)", id)
	return queryOne(ctx, db, scanUser, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id)
}

func (db *DB) ListUsers(ctx context.Context, p core.Page) (_ []*core.UserInfo, err error) {
	defer wrapErr(&err, "ListUsers")
	return queryAll(ctx, db, scanUserInfo, `SELECT `+userCols+`, a.name FROM users u JOIN accounts a ON a.id = u.account_id
		ORDER BY lower(u.username) COLLATE "C", u.id`+limit(p))
}

func (db *DB) SetPasswordHash(ctx context.Context, userID int64, hash string) (err error) {
	defer wrapErr(&err, "SetPasswordHash(%d)", userID)
	return db.update(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
}

func (db *DB) SetUserDisabled(ctx context.Context, userID int64, disabled bool) (err error) {
	defer wrapErr(&err, "SetUserDisabled(%d)", userID)
	return db.update(ctx, `UPDATE users SET disabled = $1 WHERE id = $2`, disabled, userID)
}

// update runs one UPDATE that must change a row (ErrNotFound otherwise).
func (db *DB) update(ctx context.Context, query string, args ...any) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		if err == nil && tag.RowsAffected() == 0 {
			return core.ErrNotFound
		}
		return storeErr(err)
	})
}

func (db *DB) CountUsers(ctx context.Context) (n int64, err error) {
	defer wrapErr(&err, "CountUsers")
	return queryOne(ctx, db, func(row pgx.Row) (int64, error) {
		var n int64
		return n, row.Scan(&n)
	}, `SELECT count(*) FROM users`)
}
