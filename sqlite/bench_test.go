package sqlite_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
)

// benchDB is a store holding one user, key and token ("j").
func benchDB(b *testing.B) (*sqlite.DB, *core.IssuedToken) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	now := time.Now()
	u := &core.User{Username: "a", PasswordHash: "x", Created: now}
	if err := db.CreateUser(ctx, u, &core.Account{Name: "a", Credits: core.MaxCreditsLimit, Created: now}); err != nil {
		b.Fatal(err)
	}
	k, err := core.NewSigningKey(core.AlgEdDSA, now)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.RotateSigningKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	tok := &core.IssuedToken{JTI: "j", Kid: k.Kid, AccountID: u.AccountID, UserID: u.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.IssueToken(ctx, tok, &core.UsageEvent{Time: now, Method: "x", Outcome: "ok"}); err != nil {
		b.Fatal(err)
	}
	return db, tok
}

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
// command's charges have.
func BenchmarkCharge(b *testing.B) {
	db, tok := benchDB(b)
	var seq atomic.Int64
	req := func() *core.ChargeRequest {
		return &core.ChargeRequest{JTI: tok.JTI, AccountID: tok.AccountID, Credits: 1,
			RequestID: "r" + strconv.FormatInt(seq.Add(1), 36),
			Event:     core.UsageEvent{Time: time.Now(), Method: "Bench.Call", AccountID: &tok.AccountID}}
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Charge(context.Background(), req()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel32", func(b *testing.B) {
		b.SetParallelism(16) // 16 x GOMAXPROCS(2) = 32 concurrent chargers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.Charge(context.Background(), req()); err != nil {
					b.Error(err)
				}
			}
		})
	})
}
