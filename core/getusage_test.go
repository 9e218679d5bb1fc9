package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// credentials returns testUser's credentials of one kind: "password",
// "apikey" (as the username), "key" (an API key on its own, as ?key=) or
// "bearer" (a fresh token bound to nothing).
func (e *enf) credentials(how string) core.Credentials {
	e.t.Helper()
	switch how {
	case "password":
		return core.Credentials{Username: testUser, Password: testPassword, ClientAddr: testAddr}
	case "apikey":
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			e.t.Fatal(err)
		}
		return core.Credentials{Username: core.APIKeyUserPrefix + key, ClientAddr: testAddr}
	case "key":
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			e.t.Fatal(err)
		}
		return core.Credentials{APIKey: key, ClientAddr: testAddr}
	case "bearer":
		tok, _ := e.open()
		return core.Credentials{Bearer: tok, ClientAddr: testAddr}
	}
	e.t.Fatalf("unknown credentials %q", how)
	return core.Credentials{}
}

func TestService_GetCreditsRemaining(t *testing.T) {
	for _, how := range []string{"password", "apikey", "key", "bearer"} {
		t.Run(how, func(t *testing.T) {
			e := newEnf(t)
			cred := e.credentials(how)
			tok, _ := e.open()
			e.mustCharge(tok, emailMethod, 7, "", "")
			got, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, cred)
			if err != nil || got != testCredits-7 {
				t.Errorf("GetCreditsRemaining = %d, %v; want %d", got, err, testCredits-7)
			}
		})
	}

	t.Run("BearerBoundToClientIP", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.issue(allowUserAdmin) // bound to boundIP
		for _, addr := range []string{boundIP, "::ffff:" + boundIP} {
			if _, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok, ClientAddr: addr}); err != nil {
				t.Errorf("from %s: %v", addr, err)
			}
		}
		_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok, ClientAddr: testAddr})
		assertExact(t, err, core.EFORBIDDEN, "token is bound to client IP 198.51.100.9; 203.0.113.7 is not allowed")
		_, err = e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok})
		assertExact(t, err, core.EFORBIDDEN, "token is bound to client IP 198.51.100.9; the caller's address is unknown")
	})

	t.Run("BearerClientAddrForms", func(t *testing.T) {
		// The transport's address may carry a port or an IPv6 zone (as the
		// throttle accepts); a token bound to nothing works from anywhere.
		e := newEnf(t)
		open, _ := e.open()
		bound, _ := e.issue(func(r *core.GetJWTRequest) { allowUserAdmin(r); r.ClientIP = "fe80::1" })
		for _, addr := range []string{"203.0.113.7:41000", "[2001:db8::1]:443", "fe80::1%eth0", "@", ""} {
			if _, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: open, ClientAddr: addr}); err != nil {
				t.Errorf("unbound token from %q: %v", addr, err)
			}
		}
		for _, addr := range []string{"fe80::1", "fe80::1%eth0", "[fe80::1%eth0]:443"} {
			if _, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: bound, ClientAddr: addr}); err != nil {
				t.Errorf("bound token from its own address %q: %v", addr, err)
			}
		}
		for _, addr := range []string{"fe80::2", "[fe80::2]:443", "@"} {
			_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: bound, ClientAddr: addr})
			assertErr(t, err, core.EFORBIDDEN, "token is bound to client IP fe80::1")
		}
	})

	t.Run("ErrBearerRevoked", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.open()
		if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok, ClientAddr: testAddr})
		assertExact(t, err, core.EUNAUTHORIZED, msgRevoked)
	})

	t.Run("ErrBearerExpired", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.open()
		e.advance(time.Hour + core.Leeway)
		_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok, ClientAddr: testAddr})
		assertExact(t, err, core.EUNAUTHORIZED, msgExpired)
	})

	t.Run("ErrBearerForged", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.open()
		for _, a := range attacks() {
			if !a.anonymous {
				continue
			}
			forged, _, _ := a.make(t, e, tok, c)
			_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: forged, ClientAddr: testAddr})
			assertExact(t, err, a.code, a.msg)
		}
	})

	t.Run("ErrBearerDisabledUser", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.open()
		if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, true); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Bearer: tok, ClientAddr: testAddr})
		assertExact(t, err, core.EFORBIDDEN, "token's user has been disabled")
	})

	t.Run("ErrBearerAndPassword", func(t *testing.T) {
		e := newEnf(t)
		tok, _ := e.open()
		for _, c := range []core.Credentials{
			{Bearer: tok, Username: testUser, Password: testPassword},
			{Bearer: tok, Username: testUser},
			{Bearer: tok, Password: testPassword},
		} {
			_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, c)
			assertExact(t, err, core.EINVALID, "give either a bearer token or a username and password, not both")
		}
	})

	t.Run("ErrCredentials", func(t *testing.T) {
		e := newEnf(t)
		_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{})
		assertErr(t, err, core.EUNAUTHORIZED, "username and password are required")
		_, err = e.svc.Accounts.GetCreditsRemaining(e.ctx, core.Credentials{Username: testUser, Password: "wrong password"})
		assertExact(t, err, core.EUNAUTHORIZED, "invalid username or password")
	})
}

