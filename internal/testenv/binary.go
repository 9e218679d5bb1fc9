package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jwtgate/jwtgate/internal/proc"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary builds cmd/jwtgate once per test binary, without the race detector
// whatever GOFLAGS says (tests measure the server as it ships), and returns
// its path. Main removes it.
func Binary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "jwtgate-bin-"); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "jwtgate")
		cmd := exec.Command("go", "build", "-o", build.path, "github.com/jwtgate/jwtgate/cmd/jwtgate")
		var flags []string
		for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
			if f != "-race" && f != "--race" && f != "-race=true" {
				flags = append(flags, f)
			}
		}
		cmd.Env = append(os.Environ(), "GOFLAGS="+strings.Join(flags, " "))
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.path
}

// Start runs the built binary with o (proc.Start) and kills it when the
// test ends. Unless o says otherwise, its output goes to Logs the test
// can read (returned), and readiness is /readyz.
func Start(tb testing.TB, o proc.Options) (*proc.Child, *Logs, *Logs) {
	tb.Helper()
	stdout, stderr := &Logs{}, &Logs{}
	if o.Stdout == nil {
		o.Stdout = stdout
	}
	if o.Stderr == nil {
		o.Stderr = stderr
	}
	if o.Ready == "" {
		o.Ready = "/readyz"
	}
	c, err := proc.Start(context.Background(), Binary(tb), o)
	if err != nil {
		tb.Fatalf("%v\nstderr:\n%s", err, stderr)
	}
	tb.Cleanup(func() { c.Kill() }) //nolint:errcheck // best effort
	return c, stdout, stderr
}
