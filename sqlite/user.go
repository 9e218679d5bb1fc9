package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateUser(ctx context.Context, u *core.User, account *core.Account) error {
	return wrap(db.write(ctx, func(w wtx) error {
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
			return core.Errorf(core.ECONFLICT, "user %q already exists", u.Username)
		case isConstraint(err, sqlite3.ErrConstraintForeignKey):
			return notFound("account %d", u.AccountID)
		case err != nil:
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	}))
}

const userCols = `u.id, u.account_id, u.username, u.password_hash, u.disabled, u.created_at`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (*core.User, error) {
	u := &core.User{}
	err := row.Scan(append([]any{&u.ID, &u.AccountID, &u.Username, &u.PasswordHash, &u.Disabled, textTime{&u.Created}}, extra...)...)
	return u, err
}

func (db *DB) UserByName(ctx context.Context, username string) (*core.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %q", username)
	}
	return u, wrap(err)
}

func (db *DB) UserByID(ctx context.Context, id int64) (*core.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %d", id)
	}
	return u, wrap(err)
}

func (db *DB) ListUsers(ctx context.Context) ([]*core.UserInfo, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT `+userCols+`, a.name FROM users u JOIN accounts a ON a.id = u.account_id ORDER BY u.username`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*core.UserInfo
	for rows.Next() {
		ui := &core.UserInfo{}
		u, err := scanUser(rows, &ui.Account)
		if err != nil {
			return nil, wrap(err)
		}
		ui.User = *u
		out = append(out, ui)
	}
	return out, wrap(rows.Err())
}

func (db *DB) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return db.updateUser(ctx, userID, `UPDATE users SET password_hash = ? WHERE id = ?`, hash)
}

func (db *DB) SetUserDisabled(ctx context.Context, userID int64, disabled bool) error {
	return db.updateUser(ctx, userID, `UPDATE users SET disabled = ? WHERE id = ?`, disabled)
}

func (db *DB) updateUser(ctx context.Context, userID int64, query string, value any) error {
	return wrap(db.write(ctx, func(w wtx) error {
		res, err := w.exec(query, value, userID)
		if err != nil {
			return err
		}
		return affected(res, notFound("user %d", userID))
	}))
}

func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := db.queryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, wrap(err)
}
