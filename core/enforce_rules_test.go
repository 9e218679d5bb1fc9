package core_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// Tokens die with their principal: a disabled user's or a revoked API
// key's tokens are refused by VerifyJWT and ChargeJWT.
func TestService_TokenPrincipalState(t *testing.T) {
	t.Run("ErrUserDisabled", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.open()
		if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, true); err != nil {
			t.Fatal(err)
		}
		_, err := e.verify(tok, emailMethod, "")
		assertExact(t, err, core.EFORBIDDEN, "token's user has been disabled")
		_, err = e.charge(tok, emailMethod, 1, "", "")
		assertExact(t, err, core.EFORBIDDEN, "token's user has been disabled")
		if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.verify(tok, emailMethod, ""); err != nil {
			t.Fatalf("re-enabled user: %v", err)
		}
	})
	t.Run("ErrAPIKeyRevoked", func(t *testing.T) {
		e := newEnf(t)
		key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password = core.APIKeyUserPrefix+key, ""
		res, _ := e.mustGetJWT(r)
		byPassword, _ := e.open()
		if err := e.svc.Admin.RevokeAPIKey(e.ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.charge(res.JWT, emailMethod, 1, "", "")
		assertExact(t, err, core.EUNAUTHORIZED, "token was issued for an API key that has since been revoked")
		if _, err := e.charge(byPassword, emailMethod, 1, "", ""); err != nil {
			t.Fatalf("a password-issued token must be unaffected: %v", err)
		}
	})
}

// A genuine token refused for its time is still attributed in the ledger.
func TestService_ChargeJWT_ExpiredAttributed(t *testing.T) {
	e := newEnf(t)
	tok, c := e.open()
	e.advance(time.Hour + core.Leeway + time.Second)
	_, err := e.charge(tok, emailMethod, 1, "", "")
	assertExact(t, err, core.EUNAUTHORIZED, "token has expired")
	lines := e.chargeLines()
	if len(lines) != 1 || lines[0].JTI != c.ID || lines[0].Application != testApp || lines[0].Outcome != core.Outcome(core.EUNAUTHORIZED) {
		t.Fatalf("ledger = %+v; want one unauthorized line attributed to %s", lines, c.ID)
	}
}

// A retried requestId answers the first outcome even after the token was
// revoked or has expired, and charges nothing.
func TestService_ChargeJWT_ReplayAfterRevoke(t *testing.T) {
	e := newEnf(t)
	tok, c := e.open()
	first := e.mustCharge(tok, emailMethod, 2, "", "order-1")
	if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
		t.Fatal(err)
	}
	again, err := e.charge(tok, emailMethod, 2, "", "order-1")
	if err != nil || !again.Replayed || again.CreditsRemaining != first.CreditsRemaining {
		t.Fatalf("replay after revoke = %+v, %v; want the first outcome %+v", again, err, first)
	}
	e.advance(2 * time.Hour)
	if again, err := e.charge(tok, emailMethod, 2, "", "order-1"); err != nil || !again.Replayed {
		t.Fatalf("replay after expiry = %+v, %v", again, err)
	}
	_, err = e.charge(tok, emailMethod, 3, "", "order-1")
	assertErr(t, err, core.ECONFLICT, "already used")
	_, err = e.charge(tok, emailMethod, 2, "", "order-2")
	assertExact(t, err, core.EUNAUTHORIZED, "token has expired")
	if bal, _ := e.svc.Admin.AddCredits(e.ctx, testUser, 0); bal != testCredits-2 {
		t.Fatalf("balance = %d, want %d: a replay must charge nothing", bal, testCredits-2)
	}
	// Replays write no ledger line; the conflict on a dead token does, as
	// on a live one, and so does the refusal of a new charge.
	acct := e.accountID(testUser)
	want := []ledgerLine{
		{acct, testApp, emailMethod, 2, core.OutcomeOK, c.ID},
		{acct, testApp, emailMethod, 0, core.Outcome(core.ECONFLICT), c.ID},
		{acct, testApp, emailMethod, 0, core.Outcome(core.EUNAUTHORIZED), c.ID},
	}
	if got := e.chargeLines(); !slices.Equal(got, want) {
		t.Errorf("ledger =\n%+v\nwant\n%+v", got, want)
	}
}

func TestService_CreateServiceKey_ErrPrefixName(t *testing.T) {
	e := newEnf(t)
	_, _, err := e.svc.Admin.CreateServiceKey(e.ctx, "jgs_billing")
	assertExact(t, err, core.EINVALID, `service key name may not start with "jgs_"`)
}