// usageFixture leaves ledger lines for alice on 2030-01-02, -03 and -05 and
// for bob on 2030-01-03, plus an anonymous refusal, and returns alice's
// credentials of each kind (the bearer token is issued on 2030-01-05). The
// clock ends a minute after the last line, so that "now" includes it.
func usageFixture(t *testing.T) (*enf, map[string]core.Credentials) {
	e := newEnf(t)
	e.createUser("bob", testPassword, 100)
	// 2030-01-02
	tok, _ := e.open()
	e.mustCharge(tok, emailMethod, 2, "", "")
	e.mustCharge(tok, emailMethod, 3, "", "")
	// 2030-01-03
	e.advance(24 * time.Hour)
	tok, _ = e.issue(func(r *core.GetJWTRequest) {
		r.AllowedMethods, r.ClientIP, r.MaxCredits, r.Options = nil, "", nil, []core.Option{{Name: "ApplicationName", Value: "Mobile"}}
	})
	e.mustCharge(tok, "Phone.Lookup", 4, "", "")
	if _, err := e.charge(tok, "Phone.Lookup", 1000, "", ""); core.ErrorCode(err) != core.ENOCREDITS {
		t.Fatalf("overdraw: %v", err)
	}
	bobTok, _ := e.issue(func(r *core.GetJWTRequest) {
		r.Username, r.AllowedMethods, r.ClientIP, r.MaxCredits = "bob", nil, "", nil
	})
	e.mustCharge(bobTok, emailMethod, 9, "", "")
	e.charge("garbage", emailMethod, 1, "", "") // anonymous
	// 2030-01-05
	e.advance(48 * time.Hour)
	tok, _ = e.open()
	e.mustCharge(tok, emailMethod, 1, "", "")
	creds := map[string]core.Credentials{}
	for _, how := range []string{"password", "apikey", "key", "bearer"} {
		creds[how] = e.credentials(how)
	}
	e.advance(time.Minute)
	return e, creds
}

