package jsonapi_test

import (
	"os"
	"testing"

	"github.com/jwtgate/jwtgate/internal/testenv"
)

// TestMain lists the third-party checks (Redocly, openapi-typescript, tsc)
// that were skipped for a missing tool; in CI they fail instead.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
