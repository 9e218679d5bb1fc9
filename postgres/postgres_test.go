package postgres_test

import (
	"net/url"
	"os"
	"testing"
	"time"

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

// withParams is url with the query parameters kv (name, value, ...) set.
func withParams(t *testing.T, base string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// seedTime is when seedToken's rows were made.
var seedTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// seedToken stores user alice (account alice, 100 credits), signing key
// k1 and token j1 of hers, an hour to live.
func seedToken(t *testing.T, db *postgres.DB) *core.User {
	t.Helper()
	ctx, now := t.Context(), seedTime
	user := &core.User{Username: "alice", PasswordHash: "x", Created: now}
	if err := db.CreateUser(ctx, user, &core.Account{Name: "alice", Credits: 100, Created: now}); err != nil {
		t.Fatal(err)
	}
	key := &core.SigningKey{Kid: "k1", Alg: core.AlgHS256, Private: []byte("0123456789abcdef0123456789abcdef"), Created: now, Activates: now}
	if err := db.RotateSigningKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	tok := &core.IssuedToken{JTI: "j1", Kid: "k1", AccountID: user.AccountID, UserID: user.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.IssueToken(ctx, tok, &core.UsageEvent{Time: now, Method: "UserAdmin.GetJWT", Outcome: core.OutcomeOK, AccountID: &user.AccountID}); err != nil {
		t.Fatal(err)
	}
	return user
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
