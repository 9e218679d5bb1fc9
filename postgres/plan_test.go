package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// TestDB_ChargeLookupPlannedForTheTableAsItIs: a batch finds its requests'
// stored charges by their primary key however much the table grew since
// the connection first ran the lookup. A plan cached while the table was
// empty would read every stored charge for each batch (and go on doing so
// until an ANALYZE replaced it); here the connection is told to cache
// plans from the start (plan_cache_mode), the table's statistics say it is
// empty and autovacuum is off, so nothing but the charge path itself can
// keep the lookup a probe. The table's scan counters tell which it was.
func TestDB_ChargeLookupPlannedForTheTableAsItIs(t *testing.T) {
	base := testenv.Postgres(t)
	db := open(t, withParams(t, base, "plan_cache_mode", "force_generic_plan", "pool_max_conns", "1"))
	ctx := t.Context()
	raw, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(ctx)
	for _, sql := range []string{`ALTER TABLE charges SET (autovacuum_enabled = false)`, `ANALYZE charges`} {
		if _, err := raw.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	now := seedTime
	seedToken(t, db)
	charge := func(requestID string) {
		t.Helper()
		err := db.ChargeTx(ctx, "j1", requestID, func(st core.ChargeState) (core.ChargeWrite, error) {
			if st.Previous != nil {
				t.Errorf("request %q: a stored charge %+v for a new request", requestID, st.Previous)
			}
			rec := &core.ChargeRecord{Method: "X.Y", Credits: 1, Outcome: core.OutcomeOK, Balance: st.Token.Balance - 1, Time: now}
			return core.ChargeWrite{Credits: 1, Record: rec}, nil
		})
		if err != nil {
			t.Fatalf("charge %q: %v", requestID, err)
		}
	}

	charge("first") // planned, and cached, while charges is empty
	const stored = 20000
	if _, err := raw.Exec(ctx, `INSERT INTO charges (jti, request_id, method, credits, outcome, balance, time)
		SELECT 'j1', 'bulk-' || g, 'X.Y', 0, 'ok', 99, now() FROM generate_series(1, $1::int) g`, stored); err != nil {
		t.Fatal(err)
	}
	charge("second")
	db.Close() // the backend reports its table counters as it exits

	var scans, tuplesRead int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := raw.QueryRow(ctx, `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0), coalesce(seq_tup_read, 0)
			FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'charges'`).Scan(&scans, &tuplesRead)
		if err != nil {
			t.Fatal(err)
		}
		if scans >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if scans < 2 {
		t.Fatalf("charges was scanned %d times, want the two charges' lookups counted", scans)
	}
	if tuplesRead >= stored {
		t.Errorf("the lookup of two new requests read %d stored charges sequentially; want a primary-key probe", tuplesRead)
	}
}
