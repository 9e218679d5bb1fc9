package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

func TestGetJWT_OK(t *testing.T) {
	for _, alg := range []string{core.AlgEdDSA, core.AlgES256, core.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			key := e.rotate(alg)
			req := e.request(2 * time.Hour)
			r := e.getJWT(req)
			tok := assertOK(t, r, testCredits)

			// Raw bytes: Status first, then Jwt; Status keys in contract order.
			if !bytes.HasPrefix(r.body, []byte(`{"Status":{"Success":true,"ErrorMessage":null,"CreditsRemaining":250},"Jwt":"`)) {
				t.Errorf("body %q does not start with the Status envelope in contract order", r.body)
			}
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}

			hdr := segment(t, tok, 0)
			if string(hdr["alg"]) != strconv.Quote(alg) || string(hdr["kid"]) != strconv.Quote(key.Kid) {
				t.Errorf("header alg=%s kid=%s, want %q %q", hdr["alg"], hdr["kid"], alg, key.Kid)
			}
			c := e.mustVerify(tok, alg)
			iat := e.clock().Truncate(time.Second)
			switch {
			case !c.ExpiresAt.Equal(e.expires(2 * time.Hour)):
				t.Errorf("exp = %v, want expiresAt %v", c.ExpiresAt, e.expires(2*time.Hour))
			case !c.IssuedAt.Equal(iat) || !c.NotBefore.Equal(iat):
				t.Errorf("iat, nbf = %v, %v, want %v", c.IssuedAt, c.NotBefore, iat)
			}
			if c.Subject != testUser || c.Account != testUser || c.Issuer != testIssuer {
				t.Errorf("sub, account, iss = %q, %q, %q", c.Subject, c.Account, c.Issuer)
			}
			if !slices.Equal(c.AllowedMethods, []string{"AddressCapture", "Email.IsValid"}) {
				t.Errorf("allowed_methods = %q", c.AllowedMethods)
			}
			if c.MaxCredits == nil || *c.MaxCredits != 40 {
				t.Errorf("max_credits = %v, want 40", c.MaxCredits)
			}
			if c.Application != "Checkout" || c.ClientIP != "203.0.113.9" {
				t.Errorf("application, client_ip = %q, %q", c.Application, c.ClientIP)
			}
			if got := sortedKeys(segment(t, tok, 1)); !slices.Equal(got, []string{
				"account", "allowed_methods", "application", "client_ip", "exp", "iat", "iss", "jti", "max_credits", "nbf", "sub",
			}) {
				t.Errorf("claims present: %q", got)
			}

			// The token is recorded as issued, with its usage line.
			row := e.issued(c.ID)
			if row.Kid != key.Kid || row.APIKeyID != "" || row.Application != "Checkout" ||
				!slices.Equal(row.AllowedMethods, []string{"AddressCapture", "Email.IsValid"}) ||
				row.MaxCredits == nil || *row.MaxCredits != 40 || row.ClientIP != "203.0.113.9" ||
				!row.ExpiresAt.Equal(e.expires(2*time.Hour)) || row.AccountID != e.accountID(testUser) || row.CreditsSpent != 0 {
				t.Errorf("token record = %+v", row)
			}
			if n := e.countTokens(); n != 1 {
				t.Errorf("tokens = %d, want 1", n)
			}
			u := e.usage()
			if len(u) != 1 || u[0].Outcome != core.OutcomeOK || u[0].JTI != c.ID || u[0].Application != "Checkout" ||
				u[0].Method != core.OpGetJWT.Method || u[0].Credits != 0 || u[0].ClientAddr != loopbackAddr ||
				u[0].AccountID == nil || *u[0].AccountID != e.accountID(testUser) {
				t.Errorf("usage = %+v", u)
			}

			// Signed with the wrong expectations, it must not verify.
			other := core.AlgRS256
			if alg == core.AlgRS256 {
				other = core.AlgEdDSA
			}
			if _, err := e.verify(tok, other); err == nil {
				t.Errorf("%s token verified with only %s allowed", alg, other)
			}
		})
	}

	t.Run("Minimal", func(t *testing.T) {
		e := newEnv(t)
		tok := assertOK(t, e.getJWT(e.minimal()), testCredits)
		c := e.mustVerify(tok, core.AlgEdDSA)
		if got := sortedKeys(segment(t, tok, 1)); !slices.Equal(got, []string{"account", "exp", "iat", "iss", "jti", "nbf", "sub"}) {
			t.Errorf("claims present: %q; absent parameters must leave no claim (no limit)", got)
		}
		row := e.issued(c.ID)
		if row.MaxCredits != nil || len(row.AllowedMethods) != 0 || row.ClientIP != "" || row.Application != "" {
			t.Errorf("token record = %+v", row)
		}
	})

	t.Run("FractionalExpiresAt", func(t *testing.T) {
		e := newEnv(t)
		req := e.minimal()
		exp := e.expires(time.Hour)
		req["expiresAt"] = exp.Format("2006-01-02T15:04:05") + ".1234567" // no zone: UTC
		c := e.mustVerify(assertOK(t, e.getJWT(req), testCredits), core.AlgEdDSA)
		if !c.ExpiresAt.Equal(exp) {
			t.Errorf("exp = %v, want %v", c.ExpiresAt, exp)
		}
	})
}

