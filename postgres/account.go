package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) CreateAccount(ctx context.Context, a *core.Account) (err error) {
	defer wrapErr(&err, "CreateAccount(%q)", a.Name)
	return db.tx(ctx, func(tx pgx.Tx) error { return createAccount(ctx, tx, a) })
}

func createAccount(ctx context.Context, tx pgx.Tx, a *core.Account) error {
	err := tx.QueryRow(ctx, `INSERT INTO accounts (name, credits, created_at) VALUES ($1, $2, $3) RETURNING id`,
		a.Name, a.Credits, a.Created).Scan(&a.ID)
	return storeErr(err)
}

const accountCols = `id, name, credits, created_at`

func scanAccount(row pgx.Row) (*core.Account, error) {
	a := &core.Account{}
	err := row.Scan(&a.ID, &a.Name, &a.Credits, &a.Created)
	a.Created = utc(a.Created)
	return a, err
}

func (db *DB) AccountByName(ctx context.Context, name string) (_ *core.Account, err error) {
	defer wrapErr(&err, "AccountByName(%q)", name)
	return queryOne(ctx, db, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE lower(name) = lower($1)`, name)
}

func (db *DB) AccountByID(ctx context.Context, id int64) (_ *core.Account, err error) {
	defer wrapErr(&err, "AccountByID(%d)", id)
	return queryOne(ctx, db, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id)
}

func (db *DB) ListAccounts(ctx context.Context, p core.Page) (_ []*core.Account, err error) {
	defer wrapErr(&err, "ListAccounts")
	return queryAll(ctx, db, scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY lower(name) COLLATE "C", id`+limit(p))
}

func (db *DB) AddCredits(ctx context.Context, accountID, delta int64) (balance int64, err error) {
	defer wrapErr(&err, "AddCredits(%d, %d)", accountID, delta)
	err = db.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE accounts SET credits = credits + $1 WHERE id = $2 RETURNING credits`, delta, accountID).Scan(&balance)
		return storeErr(notFound(err))
	})
	return balance, err
}
