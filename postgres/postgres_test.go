package postgres_test

import (
	"os"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/postgres"
	"github.com/jwtgate/jwtgate/storetest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// open opens a store on a new schema, closed when the test ends.
func open(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDB_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return open(t, testenv.Postgres(t)) })
}

// Two pools on one database stand for two instances.
func TestDB_ConformanceTwoHandles(t *testing.T) {
	storetest.RunMultiHandle(t, func(t *testing.T) (core.Store, core.Store) {
		url := testenv.Postgres(t)
		return open(t, url), open(t, url)
	})
}

func TestDB_Throttle(t *testing.T) {
	storetest.RunThrottle(t, func(t *testing.T) (core.ThrottleStore, core.ThrottleStore) {
		url := testenv.Postgres(t)
		return open(t, url), open(t, url)
	})
}

// A deployment moves between SQLite and PostgreSQL either way, and between
// two PostgreSQL databases.
func TestDB_Copy(t *testing.T) {
	openPG := func(t *testing.T) storetest.CopyStore { return open(t, testenv.Postgres(t)) }
	openSQLite := func(t *testing.T) storetest.CopyStore { return testenv.OpenStore(t) }
	t.Run("FromSQLite", func(t *testing.T) { storetest.RunCopy(t, openSQLite, openPG) })
	t.Run("ToSQLite", func(t *testing.T) { storetest.RunCopy(t, openPG, openSQLite) })
	t.Run("PostgresToPostgres", func(t *testing.T) { storetest.RunCopy(t, openPG, openPG) })
}
