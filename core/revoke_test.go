package core_test

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/token"
)

const msgNotInAccount = "no token with this jti in your account"

func (e *enf) revoke(r *core.RevokeJWTRequest) (string, error) {
	return e.svc.Enforcer.RevokeJWT(e.ctx, r)
}

// assertRevoked checks that the store marks the token revoked at when, and
// that VerifyJWT and ChargeJWT refuse it with the revoked message.
func (e *enf) assertRevoked(tok, jti string, when time.Time) {
	e.t.Helper()
	rec := e.token(jti)
	if rec.Revoked == nil || !rec.Revoked.Equal(when) {
		e.t.Errorf("token revoked at %v, want %v", rec.Revoked, when)
	}
	_, err := e.verify(good(tok))
	assertExact(e.t, err, core.EUNAUTHORIZED, msgRevoked)
	_, err = e.charge(tok, emailMethod, 1, boundIP, "")
	assertExact(e.t, err, core.EUNAUTHORIZED, msgRevoked)
	if rec := e.token(jti); rec.CreditsSpent != 0 {
		e.t.Errorf("a revoked token spent %d", rec.CreditsSpent)
	}
}

func (e *enf) assertLive(tok string) {
	e.t.Helper()
	if _, err := e.verify(good(tok)); err != nil {
		e.t.Errorf("token should still be live: %v", err)
	}
}

