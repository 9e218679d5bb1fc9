package core_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

func TestService_GetJWT_Credentials(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		r := e.req()
		r.Username = "  ALICE " // usernames are case-insensitive; surrounding space is dropped
		res, c := e.mustGetJWT(r)
		if res.CreditsRemaining != testCredits {
			t.Errorf("CreditsRemaining = %d, want %d", res.CreditsRemaining, testCredits)
		}
		if c.Subject != testUser {
			t.Errorf("sub = %q, want the stored spelling %q", c.Subject, testUser)
		}
		// GetJWT charges nothing.
		a, err := e.db.AccountByName(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		if a.Credits != testCredits {
			t.Errorf("balance after GetJWT = %d, want %d", a.Credits, testCredits)
		}
		tok, err := e.db.TokenByJTI(e.ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tok.APIKeyID != "" || tok.AccountID != a.ID {
			t.Errorf("stored token: api key %q, account %d; want none, %d", tok.APIKeyID, tok.AccountID, a.ID)
		}
	})

	t.Run("CreditsRemainingFollowsBalance", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, 50); err != nil {
			t.Fatal(err)
		}
		res, _ := e.mustGetJWT(e.req())
		if res.CreditsRemaining != testCredits+50 {
			t.Errorf("CreditsRemaining = %d, want %d", res.CreditsRemaining, testCredits+50)
		}
	})

	t.Run("ErrUnknownUserSameAsWrongPassword", func(t *testing.T) {
		e := newEnv(t)
		r := e.req()
		r.Password = "not the password"
		_, errWrong := e.getJWT(r)
		assertErr(t, errWrong, core.EUNAUTHORIZED)

		r = e.req()
		r.Username = "mallory"
		_, errUnknown := e.getJWT(r)
		assertErr(t, errUnknown, core.EUNAUTHORIZED)

		if core.ErrorMessage(errWrong) != core.ErrorMessage(errUnknown) {
			t.Errorf("wrong password says %q, unknown user says %q; they must be identical",
				core.ErrorMessage(errWrong), core.ErrorMessage(errUnknown))
		}
		if errWrong.Error() != errUnknown.Error() {
			t.Errorf("Error() differs: %q vs %q", errWrong.Error(), errUnknown.Error())
		}
		for _, w := range []string{"alice", "mallory", "exist"} {
			if strings.Contains(strings.ToLower(core.ErrorMessage(errWrong)), w) {
				t.Errorf("message %q mentions %q", core.ErrorMessage(errWrong), w)
			}
		}
		if got := e.outcomes(); !slices.Equal(got, []string{"unauthorized", "unauthorized"}) {
			t.Errorf("usage outcomes = %q", got)
		}
		if n := e.countTokens(); n != 0 {
			t.Errorf("tokens = %d, want 0", n)
		}
	})

	for _, tc := range []struct{ name, user, pass string }{
		{"ErrEmptyUsername", "", testPassword},
		{"ErrBlankUsername", "   ", testPassword},
		{"ErrEmptyPassword", testUser, ""},
		{"ErrBothEmpty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.req()
			r.Username, r.Password = tc.user, tc.pass
			_, err := e.getJWT(r)
			assertErr(t, err, core.EUNAUTHORIZED, "username and password are required")
			e.assertRefused(core.EUNAUTHORIZED)
		})
	}

	t.Run("ErrPasswordIsCaseSensitive", func(t *testing.T) {
		e := newEnv(t)
		r := e.req()
		r.Password = strings.ToUpper(testPassword)
		_, err := e.getJWT(r)
		assertErr(t, err, core.EUNAUTHORIZED)
		e.assertRefused(core.EUNAUTHORIZED)
	})

	t.Run("ErrDisabled", func(t *testing.T) {
		e := newEnv(t)
		if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, true); err != nil {
			t.Fatal(err)
		}
		_, err := e.getJWT(e.req())
		assertErr(t, err, core.EFORBIDDEN, "disabled")
		e.assertRefused(core.EFORBIDDEN)

		// A wrong password must not reveal that the user is disabled.
		r := e.req()
		r.Password = "not the password"
		_, err = e.getJWT(r)
		assertErr(t, err, core.EUNAUTHORIZED)

		if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.getJWT(e.req()); err != nil {
			t.Errorf("GetJWT after re-enabling: %v", err)
		}
	})

	t.Run("ErrNoCredits", func(t *testing.T) {
		e := newEnv(t)
		e.createUser("bob", testPassword, 0)
		r := e.req()
		r.Username = "bob"
		res, err := e.getJWT(r)
		if res != nil {
			t.Errorf("result with error: %+v", res)
		}
		assertErr(t, err, core.ENOCREDITS, "credits")
		e.assertRefused(core.ENOCREDITS)
		// The refusal is attributed to bob's account.
		rows := e.usageReport()
		if len(rows) != 1 || rows[0].Account != "bob" {
			t.Errorf("usage rows = %+v, want one row for account bob", rows)
		}
	})

	t.Run("ErrCreditsSpent", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.Admin.AddCredits(e.ctx, testUser, -testCredits); err != nil {
			t.Fatal(err)
		}
		_, err := e.getJWT(e.req())
		assertErr(t, err, core.ENOCREDITS)
	})

	t.Run("ErrTokenIsNotACredential", func(t *testing.T) {
		e := newEnv(t)
		res, _ := e.mustGetJWT(e.req())
		for _, tc := range []struct{ user, pass string }{
			{testUser, res.JWT},
			{res.JWT, ""},
			{"Bearer " + res.JWT, ""},
			{core.APIKeyUserPrefix + res.JWT, ""},
		} {
			r := e.req()
			r.Username, r.Password = tc.user, tc.pass
			_, err := e.getJWT(r)
			assertErr(t, err, core.EUNAUTHORIZED)
		}
		// Given as a bearer token, alone or with a login, core refuses it
		// in words, before anything is looked up.
		for _, c := range []core.Credentials{
			{Bearer: res.JWT},
			{Bearer: res.JWT, Username: testUser, Password: testPassword},
			{Bearer: res.JWT, Username: testUser},
		} {
			r := e.req()
			c.ClientAddr = testAddr
			r.Credentials = c
			_, err := e.getJWT(r)
			assertExact(t, err, core.EUNAUTHORIZED, msgNoBearer)
		}
		if n := e.countTokens(); n != 1 {
			t.Errorf("tokens = %d, want only the first one", n)
		}
		// Every refusal is a failed ledger line.
		if _, failures, _ := e.usageTotals(); failures != 7 {
			t.Errorf("usage report: %d failures, want 7", failures)
		}
	})
}

