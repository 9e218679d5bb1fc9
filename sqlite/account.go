package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateAccount(ctx context.Context, a *core.Account) (err error) {
	defer wrapErr(&err, "CreateAccount(%q)", a.Name)
	return db.write(ctx, func(w wtx) error { return createAccount(w, a) })
}

func createAccount(w wtx, a *core.Account) error {
	res, err := w.exec(`INSERT INTO accounts (name, credits, created_at) VALUES (?, ?, ?)`,
		a.Name, a.Credits, fmtTime(a.Created))
	switch {
	case isConstraint(err, sqlite3.ErrConstraintUnique):
		return core.ErrConflict
	case isConstraint(err, sqlite3.ErrConstraintCheck):
		return core.ErrOutOfRange
	case err != nil:
		return err
	}
	a.ID, err = res.LastInsertId()
	return err
}

const accountCols = `id, name, credits, created_at`

func scanAccount(row rowScanner) (*core.Account, error) {
	a := &core.Account{}
	err := row.Scan(&a.ID, &a.Name, &a.Credits, textTime{&a.Created})
	return a, err
}

func (db *DB) AccountByName(ctx context.Context, name string) (_ *core.Account, err error) {
	defer wrapErr(&err, "AccountByName(%q)", name)
	a, err := scanAccount(db.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return a, err
}

func (db *DB) AccountByID(ctx context.Context, id int64) (_ *core.Account, err error) {
	defer wrapErr(&err, "AccountByID(%d)", id)
	a, err := scanAccount(db.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ErrNotFound
	}
	return a, err
}

func (db *DB) ListAccounts(ctx context.Context, p core.Page) (_ []*core.Account, err error) {
	defer wrapErr(&err, "ListAccounts")
	return queryAll(ctx, db, scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY name, id`+limit(p))
}

func (db *DB) AddCredits(ctx context.Context, accountID, delta int64) (balance int64, err error) {
	defer wrapErr(&err, "AddCredits(%d, %d)", accountID, delta)
	err = db.write(ctx, func(w wtx) error {
		err := w.queryRow(`UPDATE accounts SET credits = credits + ? WHERE id = ? RETURNING credits`, delta, accountID).Scan(&balance)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return core.ErrNotFound
		case isConstraint(err, sqlite3.ErrConstraintCheck):
			return core.ErrOutOfRange
		}
		return err
	})
	return balance, err
}