func TestGetJWT_Lenient(t *testing.T) {
	t.Run("PropertyNameCase", func(t *testing.T) {
		e := newEnv(t)
		body := fmt.Sprintf(`{"USERNAME":%q,"PassWord":%q,"ExpiresAt":%q,"ALLOWEDMETHODS":["Email"],"maxcredits":"12","CLIENTIP":"2001:db8::1","OPTIONS":{"applicationname":123}}`,
			testUser, testPassword, e.expires(time.Hour).Format(time.RFC3339))
		c := e.mustVerify(assertOK(t, e.getJWT([]byte(body)), testCredits), core.AlgEdDSA)
		if c.Subject != testUser || !slices.Equal(c.AllowedMethods, []string{"Email"}) || c.MaxCredits == nil || *c.MaxCredits != 12 ||
			c.Application != "123" || c.ClientIP != "2001:db8::1" {
			t.Errorf("claims = %+v", c)
		}
	})

	t.Run("UnknownPropertiesIgnored", func(t *testing.T) {
		e := newEnv(t)
		req := e.minimal()
		req["colour"] = map[string]any{"nested": []any{1, nil, "x"}}
		req["Jwt"] = "not.a.token"
		req["Status"] = map[string]any{"Success": false}
		assertOK(t, e.getJWT(req), testCredits)
	})

	t.Run("NullsMeanAbsent", func(t *testing.T) {
		e := newEnv(t)
		req := e.minimal()
		for _, k := range []string{"clientIp", "allowedMethods", "maxCredits", "options"} {
			req[k] = nil
		}
		tok := assertOK(t, e.getJWT(req), testCredits)
		if got := sortedKeys(segment(t, tok, 1)); !slices.Equal(got, []string{"account", "exp", "iat", "iss", "jti", "nbf", "sub"}) {
			t.Errorf("claims present: %q", got)
		}
	})

	t.Run("OptionsAsPairs", func(t *testing.T) {
		e := newEnv(t)
		req := e.minimal()
		req["options"] = []any{map[string]any{"Name": "ApplicationName", "Value": "Pairs"}}
		c := e.mustVerify(assertOK(t, e.getJWT(req), testCredits), core.AlgEdDSA)
		if c.Application != "Pairs" {
			t.Errorf("application = %q", c.Application)
		}
	})

	t.Run("ContentType", func(t *testing.T) {
		e := newEnv(t)
		body := mustJSON(t, e.minimal())
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8", "nonsense"} {
			t.Run(ct, func(t *testing.T) {
				assertOK(t, e.do(http.MethodPost, getJWTPath, ct, body), testCredits)
			})
		}
	})

	t.Run("PathCase", func(t *testing.T) {
		e := newEnv(t)
		for _, p := range []string{"/useradmin/getjwt.json", "/USERADMIN/GETJWT.JSON", "/userAdmin/GetJwt.Json"} {
			t.Run(p, func(t *testing.T) {
				assertOK(t, e.getJWTAt(p, e.minimal()), testCredits)
			})
		}
		r := e.getJWTAt("/UserAdmin/GetJWT.xml", e.minimal())
		if r.status != http.StatusNotFound {
			t.Errorf("another path: %v, want 404", r)
		}
	})

	t.Run("KeyQuery", func(t *testing.T) {
		e := newEnv(t)
		body := mustJSON(t, map[string]any{"expiresAt": e.expires(time.Hour).Format(time.RFC3339)})
		r := e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(e.apiKey), "application/json", body)
		c := e.mustVerify(assertOK(t, r, testCredits), core.AlgEdDSA)
		if c.Subject != testUser || c.Account != testUser {
			t.Errorf("sub, account = %q, %q", c.Subject, c.Account)
		}
		if row := e.issued(c.ID); row.APIKeyID != e.keyRec.ID {
			t.Errorf("token record APIKeyID = %q, want %q", row.APIKeyID, e.keyRec.ID)
		}
	})

	t.Run("KeyQueryAndUsername", func(t *testing.T) {
		e := newEnv(t)
		for _, body := range []map[string]any{
			{"username": testUser, "expiresAt": e.expires(time.Hour).Format(time.RFC3339)},
			{"username": testUser, "password": testPassword, "expiresAt": e.expires(time.Hour).Format(time.RFC3339)},
			{"password": testPassword, "expiresAt": e.expires(time.Hour).Format(time.RFC3339)},
		} {
			r := e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(e.apiKey), "application/json", mustJSON(t, body))
			assertFail(t, r, http.StatusOK, "not both")
		}
		if n := e.countTokens(); n != 0 {
			t.Errorf("tokens = %d, want 0", n)
		}
	})

	t.Run("KeyUsername", func(t *testing.T) {
		e := newEnv(t)
		for _, tc := range []struct {
			name string
			body map[string]any
		}{
			{"EmptyPassword", map[string]any{"username": "apikey-" + e.apiKey, "password": ""}},
			{"NullPassword", map[string]any{"username": "apikey-" + e.apiKey, "password": nil}},
			{"NoPassword", map[string]any{"username": "apikey-" + e.apiKey}},
			{"PrefixCase", map[string]any{"username": "APIKey-" + e.apiKey}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.body["expiresAt"] = e.expires(time.Hour).Format(time.RFC3339)
				c := e.mustVerify(assertOK(t, e.getJWT(tc.body), testCredits), core.AlgEdDSA)
				if c.Subject != testUser {
					t.Errorf("sub = %q", c.Subject)
				}
				if row := e.issued(c.ID); row.APIKeyID != e.keyRec.ID {
					t.Errorf("token record APIKeyID = %q, want %q", row.APIKeyID, e.keyRec.ID)
				}
			})
		}
		t.Run("ErrWithPassword", func(t *testing.T) {
			r := e.getJWT(map[string]any{"username": "apikey-" + e.apiKey, "password": "x", "expiresAt": e.expires(time.Hour).Format(time.RFC3339)})
			assertFail(t, r, http.StatusOK, "password must be empty")
		})
	})
}