func TestService_GetUsage(t *testing.T) {
	const (
		d2 = "2030-01-02"
		d3 = "2030-01-03"
		d5 = "2030-01-05"
	)
	all := []core.UsageRow{
		{Day: d2, Account: testUser, Application: testApp, Method: emailMethod, Calls: 2, Credits: 5},
		{Day: d2, Account: testUser, Application: testApp, Method: core.OpGetJWT.Method, Calls: 1},
		{Day: d3, Account: testUser, Application: "Mobile", Method: "Phone.Lookup", Calls: 2, Failures: 1, Credits: 4},
		{Day: d3, Account: testUser, Application: "Mobile", Method: core.OpGetJWT.Method, Calls: 1},
		{Day: d5, Account: testUser, Application: testApp, Method: emailMethod, Calls: 1, Credits: 1},
		{Day: d5, Account: testUser, Application: testApp, Method: core.OpGetJWT.Method, Calls: 2}, // with the bearer's
	}
	pick := func(days ...string) []core.UsageRow {
		var out []core.UsageRow
		for _, r := range all {
			for _, d := range days {
				if r.Day == d {
					out = append(out, r)
				}
			}
		}
		return out
	}
	balance := int64(testCredits - 2 - 3 - 4 - 1)

	for _, tc := range []struct {
		name, from, to string
		want           []core.UsageRow
	}{
		{"DefaultLast30Days", "", "", all},
		{"Days", d2, d5, all},
		{"ToDayIsInclusive", d3, d3, pick(d3)},
		{"OneDayEach", d2, d2, pick(d2)},
		{"DateTimes", "2030-01-03T00:00:00Z", "2030-01-05T00:00:00Z", pick(d3)},
		{"DateTimeToIsExclusive", d2, "2030-01-05T03:04:05.25Z", pick(d2, d3)},
		{"DateTimeToJustAfter", d2, "2030-01-05T03:04:05.2500001Z", all},
		{"DateTimeWithZone", "2030-01-03T01:00:00+01:00", "2030-01-04", pick(d3)},
		{"DateTimeWithoutZone", "2030-01-02T03:04:05.26", "", pick(d3, d5)},
		{"FromOnly", d3, "", pick(d3, d5)},
		{"ToOnly", "", d3, pick(d2, d3)},
		{"Empty", "2029-01-01", "2029-12-31", nil},
		{"Spaces", " " + d3 + " ", "\t" + d3, pick(d3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, creds := usageFixture(t)
			for _, how := range []string{"password", "apikey", "key", "bearer"} {
				want := tc.want
				rows, bal, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: creds[how], From: tc.from, To: tc.to})
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if got := derefRows(rows); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: usage =\n%+v\nwant\n%+v", how, got, want)
				}
				if bal != balance {
					t.Errorf("%s: balance %d, want %d", how, bal, balance)
				}
			}
		})
	}

	t.Run("OnlyTheCallersAccount", func(t *testing.T) {
		e, _ := usageFixture(t)
		rows, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: core.Credentials{Username: "bob", Password: testPassword}})
		if err != nil {
			t.Fatal(err)
		}
		want := []core.UsageRow{
			{Day: d3, Account: "bob", Application: testApp, Method: emailMethod, Calls: 1, Credits: 9},
			{Day: d3, Account: "bob", Application: testApp, Method: core.OpGetJWT.Method, Calls: 1},
		}
		if got := derefRows(rows); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("bob's usage =\n%+v\nwant\n%+v", got, want)
		}
		// The operator's report has everyone, including the anonymous refusal.
		every := e.usageReport()
		anon := 0
		for _, r := range every {
			if r.Account == "" {
				anon++
			}
		}
		if anon != 1 || len(every) != len(all)+len(want)+1 {
			t.Errorf("full report has %d rows (%d anonymous): %+v", len(every), anon, derefRows(every))
		}
	})

	t.Run("DefaultWindowMoves", func(t *testing.T) {
		// The default range is the 30 days that end with today (UTC).
		e, creds := usageFixture(t)
		for _, tc := range []struct {
			now  time.Time
			want []core.UsageRow
		}{
			{time.Date(2030, 1, 31, 23, 59, 59, 0, time.UTC), pick(d2, d3, d5)},
			{time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC), pick(d3, d5)},
			{time.Date(2030, 2, 1, 23, 59, 59, 0, time.UTC), pick(d3, d5)},
			{time.Date(2030, 2, 2, 0, 0, 0, 0, time.UTC), pick(d5)},
			{time.Date(2030, 2, 3, 23, 59, 59, 0, time.UTC), pick(d5)},
			{time.Date(2030, 2, 4, 0, 0, 0, 0, time.UTC), nil},
		} {
			e.advance(tc.now.Sub(e.clock()))
			rows, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: creds["password"]})
			if err != nil {
				t.Fatal(err)
			}
			if got := derefRows(rows); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("at %s: usage =\n%+v\nwant\n%+v", tc.now, got, tc.want)
			}
		}
	})

	t.Run("ErrRange", func(t *testing.T) {
		e, creds := usageFixture(t)
		cred := creds["password"]
		for _, tc := range []struct{ from, to, msg string }{
			{d3, d2, "from must be before to"},
			{"2030-01-03T00:00:00Z", "2030-01-03T00:00:00Z", "from must be before to"},
			{"2030-01-04", "2030-01-03T23:59:59Z", "from must be before to"},
			{"2030-02-01", "", "from must be before to"}, // to defaults to now
			{"2029-01-01", "2030-01-02", "the range from 2029-01-01T00:00:00Z to 2030-01-03T00:00:00Z is longer than 366 days"},
			{"2028-01-01", "2029-01-01", "the range from 2028-01-01T00:00:00Z to 2029-01-02T00:00:00Z is longer than 366 days"},
			{"yesterday", "", `from "yesterday" is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time`},
			{"", "2030-13-01", `to "2030-13-01" is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time`},
			{"2030-02-30", "", `from "2030-02-30" is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time`},
			{"2030-01-02T25:00:00Z", "", `from "2030-01-02T25:00:00Z" is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time`},
			{"1893456000", "", `from "1893456000" is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time`},
		} {
			_, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: cred, From: tc.from, To: tc.to})
			assertExact(t, err, core.EINVALID, tc.msg)
		}
		// 366 days exactly (2028 is a leap year) is allowed.
		if _, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: cred, From: "2028-01-01", To: "2028-12-31"}); err != nil {
			t.Errorf("366 days: %v", err)
		}
		if _, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: cred, From: "2029-01-01T00:00:00Z", To: "2030-01-02T00:00:00Z"}); err != nil {
			t.Errorf("366 days as date-times: %v", err)
		}
	})

	t.Run("ErrCredentials", func(t *testing.T) {
		e, _ := usageFixture(t)
		_, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: core.Credentials{Username: testUser, Password: "wrong password"}})
		assertExact(t, err, core.EUNAUTHORIZED, "invalid username or password")
		bound, _ := e.issue(allowUserAdmin)
		_, _, err = e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: core.Credentials{Bearer: bound, ClientAddr: testAddr}})
		assertExact(t, err, core.EFORBIDDEN, "token is bound to client IP 198.51.100.9; 203.0.113.7 is not allowed")
		if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: bound}); err != nil {
			t.Fatal(err)
		}
		_, _, err = e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: core.Credentials{Bearer: bound, ClientAddr: boundIP}})
		assertExact(t, err, core.EUNAUTHORIZED, msgRevoked)
		_, _, err = e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: core.Credentials{Bearer: bound, Username: testUser, Password: testPassword}})
		assertExact(t, err, core.EINVALID, "give either a bearer token or a username and password, not both")
	})
}

