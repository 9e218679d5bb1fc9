package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/postgres"
)

// TestDB_LostConnections: when the server drops the pool's connections (a
// failover, an idle timeout, an administrator's pg_terminate_backend), the
// next reads and writes are retried on a new connection and answered
// right: a charge is made exactly once.
func TestDB_LostConnections(t *testing.T) {
	base := testenv.Postgres(t)
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck
	app := "jwtgate-lost-" + hex.EncodeToString(b)
	db := open(t, withParams(t, base, "application_name", app, "pool_max_conns", "4"))
	ctx := t.Context()
	dropAll := func() {
		t.Helper()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no connection of the pool to drop")
		}
		time.Sleep(50 * time.Millisecond) // the backends take a moment to go
	}

	now := seedTime
	user := seedToken(t, db)

	dropAll()
	if a, err := db.AccountByName(ctx, "alice"); err != nil || a.Credits != 100 {
		t.Fatalf("a read after the connections were dropped: %+v, %v", a, err)
	}
	dropAll()
	charge := func(st core.ChargeState) (core.ChargeWrite, error) {
		return core.ChargeWrite{Credits: 1, Usage: &core.UsageEvent{Time: now, Method: "X.Y", Outcome: core.OutcomeOK, Credits: 1, AccountID: &user.AccountID}}, nil
	}
	if err := db.ChargeTx(ctx, "j1", "", charge); err != nil {
		t.Fatalf("a charge after the connections were dropped: %v", err)
	}
	dropAll()
	if err := db.RecordUsage(ctx, &core.UsageEvent{Time: now, Method: "X.Z", Outcome: core.OutcomeOK}); err != nil {
		t.Fatalf("a write after the connections were dropped: %v", err)
	}
	got, err := db.TokenByJTI(context.Background(), "j1")
	if err != nil || got.CreditsSpent != 1 || got.AccountCredits != 99 {
		t.Errorf("after one charge through dropped connections: %+v, %v; want 1 spent, 99 left", got, err)
	}
}

// The pool's size and the statement timeout come from the URL.
func TestOpen_Settings(t *testing.T) {
	db := open(t, withParams(t, testenv.Postgres(t), "pool_max_conns", "2", "statement_timeout", "150ms"))
	s, err := db.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxConns != 2 || s.StatementTimeout != "150ms" {
		t.Errorf("settings %+v, want 2 connections and a 150ms statement timeout", s)
	}
	if _, err := postgres.Open(t.Context(), "postgres://nobody@127.0.0.1:1/x?pool_max_conns=zero"); err == nil {
		t.Error("a bad pool_max_conns was accepted")
	}
}
