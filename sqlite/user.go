package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateUser(ctx context.Context, u *core.User, account *core.Account) (err error) {
	defer wrapErr(&err, "CreateUser(%q)", u.Username)
	return db.write(ctx, func(w wtx) error {
		if account != nil {
			if err := createAccount(w, account); err != nil {
				return err
			}
			u.AccountID = account.ID
		}
		res, err := w.exec(`INSERT INTO users (account_id, username, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.AccountID, u.Username, u.PasswordHash, u.Disabled, fmtTime(u.Created))
		switch {
		case isConstraint(err, sqlite3.ErrConstraintUnique):
			return core.ErrConflict
		case isConstraint(err, sqlite3.ErrConstraintForeignKey):
			return notFound("account %d", u.AccountID)
		case err != nil:
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	})
}

const userCols = `u.id, u.account_id, u.username, u.password_hash, u.disabled, u.created_at`

func scanUser(row rowScanner) (*core.User, error) {
	u := &core.User{}
	err := row.Scan(&u.ID, &u.AccountID, &u.Username, &u.PasswordHash, &u.Disabled, textTime{&u.Created})
	return u, err
}

func scanUserInfo(row rowScanner) (*core.UserInfo, error) {
	ui := &core.UserInfo{}
	u := &ui.User
	err := row.Scan(&u.ID, &u.AccountID, &u.Username, &u.PasswordHash, &u.Disabled, textTime{&u.Created}, &ui.Account)
	return ui, err
}

func (db *DB) UserByName(ctx context.Context, username string) (_ *core.User, err error) {
	defer wrapErr(&err, "UserByName(%q)", username)
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return u, err
}

func (db *DB) UserByID(ctx context.Context, id int64) (_ *core.User, err error) {
	defer wrapErr(&err, "UserByID(%d)", id)
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return u, err
}

func (db *DB) ListUsers(ctx context.Context, p core.Page) (_ []*core.UserInfo, err error) {
	defer wrapErr(&err, "ListUsers")
	return queryAll(ctx, db, scanUserInfo, `SELECT `+userCols+`, a.name FROM users u JOIN accounts a ON a.id = u.account_id ORDER BY u.username, u.id`+limit(p))
}

func (db *DB) SetPasswordHash(ctx context.Context, userID int64, hash string) (err error) {
	defer wrapErr(&err, "SetPasswordHash(%d)", userID)
	return db.updateUser(ctx, userID, `UPDATE users SET password_hash = ? WHERE id = ?`, hash)
}

func (db *DB) SetUserDisabled(ctx context.Context, userID int64, disabled bool) (err error) {
	defer wrapErr(&err, "SetUserDisabled(%d)", userID)
	return db.updateUser(ctx, userID, `UPDATE users SET disabled = ? WHERE id = ?`, disabled)
}

func (db *DB) updateUser(ctx context.Context, userID int64, query string, value any) error {
	return db.write(ctx, func(w wtx) error {
		res, err := w.exec(query, value, userID)
		if err != nil {
			return err
		}
		return affected(res, core.ErrNotFound)
	})
}

func (db *DB) CountUsers(ctx context.Context) (n int64, err error) {
	defer wrapErr(&err, "CountUsers")
	err = db.queryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}