// allowUserAdmin lets a fixture token also act as a bearer credential for
// the account operations.
func allowUserAdmin(r *core.GetJWTRequest) { r.AllowedMethods = []string{"Email", "UserAdmin"} }

// A bearer token is a limited credential: the account operations are
// methods its allowedMethods must allow.
func TestService_BearerScope(t *testing.T) {
	e := newEnf(t)
	emailOnly, _ := e.issue(func(r *core.GetJWTRequest) { r.ClientIP = "" })
	usageOnly, _ := e.issue(func(r *core.GetJWTRequest) { r.ClientIP, r.AllowedMethods = "", []string{"userAdmin.GetUsage"} })
	cred := func(tok string) core.Credentials { return core.Credentials{Bearer: tok, ClientAddr: testAddr} }

	_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, cred(emailOnly))
	assertExact(t, err, core.EFORBIDDEN, "token does not allow method UserAdmin.GetCreditsRemaining (allowed: Email)")
	_, _, err = e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: cred(emailOnly)})
	assertExact(t, err, core.EFORBIDDEN, "token does not allow method UserAdmin.GetUsage (allowed: Email)")
	_, err = e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{Credentials: cred(emailOnly), JWT: usageOnly})
	assertExact(t, err, core.EFORBIDDEN, "token does not allow method UserAdmin.RevokeJWT (allowed: Email)")

	if _, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: cred(usageOnly)}); err != nil {
		t.Errorf("a token allowed UserAdmin.GetUsage: %v", err)
	}
	_, err = e.svc.Accounts.GetCreditsRemaining(e.ctx, cred(usageOnly))
	assertErr(t, err, core.EFORBIDDEN, "does not allow method UserAdmin.GetCreditsRemaining")
	// A token can always revoke itself, with no credentials.
	if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: emailOnly}); err != nil {
		t.Errorf("self-revocation: %v", err)
	}
}
