package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jwtgate/jwtgate/sqlite"
)

var benchDB = sqlite.BenchDB

func BenchmarkTokenByJTI(b *testing.B) {
	db, _ := benchDB(b)
	for b.Loop() {
		if _, err := db.TokenByJTI(context.Background(), "j"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCharge is one charge at a time (a batch of one: its own fsync),
// and in parallel (batches share one); each with a request id, as the bench
// command's charges have, and decided as core would in short (chargeOne).
func BenchmarkCharge(b *testing.B) {
	db, tok := benchDB(b)
	var seq atomic.Int64
	charge := func() error {
		id := "r" + strconv.FormatInt(seq.Add(1), 36)
		var charged bool
		if err := db.ChargeTx(context.Background(), tok.JTI, id, chargeOne(tok, id, &charged)); err != nil {
			return err
		}
		if !charged {
			return errors.New("refused")
		}
		return nil
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if err := charge(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel32", func(b *testing.B) {
		b.SetParallelism(16) // 16 x GOMAXPROCS(2) = 32 concurrent chargers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := charge(); err != nil {
					b.Error(err)
				}
			}
		})
	})
}

// BenchmarkTokenState compares two ways of reading what can end a token's
// life besides expiry: one join of tokens, users and api_keys, and separate
// primary-key reads; each alone (a read transaction per statement, as
// TokenByJTI reads) and inside a transaction (as a charge reads, in the
// writer's).
func BenchmarkTokenState(b *testing.B) {
	db, tok := benchDB(b)
	raw, err := sql.Open("sqlite3", db.Path+"?_journal_mode=WAL")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	prepare := func(q string) *sql.Stmt {
		st, err := raw.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	join := prepare(`SELECT t.credits_spent, t.revoked_at, u.disabled, k.revoked_at IS NOT NULL
		FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN api_keys k ON k.id = t.api_key_id WHERE t.jti = ?`)
	token := prepare(`SELECT credits_spent, revoked_at, user_id, api_key_id FROM tokens WHERE jti = ?`)
	user := prepare(`SELECT disabled FROM users WHERE id = ?`)
	var spent, userID int64
	var revoked, apiKey sql.NullString
	var disabled, keyRevoked bool
	b.Run("join", func(b *testing.B) {
		for b.Loop() {
			if err := join.QueryRow(tok.JTI).Scan(&spent, &revoked, &disabled, &keyRevoked); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("join-in-tx", func(b *testing.B) {
		tx, _ := raw.Begin()
		defer tx.Rollback()
		st := tx.Stmt(join)
		for b.Loop() {
			if err := st.QueryRow(tok.JTI).Scan(&spent, &revoked, &disabled, &keyRevoked); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookups-in-tx", func(b *testing.B) {
		tx, _ := raw.Begin()
		defer tx.Rollback()
		st1, st2 := tx.Stmt(token), tx.Stmt(user)
		for b.Loop() {
			if err := st1.QueryRow(tok.JTI).Scan(&spent, &revoked, &userID, &apiKey); err != nil {
				b.Fatal(err)
			}
			if err := st2.QueryRow(userID).Scan(&disabled); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookups", func(b *testing.B) {
		for b.Loop() {
			if err := token.QueryRow(tok.JTI).Scan(&spent, &revoked, &userID, &apiKey); err != nil {
				b.Fatal(err)
			}
			if err := user.QueryRow(userID).Scan(&disabled); err != nil {
				b.Fatal(err)
			}
		}
	})
}