func TestGetJWT_Envelopes(t *testing.T) {
	t.Run("TooLarge", func(t *testing.T) {
		e := newEnv(t)
		body := []byte(`{"username":"` + strings.Repeat("a", edge.MaxBodyBytes) + `"}`)
		assertFail(t, e.do(http.MethodPost, getJWTPath, "application/json", body), http.StatusRequestEntityTooLarge, "1 MiB")
		if n := e.countUsage(); n != 0 {
			t.Errorf("usage rows = %d after a body that was never read, want 0", n)
		}
	})

	t.Run("ExactlyMaxBody", func(t *testing.T) {
		e := newEnv(t)
		body := mustJSON(t, e.minimal())
		body = append(body, bytes.Repeat([]byte(" "), edge.MaxBodyBytes-len(body))...)
		if len(body) != edge.MaxBodyBytes {
			t.Fatal(len(body))
		}
		assertOK(t, e.do(http.MethodPost, getJWTPath, "application/json", body), testCredits)
	})

	for _, tc := range []struct{ name, body, want string }{
		{"NotJSON", `username=alice&password=x`, "not valid JSON"},
		{"Truncated", `{"username":"alice"`, "not valid JSON"},
		{"TrailingGarbage", `{} x`, "not valid JSON"},
		{"Empty", ``, "empty"},
		{"Whitespace", " \n ", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			assertFail(t, e.do(http.MethodPost, getJWTPath, "application/json", []byte(tc.body)), http.StatusBadRequest, tc.want)
		})
	}

	t.Run("NotAnObject", func(t *testing.T) {
		e := newEnv(t)
		for _, body := range []string{`[]`, `"alice"`, `null`, `42`} {
			assertFail(t, e.do(http.MethodPost, getJWTPath, "application/json", []byte(body)), http.StatusOK, "JSON object")
		}
	})

	t.Run("Method", func(t *testing.T) {
		e := newEnv(t)
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			t.Run(m, func(t *testing.T) {
				r := e.do(m, getJWTPath, "", nil)
				assertFail(t, r, http.StatusMethodNotAllowed, "POST")
				if got := r.header.Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow = %q, want POST", got)
				}
			})
		}
	})

	// Business failures: HTTP 200, Success false, an actionable message, no
	// token, and exactly one usage line with the failure's code.
	for _, tc := range []struct {
		name    string
		edit    func(e *env, req map[string]any) (query string)
		code    core.Code
		want    []string
		account string // the account the ledger line names ("": none)
	}{
		{"BadPassword", func(e *env, r map[string]any) string { r["password"] = "wrong password!"; return "" },
			core.EUNAUTHORIZED, []string{"invalid username or password"}, testUser},
		{"UnknownUser", func(e *env, r map[string]any) string { r["username"] = "mallory"; return "" },
			core.EUNAUTHORIZED, []string{"invalid username or password"}, ""},
		{"NoPassword", func(e *env, r map[string]any) string { delete(r, "password"); return "" },
			core.EUNAUTHORIZED, []string{"username and password are required"}, ""},
		{"PastExpiresAt", func(e *env, r map[string]any) string {
			r["expiresAt"] = e.expires(-time.Minute).Format(time.RFC3339)
			return ""
		}, core.EINVALID, []string{"expiresAt", "not in the future"}, testUser},
		{"FarExpiresAt", func(e *env, r map[string]any) string {
			r["expiresAt"] = e.expires(49 * time.Hour).Format(time.RFC3339)
			return ""
		}, core.EINVALID, []string{"expiresAt", "too far ahead"}, testUser},
		{"MalformedExpiresAt", func(e *env, r map[string]any) string { r["expiresAt"] = "tomorrow"; return "" },
			core.EINVALID, []string{"expiresAt", "RFC 3339"}, testUser},
		{"NoExpiresAt", func(e *env, r map[string]any) string { delete(r, "expiresAt"); return "" },
			core.EINVALID, []string{"expiresAt is required"}, testUser},
		{"BadClientIP", func(e *env, r map[string]any) string { r["clientIp"] = "999.1.2.3"; return "" },
			core.EINVALID, []string{"clientIp", "999.1.2.3"}, testUser},
		{"UnknownOption", func(e *env, r map[string]any) string { r["options"] = map[string]any{"Colour": "red"}; return "" },
			core.EINVALID, []string{"unknown option", "Colour"}, testUser},
		{"BadMethod", func(e *env, r map[string]any) string {
			r["allowedMethods"] = []string{"Email", "Email/IsValid"}
			return ""
		},
			core.EINVALID, []string{"allowedMethods[1]"}, testUser},
		{"MaxCreditsZero", func(e *env, r map[string]any) string { r["maxCredits"] = 0; return "" },
			core.EINVALID, []string{"maxCredits", "at least 1"}, testUser},
		{"NoCredits", func(e *env, r map[string]any) string { r["username"], r["password"] = brokeUser, brokePass; return "" },
			core.ENOCREDITS, []string{"no credits"}, brokeUser},
		{"BadKey", func(e *env, r map[string]any) string {
			delete(r, "username")
			delete(r, "password")
			return "?key=" + url.QueryEscape(e.apiKey[:len(e.apiKey)-2]+"xx")
		}, core.EUNAUTHORIZED, []string{"invalid API key"}, testUser},
		{"RevokedKey", func(e *env, r map[string]any) string {
			if err := e.svc.Admin.RevokeAPIKey(e.ctx, e.keyRec.ID); err != nil {
				e.t.Fatal(err)
			}
			delete(r, "username")
			delete(r, "password")
			return "?key=" + url.QueryEscape(e.apiKey)
		}, core.EFORBIDDEN, []string{"revoked"}, testUser},
		{"DisabledUser", func(e *env, r map[string]any) string {
			if err := e.svc.Admin.SetUserDisabled(e.ctx, testUser, true); err != nil {
				e.t.Fatal(err)
			}
			return ""
		}, core.EFORBIDDEN, []string{"disabled"}, testUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			req := e.request(time.Hour)
			q := tc.edit(e, req)
			r := e.do(http.MethodPost, getJWTPath+q, "application/json", mustJSON(t, req))
			assertFail(t, r, http.StatusOK, tc.want...)
			if r.header.Get("Retry-After") != "" {
				t.Errorf("Retry-After = %q on a failure that is not throttling", r.header.Get("Retry-After"))
			}
			if n := e.countTokens(); n != 0 {
				t.Errorf("tokens = %d after a refused call, want 0", n)
			}
			// The line names the account whenever the username (or key)
			// names one, the secret right or not, and the application
			// whenever the options could be read.
			opts, _ := req["options"].(map[string]any)
			wantApp, _ := opts["ApplicationName"].(string)
			u := e.usage()
			if len(u) != 1 || u[0].Outcome != core.Outcome(tc.code) || u[0].JTI != "" || u[0].Method != core.OpGetJWT.Method || u[0].ClientAddr != loopbackAddr ||
				u[0].Application != wantApp || (u[0].AccountID != nil) != (tc.account != "") {
				t.Fatalf("usage = %+v, want one %q line of application %q (account %q)", u, tc.code, wantApp, tc.account)
			}
			if tc.account != "" && *u[0].AccountID != e.accountID(tc.account) {
				t.Errorf("usage line under account %d, want %s's (%d)", *u[0].AccountID, tc.account, e.accountID(tc.account))
			}
		})
	}

	t.Run("UnknownUserSameAsBadPassword", func(t *testing.T) {
		e := newEnv(t)
		req := e.request(time.Hour)
		req["password"] = "wrong password!"
		bad := e.getJWT(req)
		req["username"] = "mallory"
		unknown := e.getJWT(req)
		assertFail(t, bad, http.StatusOK)
		assertFail(t, unknown, http.StatusOK)
		if !bytes.Equal(bad.body, unknown.body) {
			t.Errorf("wrong password answers %q, unknown user %q: they must be identical", bad.body, unknown.body)
		}
	})

	// Failures found while decoding are still 200s. Core refuses them
	// (GetJWTRequest.Malformed) and records them as any refusal: one invalid
	// line under the account the username names (the password is not
	// checked: "x" is wrong), with the ApplicationName when the options
	// could be read.
	for _, tc := range []struct{ name, body, want, account, app string }{
		{"MaxCreditsFraction", `{"username":"alice","password":"x","expiresAt":"2099-01-01T00:00:00Z","maxCredits":5.5}`, "maxCredits", testUser, ""},
		{"MaxCreditsHuge", `{"username":"alice","password":"x","expiresAt":"2099-01-01T00:00:00Z","maxCredits":1e300,"options":{"ApplicationName":"Shop"}}`, "maxCredits", testUser, "Shop"},
		{"MaxCreditsNotANumber", `{"username":"alice","password":"x","expiresAt":"2099-01-01T00:00:00Z","maxCredits":"abc","options":{"ApplicationName":"Shop"}}`, "maxCredits", testUser, "Shop"},
		{"MethodNotString", `{"username":"alice","password":"x","expiresAt":"2099-01-01T00:00:00Z","allowedMethods":["A",2]}`, "allowedMethods[1]", testUser, ""},
		{"OptionNested", `{"username":"alice","password":"x","expiresAt":"2099-01-01T00:00:00Z","options":{"ApplicationName":{"x":1}}}`, "options.ApplicationName", testUser, ""},
		{"DuplicateProperty", `{"username":"alice","UserName":"bob","password":"x","expiresAt":"2099-01-01T00:00:00Z"}`, "more than once", "", ""},
		{"UnknownUser", `{"username":"mallory","password":"x","expiresAt":"2099-01-01T00:00:00Z","maxCredits":5.5}`, "maxCredits", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, lockOutAtOnce)
			assertFail(t, e.getJWT([]byte(tc.body)), http.StatusOK, tc.want)
			if n := e.countTokens(); n != 0 {
				t.Errorf("tokens = %d, want 0", n)
			}
			u := e.usage()
			if len(u) != 1 || u[0].Outcome != core.Outcome(core.EINVALID) || u[0].Method != core.OpGetJWT.Method || u[0].JTI != "" ||
				u[0].Application != tc.app || (u[0].AccountID != nil) != (tc.account != "") {
				t.Fatalf("usage = %+v, want one invalid line of application %q (account %q)", u, tc.app, tc.account)
			}
			if tc.account != "" && *u[0].AccountID != e.accountID(tc.account) {
				t.Errorf("usage line under account %d, want %s's", *u[0].AccountID, tc.account)
			}
			// No failed login was counted: the right password works at once
			// under a policy that locks out at the first failure.
			assertOK(t, e.getJWT(e.minimal()), testCredits)
		})
	}
	t.Run("WrongPasswordLocksOut", func(t *testing.T) {
		// What the check above relies on: under lockOutAtOnce, one failed
		// login refuses the right password next.
		e := newEnv(t, lockOutAtOnce)
		wrong := e.minimal()
		wrong["password"] = "wrong password!"
		assertFail(t, e.getJWT(wrong), http.StatusOK, "invalid username or password")
		assertFail(t, e.getJWT(e.minimal()), http.StatusOK, "too many failed attempts")
	})
}

