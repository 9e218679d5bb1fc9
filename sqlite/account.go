package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateAccount(ctx context.Context, a *core.Account) error {
	return wrap(db.write(ctx, func(w wtx) error { return createAccount(w, a) }))
}

func createAccount(w wtx, a *core.Account) error {
	res, err := w.exec(`INSERT INTO accounts (name, credits, created_at) VALUES (?, ?, ?)`,
		a.Name, a.Credits, fmtTime(a.Created))
	switch {
	case isConstraint(err, sqlite3.ErrConstraintUnique):
		return core.Errorf(core.ECONFLICT, "account %q already exists", a.Name)
	case isConstraint(err, sqlite3.ErrConstraintCheck):
		return core.Errorf(core.EINVALID, "credits must be between 0 and %d", int64(core.MaxCreditsLimit))
	case err != nil:
		return err
	}
	a.ID, err = res.LastInsertId()
	return err
}

const accountCols = `id, name, credits, created_at`

func scanAccount(row interface{ Scan(...any) error }) (*core.Account, error) {
	a := &core.Account{}
	err := row.Scan(&a.ID, &a.Name, &a.Credits, textTime{&a.Created})
	return a, err
}

func (db *DB) AccountByName(ctx context.Context, name string) (*core.Account, error) {
	a, err := scanAccount(db.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account %q", name)
	}
	return a, wrap(err)
}

func (db *DB) AccountByID(ctx context.Context, id int64) (*core.Account, error) {
	a, err := scanAccount(db.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account %d", id)
	}
	return a, wrap(err)
}

func (db *DB) ListAccounts(ctx context.Context) ([]*core.Account, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []*core.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, a)
	}
	return out, wrap(rows.Err())
}

func (db *DB) AddCredits(ctx context.Context, accountID, delta int64) (int64, error) {
	var balance int64
	err := db.write(ctx, func(w wtx) error {
		err := w.queryRow(`UPDATE accounts SET credits = credits + ? WHERE id = ? RETURNING credits`, delta, accountID).Scan(&balance)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("account %d", accountID)
		case isConstraint(err, sqlite3.ErrConstraintCheck):
			return core.Errorf(core.EINVALID, "the balance must stay between 0 and %d; it cannot go below zero", int64(core.MaxCreditsLimit))
		}
		return err
	})
	return balance, wrap(err)
}