func TestService_GetJWT_APIKey(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(key, k.ID) {
			t.Errorf("key %q does not contain its id %q", key, k.ID)
		}
		if strings.Contains(k.SecretHash, strings.TrimPrefix(key, "jg_"+k.ID+"_")) {
			t.Error("stored hash contains the secret")
		}
		for _, user := range []string{core.APIKeyUserPrefix + key, "APIKEY-" + key, " " + core.APIKeyUserPrefix + key + " "} {
			r := e.req()
			r.Username, r.Password = user, ""
			res, c := e.mustGetJWT(r)
			if c.Subject != testUser || c.Account != testUser {
				t.Errorf("sub/account = %q/%q, want %q", c.Subject, c.Account, testUser)
			}
			if res.CreditsRemaining != testCredits {
				t.Errorf("CreditsRemaining = %d", res.CreditsRemaining)
			}
			tok, err := e.db.TokenByJTI(e.ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tok.APIKeyID != k.ID {
				t.Errorf("stored token API key = %q, want %q", tok.APIKeyID, k.ID)
			}
		}
	})

	t.Run("ErrPasswordGiven", func(t *testing.T) {
		e := newEnv(t)
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password = core.APIKeyUserPrefix+key, testPassword
		_, err = e.getJWT(r)
		assertErr(t, err, core.EINVALID, "password must be empty")
		e.assertRefused(core.EINVALID)
	})

	t.Run("ErrRevoked", func(t *testing.T) {
		for _, how := range []string{"id", "whole key"} {
			t.Run(how, func(t *testing.T) {
				e := newEnv(t)
				key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
				if err != nil {
					t.Fatal(err)
				}
				arg := k.ID
				if how == "whole key" {
					arg = key
				}
				if err := e.svc.Admin.RevokeAPIKey(e.ctx, arg); err != nil {
					t.Fatalf("RevokeAPIKey: %v", err)
				}
				if err := e.svc.Admin.RevokeAPIKey(e.ctx, arg); err != nil {
					t.Errorf("revoking twice: %v", err)
				}
				r := e.req()
				r.Username, r.Password = core.APIKeyUserPrefix+key, ""
				_, err = e.getJWT(r)
				assertErr(t, err, core.EFORBIDDEN, "revoked")
				e.assertRefused(core.EFORBIDDEN)
			})
		}
	})

	t.Run("ErrRevokeUnknown", func(t *testing.T) {
		e := newEnv(t)
		assertErr(t, e.svc.Admin.RevokeAPIKey(e.ctx, "0123456789abcdef"), core.ENOTFOUND)
	})

	t.Run("ErrDisabledUser", func(t *testing.T) {
		e := newEnv(t)
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, true); err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password = core.APIKeyUserPrefix+key, ""
		_, err = e.getJWT(r)
		assertErr(t, err, core.EFORBIDDEN, "disabled")
	})

	t.Run("ErrNoCredits", func(t *testing.T) {
		e := newEnv(t)
		e.createUser("bob", testPassword, 0)
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password = core.APIKeyUserPrefix+key, ""
		_, err = e.getJWT(r)
		assertErr(t, err, core.ENOCREDITS)
		e.assertRefused(core.ENOCREDITS)
	})

	t.Run("ErrBadKeysIdentical", func(t *testing.T) {
		e := newEnv(t)
		e.svc.Authenticator.Throttle.PerUser.Free = 1000 // this test is about messages, not lockouts
		key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimPrefix(key, "jg_"+k.ID+"_")
		bad := []string{
			"garbage",
			"",
			"jg_",
			"jg_0123456789abcdef_" + secret, // unknown id
			"jg_" + k.ID + "_wrongsecret",   // known id, wrong secret
			"jg_" + k.ID + "_",              // known id, no secret
			"jg_" + strings.ToUpper(k.ID) + "_" + secret,
			k.ID + "_" + secret, // prefix missing
			secret,
		}
		var first error
		for _, b := range bad {
			r := e.req()
			r.Username, r.Password = core.APIKeyUserPrefix+b, ""
			_, err := e.getJWT(r)
			assertErr(t, err, core.EUNAUTHORIZED)
			if first == nil {
				first = err
				continue
			}
			if core.ErrorMessage(err) != core.ErrorMessage(first) {
				t.Errorf("key %q: message %q differs from %q", b, core.ErrorMessage(err), core.ErrorMessage(first))
			}
		}
		if n := e.countTokens(); n != 0 {
			t.Errorf("tokens = %d, want 0", n)
		}
	})
}