// lockOutAtOnce configures a throttle that locks a user (and a client
// address) out for an hour at the first failed login.
func lockOutAtOnce(c *core.Config) {
	strict := core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour}
	c.Throttle = &core.Throttle{PerUser: strict, PerClient: strict, MaxKeys: 1000}
}

var retryRE = regexp.MustCompile(`^too many failed attempts, retry in (\d+) s$`)

func TestGetJWT_Throttle(t *testing.T) {
	e := newEnv(t)
	wrong := e.request(time.Hour)
	wrong["password"] = "wrong password!"
	right := e.request(time.Hour)

	// core's policy: PerUser.Free failures are free; the next failure is still
	// checked (and answered as a bad password) but locks the user+client out.
	free := e.svc.Authenticator.Throttle.PerUser.Free
	if free != 5 {
		t.Fatalf("default PerUser.Free = %d; this test assumes 5", free)
	}
	fails := free + 1
	for range fails {
		assertFail(t, e.getJWT(wrong), http.StatusOK, "invalid username or password")
	}
	// The next attempt is refused even with the right password.
	r := e.getJWT(right)
	msg := assertFail(t, r, http.StatusOK)
	m := retryRE.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("attempt %d after %d failures: ErrorMessage %q, want %q", fails+1, fails, msg, retryRE)
	}
	if got := r.header.Get("Retry-After"); got != m[1] {
		t.Errorf("Retry-After = %q, want %q (as in the message)", got, m[1])
	}
	if secs, _ := strconv.Atoi(m[1]); secs != 1 {
		t.Errorf("retry in %d s, want 1 (the first lockout of the default policy)", secs)
	}
	if n := e.countTokens(); n != 0 {
		t.Errorf("tokens = %d while throttled, want 0", n)
	}
	u := e.usage()
	if len(u) != fails+1 || u[fails].Outcome != core.Outcome(core.ETHROTTLED) || u[fails-1].Outcome != core.Outcome(core.EUNAUTHORIZED) {
		t.Errorf("usage = %+v, want %d unauthorized lines then one throttled", u, fails)
	}

	// Still locked just before the wait is over (the clock is injected)...
	e.advance(time.Second - time.Millisecond)
	r = e.getJWT(right)
	assertFail(t, r, http.StatusOK, "too many failed attempts")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After while throttled")
	}
	// ...and the right password works again once it is.
	e.advance(time.Millisecond)
	assertOK(t, e.getJWT(right), testCredits)
}

