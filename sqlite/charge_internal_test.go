package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// BenchDB is a store holding one user, signing key and token ("j"), for
// benchmarks (the package's own and sqlite_test's).
func BenchDB(b *testing.B) (*DB, *core.IssuedToken) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "b.db"))
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

// BenchmarkChargeStatements is the statements of one charge (with a request
// id, in its savepoint) without the commit: 200 charges per transaction. It
// is the writer's cost per charge that no batching shares.
func BenchmarkChargeStatements(b *testing.B) {
	ctx := context.Background()
	db, tok := BenchDB(b)
	const perTx = 200
	seq := 0
	for b.Loop() {
		err := db.write(ctx, func(w wtx) error {
			for range perTx {
				seq++
				c := &core.ChargeRequest{JTI: tok.JTI, AccountID: tok.AccountID, Credits: 1, RequestID: "r" + strconv.Itoa(seq),
					Event: core.UsageEvent{Time: time.Now(), Method: "Bench.Call", AccountID: &tok.AccountID}}
				if _, err := w.exec(`SAVEPOINT job`); err != nil {
					return err
				}
				if out, err := db.charge(w, c); err != nil || !out.Charged {
					return fmt.Errorf("charge: %v %+v", err, out)
				}
				if _, err := w.exec(`RELEASE job`); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perTx)/1e3, "µs/charge")
}
