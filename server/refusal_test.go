package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
)

// TestGetJWT_RefusalLedgerSameOnEverySurface sends the same malformed
// GetJWT (maxCredits that is no number) and the same rule-breaking one
// (maxCredits 0), each with the right password and an ApplicationName, to
// plain JSON, OpenAPI, SOAP 1.1 and SOAP 1.2: each leaves one ledger line
// per surface, and the four are identical — method, outcome, account,
// application — whether the refusal came before core or from it. A wrong
// password leaves the same lines (the username names the account); an
// unknown username leaves lines under no account.
func TestGetJWT_RefusalLedgerSameOnEverySurface(t *testing.T) {
	strict := core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour}
	svc, db := testenv.New(t, func(c *core.Config) {
		c.Throttle = &core.Throttle{PerUser: strict, PerClient: strict, MaxKeys: 1000}
	})
	const user, password = "ledger-user", "ledger user's password"
	u := testenv.CreateUser(t, svc, user, password, 10)
	spec, err := jsonapi.LoadSpec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d := edge.Deps{Service: svc, Logger: svc.Authenticator.Logger, ClientAddr: clientaddr.Resolver{}.Addr}
	h, err := server.New(server.Config{Keys: svc.KeyRing, Logger: d.Logger, Ping: db.Ping, Surfaces: []edge.Surface{
		&jsonapi.Plain{Deps: d}, &soap.Handler{Deps: d}, &jsonapi.OpenAPI{Deps: d, Spec: spec},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	type call struct {
		surface       string
		contentType   string
		action        string // SOAP 1.1 SOAPAction
		body          string
		path          string
		wantHTTP      int
		wantSOAPFault bool
	}
	calls := func(username, pw, maxCredits, app string) []call {
		jsonBody := fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q,"maxCredits":%s,"options":{"ApplicationName":%q}}`,
			username, pw, expires, maxCredits, app)
		xmlMax := strings.Trim(maxCredits, `"`)
		soapBody := func(ns string) string {
			return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + ns + `"><soap:Body>` +
				`<GetJWT xmlns="http://www.data-8.co.uk/integr8"><username>` + username + `</username><password>` + pw +
				`</password><expiresAt>` + expires + `</expiresAt><maxCredits>` + xmlMax + `</maxCredits>` +
				`<options><Option><Name>ApplicationName</Name><Value>` + app + `</Value></Option></options></GetJWT></soap:Body></soap:Envelope>`
		}
		return []call{
			{surface: "plain", path: "/UserAdmin/GetJWT.json", contentType: "application/json", body: jsonBody},
			{surface: "openapi", path: "/api/v1/UserAdmin/GetJWT", contentType: "application/json", body: jsonBody},
			{surface: "soap11", path: "/useradmin.asmx", contentType: "text/xml; charset=utf-8", action: `"http://www.data-8.co.uk/integr8/GetJWT"`,
				body: soapBody("http://schemas.xmlsoap.org/soap/envelope/")},
			{surface: "soap12", path: "/useradmin.asmx", contentType: `application/soap+xml; charset=utf-8; action="http://www.data-8.co.uk/integr8/GetJWT"`,
				body: soapBody("http://www.w3.org/2003/05/soap-envelope")},
		}
	}
	post := func(t *testing.T, c call) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", c.contentType)
		if c.action != "" {
			req.Header.Set("SOAPAction", c.action)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 && !strings.Contains(string(b), "Fault") {
			t.Fatalf("%s: HTTP %d %s", c.surface, resp.StatusCode, b)
		}
		return string(b)
	}

	type line struct {
		method      string
		outcome     core.Outcome
		account     int64 // 0: none
		application string
	}
	for _, tc := range []struct {
		name, username, password, maxCredits, app string
		account                                   int64
		// refused says how each surface answers: "" is a business failure
		// (Success false), else a substring of a fault or the envelope.
		wantAnswer string
	}{
		{name: "Malformed", username: user, password: password, maxCredits: `"abc"`, app: "malformed-app", account: u.AccountID, wantAnswer: "maxCredits"},
		{name: "RuleBroken", username: user, password: password, maxCredits: `0`, app: "rule-app", account: u.AccountID, wantAnswer: "maxCredits"},
		{name: "MalformedWrongPassword", username: user, password: "not the password", maxCredits: `"abc"`, app: "wrong-pw-app", account: u.AccountID, wantAnswer: "maxCredits"},
		{name: "RuleBrokenUnknownUser", username: "nobody-here", password: password, maxCredits: `0`, app: "nobody-app", wantAnswer: "maxCredits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(testenv.UsageLines(t, db))
			cs := calls(tc.username, tc.password, tc.maxCredits, tc.app)
			for _, c := range cs {
				if body := post(t, c); !strings.Contains(body, tc.wantAnswer) {
					t.Errorf("%s answered %s, want it to name %q", c.surface, body, tc.wantAnswer)
				}
			}
			lines := testenv.UsageLines(t, db)[before:]
			if len(lines) != len(cs) {
				t.Fatalf("%d ledger lines for %d calls: %+v", len(lines), len(cs), lines)
			}
			want := line{method: core.OpGetJWT.Method, outcome: core.Outcome(core.EINVALID), account: tc.account, application: tc.app}
			for i, ev := range lines {
				got := line{method: ev.Method, outcome: ev.Outcome, application: ev.Application}
				if ev.AccountID != nil {
					got.account = *ev.AccountID
				}
				if got != want {
					t.Errorf("%s left %+v, want %+v", cs[i].surface, got, want)
				}
				if ev.JTI != "" {
					t.Errorf("%s: a refused call recorded a token %q", cs[i].surface, ev.JTI)
				}
			}
		})
	}
	// None of those refusals counted as a failed login (the throttle locks
	// out at the first one) nor cost a password hash.
	if _, err := svc.Issuer.GetJWT(t.Context(), &core.GetJWTRequest{
		Credentials: core.Credentials{Username: user, Password: password, ClientAddr: "127.0.0.1"}, ExpiresAt: expires}); err != nil {
		t.Fatalf("a valid GetJWT after the refusals: %v", err)
	}
}
