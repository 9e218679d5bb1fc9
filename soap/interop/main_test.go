package interop_test

import (
	"os"
	"testing"

	"github.com/jwtgate/jwtgate/internal/testenv"
)

// TestMain lists the third-party SOAP stacks (zeep, PHP SoapClient,
// node-soap) whose checks were skipped for a missing tool; in CI they fail
// instead.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
