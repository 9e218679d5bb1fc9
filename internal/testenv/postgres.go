package testenv

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jwtgate/jwtgate/postgres"
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
	u, drop, err := postgres.NewSchema(ctx, base, "test")
	if err != nil {
		Missing(tb, "PostgreSQL", "$"+PostgresVar+" must name a database the tests may create schemas in", err)
	}
	tb.Cleanup(func() {
		if err := drop(ctx); err != nil {
			tb.Logf("dropping the test's schema: %v", err)
		}
	})
	return u
}