func TestGetJWT_Concurrent(t *testing.T) {
	e := newEnv(t)
	const n = 50
	body := mustJSON(t, e.request(time.Hour))
	var wg sync.WaitGroup
	start := make(chan struct{})
	type result struct {
		r   *response
		err error
	}
	results := make([]result, n)
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := e.send(http.MethodPost, getJWTPath, "application/json", body)
			results[i] = result{r, err}
		})
	}
	close(start)
	wg.Wait()

	jtis := map[string]bool{}
	for i, res := range results {
		if res.err != nil {
			t.Errorf("call %d: %v", i, res.err)
			continue
		}
		tok := assertOK(t, res.r, testCredits)
		c := e.mustVerify(tok, core.AlgEdDSA)
		jtis[c.ID] = true
	}
	if len(jtis) != n {
		t.Errorf("%d distinct jti, want %d", len(jtis), n)
	}
	if got := e.countTokens(); got != n {
		t.Errorf("tokens = %d, want %d", got, n)
	}
	okWithToken := 0
	for _, ev := range e.usage() {
		if ev.Outcome == core.OutcomeOK && jtis[ev.JTI] {
			okWithToken++
		}
	}
	if okWithToken != n {
		t.Errorf("ok usage lines naming an issued jti = %d, want %d", okWithToken, n)
	}
	if got := e.countUsage(); got != n {
		t.Errorf("usage rows = %d, want %d", got, n)
	}
	if strings.Contains(e.logs.String(), "locked") {
		t.Errorf("logs mention a lock:\n%s", e.logs)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ path, body string }{{"/healthz", "ok\n"}, {"/readyz", "ready\n"}} {
		r := e.do(http.MethodGet, tc.path, "", nil)
		if r.status != http.StatusOK || string(r.body) != tc.body {
			t.Errorf("GET %s: %v, want 200 %q", tc.path, r, tc.body)
		}
	}

	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if r := e.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with the database closed: %v, want 503", r)
	}
	if r := e.do(http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
		t.Errorf("GET /healthz with the database closed: %v, want 200 (alive, not ready)", r)
	}
	// A store failure is the one GetJWT failure that is not a 200.
	assertFail(t, e.getJWT(e.request(time.Hour)), http.StatusInternalServerError, "internal error")
	if r := e.do(http.MethodGet, jwksPath, "", nil); r.status != http.StatusInternalServerError {
		t.Errorf("GET %s with the database closed: %v, want 500", jwksPath, r)
	}
	e.srv.Close() // flush the access log
	logs := e.logs.String()
	for _, want := range []string{"not ready", "request failed", "database is closed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestJWKS_Rotation(t *testing.T) {
	e := newEnv(t)
	old, err := e.db.ActiveSigningKey(e.ctx, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(e.fetchJWKS()); !slices.Equal(got, []string{old.Kid}) {
		t.Fatalf("JWKS kids = %q, want [%q]", got, old.Kid)
	}
	r := e.do(http.MethodGet, jwksPath, "", nil)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("JWKS Cache-Control = %q, want a max-age", cc)
	}

	oldTok := assertOK(t, e.getJWT(e.request(time.Hour)), testCredits)
	cur := e.rotate(core.AlgES256)
	newTok := assertOK(t, e.getJWT(e.request(3*time.Hour)), testCredits)

	want := []string{old.Kid, cur.Kid}
	slices.Sort(want)
	if got := kids(e.fetchJWKS()); !slices.Equal(got, want) {
		t.Errorf("JWKS kids after rotation = %q, want both %q", got, want)
	}
	if c := e.mustVerify(oldTok, core.AlgEdDSA); c.Subject != testUser {
		t.Errorf("old token sub = %q", c.Subject)
	}
	e.mustVerify(newTok, core.AlgES256)
	if kid := segment(t, newTok, 0)["kid"]; string(kid) != strconv.Quote(cur.Kid) {
		t.Errorf("new token kid = %s, want %q", kid, cur.Kid)
	}

	// When the old key's last token has expired, the key is no longer published.
	e.advance(time.Hour + time.Second)
	if got := kids(e.fetchJWKS()); !slices.Equal(got, []string{cur.Kid}) {
		t.Errorf("JWKS kids after the old key's tokens expired = %q, want [%q]", got, cur.Kid)
	}
	e.mustVerify(newTok, core.AlgES256)
	if _, err := e.verify(oldTok, core.AlgEdDSA); err == nil {
		t.Error("the old, expired token still verifies")
	}

	t.Run("HEAD", func(t *testing.T) {
		if r := e.do(http.MethodHead, jwksPath, "", nil); r.status != http.StatusOK {
			t.Errorf("HEAD %s: %v", jwksPath, r)
		}
	})
}

