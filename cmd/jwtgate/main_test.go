package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/sqlite"
)

// cli runs jwtgate in-process on one database file.
type cli struct{ db string }

func newCLI(t *testing.T) *cli {
	return &cli{db: filepath.Join(t.TempDir(), "cli.db")}
}

func (c *cli) run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "JWTGATE_DB" {
			return c.db
		}
		return ""
	}}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

func (c *cli) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := c.run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("jwtgate %s: exit %d, stderr: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func (c *cli) fails(t *testing.T, wantCode int, wantErr, stdin string, args ...string) {
	t.Helper()
	code, _, errs := c.run(t, stdin, args...)
	if code != wantCode || !strings.Contains(errs, wantErr) {
		t.Fatalf("jwtgate %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), code, errs, wantCode, wantErr)
	}
}

// service opens the same database for checks through core.
func (c *cli) service(t *testing.T) *core.Service {
	t.Helper()
	db, err := sqlite.Open(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return testenv.NewService(db)
}

func (c *cli) getJWT(t *testing.T, username, password string) (*core.GetJWTResult, error) {
	svc := c.service(t)
	if _, err := svc.KeyRing.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc.Issuer.GetJWT(context.Background(), &core.GetJWTRequest{
		Credentials: core.Credentials{Username: username, Password: password, ClientAddr: "192.0.2.1"},
		ExpiresAt:   time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	})
}

func TestUser(t *testing.T) {
	c := newCLI(t)
	t.Run("Add", func(t *testing.T) {
		// Flags may follow the name.
		out := c.ok(t, "s3cret-password\n", "user", "add", "bob", "--credits", "42")
		if !strings.Contains(out, "created user bob in account bob (42 credits)") {
			t.Fatalf("output %q", out)
		}
		res, err := c.getJWT(t, "BOB", "s3cret-password")
		if err != nil || res.CreditsRemaining != 42 {
			t.Fatalf("login after add: %v, %+v", err, res)
		}
	})
	t.Run("AddToAccount", func(t *testing.T) {
		out := c.ok(t, "another-password\r\n", "user", "add", "--account", "bob", "carol")
		if !strings.Contains(out, "created user carol in account bob (42 credits)") {
			t.Fatalf("output %q", out)
		}
	})
	t.Run("ErrDuplicate", func(t *testing.T) {
		c.fails(t, 1, `user "Bob" already exists`, "s3cret-password\n", "user", "add", "Bob")
	})
	t.Run("ErrNoPassword", func(t *testing.T) { c.fails(t, 1, "no password on standard input", "", "user", "add", "dave") })
	t.Run("ErrShortPassword", func(t *testing.T) { c.fails(t, 1, "at least 8 characters", "short\n", "user", "add", "dave") })
	t.Run("ErrBadName", func(t *testing.T) {
		c.fails(t, 1, "may not start with", "s3cret-password\n", "user", "add", "apikey-x")
	})
	t.Run("ErrUnknownAccount", func(t *testing.T) {
		c.fails(t, 1, `account "nope" not found`, "s3cret-password\n", "user", "add", "dave", "--account", "nope")
	})
	t.Run("Passwd", func(t *testing.T) {
		c.ok(t, "brand-new-password\n", "user", "passwd", "bob")
		if _, err := c.getJWT(t, "bob", "s3cret-password"); core.ErrorCode(err) != core.EUNAUTHORIZED {
			t.Fatalf("old password: %v", err)
		}
		if _, err := c.getJWT(t, "bob", "brand-new-password"); err != nil {
			t.Fatalf("new password: %v", err)
		}
	})
	t.Run("DisableEnable", func(t *testing.T) {
		c.ok(t, "", "user", "disable", "bob")
		if _, err := c.getJWT(t, "bob", "brand-new-password"); core.ErrorCode(err) != core.EFORBIDDEN {
			t.Fatalf("disabled user: %v", err)
		}
		if out := c.ok(t, "", "user", "list"); !regexpLine(out, `bob\s+bob\s+disabled`) || !regexpLine(out, `carol\s+bob\s+active`) {
			t.Fatalf("user list:\n%s", out)
		}
		c.ok(t, "", "user", "enable", "bob")
		if _, err := c.getJWT(t, "bob", "brand-new-password"); err != nil {
			t.Fatalf("re-enabled user: %v", err)
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) { c.fails(t, 1, `user "zed" not found`, "", "user", "disable", "zed") })
}

func TestAPIKey(t *testing.T) {
	c := newCLI(t)
	c.ok(t, "s3cret-password\n", "user", "add", "bob", "--credits", "5")
	out := c.ok(t, "", "apikey", "create", "bob")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "jg_") || strings.ContainsAny(key, " \t") {
		t.Fatalf("last line is not the key alone: %q", out)
	}
	if _, err := c.getJWT(t, "apikey-"+key, ""); err != nil {
		t.Fatalf("login with key: %v", err)
	}
	id := strings.Split(key, "_")[1]
	if out := c.ok(t, "", "apikey", "list", "bob"); !strings.Contains(out, id) || strings.Contains(out, key) {
		t.Fatalf("apikey list must show the id and never the key:\n%s", out)
	}
	c.ok(t, "", "apikey", "revoke", id)
	c.ok(t, "", "apikey", "revoke", key) // twice, and by the whole key: harmless
	if _, err := c.getJWT(t, "apikey-"+key, ""); core.ErrorCode(err) != core.EFORBIDDEN {
		t.Fatalf("revoked key: %v", err)
	}
	c.fails(t, 1, "not found", "", "apikey", "revoke", "0123456789abcdef")
	c.fails(t, 1, `user "zed" not found`, "", "apikey", "create", "zed")
}

func TestCredits(t *testing.T) {
	c := newCLI(t)
	c.ok(t, "s3cret-password\n", "user", "add", "bob")
	if _, err := c.getJWT(t, "bob", "s3cret-password"); core.ErrorCode(err) != core.ENOCREDITS {
		t.Fatalf("no credits: %v", err)
	}
	if out := c.ok(t, "", "credits", "add", "bob", "10"); !strings.Contains(out, "now has 10 credits") {
		t.Fatalf("credits add: %q", out)
	}
	c.ok(t, "", "credits", "add", "BOB", "-3")
	c.fails(t, 1, "below zero", "", "credits", "add", "bob", "-8")
	c.fails(t, 2, "whole number", "", "credits", "add", "bob", "ten")
	if out := c.ok(t, "", "credits", "show", "bob"); !regexpLine(out, `bob\s+7`) {
		t.Fatalf("credits show:\n%s", out)
	}
	res, err := c.getJWT(t, "bob", "s3cret-password")
	if err != nil || res.CreditsRemaining != 7 {
		t.Fatalf("GetJWT: %v %+v", err, res)
	}
}

func TestKeys(t *testing.T) {
	c := newCLI(t)
	first := c.ok(t, "", "keys", "rotate")
	second := c.ok(t, "", "keys", "rotate", "--alg", "es256")
	if !strings.Contains(first, "(EdDSA)") || !strings.Contains(second, "(ES256)") {
		t.Fatalf("rotate output: %q %q", first, second)
	}
	// Without --alg, the active key's algorithm is kept.
	if third := c.ok(t, "", "keys", "rotate"); !strings.Contains(third, "(ES256)") {
		t.Fatalf("keys rotate after an ES256 key: %q, want ES256 again", third)
	}
	// The first key signs at once; the next ones after being published
	// ahead (the second never signs: the third replaced it first).
	if !strings.Contains(first, "published now, signing from") {
		t.Errorf("rotate output: %q", first)
	}
	out := c.ok(t, "", "keys", "list")
	if !regexpLine(out, `\sEdDSA\s+(\S+)\s+\S+\s+20\d\d-`) || !regexpLine(out, `\sES256\s+\S+\s+\S+\s+20\d\d-`) || !regexpLine(out, `\sES256\s+\S+\s+\S+\s+active`) {
		t.Fatalf("keys list:\n%s", out)
	}
	c.fails(t, 2, "unknown signing algorithm", "", "keys", "rotate", "--alg", "none")
}

func TestUsage(t *testing.T) {
	c := newCLI(t)
	c.ok(t, "s3cret-password\n", "user", "add", "bob", "--credits", "1")
	if _, err := c.getJWT(t, "bob", "s3cret-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.getJWT(t, "bob", "wrong-password"); err == nil {
		t.Fatal("wrong password accepted")
	}
	today := time.Now().UTC().Format(time.DateOnly)
	out := c.ok(t, "", "usage", "--account", "bob", "--from", today, "--to", today)
	if !regexpLine(out, today+`\s+bob\s+-\s+UserAdmin.GetJWT\s+2\s+1\s+0`) {
		t.Fatalf("usage:\n%s", out)
	}
	if out := c.ok(t, "", "tokens", "list", "--account", "bob", "--live"); strings.Count(out, "\n") != 2 || !regexpLine(out, `^\S+\s+-\s+-\s+-\s+0\s+20\d\d-\S+\s+-$`) {
		t.Fatalf("tokens list: want the header and bob's one live token:\n%s", out)
	}
	if out := c.ok(t, "", "usage", "--to", "2000-01-01"); strings.Contains(out, "GetJWT") {
		t.Fatalf("usage --to in the past lists rows:\n%s", out)
	}
	c.fails(t, 2, "YYYY-MM-DD", "", "usage", "--from", "yesterday")
}

func TestUsageErrors(t *testing.T) {
	c := newCLI(t)
	c.fails(t, 2, `unknown command "frobnicate"`, "", "frobnicate")
	c.fails(t, 2, "user needs a subcommand", "", "user")
	c.fails(t, 2, `unknown command "user remove"`, "", "user", "remove", "x")
	c.fails(t, 2, "takes 2 to 2 arguments", "", "credits", "add", "bob")
	c.fails(t, 2, "flag provided but not defined", "", "user", "list", "--bogus")
	c.fails(t, 2, "--max-lifetime", "", "serve", "--max-lifetime", "forever")
	c.fails(t, 2, "--alg", "", "serve", "--alg", "none")
	c.fails(t, 2, "log level", "", "serve", "--log-level", "loud")
	c.fails(t, 2, "serve takes no arguments", "", "serve", "now")
	if code, out, _ := c.run(t, "", "help"); code != 0 || !strings.Contains(out, "jwtgate serve") {
		t.Fatalf("help: exit %d %q", code, out)
	}
}

func TestServiceKey(t *testing.T) {
	c := newCLI(t)
	out := c.ok(t, "", "servicekey", "create", "billing")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "jgs_") || strings.ContainsAny(key, " \t") {
		t.Fatalf("last line is not the key alone: %q", out)
	}
	c.fails(t, 1, "already exists", "", "servicekey", "create", "BILLING")
	if out := c.ok(t, "", "servicekey", "list"); !regexpLine(out, `\sbilling\s+\S+\s+-$`) || strings.Contains(out, key) {
		t.Fatalf("servicekey list must show the key's name and never the key:\n%s", out)
	}
	c.ok(t, "", "servicekey", "revoke", "billing")
	c.ok(t, "", "servicekey", "revoke", key) // again, by the whole key: harmless
	if out := c.ok(t, "", "servicekey", "list"); regexpLine(out, `\sbilling\s+\S+\s+-$`) {
		t.Fatalf("revoked key still listed as active:\n%s", out)
	}
	c.ok(t, "", "servicekey", "create", "billing") // the name is free again
	c.fails(t, 1, "not found", "", "servicekey", "revoke", "nope")
}

// The bench harness runs end to end in smoke mode (it measures nothing).
func TestBench_Smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	// bench runs the binary it is (os.Executable); run the built one.
	bin := testenv.Binary(t)
	out, err := exec.Command(bin, "bench", "-smoke", "-run", "ChargeJWT plain|JWKS").CombinedOutput()
	if err != nil {
		t.Fatalf("jwtgate bench -smoke: %v\n%s", err, out)
	}
	for _, want := range []string{"ChargeJWT plain JSON", "bare handler, charge-size body (baseline)", "JWKS", "× baseline", "peak RSS"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`(?m)^\s*ChargeJWT plain JSON\s+\S+\s+\S+\s+\S+\s+[1-9]`).Match(out) {
		t.Errorf("smoke run had errors:\n%s", out)
	}
	// Each baseline is measured before and after its scenarios, and listed
	// above them.
	if n := strings.Count(string(out), "  bare handler, charge-size body (baseline)...\n"); n != 2 {
		t.Errorf("the charge baseline was measured %d times, want 2:\n%s", n, out)
	}
	head := regexp.MustCompile(`scenario\s+req/s`).FindIndex(out)
	if head == nil {
		t.Fatalf("no table header:\n%s", out)
	}
	table := string(out[head[0]:])
	if strings.Index(table, "bare handler, charge-size body") > strings.Index(table, "ChargeJWT plain JSON") {
		t.Errorf("the baseline is listed after its scenario:\n%s", table)
	}
}