func TestService_RevokeJWT(t *testing.T) {
	t.Run("ByTokenItself", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		other, _ := e.issue(nil)
		jti, err := e.revoke(&core.RevokeJWTRequest{JWT: tok})
		if err != nil || jti != c.ID {
			t.Fatalf("RevokeJWT = %q, %v; want %q", jti, err, c.ID)
		}
		e.assertRevoked(tok, c.ID, t0)
		e.assertLive(other)

		// Twice is harmless and keeps the first time.
		e.advance(time.Minute)
		if jti, err := e.revoke(&core.RevokeJWTRequest{JWT: " " + tok + " ", JTI: c.ID}); err != nil || jti != c.ID {
			t.Errorf("revoking twice = %q, %v", jti, err)
		}
		e.assertRevoked(tok, c.ID, t0)
	})

	t.Run("ByTokenItselfWhenExpired", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		e.advance(2 * time.Hour)
		if _, err := e.verify(good(tok)); core.ErrorMessage(err) != msgExpired {
			t.Fatalf("token should have expired: %v", err)
		}
		if jti, err := e.revoke(&core.RevokeJWTRequest{JWT: tok}); err != nil || jti != c.ID {
			t.Fatalf("revoking an expired token = %q, %v", jti, err)
		}
		if rec := e.token(c.ID); rec.Revoked == nil || !rec.Revoked.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("revoked at %v", rec.Revoked)
		}
	})

	t.Run("ErrForgedTokenItself", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		for _, a := range attacks() {
			switch a.name {
			case "TamperedSubject", "OtherKeyRightKid", "EmbeddedJWK", "AlgNone", "HS256WithPublicKeyPEM", "UnknownKid", "MissingKid", "Garbage":
			default:
				continue
			}
			forged, _, _ := a.make(t, e, tok, c)
			_, err := e.revoke(&core.RevokeJWTRequest{JWT: forged})
			assertExact(t, err, a.code, a.msg)
			_, err = e.revoke(&core.RevokeJWTRequest{JWT: forged, JTI: c.ID})
			assertExact(t, err, a.code, a.msg)
		}
		// A genuine signature of a jti never issued.
		_, err := e.revoke(&core.RevokeJWTRequest{JWT: e.resign(c, func(c *token.Claims) { c.ID = "nope" })})
		assertExact(t, err, core.EUNAUTHORIZED, msgNotKnown)
		e.assertLive(tok)
	})

	for _, how := range []string{"password", "apikey", "key", "bearer"} {
		t.Run("ByJTIWith"+how, func(t *testing.T) {
			e := newEnf(t)
			tok, c := e.issue(nil)
			other, _ := e.issue(nil)
			cred := e.credentials(how)
			jti, err := e.revoke(&core.RevokeJWTRequest{Credentials: cred, JTI: " " + c.ID + " "})
			if err != nil || jti != c.ID {
				t.Fatalf("RevokeJWT = %q, %v", jti, err)
			}
			e.assertRevoked(tok, c.ID, t0)
			e.assertLive(other)
			if _, err := e.revoke(&core.RevokeJWTRequest{Credentials: cred, JTI: c.ID}); err != nil {
				t.Errorf("revoking twice: %v", err)
			}
			// By the token, with credentials, works too.
			o := e.parse(other)
			if jti, err := e.revoke(&core.RevokeJWTRequest{Credentials: cred, JWT: other}); err != nil || jti != o.ID {
				t.Errorf("by jwt with credentials = %q, %v", jti, err)
			}
		})
	}

	t.Run("ErrOtherAccountsToken", func(t *testing.T) {
		e := newEnf(t)
		e.createUser("bob", testPassword, 10)
		bobTok, bc := e.issue(func(r *core.GetJWTRequest) { r.Username = "bob" })
		alice := core.Credentials{Username: testUser, Password: testPassword}

		_, errOther := e.revoke(&core.RevokeJWTRequest{Credentials: alice, JTI: bc.ID})
		assertExact(t, errOther, core.ENOTFOUND, msgNotInAccount)
		_, errNone := e.revoke(&core.RevokeJWTRequest{Credentials: alice, JTI: "no-such-jti"})
		assertExact(t, errNone, core.ENOTFOUND, msgNotInAccount)
		if errOther.Error() != errNone.Error() {
			t.Errorf("another account's jti (%v) and an unknown jti (%v) must be indistinguishable", errOther, errNone)
		}
		_, err := e.revoke(&core.RevokeJWTRequest{Credentials: alice, JWT: bobTok})
		assertExact(t, err, core.ENOTFOUND, msgNotInAccount)
		e.assertLive(bobTok)
		if rec := e.token(bc.ID); rec.Revoked != nil {
			t.Error("bob's token was revoked by alice")
		}
	})

	t.Run("ErrAnotherUserOfSameAccount", func(t *testing.T) {
		// Tokens belong to the account: its other users may revoke them.
		e := newEnf(t)
		if _, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "carol", Password: testPassword, Account: testUser}); err != nil {
			t.Fatal(err)
		}
		tok, c := e.issue(nil)
		if _, err := e.revoke(&core.RevokeJWTRequest{Credentials: core.Credentials{Username: "carol", Password: testPassword}, JTI: c.ID}); err != nil {
			t.Fatal(err)
		}
		e.assertRevoked(tok, c.ID, t0)
	})

	t.Run("ErrJTIWithoutCredentials", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		_, err := e.revoke(&core.RevokeJWTRequest{JTI: c.ID, Credentials: core.Credentials{ClientAddr: testAddr}})
		assertExact(t, err, core.EUNAUTHORIZED, "to revoke by jti, authenticate as the token's account")
		e.assertLive(tok)
	})

	t.Run("ErrNothingNamed", func(t *testing.T) {
		e := newEnf(t)
		for _, r := range []*core.RevokeJWTRequest{
			{},
			{JWT: "  ", JTI: "\t"},
			{Credentials: core.Credentials{Username: testUser, Password: testPassword}},
		} {
			_, err := e.revoke(r)
			assertExact(t, err, core.EINVALID, "give the jwt to revoke or its jti")
		}
	})

	t.Run("ErrJTIAndJWTDiffer", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.issue(nil)
		other, oc := e.issue(nil)
		_, err := e.revoke(&core.RevokeJWTRequest{JWT: tok, JTI: oc.ID})
		assertExact(t, err, core.EINVALID, "jti does not match the jwt")
		_, err = e.revoke(&core.RevokeJWTRequest{JWT: tok, JTI: oc.ID, Credentials: core.Credentials{Username: testUser, Password: testPassword}})
		assertExact(t, err, core.EINVALID, "jti does not match the jwt")
		e.assertLive(tok)
		e.assertLive(other)
	})

	t.Run("ErrBadCredentials", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		_, err := e.revoke(&core.RevokeJWTRequest{JTI: c.ID, Credentials: core.Credentials{Username: testUser, Password: "wrong password"}})
		assertExact(t, err, core.EUNAUTHORIZED, "invalid username or password")
		_, err = e.revoke(&core.RevokeJWTRequest{JTI: c.ID, Credentials: core.Credentials{Username: core.APIKeyUserPrefix + "jg_0123456789abcdef_x"}})
		assertExact(t, err, core.EUNAUTHORIZED, "invalid API key")
		// Even the token itself does not help when wrong credentials come with it.
		_, err = e.revoke(&core.RevokeJWTRequest{JWT: tok, Credentials: core.Credentials{Username: testUser, Password: "wrong password"}})
		assertExact(t, err, core.EUNAUTHORIZED, "invalid username or password")
		e.assertLive(tok)
	})
}
