package jsonapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

// TestSurfaces_GetJWTRefusalLedger sends the same malformed GetJWT
// (maxCredits "abc": plain JSON cannot decode it, the document refuses it)
// and the same rule-breaking one (maxCredits 0: core refuses it on the
// plain surface, the document on the strict one), each with
// options.ApplicationName "x", to both JSON surfaces. Each call leaves
// exactly one ledger line, the same on both: method UserAdmin.GetJWT,
// outcome invalid, application "x", no token, under the account its
// credentials name: alice's with her password and with a wrong one (the
// username names it), alice's for her API key, none for an unknown
// username; a password that is not a string, or a body that is not an
// object, is attributed alike. Core looks up exactly that one user or key
// and hashes nothing
// (the hash gate is full meanwhile: a hash would be "server busy"), and no
// refusal counts as a failed login (one would lock the caller out for an
// hour).
func TestSurfaces_GetJWTRefusalLedger(t *testing.T) {
	lockout := core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour}
	e := newEnv(t, envOption{core: func(c *core.Config) {
		c.Throttle = &core.Throttle{PerUser: lockout, PerClient: lockout, MaxKeys: 1000}
	}})
	expiresAt := e.expiresAt(time.Hour)

	type want struct {
		account, user int64 // 0: none
		app           string
	}
	asAlice := want{account: e.alice.AccountID, user: e.alice.ID, app: "x"}
	requests := []struct {
		name               string
		username, password string
		key                bool // alice's API key as ?key=, instead of a username
		maxCredits         any
		body               string // sent instead of the usual body; its refusal names word
		word               string // "maxCredits" unless set
		want               want
	}{
		{name: "Malformed", username: alice, password: alicePassword, maxCredits: "abc", want: asAlice},
		{name: "RuleBroken", username: alice, password: alicePassword, maxCredits: 0, want: asAlice},
		{name: "MalformedWrongPassword", username: alice, password: "not the password", maxCredits: "abc", want: asAlice},
		{name: "RuleBrokenWrongPassword", username: alice, password: "not the password", maxCredits: 0, want: asAlice},
		{name: "MalformedUnknownUser", username: "nobody-here", password: alicePassword, maxCredits: "abc", want: want{app: "x"}},
		{name: "RuleBrokenUnknownUser", username: "nobody-here", password: alicePassword, maxCredits: 0, want: want{app: "x"}},
		{name: "MalformedByKey", key: true, maxCredits: "abc", want: asAlice},
		{name: "RuleBrokenByKey", key: true, maxCredits: 0, want: asAlice},
		// A password that is no string: the username still names the
		// account, and the options are still read.
		{name: "PasswordNotString", body: `{"username":"alice","password":true,"expiresAt":"` + expiresAt + `","options":{"ApplicationName":"x"}}`,
			word: "password", want: asAlice},
		// A body that is no object gives no options, but ?key= still names
		// the account.
		{name: "NotAnObjectByKey", key: true, body: `["x"]`, word: "object", want: want{account: e.alice.AccountID, user: e.alice.ID}},
	}

	// The instrument: with the gate full, a request that gets as far as a
	// hash is answered "server busy".
	e.withoutHashing(func() {
		body := map[string]any{"username": alice, "password": alicePassword, "expiresAt": expiresAt}
		for surface, wantStatus := range map[string]int{"plain": http.StatusOK, "strict": http.StatusTooManyRequests} {
			if status, st := e.callSurface(surface, "GetJWT", body, "", nil); status != wantStatus || !strings.Contains(derefOr(st.ErrorMessage), "server busy") {
				t.Fatalf("%s GetJWT with the gate full: HTTP %d %+v, want %d saying server busy", surface, status, st, wantStatus)
			}
		}
	})

	for _, surface := range []string{"plain", "strict"} {
		for _, tc := range requests {
			t.Run(surface+"/"+tc.name, func(t *testing.T) {
				body := map[string]any{"expiresAt": expiresAt, "maxCredits": tc.maxCredits, "options": map[string]any{"ApplicationName": "x"}}
				if !tc.key {
					body["username"], body["password"] = tc.username, tc.password
				}
				query := ""
				if tc.key {
					query = "?key=" + url.QueryEscape(e.apiKey)
				}
				lookups, before := e.store.lookups.Load(), len(e.lines())
				var status int
				var st edge.Status
				e.withoutHashing(func() {
					if tc.body != "" {
						status, st = e.callSurfaceRaw(surface, "GetJWT", tc.body, query, nil)
					} else {
						status, st = e.callSurface(surface, "GetJWT", body, query, nil)
					}
				})
				msg := derefOr(st.ErrorMessage)
				wantStatus := http.StatusOK
				if surface == "strict" {
					wantStatus = http.StatusBadRequest
				}
				wantWord := "maxCredits"
				if tc.word != "" {
					wantWord = tc.word
				}
				if status != wantStatus || st.Success || st.CreditsRemaining != 0 || !strings.Contains(msg, wantWord) {
					t.Errorf("HTTP %d saying %q, want %d naming %s", status, msg, wantStatus, wantWord)
				}
				if n := e.store.lookups.Load() - lookups; n != 1 {
					t.Errorf("core looked up %d users or keys, want the 1 the credentials name", n)
				}
				lines := e.lines()[before:]
				if len(lines) != 1 {
					t.Fatalf("%d ledger lines, want 1: %+v", len(lines), lines)
				}
				l := lines[0]
				got := want{account: accountOf(l), app: l.Application}
				if l.UserID != nil {
					got.user = *l.UserID
				}
				if l.Method != core.OpGetJWT.Method || l.Outcome != core.Outcome(core.EINVALID) || got != tc.want ||
					l.Credits != 0 || l.JTI != "" || l.ClientAddr != "127.0.0.1" {
					t.Errorf("ledger line %+v attributed to %+v, want an invalid %s from 127.0.0.1 attributed to %+v", *l, got, core.OpGetJWT.Method, tc.want)
				}
			})
		}
	}

	// No refusal counted as a failed login: nothing is tracked, and alice
	// (by password and by key) gets a token at once on both surfaces.
	if n := e.svc.Authenticator.Throttle.Len(); n != 0 {
		t.Errorf("the throttle tracks %d keys after the refusals, want none", n)
	}
	for _, surface := range []string{"plain", "strict"} {
		for _, query := range []string{"", "?key=" + url.QueryEscape(e.apiKey)} {
			body := map[string]any{"expiresAt": expiresAt, "options": map[string]any{"ApplicationName": "x"}}
			if query == "" {
				body["username"], body["password"] = alice, alicePassword
			}
			if status, st := e.callSurface(surface, "GetJWT", body, query, nil); status != http.StatusOK || !st.Success {
				t.Errorf("%s GetJWT%s after the refusals: HTTP %d %+v (%s)", surface, query, status, st, derefOr(st.ErrorMessage))
			}
		}
	}
}
