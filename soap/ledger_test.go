package soap_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// TestGetJWT_RefusalLedger: a GetJWT refused for its own shape or rules is
// still a GetJWT call in the usage ledger. With the right password and
// ApplicationName "x", a maxCredits that is no xsd:int ("abc") is answered
// with a Client (1.2: Sender) fault, and maxCredits 0 with Success=false;
// each, over SOAP 1.1 and 1.2, leaves exactly one line, the four identical:
// UserAdmin.GetJWT, outcome invalid, the user's account and user,
// application "x", no credits and no token. The account is the one its
// username names, looked up without checking the secret: no password is
// hashed (the hash gate has no slot, so a hash would have been refused as
// busy) and no failed login is counted (a strict throttle tracks nobody).
func TestGetJWT_RefusalLedger(t *testing.T) {
	e := newEnv(t, noHashing(), strictThrottle())
	getJWT := func(maxCredits string) string {
		return e.fill(minimalWith(`<maxCredits>` + maxCredits + `</maxCredits>` +
			`<options><Option><Name>ApplicationName</Name><Value>x</Value></Option></options>`))
	}
	want := core.UsageEvent{
		Method: core.OpGetJWT.Method, Outcome: core.Outcome(core.EINVALID),
		AccountID: &e.user.AccountID, UserID: &e.user.ID, Application: "x",
	}
	var got []*core.UsageEvent
	for _, tc := range []struct {
		name       string
		ns         string
		envelope   func(string) string
		header     []string
		maxCredits string
		// fault is the fault code of a malformed request; "" for a
		// business failure.
		fault  string
		status int
		msg    string
	}{
		{name: "11/NotAnInt", ns: ns11, envelope: envelope11, header: soap11(action), maxCredits: "abc",
			fault: "Client", status: status11, msg: `maxCredits "abc" is not an xsd:int`},
		{name: "12/NotAnInt", ns: ns12, envelope: envelope12, header: soap12(action), maxCredits: "abc",
			fault: "Sender", status: status12Sender, msg: `maxCredits "abc" is not an xsd:int`},
		{name: "11/Zero", ns: ns11, envelope: envelope11, header: soap11(action), maxCredits: "0",
			msg: "maxCredits must be at least 1"},
		{name: "12/Zero", ns: ns12, envelope: envelope12, header: soap12(action), maxCredits: "0",
			msg: "maxCredits must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.lines(t, 0))
			r := e.post(tc.envelope(getJWT(tc.maxCredits)), tc.header...)
			var msg string
			if tc.fault != "" {
				msg = assertFault(t, r, tc.ns, tc.status, tc.fault).Message
			} else {
				msg = assertFailure(t, r, tc.ns)
			}
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
			lines := e.lines(t, before)
			if len(lines) != 1 {
				t.Fatalf("ledger lines %s; want exactly one", fmtLines(lines))
			}
			l := lines[0]
			got = append(got, l)
			if l.Method != want.Method || l.Outcome != want.Outcome || l.AccountID == nil || *l.AccountID != *want.AccountID ||
				l.UserID == nil || *l.UserID != *want.UserID || l.Application != want.Application || l.Credits != 0 || l.JTI != "" {
				t.Errorf("ledger line %s; want %s", fmtLines(lines), fmtLines([]*core.UsageEvent{&want}))
			}
			if l.ClientAddr == "" {
				t.Errorf("the ledger line has no client address")
			}
		})
	}
	for _, l := range got {
		if lineKey(l) != lineKey(got[0]) {
			t.Errorf("the lines differ: %s", fmtLines(got))
			break
		}
	}
	if n := e.svc.Authenticator.Throttle.Len(); n != 0 {
		t.Errorf("the throttle tracks %d keys: a refused request's shape counted as a failed login", n)
	}
	if toks := testenv.Tokens(t, e.db); len(toks) != 0 {
		t.Errorf("%d tokens were issued", len(toks))
	}
	// A right request is refused only by the closed hash gate: the refusals
	// above never reached a hash.
	if msg := assertFailure(t, e.post(e.fill(minimal11), soap11(action)...), ns11); msg != "server busy, retry in 1 s" {
		t.Errorf("a valid GetJWT without a hash slot: %q, want \"server busy, retry in 1 s\"", msg)
	}
}

// lineKey is what two ledger lines of the same refusal share: all but the time.
func lineKey(l *core.UsageEvent) string {
	id := func(p *int64) string {
		if p == nil {
			return "none"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("%s %s account=%s user=%s application=%q credits=%d jti=%q addr=%q",
		l.Method, l.Outcome, id(l.AccountID), id(l.UserID), l.Application, l.Credits, l.JTI, l.ClientAddr)
}