// TestLogs_NoSecrets runs every kind of call and then searches the captured
// log for anything secret.
func TestLogs_NoSecrets(t *testing.T) {
	e := newEnv(t)
	var tokens []string
	ok := func(r *response) { tokens = append(tokens, assertOK(t, r, testCredits)) }

	ok(e.getJWT(e.request(time.Hour)))
	expOnly := mustJSON(t, map[string]any{"expiresAt": e.expires(time.Hour).Format(time.RFC3339)})
	ok(e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(e.apiKey), "application/json", expOnly))
	ok(e.getJWT(map[string]any{"username": "apikey-" + e.apiKey, "expiresAt": e.expires(time.Hour).Format(time.RFC3339)}))

	wrongKey := e.apiKey[:len(e.apiKey)-3] + "zzz"
	wrongPassword := "Tr0ub4dor&3-not-it"
	assertFail(t, e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(wrongKey), "application/json", expOnly), http.StatusOK)
	assertFail(t, e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(e.apiKey), "application/json",
		mustJSON(t, map[string]any{"username": testUser, "password": testPassword})), http.StatusOK)
	bad := e.request(time.Hour)
	bad["password"] = wrongPassword
	assertFail(t, e.getJWT(bad), http.StatusOK)
	assertFail(t, e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(e.apiKey), "text/plain", []byte(`{"password":"`+testPassword)), http.StatusBadRequest)

	// An internal failure logs its cause: it must not carry the secrets either.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	assertFail(t, e.getJWT(e.request(time.Hour)), http.StatusInternalServerError)
	assertFail(t, e.do(http.MethodPost, getJWTPath+"?key="+url.QueryEscape(e.apiKey), "application/json", expOnly), http.StatusInternalServerError)

	e.srv.Close() // wait for every handler, so the access log is complete
	logs := e.logs.String()
	if n := strings.Count(logs, "path="+getJWTPath); n != 9 {
		t.Fatalf("access log has %d GetJWT lines, want 9 (is the log captured?):\n%s", n, logs)
	}
	_, secret, _ := strings.Cut(strings.TrimPrefix(e.apiKey, "jg_"), "_")
	_, wrongSecret, _ := strings.Cut(strings.TrimPrefix(wrongKey, "jg_"), "_")
	secrets := map[string]string{
		"password":           testPassword,
		"wrong password":     wrongPassword,
		"API key":            e.apiKey,
		"API key secret":     secret,
		"wrong key secret":   wrongSecret,
		"escaped API key":    url.QueryEscape(e.apiKey),
		"escaped password":   url.QueryEscape(testPassword),
		"JSON-quoted secret": strings.Trim(strconv.Quote(testPassword), `"`),
	}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("token %d", i)] = tok
		secrets[fmt.Sprintf("token %d signature", i)] = tok[strings.LastIndexByte(tok, '.')+1:]
	}
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s %q:\n%s", what, s, logs)
		}
	}
}

