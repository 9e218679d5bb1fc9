package jsonapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
)

// npmTool returns a tool that `npm ci` installed in dir; without it (or
// without node) the test fails in CI and is skipped, and listed, elsewhere.
func npmTool(t *testing.T, dir, rel string) string {
	t.Helper()
	testenv.RequireTool(t, "node", "Node.js comes with the machine")
	p, err := filepath.Abs(filepath.Join(dir, "node_modules", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, rel, "run npm ci --no-audit --no-fund in "+dir, err)
	}
	return p
}

// toolEnv keeps node tools quiet and offline but for the test's own server.
func toolEnv() []string {
	return append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1", "CI=true")
}

func run(t *testing.T, dir string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, toolEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// TestOpenAPI_RedoclyLint lints openapi.yaml with Redocly's CLI under
// redocly.yaml (recommended rules, warnings as errors): no problem at all.
func TestOpenAPI_RedoclyLint(t *testing.T) {
	cli := npmTool(t, "..", "@redocly/cli/bin/cli.js")
	out := run(t, "..", "node", cli, "lint", "openapi.yaml", "--config", "redocly.yaml", "--format=json")
	var report struct {
		Totals   struct{ Errors, Warnings, Ignored int }
		Problems []struct {
			RuleID  string `json:"ruleId"`
			Message string
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("redocly lint output: %v\n%s", err, out)
	}
	if report.Totals.Errors != 0 || report.Totals.Warnings != 0 || len(report.Problems) != 0 {
		t.Fatalf("redocly lint: %+v", report)
	}
}

// TestOpenAPI_TypeScriptClient generates TypeScript types from the served
// /openapi.json with openapi-typescript, type-checks clients/ts/get-token.ts
// with tsc and runs it with node: openapi-fetch gets a token, which must
// verify against the JWKS, and a schema violation gets 400 naming the field.
// The server checks its own answers against the document meanwhile.
func TestOpenAPI_TypeScriptClient(t *testing.T) {
	gen := npmTool(t, "../clients/ts", "openapi-typescript/bin/cli.js")
	tsc := npmTool(t, "../clients/ts", "typescript/bin/tsc")
	modules, _ := filepath.Abs("../clients/ts/node_modules")
	e := newEnv(t, validateResponses())
	e.post("application/json", fmt.Sprintf(`{"expiresAt":%q}`, e.expiresAt(time.Hour)), "?key="+e.apiKey)

	// Work in a copy, so that nothing is generated into the source tree.
	dir := t.TempDir()
	for _, f := range []string{"package.json", "tsconfig.json", "get-token.ts"} {
		b, err := os.ReadFile(filepath.Join("../clients/ts", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "node", gen, e.srv.URL+"/openapi.json", "--output", "api.d.ts")
	run(t, dir, "node", tsc, "-p", ".")
	out := run(t, dir, "node", filepath.Join("out", "get-token.js"), e.srv.URL+jsonapi.APIBase, alice, alicePassword)

	var got struct {
		Jwt              string  `json:"jwt"`
		CreditsRemaining float64 `json:"creditsRemaining"`
		BadStatus        int     `json:"badStatus"`
		BadMessage       *string `json:"badMessage"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("get-token.js printed %q: %v", out, err)
	}
	c, err := e.verify(got.Jwt)
	if err != nil {
		t.Fatalf("the TypeScript client's token does not verify against the JWKS: %v", err)
	}
	if c.Subject != alice || c.Application != "ts-client" || c.MaxCredits == nil || *c.MaxCredits != 10 || got.CreditsRemaining != aliceCredits {
		t.Errorf("claims %+v, credits %v", c, got.CreditsRemaining)
	}
	if got.BadStatus != 400 || derefOr(got.BadMessage) != "maxCredits: must be at least 1" {
		t.Errorf("schema violation: HTTP %d %q", got.BadStatus, derefOr(got.BadMessage))
	}
	if strings.Contains(e.logs.String(), "answer breaks openapi.yaml") {
		t.Errorf("the server sent an answer that breaks the document:\n%s", e.logs.String())
	}
}
