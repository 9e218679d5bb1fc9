package core_test

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/sqlite"
)

// TestService_StateChangedByAnotherProcess: the admin commands run in their
// own process on the same database while the server runs. Whatever the
// server has cached (verified signatures, token records, service keys),
// a token revoked, a user disabled, an API key revoked or a service key
// revoked by that other process is refused by the server: at once, or for
// a service key within its cache's 2 s.
func TestService_StateChangedByAnotherProcess(t *testing.T) {
	e := newEnf(t)
	// The other process: its own Service on its own connection to the file.
	db, err := sqlite.Open(e.ctx, e.db.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := testenv.Config(db)
	cfg.Hasher, cfg.Now = e.svc.Authenticator.Hasher, e.clock
	admin := core.New(cfg)

	e.createUser("bob", testPassword, 100)
	apiKey, k := testenv.CreateAPIKey(t, e.svc, testUser)
	revoked, _ := e.open()
	bobs, _ := e.issue(func(r *core.GetJWTRequest) {
		r.Username, r.ClientIP, r.AllowedMethods, r.MaxCredits = "bob", "", nil, nil
	})
	byKey, _ := e.issue(func(r *core.GetJWTRequest) {
		r.Username, r.Password, r.ClientIP, r.AllowedMethods, r.MaxCredits = core.APIKeyUserPrefix+apiKey, "", "", nil, nil
	})
	open, _ := e.open()
	// Warm every cache the server has: signatures, records, the service key.
	for _, tok := range []string{revoked, bobs, byKey, open} {
		if _, err := e.verify(tok, emailMethod, ""); err != nil {
			t.Fatal(err)
		}
		e.mustCharge(tok, emailMethod, 1, "", "")
		if _, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok, ClientAddr: testAddr}); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := admin.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: revoked}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Admin.SetUserDisabled(e.ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if err := admin.Admin.RevokeAPIKey(e.ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok  string
		code core.Code
		msg  string
	}{
		{revoked, core.EUNAUTHORIZED, "token has been revoked"},
		{bobs, core.EFORBIDDEN, "token's user has been disabled"},
		{byKey, core.EUNAUTHORIZED, "token was issued for an API key that has since been revoked"},
	} {
		_, err := e.verify(tc.tok, emailMethod, "")
		assertExact(t, err, tc.code, tc.msg)
		_, err = e.charge(tc.tok, emailMethod, 1, "", "")
		assertExact(t, err, tc.code, tc.msg)
		_, err = e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tc.tok, ClientAddr: testAddr})
		if core.ErrorCode(err) == "" {
			t.Errorf("GetCreditsRemaining with a bearer token refused elsewhere: accepted")
		}
	}
	// A disabled user and a revoked key cannot log in either.
	r := e.req()
	r.Username = "bob"
	_, err = e.getJWT(r)
	assertExact(t, err, core.EFORBIDDEN, "user is disabled")
	r = e.req()
	r.Username, r.Password = core.APIKeyUserPrefix+apiKey, ""
	_, err = e.getJWT(r)
	assertExact(t, err, core.EFORBIDDEN, "API key has been revoked")

	// The service key: revoked elsewhere, refused once the server's cache of
	// it has lapsed.
	if err := admin.Admin.RevokeServiceKey(e.ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	e.advance(2*time.Second + time.Millisecond)
	_, err = e.verify(open, emailMethod, "")
	assertExact(t, err, core.EUNAUTHORIZED, `service key "billing" has been revoked`)
	_, err = e.charge(open, emailMethod, 1, "", "")
	assertExact(t, err, core.EUNAUTHORIZED, `service key "billing" has been revoked`)
}