func TestGetJWT_LenientTransport(t *testing.T) {
	t.Run("KeyQueryAnyCase", func(t *testing.T) {
		e := newEnv(t)
		body := map[string]any{"expiresAt": e.expires(time.Hour).Format(time.RFC3339)}
		assertOK(t, e.getJWTAt(getJWTPath+"?Key="+e.apiKey, body), testCredits)
	})
	t.Run("ByteOrderMark", func(t *testing.T) {
		e := newEnv(t)
		b := append([]byte("\xEF\xBB\xBF"), mustJSON(t, e.minimal())...)
		assertOK(t, e.getJWT(b), testCredits)
	})
}

// JSON of a shape the plain surface cannot decode is still a GetJWT call
// for the usage ledger: core refuses it (GetJWTRequest.Malformed) and
// records it, with no token and, as no username can be read (or "a" names
// no account), under no account.
func TestGetJWT_UndecodableIsRecorded(t *testing.T) {
	for name, body := range map[string]string{
		"WrongType":         `{"username": 5}`,
		"DuplicateProperty": `{"username": "a", "USERNAME": "b"}`,
		"NotAnObject":       `[1, 2]`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			assertFail(t, e.getJWT([]byte(body)), http.StatusOK)
			rows := e.usage()
			if len(rows) != 1 || rows[0].Method != core.OpGetJWT.Method || rows[0].Outcome != core.Outcome(core.EINVALID) ||
				rows[0].ClientAddr != loopbackAddr || rows[0].JTI != "" || rows[0].AccountID != nil || e.countTokens() != 0 {
				t.Fatalf("usage = %+v, tokens = %d; want one %s line with outcome invalid, under no account", rows, e.countTokens(), core.OpGetJWT.Method)
			}
		})
	}
}

// The key set is served pre-encoded with an ETag; a rotation in this process
// shows at once.
func TestJWKS_ETagAndRotation(t *testing.T) {
	e := newEnv(t)
	first := e.do(http.MethodGet, jwksPath, "", nil)
	etag := first.header.Get("ETag")
	if first.status != http.StatusOK || etag == "" {
		t.Fatalf("JWKS: %v, ETag %q", first, etag)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+jwksPath, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match with the current ETag: HTTP %d, want 304", resp.StatusCode)
	}
	k := e.rotate(core.AlgES256)
	after := e.do(http.MethodGet, jwksPath, "", nil)
	if after.header.Get("ETag") == etag || !strings.Contains(string(after.body), k.Kid) {
		t.Fatalf("after a rotation the key set must change at once: %s", after.body)
	}
}
