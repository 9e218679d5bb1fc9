package core_test

import (
	"errors"
	"fmt"
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

	rows, err := e.svc.Usage(e.ctx, core.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []core.UsageRow{
		{Day: "2030-01-02", Account: testUser, Application: "", Method: core.MethodGetJWT, Calls: 1, Failures: 0, Credits: 0},
		{Day: "2030-01-02", Account: testUser, Application: "Shop", Method: core.MethodGetJWT, Calls: 2, Failures: 1, Credits: 0},
	}
	if got := derefRows(rows); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usage =\n%+v\nwant\n%+v", got, want)
	}
	if core.MethodGetJWT != "UserAdmin.GetJWT" {
		t.Errorf("MethodGetJWT = %q", core.MethodGetJWT)
	}

	// Filters: by account, and by time range [From, To).
	alice, _ := e.db.UserByName(e.ctx, testUser)
	other := alice.AccountID + 1000
	if rows, _ := e.svc.Usage(e.ctx, core.UsageFilter{AccountID: &alice.AccountID}); len(rows) != 2 {
		t.Errorf("filtered by alice's account: %d rows, want 2", len(rows))
	}
	if rows, _ := e.svc.Usage(e.ctx, core.UsageFilter{AccountID: &other}); len(rows) != 0 {
		t.Errorf("filtered by another account: %d rows, want 0", len(rows))
	}
	if rows, _ := e.svc.Usage(e.ctx, core.UsageFilter{From: t0.Add(time.Nanosecond)}); len(rows) != 0 {
		t.Errorf("From after the calls: %d rows, want 0", len(rows))
	}
	if rows, _ := e.svc.Usage(e.ctx, core.UsageFilter{From: t0, To: t0.Add(time.Nanosecond)}); len(rows) != 2 {
		t.Errorf("[t0, t0+1ns): %d rows, want 2", len(rows))
	}
	if rows, _ := e.svc.Usage(e.ctx, core.UsageFilter{To: t0}); len(rows) != 0 {
		t.Errorf("To = t0 (exclusive): %d rows, want 0", len(rows))
	}
}

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

	rows, err := e.svc.Usage(e.ctx, core.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []core.UsageRow{
		{Day: "2030-01-02", Account: "", Application: "Probe", Method: core.MethodGetJWT, Calls: 1, Failures: 1},
		{Day: "2030-01-03", Account: "", Application: "", Method: core.MethodGetJWT, Calls: 1, Failures: 1},
	}
	if got := derefRows(rows); fmt.Sprint(got) != fmt.Sprint(want) {
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
