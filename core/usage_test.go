package core_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

func TestService_Usage(t *testing.T) {
	e := newEnv(t)
	withApp := func(r *core.GetJWTRequest, app string) *core.GetJWTRequest {
		r.Options = []core.Option{{Name: core.OptionApplicationName, Value: app}}
		return r
	}
	e.mustGetJWT(withApp(e.req(), "Shop"))
	bad := withApp(e.req(), "Shop")
	bad.Password = "wrong password"
	if _, err := e.getJWT(bad); core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("wrong password: %v", err)
	}
	e.mustGetJWT(e.req()) // no application

	want := []core.UsageRow{
		{Day: "2030-01-02", Account: testUser, Application: "", Method: core.OpGetJWT.Method, Calls: 1, Failures: 0, Credits: 0},
		{Day: "2030-01-02", Account: testUser, Application: "Shop", Method: core.OpGetJWT.Method, Calls: 2, Failures: 1, Credits: 0},
	}
	if got := derefRows(e.usageReport()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usage =\n%+v\nwant\n%+v", got, want)
	}
	if core.OpGetJWT.Method != "UserAdmin.GetJWT" {
		t.Errorf("OpGetJWT.Method = %q", core.OpGetJWT.Method)
	}

	// Queries: by account name, and by time range [From, To).
	e.createUser("bob", testPassword, 1)
	report := func(q core.UsageQuery) int {
		t.Helper()
		rows, err := e.svc.Admin.UsageReport(e.ctx, q)
		if err != nil {
			t.Fatalf("UsageReport(%+v): %v", q, err)
		}
		return len(rows)
	}
	for _, tc := range []struct {
		name string
		q    core.UsageQuery
		want int
	}{
		{"alice's account", core.UsageQuery{Account: testUser}, 2},
		{"alice's account in another case", core.UsageQuery{Account: "ALICE"}, 2},
		{"another account", core.UsageQuery{Account: "bob"}, 0},
		{"From after the calls", core.UsageQuery{From: t0.Add(time.Nanosecond)}, 0},
		{"[t0, t0+1ns)", core.UsageQuery{From: t0, To: t0.Add(time.Nanosecond)}, 2},
		{"To = t0 (exclusive)", core.UsageQuery{To: t0}, 0},
	} {
		if got := report(tc.q); got != tc.want {
			t.Errorf("%s: %d rows, want %d", tc.name, got, tc.want)
		}
	}
	_, err := e.svc.Admin.UsageReport(e.ctx, core.UsageQuery{Account: "nosuch"})
	assertExact(t, err, core.ENOTFOUND, `account "nosuch" not found`)

	// The lines one by one, as the same queries select them.
	lines, err := e.svc.Admin.UsageLines(e.ctx, core.UsageQuery{Account: testUser}, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []core.Outcome
	for _, l := range lines {
		outcomes = append(outcomes, l.Outcome)
	}
	if want := []core.Outcome{core.OutcomeOK, core.Outcome(core.EUNAUTHORIZED), core.OutcomeOK}; !slices.Equal(outcomes, want) {
		t.Errorf("UsageLines outcomes = %q, want %q", outcomes, want)
	}
	page, err := e.svc.Admin.UsageLines(e.ctx, core.UsageQuery{}, core.Page{Offset: 1, Limit: 1})
	if err != nil || len(page) != 1 || page[0].Outcome != core.Outcome(core.EUNAUTHORIZED) {
		t.Errorf("UsageLines page 2 of 1 line = %+v, %v; want the wrong password", page, err)
	}
	_, err = e.svc.Admin.UsageLines(e.ctx, core.UsageQuery{Account: "nosuch"}, core.Page{})
	assertExact(t, err, core.ENOTFOUND, `account "nosuch" not found`)
}

// A caller that names no account is in the ledger under none; one whose
// request breaks a rule is under the account its credentials name, even
// with the right password (the secret is not checked).
func TestService_Usage_UnidentifiedCaller(t *testing.T) {
	e := newEnv(t)
	r := e.req()
	r.Username = "nosuch"
	r.Options = []core.Option{{Name: "ApplicationName", Value: "Probe"}}
	e.getJWT(r)
	e.advance(24 * time.Hour) // next day
	r = e.req()
	r.ExpiresAt = "garbage"
	e.getJWT(r)

	want := []core.UsageRow{
		{Day: "2030-01-02", Account: "", Application: "Probe", Method: core.OpGetJWT.Method, Calls: 1, Failures: 1},
		{Day: "2030-01-03", Account: testUser, Application: "", Method: core.OpGetJWT.Method, Calls: 1, Failures: 1},
	}
	if got := derefRows(e.usageReport()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usage =\n%+v\nwant\n%+v", got, want)
	}
}

func derefRows(rows []*core.UsageRow) []core.UsageRow {
	out := make([]core.UsageRow, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out
}

func TestErrorHelpers(t *testing.T) {
	e := core.Errorf(core.ENOCREDITS, "account %s is empty", "a")
	if e.Code != core.ENOCREDITS || e.Message != "account a is empty" || e.Error() != "no_credits: account a is empty" {
		t.Errorf("Errorf = %+v / %q", e, e.Error())
	}
	wrapped := fmt.Errorf("op: %w", &core.Error{Code: core.ETHROTTLED, Message: "wait", RetryAfter: 3 * time.Second})
	cause := errors.New("disk on fire")
	internal := core.Internal(cause)
	for _, tc := range []struct {
		err   error
		code  core.Code
		msg   string
		retry time.Duration
	}{
		{nil, "", "", 0},
		{e, core.ENOCREDITS, "account a is empty", 0},
		{wrapped, core.ETHROTTLED, "wait", 3 * time.Second},
		{cause, core.EINTERNAL, "internal error", 0},
		{internal, core.EINTERNAL, "internal error", 0},
	} {
		if got := core.ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
		if got := core.ErrorMessage(tc.err); got != tc.msg {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.msg)
		}
		if got := core.RetryAfter(tc.err); got != tc.retry {
			t.Errorf("RetryAfter(%v) = %v, want %v", tc.err, got, tc.retry)
		}
	}
	if !errors.Is(internal, cause) {
		t.Error("Internal does not unwrap to its cause")
	}
	codes := core.Codes()
	seen := map[core.Code]bool{}
	for _, c := range codes {
		if c == "" || seen[c] {
			t.Errorf("Codes() has %q twice or empty", c)
		}
		seen[c] = true
	}
	if len(codes) != 9 {
		t.Errorf("Codes() has %d codes, want 9", len(codes))
	}
}
