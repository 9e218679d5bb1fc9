package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Third-party tools (PyJWT, zeep, PHP, node-soap, Redocly, tsc, curl, ...)
// are the proof that the contracts work with stacks nobody here wrote. In CI
// (CI set) a missing one fails its test; elsewhere the test is skipped, and
// Main lists every such skip when the package's tests end, so that a local
// run never passes silently without them.

var skipped struct {
	sync.Mutex
	lines []string
}

// Missing reports that tool, which the test needs, is not usable: err says
// why, hint how to get it. In CI the test fails; elsewhere it is skipped and
// listed by Main.
func Missing(t testing.TB, tool, hint string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (.ci/run installs it; %s): %v", tool, hint, err)
	}
	skipped.Lock()
	skipped.lines = append(skipped.lines, fmt.Sprintf("%s: %s (%s)", t.Name(), tool, hint))
	skipped.Unlock()
	t.Skipf("%s not available (%s): %v", tool, hint, err)
}

// RequireTool returns the path of the executable name (looked up on PATH
// unless it is a path), through Missing when there is none.
func RequireTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, hint, err)
	}
	return p
}

// Main runs a package's tests (call it from TestMain: os.Exit(testenv.Main(m))),
// then removes what Binary built and lists the third-party checks that were
// skipped for a missing tool.
func Main(m *testing.M) int {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	skipped.Lock()
	defer skipped.Unlock()
	if len(skipped.lines) > 0 {
		sort.Strings(skipped.lines)
		fmt.Fprintf(os.Stderr, "\nSKIPPED third-party checks (a tool is missing; in CI these fail):\n  %s\n",
			strings.Join(skipped.lines, "\n  "))
	}
	return code
}
