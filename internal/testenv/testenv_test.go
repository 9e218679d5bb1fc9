package testenv_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

func TestNew(t *testing.T) {
	clk := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	log, logs := testenv.CaptureLogs()
	svc, db := testenv.New(t, func(s *core.Service) { s.Now, s.Logger = clk.Now, log })
	if svc.Hasher.Params != testenv.CheapArgon2() {
		t.Errorf("Hasher.Params = %+v, want CheapArgon2", svc.Hasher.Params)
	}
	k, err := db.ActiveSigningKey(t.Context())
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
	raw := testenv.RawDB(t, db)
	if n := testenv.Count(t, raw, `SELECT credits FROM accounts WHERE name = ?`, "alice"); n != 7 {
		t.Errorf("alice's credits = %d, want 7", n)
	}
	clk.Advance(time.Minute)
	if got := svc.Now(); !got.Equal(k.Created.Add(time.Minute)) {
		t.Errorf("after Advance, Now = %s", got)
	}
	log.Debug("hello")
	if !strings.Contains(logs.String(), "msg=hello") {
		t.Errorf("logs = %q, want the debug line", logs)
	}
}
