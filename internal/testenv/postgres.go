package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresVar names the environment variable that gives the tests a
// PostgreSQL database: a URL such as .ci/postgres prints.
const PostgresVar = "JWTGATE_TEST_POSTGRES"

// Postgres returns the URL of a new, empty schema in the tests' PostgreSQL
// database (PostgresVar), dropped when the test ends: each test gets its
// own tables, as with a new SQLite file. Without the variable the test is
// skipped, or fails in CI (Missing).
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresVar)
	if base == "" {
		Missing(tb, "PostgreSQL", `start a throw-away cluster with: eval "$(.ci/postgres start)"`, errors.New("$"+PostgresVar+" is not set"))
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		Missing(tb, "PostgreSQL", "$"+PostgresVar+" must name a database the tests may create schemas in", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 8)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	schema := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("creating schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("$%s: %v", PostgresVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
