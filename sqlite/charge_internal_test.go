package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/token"
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
	k, err := token.NewKey(core.AlgEdDSA, now)
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
// id, in its savepoint) without the commit: 200 charges per transaction, each
// read by chargeState and written by writeCharge as ChargeTx does, with a
// trivial decision between them. It is the writer's cost per charge that no
// batching shares.
func BenchmarkChargeStatements(b *testing.B) {
	ctx := context.Background()
	db, tok := BenchDB(b)
	const perTx = 200
	seq := 0
	decide := func(st core.ChargeState) core.ChargeWrite {
		now := time.Now()
		return core.ChargeWrite{
			Credits: 1,
			Record:  &core.ChargeRecord{Method: "Bench.Call", Credits: 1, Outcome: core.OutcomeOK, Balance: st.Token.Balance - 1, Time: now},
			Usage:   &core.UsageEvent{Time: now, Method: "Bench.Call", AccountID: &tok.AccountID, Credits: 1, Outcome: core.OutcomeOK},
		}
	}
	for b.Loop() {
		err := db.write(ctx, func(w wtx) error {
			for range perTx {
				seq++
				id := "r" + strconv.Itoa(seq)
				if _, err := w.exec(`SAVEPOINT job`); err != nil {
					return err
				}
				st, err := w.chargeState(tok.JTI, id)
				if err != nil {
					return fmt.Errorf("chargeState: %w", err)
				}
				if st.Previous != nil || st.Token.Balance < 1 {
					return fmt.Errorf("charge %s: state %+v", id, st)
				}
				if err := w.writeCharge(tok.JTI, id, st.Token.AccountID, decide(st)); err != nil {
					return fmt.Errorf("writeCharge: %w", err)
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
