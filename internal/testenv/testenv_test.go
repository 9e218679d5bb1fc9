package testenv_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/proc"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestNew(t *testing.T) {
	clk := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	log, logs := testenv.CaptureLogs()
	svc, db := testenv.New(t, func(c *core.Config) { c.Now, c.Logger = clk.Now, log })
	if svc.Authenticator.Hasher.Params != testenv.CheapArgon2() {
		t.Errorf("Hasher.Params = %+v, want CheapArgon2", svc.Authenticator.Hasher.Params)
	}
	k, err := db.ActiveSigningKey(t.Context(), clk.Now())
	if err != nil {
		t.Fatalf("no signing key: %v", err)
	}
	if !k.Created.Equal(clk.Now()) {
		t.Errorf("signing key made at %s, want the configured clock's %s", k.Created, clk.Now())
	}
	testenv.CreateUser(t, svc, "alice", "correct horse battery staple", 7)
	key, rec := testenv.CreateAPIKey(t, svc, "alice")
	if !strings.Contains(key, rec.ID) {
		t.Errorf("API key %q does not hold its id %q", key, rec.ID)
	}
	if sk := testenv.CreateServiceKey(t, svc, "billing"); sk == "" {
		t.Error("empty service key")
	}
	if acc, err := db.AccountByName(t.Context(), "alice"); err != nil || acc.Credits != 7 {
		t.Errorf("alice's account = %+v, %v; want 7 credits", acc, err)
	}
	clk.Advance(time.Minute)
	if got := svc.KeyRing.Now(); !got.Equal(k.Created.Add(time.Minute)) {
		t.Errorf("after Advance, Now = %s", got)
	}
	log.Debug("hello")
	if !strings.Contains(logs.String(), "msg=hello") {
		t.Errorf("logs = %q, want the debug line", logs)
	}
}

// A child started by Start answers on the address it was given (handed
// over as a socket) and is gone after Kill.
func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	db := t.TempDir() + "/j.db"
	c, _, stderr := testenv.Start(t, procOptions(db))
	stderr.WaitFor(t, "jwtgate listening")
	if !strings.Contains(stderr.String(), "addr="+c.Addr) {
		t.Errorf("the server does not listen on the socket it was given (%s):\n%s", c.Addr, stderr)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Kill returned before the child was gone")
	}
}

func procOptions(db string) proc.Options {
	return proc.Options{Args: []string{"serve", "--db", db, "--bootstrap=false"}}
}
