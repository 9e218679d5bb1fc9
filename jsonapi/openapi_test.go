package jsonapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/jsonapi/apiclient"
)

func ptr[T any](v T) *T { return &v }

// expires is an expiresAt one hour ahead, as the generated client sends it.
func expires() time.Time { return time.Now().Add(time.Hour).Truncate(time.Second) }

// TestOpenAPI_GeneratedClient drives GetJWT with the Go client oapi-codegen
// generates from openapi.yaml and verifies the tokens against the JWKS.
func TestOpenAPI_GeneratedClient(t *testing.T) {
	e := newEnv(t)

	t.Run("Password", func(t *testing.T) {
		exp := expires()
		res, err := e.client.GetJWTWithResponse(e.ctx, apiclient.GetJWTRequest{
			Username:       ptr(alice),
			Password:       ptr(alicePassword),
			ClientIp:       ptr("203.0.113.9"),
			ExpiresAt:      exp,
			AllowedMethods: &[]string{"AddressCapture", "Email.IsValid"},
			MaxCredits:     ptr(int64(40)),
			Options:        &apiclient.GetJWTOptions{ApplicationName: ptr("Checkout")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
		}
		st := res.JSON200.Status
		if !st.Success || st.ErrorMessage != nil || st.CreditsRemaining != aliceCredits || res.JSON200.Jwt == nil {
			t.Fatalf("result %s", res.Body)
		}
		c, err := e.verify(*res.JSON200.Jwt)
		if err != nil {
			t.Fatalf("token does not verify against the JWKS: %v", err)
		}
		if c.Subject != alice || c.Account != alice || !c.ExpiresAt.Time.Equal(exp) || c.Application != "Checkout" ||
			c.ClientIP != "203.0.113.9" || c.MaxCredits == nil || *c.MaxCredits != 40 ||
			!slices.Equal(c.AllowedMethods, []string{"AddressCapture", "Email.IsValid"}) {
			t.Errorf("claims = %+v", c)
		}
	})

	t.Run("APIKeyInQuery", func(t *testing.T) {
		withKey := func(_ context.Context, r *http.Request) error {
			q := r.URL.Query()
			q.Set("key", e.apiKey)
			r.URL.RawQuery = q.Encode()
			return nil
		}
		res, err := e.client.GetJWTWithResponse(e.ctx, apiclient.GetJWTRequest{
			ExpiresAt: expires(), Options: &apiclient.GetJWTOptions{ApplicationName: ptr("key-app")},
		}, withKey)
		if err != nil {
			t.Fatal(err)
		}
		if res.JSON200 == nil || res.JSON200.Jwt == nil {
			t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
		}
		c, err := e.verify(*res.JSON200.Jwt)
		if err != nil || c.Subject != alice || c.Application != "key-app" {
			t.Fatalf("claims %+v, %v", c, err)
		}
	})

	t.Run("APIKeyAsUsername", func(t *testing.T) {
		res, err := e.client.GetJWTWithResponse(e.ctx, apiclient.GetJWTRequest{
			Username: ptr(core.APIKeyUserPrefix + e.apiKey), ExpiresAt: expires(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.JSON200 == nil || res.JSON200.Jwt == nil {
			t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
		}
		if _, err := e.verify(*res.JSON200.Jwt); err != nil {
			t.Fatal(err)
		}
	})

	// Every failure comes back as its documented status with the envelope,
	// decoded by the generated client into the typed response of that status.
	for _, tc := range []struct {
		name   string
		req    apiclient.GetJWTRequest
		status int
		body   func(*apiclient.GetJWTResponse) *apiclient.GetJWTResult
		msg    string
	}{
		{"Unauthorized", apiclient.GetJWTRequest{Username: ptr(alice), Password: ptr("wrong password"), ExpiresAt: expires()},
			http.StatusUnauthorized, func(r *apiclient.GetJWTResponse) *apiclient.GetJWTResult { return r.JSON401 }, "invalid username or password"},
		{"UnknownUserSameAnswer", apiclient.GetJWTRequest{Username: ptr("nobody"), Password: ptr("wrong password"), ExpiresAt: expires()},
			http.StatusUnauthorized, func(r *apiclient.GetJWTResponse) *apiclient.GetJWTResult { return r.JSON401 }, "invalid username or password"},
		{"NoCredits", apiclient.GetJWTRequest{Username: ptr(broke), Password: ptr(brokePassword), ExpiresAt: expires()},
			http.StatusPaymentRequired, func(r *apiclient.GetJWTResponse) *apiclient.GetJWTResult { return r.JSON402 }, "no credits"},
		{"Disabled", apiclient.GetJWTRequest{Username: ptr(disabled), Password: ptr(disabledPass), ExpiresAt: expires()},
			http.StatusForbidden, func(r *apiclient.GetJWTResponse) *apiclient.GetJWTResult { return r.JSON403 }, "user is disabled"},
		{"CoreRule", apiclient.GetJWTRequest{Username: ptr(alice), Password: ptr(alicePassword), ExpiresAt: time.Now().Add(48 * time.Hour).Truncate(time.Second)},
			http.StatusBadRequest, func(r *apiclient.GetJWTResponse) *apiclient.GetJWTResult { return r.JSON400 }, "too far ahead"},
		{"CoreRuleClientIP", apiclient.GetJWTRequest{Username: ptr(alice), Password: ptr(alicePassword), ClientIp: ptr("not an address"), ExpiresAt: expires()},
			http.StatusBadRequest, func(r *apiclient.GetJWTResponse) *apiclient.GetJWTResult { return r.JSON400 }, "clientIp"},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			res, err := e.client.GetJWTWithResponse(e.ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := tc.body(res)
			if res.StatusCode() != tc.status || got == nil {
				t.Fatalf("HTTP %d %s, want %d", res.StatusCode(), res.Body, tc.status)
			}
			if got.Status.Success || got.Jwt != nil || got.Status.CreditsRemaining != 0 || got.Status.ErrorMessage == nil ||
				!strings.Contains(*got.Status.ErrorMessage, tc.msg) {
				t.Errorf("result %s, want a failure saying %q", res.Body, tc.msg)
			}
		})
	}

	t.Run("ErrRevokedKey", func(t *testing.T) {
		key, rec, err := e.svc.Admin.CreateAPIKey(e.ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Admin.RevokeAPIKey(e.ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		res, err := e.client.GetJWTWithResponse(e.ctx, apiclient.GetJWTRequest{Username: ptr(core.APIKeyUserPrefix + key), ExpiresAt: expires()})
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode() != http.StatusForbidden || res.JSON403 == nil || !strings.Contains(*res.JSON403.Status.ErrorMessage, "revoked") {
			t.Fatalf("HTTP %d %s, want 403", res.StatusCode(), res.Body)
		}
	})
}

// TestOpenAPI_Throttled checks 429 with Retry-After, as documented.
func TestOpenAPI_Throttled(t *testing.T) {
	e := newEnv(t)
	bad := apiclient.GetJWTRequest{Username: ptr(alice), Password: ptr("wrong password"), ExpiresAt: expires()}
	for i := range 20 {
		res, err := e.client.GetJWTWithResponse(e.ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode() == http.StatusUnauthorized {
			continue
		}
		if res.StatusCode() != http.StatusTooManyRequests || res.JSON429 == nil {
			t.Fatalf("attempt %d: HTTP %d %s", i+1, res.StatusCode(), res.Body)
		}
		secs, err := strconv.Atoi(res.HTTPResponse.Header.Get("Retry-After"))
		if err != nil || secs < 1 {
			t.Fatalf("Retry-After = %q", res.HTTPResponse.Header.Get("Retry-After"))
		}
		if !strings.Contains(*res.JSON429.Status.ErrorMessage, "retry in") {
			t.Errorf("message %q", *res.JSON429.Status.ErrorMessage)
		}
		return
	}
	t.Fatal("20 failed logins were never throttled")
}

// TestOpenAPI_DocumentExamples sends every request example of the document
// to its operation and expects success for each. Only what cannot work as
// written is replaced: an expiresAt of now + 1 h (a fixed date is beyond the
// maximum lifetime), and this server's own service key, tokens and jtis. An
// example without credentials in the body is sent with ?key=.
func TestOpenAPI_DocumentExamples(t *testing.T) {
	e := newEnv(t)
	serviceKey := e.serviceKey("examples")
	perOp := map[string]int{}
	for _, rt := range e.spec.Routes() {
		op := rt.Operation.OperationID
		mt := rt.Operation.RequestBody.Value.Content.Get("application/json")
		for name, ex := range mt.Examples {
			perOp[op]++
			t.Run(op+"/"+name, func(t *testing.T) {
				body, ok := ex.Value.Value.(map[string]any)
				if !ok {
					t.Fatalf("example %s is not an object", name)
				}
				body = maps.Clone(body)
				if _, ok := body["expiresAt"]; ok {
					body["expiresAt"] = e.expiresAt(time.Hour)
				}
				if _, ok := body["serviceKey"]; ok {
					body["serviceKey"] = serviceKey
				}
				_, hasJWT := body["jwt"]
				_, hasJTI := body["jti"]
				if hasJWT || hasJTI {
					tok := e.token(apiclient.GetJWTRequest{})
					if hasJWT {
						body["jwt"] = tok
					}
					if hasJTI {
						body["jti"] = e.jti(tok)
					}
				}
				query := ""
				if _, hasUser := body["username"]; !hasUser && body["serviceKey"] == nil && !hasJWT {
					query = "?key=" + e.apiKey
				}
				b, _ := json.Marshal(body)
				a := e.postOp(op, "application/json", string(b), query, nil)
				if a.status != http.StatusOK || !a.env.Success {
					t.Fatalf("example %s: %v", name, a)
				}
				if op == "GetJWT" {
					if a.result.Jwt == nil {
						t.Fatalf("example %s: %v", name, a)
					}
					if _, err := e.verify(*a.result.Jwt); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
	for _, rt := range e.spec.Routes() {
		if perOp[rt.Operation.OperationID] == 0 {
			t.Errorf("operation %s has no request example", rt.Operation.OperationID)
		}
	}
	if perOp["GetJWT"] < 2 {
		t.Fatalf("the document has %d GetJWT request examples", perOp["GetJWT"])
	}
}

// TestOpenAPI_SchemaViolations breaks the schema in one field at a time: each
// request gets 400 whose message names that field, and the refusal is one
// failed GetJWT line of the usage ledger, as on every surface: under the
// account its username names (core looks that one user up, without hashing
// the password) and with its ApplicationName, where the body still gives
// them as strings under their exact names.
func TestOpenAPI_SchemaViolations(t *testing.T) {
	e := newEnv(t)
	long := func(n int) string { return strings.Repeat("x", n) }
	// How a refusal is attributed when the broken field is the username or
	// the application's name; every other one is alice's, with her
	// application, after one look-up.
	type attribution struct {
		lookups int64
		account int64 // 0: none
		app     string
	}
	usual := attribution{lookups: 1, account: e.alice.AccountID, app: "violations"}
	noApp := attribution{lookups: 1, account: e.alice.AccountID}
	unusual := map[string]attribution{
		"UsernameType":           {app: "violations"},             // no username to look up
		"UsernameNull":           {app: "violations"},             // likewise
		"UsernameTooLong":        {lookups: 1, app: "violations"}, // names no user
		"OptionsType":            noApp,
		"OptionsNull":            noApp,
		"OptionsUnknown":         noApp,
		"OptionsWrongCase":       noApp,
		"ApplicationNameType":    noApp,
		"ApplicationNameNull":    noApp,
		"ApplicationNameTooLong": noApp, // longer than core keeps
	}
	for _, tc := range []struct {
		name  string
		field string // the field to set (with a dot: inside options); value nil with remove
		value any
		drop  bool
		want  string // the exact ErrorMessage
	}{
		{"UsernameType", "username", 42, false, "username: must be a string"},
		{"UsernameNull", "username", nil, false, "username: must not be null"},
		{"UsernameTooLong", "username", long(257), false, "username: must be at most 256 characters long"},
		{"PasswordType", "password", true, false, "password: must be a string"},
		{"PasswordTooLong", "password", long(1025), false, "password: must be at most 1024 characters long"},
		{"ClientIPType", "clientIp", []string{"203.0.113.9"}, false, "clientIp: must be a string or null"},
		{"ClientIPTooLong", "clientIp", long(65), false, "clientIp: must be at most 64 characters long"},
		{"ExpiresAtMissing", "expiresAt", nil, true, "expiresAt: is required"},
		{"ExpiresAtNull", "expiresAt", nil, false, "expiresAt: must not be null"},
		{"ExpiresAtType", "expiresAt", 1893456000, false, "expiresAt: must be a string"},
		{"ExpiresAtNoZone", "expiresAt", "2030-01-31T12:00:00", false, "expiresAt: must be an RFC 3339 date-time with a zone and at most 7 fractional digits, e.g. 2030-01-31T12:00:00Z"},
		{"ExpiresAtNanoseconds", "expiresAt", "2030-01-31T12:00:00.123456789Z", false, "expiresAt: must be an RFC 3339 date-time with a zone and at most 7 fractional digits, e.g. 2030-01-31T12:00:00Z"},
		{"ExpiresAtNotDate", "expiresAt", "tomorrow", false, "expiresAt: must be an RFC 3339 date-time with a zone and at most 7 fractional digits, e.g. 2030-01-31T12:00:00Z"},
		{"AllowedMethodsType", "allowedMethods", "AddressCapture", false, "allowedMethods: must be an array"},
		{"AllowedMethodsNull", "allowedMethods", nil, false, "allowedMethods: must not be null"},
		{"AllowedMethodsTooMany", "allowedMethods", slices.Repeat([]string{"A"}, 101), false, "allowedMethods: must have at most 100 items"},
		{"AllowedMethodsItemType", "allowedMethods", []any{"A", 5}, false, "allowedMethods[1]: must be a string"},
		{"AllowedMethodsItemEmpty", "allowedMethods", []string{""}, false, "allowedMethods[0]: must not be empty"},
		{"AllowedMethodsItemTooLong", "allowedMethods", []string{long(129)}, false, "allowedMethods[0]: must be at most 128 characters long"},
		{"AllowedMethodsItemPattern", "allowedMethods", []string{"A", "B", "x y"}, false, `allowedMethods[2]: must match the regular expression ^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$`},
		{"AllowedMethodsItemThreeParts", "allowedMethods", []string{"A.B.C"}, false, `allowedMethods[0]: must match the regular expression ^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$`},
		{"MaxCreditsZero", "maxCredits", 0, false, "maxCredits: must be at least 1"},
		{"MaxCreditsNegative", "maxCredits", -5, false, "maxCredits: must be at least 1"},
		{"MaxCreditsTooLarge", "maxCredits", int64(1) << 53, false, "maxCredits: must be at most 9007199254740991"},
		{"MaxCreditsFraction", "maxCredits", 5.5, false, "maxCredits: must be an integer or null"},
		{"MaxCreditsString", "maxCredits", "5", false, "maxCredits: must be an integer or null"},
		{"OptionsType", "options", "ApplicationName=x", false, "options: must be an object"},
		{"OptionsNull", "options", nil, false, "options: must not be null"},
		{"OptionsUnknown", "options", map[string]any{"Colour": "red"}, false, `unknown property "options.Colour"`},
		{"OptionsWrongCase", "options", map[string]any{"applicationName": "x"}, false, `unknown property "options.applicationName"`},
		{"ApplicationNameType", "options.ApplicationName", 5, false, "options.ApplicationName: must be a string"},
		{"ApplicationNameNull", "options.ApplicationName", nil, false, "options.ApplicationName: must not be null"},
		{"ApplicationNameTooLong", "options.ApplicationName", long(101), false, "options.ApplicationName: must be at most 100 characters long"},
		{"UnknownProperty", "colour", "red", false, `unknown property "colour"`},
		{"WrongCaseProperty", "Username", alice, false, `unknown property "Username"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{
				"username": alice, "password": alicePassword, "clientIp": "203.0.113.9", "expiresAt": e.expiresAt(time.Hour),
				"allowedMethods": []string{"AddressCapture"}, "maxCredits": 5, "options": map[string]any{"ApplicationName": "violations"},
			}
			target := body
			key := tc.field
			if parent, child, nested := strings.Cut(tc.field, "."); nested {
				target, key = body[parent].(map[string]any), child
			}
			if tc.drop {
				delete(target, key)
			} else {
				target[key] = tc.value
			}
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := unusual[tc.name]
			if !ok {
				want = usual
			}
			lookups, before := e.store.lookups.Load(), len(e.lines())
			var a *answer
			e.withoutHashing(func() { a = e.post("application/json", string(b), "") })
			if a.status != http.StatusBadRequest {
				t.Fatalf("%s: %v, want 400", b, a)
			}
			if msg := a.result.Status.ErrorMessage; msg == nil || *msg != tc.want {
				t.Errorf("ErrorMessage = %q, want %q", derefOr(msg), tc.want)
			}
			if a.result.Status.Success || a.result.Jwt != nil {
				t.Errorf("answer %s", a.body)
			}
			if n := e.store.lookups.Load() - lookups; n != want.lookups {
				t.Errorf("core looked up %d credentials for a request the document refuses, want %d", n, want.lookups)
			}
			lines := e.lines()[before:]
			if len(lines) != 1 {
				t.Fatalf("usage ledger gained %d lines, want 1: %+v", len(lines), lines)
			}
			l := lines[0]
			if l.Method != core.OpGetJWT.Method || l.Outcome != core.Outcome(core.EINVALID) || accountOf(l) != want.account ||
				l.Application != want.app || l.JTI != "" {
				t.Errorf("ledger line %+v, want an invalid %s under account %d, application %q", *l, core.OpGetJWT.Method, want.account, want.app)
			}
		})
	}
}

func derefOr(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// TestOpenAPI_Refusals covers what the strict surface answers before any
// schema check: the media type, the size and the syntax of the body. Those
// never reach core and are not recorded, as on the plain endpoint; a body
// that is JSON but that the document refuses is recorded as a failed GetJWT,
// under the account its username names, if any; credentials given more
// than one way name no one and are looked up not at all.
func TestOpenAPI_Refusals(t *testing.T) {
	e := newEnv(t)
	valid := fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q}`, alice, alicePassword, e.expiresAt(time.Hour))
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    string
		recorded                bool
		lookups                 int64 // of the username the body names ("b" for Duplicate, the last value)
	}{
		{"NoContentType", "", valid, http.StatusUnsupportedMediaType, "Content-Type: application/json", false, 0},
		{"TextPlain", "text/plain", valid, http.StatusUnsupportedMediaType, "Content-Type: application/json", false, 0},
		{"FormEncoded", "application/x-www-form-urlencoded", "username=alice", http.StatusUnsupportedMediaType, "Content-Type: application/json", false, 0},
		{"Latin1", "application/json; charset=iso-8859-1", valid, http.StatusUnsupportedMediaType, "Content-Type: application/json", false, 0},
		{"TooLarge", "application/json", `{"username":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, "larger than 1 MiB", false, 0},
		{"Empty", "application/json", "", http.StatusBadRequest, "the request body is empty", false, 0},
		{"NotJSON", "application/json", `{"username":`, http.StatusBadRequest, "the request body is not valid JSON", false, 0},
		{"ByteOrderMark", "application/json", "\xEF\xBB\xBF" + valid, http.StatusBadRequest, "the request body is not valid JSON", false, 0},
		{"Array", "application/json", `[` + valid + `]`, http.StatusBadRequest, "the request body: must be an object", true, 0},
		{"Duplicate", "application/json", `{"username":"a","username":"b","expiresAt":"2030-01-01T00:00:00Z"}`, http.StatusBadRequest, "username: is given more than once", true, 1},
		{"KeyAndPassword", "application/json", valid, http.StatusBadRequest, "key: give either a username and password or an API key, not both", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query := ""
			if tc.name == "KeyAndPassword" {
				query = "?key=" + e.apiKey
			}
			lookups, before := e.store.lookups.Load(), len(e.lines())
			var a *answer
			e.withoutHashing(func() { a = e.post(tc.contentType, tc.body, query) })
			if a.status != tc.status || a.result.Status.ErrorMessage == nil || !strings.Contains(*a.result.Status.ErrorMessage, tc.want) {
				t.Fatalf("%v, want %d saying %q", a, tc.status, tc.want)
			}
			if n := e.store.lookups.Load() - lookups; n != tc.lookups {
				t.Errorf("core looked up %d credentials, want %d", n, tc.lookups)
			}
			lines := e.lines()[before:]
			want := 0
			if tc.recorded {
				want = 1
			}
			if len(lines) != want {
				t.Fatalf("usage ledger gained %d lines, want %d: %+v", len(lines), want, lines)
			}
			if want == 1 {
				if l := lines[0]; l.Method != core.OpGetJWT.Method || l.Outcome != core.Outcome(core.EINVALID) || l.AccountID != nil || l.JTI != "" {
					t.Errorf("ledger line %+v, want an invalid %s under no account", *l, core.OpGetJWT.Method)
				}
			}
		})
	}
	t.Run("CharsetUTF8", func(t *testing.T) {
		if a := e.post("application/json; charset=UTF-8", valid, ""); a.status != http.StatusOK {
			t.Fatalf("%v", a)
		}
	})
}

// TestOpenAPI_OutsideOperations: other methods and paths under /api/v1 get
// the envelope too, and the strict paths are matched exactly.
func TestOpenAPI_OutsideOperations(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{http.MethodGet, getJWTPath, http.StatusMethodNotAllowed, "use POST"},
		{http.MethodPut, getJWTPath, http.StatusMethodNotAllowed, "use POST"},
		{http.MethodPost, "/api/v1/UserAdmin/NoSuchMethod", http.StatusNotFound, "no such operation"},
		{http.MethodPost, "/api/v1/useradmin/getjwt", http.StatusNotFound, "no such operation"},
		{http.MethodGet, "/api/v1/", http.StatusNotFound, "no such operation"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			a := e.raw(tc.method, tc.path, "application/json", "{}")
			if a.status != tc.status || a.result.Status.Success || a.result.Status.ErrorMessage == nil || !strings.Contains(*a.result.Status.ErrorMessage, tc.want) {
				t.Fatalf("%v, want %d saying %q", a, tc.status, tc.want)
			}
			if tc.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", a.header.Get("Allow"))
			}
		})
	}
	// Keep the cleanup's check honest: this test's answers are outside the document.
	e.post("application/json", fmt.Sprintf(`{"expiresAt":%q}`, e.expiresAt(time.Hour)), "?key="+e.apiKey)
}

// TestOpenAPI_PlainParity: the lenient endpoint and the strict one share the
// core call; the strict one differs only in its statuses and strictness.
func TestOpenAPI_PlainParity(t *testing.T) {
	e := newEnv(t)
	exp := e.expiresAt(time.Hour)
	for _, tc := range []struct {
		name, body   string
		strictStatus int
	}{
		{"OK", fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q,"maxCredits":3}`, alice, alicePassword, exp), http.StatusOK},
		{"WrongPassword", fmt.Sprintf(`{"username":%q,"password":"not it at all","expiresAt":%q}`, alice, exp), http.StatusUnauthorized},
		{"NoCredits", fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q}`, broke, brokePassword, exp), http.StatusPaymentRequired},
		{"CoreRule", fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":"2000-01-01T00:00:00Z"}`, alice, alicePassword), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			strict := e.post("application/json", tc.body, "")
			plain := e.raw(http.MethodPost, "/UserAdmin/GetJWT.json", "application/json", tc.body)
			var p struct {
				Status struct {
					Success          bool
					ErrorMessage     *string
					CreditsRemaining float64
				}
				Jwt *string
			}
			if err := json.Unmarshal(plain.body, &p); err != nil {
				t.Fatalf("plain %v: %v", plain, err)
			}
			if strict.status != tc.strictStatus || plain.status != http.StatusOK {
				t.Fatalf("strict %v, plain %v", strict, plain)
			}
			s := strict.result.Status
			if s.Success != p.Status.Success || derefOr(s.ErrorMessage) != derefOr(p.Status.ErrorMessage) || s.CreditsRemaining != p.Status.CreditsRemaining ||
				(strict.result.Jwt == nil) != (p.Jwt == nil) {
				t.Errorf("strict %s, plain %s", strict.body, plain.body)
			}
		})
	}
	t.Run("PlainStaysLenient", func(t *testing.T) {
		// Property names in any case, unknown properties, a numeric string and
		// no Content-Type: fine for the plain endpoint, refused by the strict one.
		body := fmt.Sprintf(`{"USERNAME":%q,"Password":%q,"expiresat":%q,"maxCredits":"5","colour":"red"}`, alice, alicePassword, exp)
		if plain := e.raw(http.MethodPost, "/UserAdmin/GetJWT.json", "", body); plain.status != http.StatusOK || !strings.Contains(string(plain.body), `"Success":true`) {
			t.Fatalf("plain %v", plain)
		}
		if strict := e.post("application/json", body, ""); strict.status != http.StatusBadRequest {
			t.Fatalf("strict %v", strict)
		}
	})
}
