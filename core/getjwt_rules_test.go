package core_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

func ptr[T any](v T) *T { return &v }

func methodsN(n int) []string {
	m := make([]string, n)
	for i := range m {
		m[i] = fmt.Sprintf("Service%d.Method", i)
	}
	return m
}

// TestService_GetJWT_Rules breaks each request rule on purpose and checks the
// code, that the message names the problem, and that the refused call left a
// failed usage line and no token. Valid edge cases must issue a token whose
// claims hold the normalised values.
func TestService_GetJWT_Rules(t *testing.T) {
	type check func(t *testing.T, c *core.Claims)
	methods := func(want ...string) check {
		return func(t *testing.T, c *core.Claims) {
			t.Helper()
			if !slices.Equal(c.AllowedMethods, want) {
				t.Errorf("allowed_methods = %q, want %q", c.AllowedMethods, want)
			}
		}
	}
	clientIP := func(want string) check {
		return func(t *testing.T, c *core.Claims) {
			t.Helper()
			if c.ClientIP != want {
				t.Errorf("client_ip = %q, want %q", c.ClientIP, want)
			}
		}
	}
	app := func(want string) check {
		return func(t *testing.T, c *core.Claims) {
			t.Helper()
			if c.Application != want {
				t.Errorf("application = %q, want %q", c.Application, want)
			}
		}
	}
	maxCredits := func(want *int64) check {
		return func(t *testing.T, c *core.Claims) {
			t.Helper()
			switch {
			case want == nil && c.MaxCredits != nil:
				t.Errorf("max_credits = %d, want absent", *c.MaxCredits)
			case want != nil && (c.MaxCredits == nil || *c.MaxCredits != *want):
				t.Errorf("max_credits = %v, want %d", c.MaxCredits, *want)
			}
		}
	}
	expires := func(want time.Time) check {
		return func(t *testing.T, c *core.Claims) {
			t.Helper()
			if c.ExpiresAt == nil || !c.ExpiresAt.Time.Equal(want) {
				t.Errorf("exp = %v, want %v", c.ExpiresAt, want)
			}
		}
	}
	longApp := strings.Repeat("é", core.MaxApplicationLen)

	tests := []struct {
		name   string
		modify func(r *core.GetJWTRequest, now time.Time)
		code   core.Code // "" = must succeed
		msg    []string
		check  check
	}{
		// expiresAt
		{name: "expiresAt/past", modify: func(r *core.GetJWTRequest, now time.Time) { r.ExpiresAt = fmtExpires(now.Add(-time.Hour)) },
			code: core.EINVALID, msg: []string{"expiresAt", "not in the future"}},
		{name: "expiresAt/equal to now", modify: func(r *core.GetJWTRequest, now time.Time) { r.ExpiresAt = fmtExpires(now) },
			code: core.EINVALID, msg: []string{"expiresAt", "not in the future"}},
		{name: "expiresAt/same second as now", modify: func(r *core.GetJWTRequest, now time.Time) {
			r.ExpiresAt = fmtExpires(now.Add(500 * time.Millisecond)) // still 03:04:05.75: a token with exp=03:04:05 is dead on arrival
		}, code: core.EINVALID, msg: []string{"expiresAt", "not in the future"}},
		{name: "expiresAt/next whole second", modify: func(r *core.GetJWTRequest, now time.Time) {
			r.ExpiresAt = fmtExpires(now.Truncate(time.Second).Add(time.Second))
		}, check: expires(t0.Truncate(time.Second).Add(time.Second))},
		{name: "expiresAt/beyond MaxLifetime", modify: func(r *core.GetJWTRequest, now time.Time) {
			r.ExpiresAt = fmtExpires(now.Add(core.DefaultMaxLifetime + time.Second))
		}, code: core.EINVALID, msg: []string{"expiresAt", "too far ahead", "24h0m0s"}},
		{name: "expiresAt/just beyond MaxLifetime", modify: func(r *core.GetJWTRequest, now time.Time) {
			r.ExpiresAt = fmtExpires(now.Add(core.DefaultMaxLifetime + 100*time.Nanosecond))
		}, code: core.EINVALID, msg: []string{"expiresAt", "too far ahead"}},
		{name: "expiresAt/exactly MaxLifetime", modify: func(r *core.GetJWTRequest, now time.Time) {
			r.ExpiresAt = fmtExpires(now.Add(core.DefaultMaxLifetime))
		}, check: expires(t0.Add(core.DefaultMaxLifetime).Truncate(time.Second))},
		{name: "expiresAt/offset converted", modify: func(r *core.GetJWTRequest, now time.Time) {
			r.ExpiresAt = now.Add(2 * time.Hour).Truncate(time.Second).In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05-07:00")
		}, check: expires(t0.Add(2 * time.Hour).Truncate(time.Second))},
		{name: "expiresAt/malformed", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ExpiresAt = "next tuesday" },
			code: core.EINVALID, msg: []string{"expiresAt", `"next tuesday"`}},
		{name: "expiresAt/empty", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ExpiresAt = "" },
			code: core.EINVALID, msg: []string{"expiresAt", "required"}},

		// allowedMethods
		{name: "allowedMethods/nil", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = nil }, check: methods()},
		{name: "allowedMethods/empty", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{} }, check: methods()},
		{name: "allowedMethods/valid forms", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.AllowedMethods = []string{"UserAdmin", "UserAdmin.GetJWT", "Address_2.Clean_3", "123.456"}
		}, check: methods("UserAdmin", "UserAdmin.GetJWT", "Address_2.Clean_3", "123.456")},
		{name: "allowedMethods/duplicates", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.AllowedMethods = []string{"Phone.Validate", "UserAdmin", "phone.validate", "USERADMIN", "Email"}
		}, check: methods("Phone.Validate", "UserAdmin", "Email")},
		{name: "allowedMethods/max entries", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = methodsN(core.MaxAllowedMethods) },
			check: methods(methodsN(core.MaxAllowedMethods)...)},
		{name: "allowedMethods/max length", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.AllowedMethods = []string{strings.Repeat("m", core.MaxMethodNameLen)}
		}, check: methods(strings.Repeat("m", core.MaxMethodNameLen))},
		{name: "allowedMethods/empty item", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"UserAdmin", ""} },
			code: core.EINVALID, msg: []string{"allowedMethods[1]", "empty"}},
		{name: "allowedMethods/blank item", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"  "} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]", "empty"}},
		{name: "allowedMethods/three parts", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"a.b.c"} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]", `"a.b.c"`}},
		{name: "allowedMethods/hyphen", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"UserAdmin", "a-b"} },
			code: core.EINVALID, msg: []string{"allowedMethods[1]", `"a-b"`}},
		{name: "allowedMethods/space inside", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"User Admin.GetJWT"} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]"}},
		{name: "allowedMethods/trailing dot", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"UserAdmin."} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]"}},
		{name: "allowedMethods/leading dot", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{".GetJWT"} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]"}},
		{name: "allowedMethods/wildcard", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"UserAdmin.*"} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]"}},
		{name: "allowedMethods/non-ASCII", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = []string{"Ünicode"} },
			code: core.EINVALID, msg: []string{"allowedMethods[0]"}},
		{name: "allowedMethods/too many", modify: func(r *core.GetJWTRequest, _ time.Time) { r.AllowedMethods = methodsN(core.MaxAllowedMethods + 1) },
			code: core.EINVALID, msg: []string{"allowedMethods", "101", "100"}},
		{name: "allowedMethods/too many duplicates", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.AllowedMethods = slices.Repeat([]string{"UserAdmin"}, core.MaxAllowedMethods+1)
		}, code: core.EINVALID, msg: []string{"allowedMethods"}},
		{name: "allowedMethods/too long", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.AllowedMethods = []string{"Ok", strings.Repeat("m", core.MaxMethodNameLen+1)}
		}, code: core.EINVALID, msg: []string{"allowedMethods[1]", "128"}},

		// maxCredits
		{name: "maxCredits/nil", modify: func(r *core.GetJWTRequest, _ time.Time) { r.MaxCredits = nil }, check: maxCredits(nil)},
		{name: "maxCredits/1", modify: func(r *core.GetJWTRequest, _ time.Time) { r.MaxCredits = ptr[int64](1) }, check: maxCredits(ptr[int64](1))},
		{name: "maxCredits/limit", modify: func(r *core.GetJWTRequest, _ time.Time) { r.MaxCredits = ptr[int64](core.MaxCreditsLimit) },
			check: maxCredits(ptr[int64](core.MaxCreditsLimit))},
		{name: "maxCredits/0", modify: func(r *core.GetJWTRequest, _ time.Time) { r.MaxCredits = ptr[int64](0) },
			code: core.EINVALID, msg: []string{"maxCredits", "got 0"}},
		{name: "maxCredits/-1", modify: func(r *core.GetJWTRequest, _ time.Time) { r.MaxCredits = ptr[int64](-1) },
			code: core.EINVALID, msg: []string{"maxCredits", "got -1"}},
		{name: "maxCredits/above limit", modify: func(r *core.GetJWTRequest, _ time.Time) { r.MaxCredits = ptr[int64](core.MaxCreditsLimit + 1) },
			code: core.EINVALID, msg: []string{"maxCredits", fmt.Sprint(int64(core.MaxCreditsLimit))}},

		// clientIp
		{name: "clientIp/empty", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "" }, check: clientIP("")},
		{name: "clientIp/IPv4", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "198.51.100.23" }, check: clientIP("198.51.100.23")},
		{name: "clientIp/IPv6", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "2001:DB8:0::7" }, check: clientIP("2001:db8::7")},
		{name: "clientIp/IPv4-mapped", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "::ffff:198.51.100.23" }, check: clientIP("198.51.100.23")},
		{name: "clientIp/CIDR v4", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "198.51.100.23/24" }, check: clientIP("198.51.100.0/24")},
		{name: "clientIp/CIDR v6", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "2001:db8:aa:bb::1/56" }, check: clientIP("2001:db8:aa::/56")},
		{name: "clientIp/garbage", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "localhost" },
			code: core.EINVALID, msg: []string{"clientIp", `"localhost"`}},
		{name: "clientIp/zone", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "fe80::1%eth0" },
			code: core.EINVALID, msg: []string{"clientIp"}},
		{name: "clientIp/with port", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "198.51.100.23:443" },
			code: core.EINVALID, msg: []string{"clientIp"}},
		{name: "clientIp/bad prefix", modify: func(r *core.GetJWTRequest, _ time.Time) { r.ClientIP = "198.51.100.23/33" },
			code: core.EINVALID, msg: []string{"clientIp"}},

		// options
		{name: "options/none", modify: func(r *core.GetJWTRequest, _ time.Time) { r.Options = nil }, check: app("")},
		{name: "options/ApplicationName", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "Checkout Web"}}
		}, check: app("Checkout Web")},
		{name: "options/name case-insensitive", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "applicationNAME", Value: " Shop "}}
		}, check: app("Shop")},
		{name: "options/max length", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: longApp}}
		}, check: app(longApp)},
		{name: "options/unknown", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "x"}, {Name: "Foo", Value: "1"}}
		}, code: core.EINVALID, msg: []string{`unknown option "Foo"`, "ApplicationName"}},
		{name: "options/empty name", modify: func(r *core.GetJWTRequest, _ time.Time) { r.Options = []core.Option{{Name: "", Value: "1"}} },
			code: core.EINVALID, msg: []string{`unknown option ""`}},
		{name: "options/duplicate", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "a"}, {Name: "applicationname", Value: "b"}}
		}, code: core.EINVALID, msg: []string{"ApplicationName", "more than once"}},
		{name: "options/too long", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: longApp + "x"}}
		}, code: core.EINVALID, msg: []string{"ApplicationName", "longer than 100"}},
		{name: "options/newline", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "a\nb"}}
		}, code: core.EINVALID, msg: []string{"ApplicationName", "control characters"}},
		{name: "options/NUL", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "a\x00b"}}
		}, code: core.EINVALID, msg: []string{"ApplicationName", "control characters"}},
		{name: "options/C1 control", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "a\u0085b"}}
		}, code: core.EINVALID, msg: []string{"ApplicationName"}},
		{name: "options/invalid UTF-8", modify: func(r *core.GetJWTRequest, _ time.Time) {
			r.Options = []core.Option{{Name: "ApplicationName", Value: "a\xffb"}}
		}, code: core.EINVALID, msg: []string{"ApplicationName", "UTF-8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := e.req()
			tc.modify(r, e.clock())
			res, err := e.getJWT(r)
			if tc.code != "" {
				if res != nil {
					t.Errorf("GetJWT returned a result with its error: %+v", res)
				}
				assertErr(t, err, tc.code, tc.msg...)
				e.assertRefused(tc.code)
				return
			}
			if err != nil {
				t.Fatalf("GetJWT: %v", err)
			}
			c := e.parse(res.JWT)
			if tc.check != nil {
				tc.check(t, c)
			}
			if got := e.outcomes(); !slices.Equal(got, []string{core.OutcomeOK}) {
				t.Errorf("usage outcomes = %q, want [ok]", got)
			}
			if n := e.countTokens(); n != 1 {
				t.Errorf("tokens = %d, want 1", n)
			}
			// The stored record holds the same normalised values as the token.
			tok, err := e.db.TokenByJTI(e.ctx, c.ID)
			if err != nil {
				t.Fatalf("TokenByJTI: %v", err)
			}
			if !slices.Equal(tok.AllowedMethods, c.AllowedMethods) && !(len(tok.AllowedMethods) == 0 && len(c.AllowedMethods) == 0) {
				t.Errorf("stored allowed methods %q, token %q", tok.AllowedMethods, c.AllowedMethods)
			}
			if tok.ClientIP != c.ClientIP || tok.Application != c.Application {
				t.Errorf("stored client_ip/application %q/%q, token %q/%q", tok.ClientIP, tok.Application, c.ClientIP, c.Application)
			}
			if (tok.MaxCredits == nil) != (c.MaxCredits == nil) || (tok.MaxCredits != nil && *tok.MaxCredits != *c.MaxCredits) {
				t.Errorf("stored max credits %v, token %v", tok.MaxCredits, c.MaxCredits)
			}
			if !tok.ExpiresAt.Equal(c.ExpiresAt.Time) {
				t.Errorf("stored expiry %v, token exp %v", tok.ExpiresAt, c.ExpiresAt.Time)
			}
		})
	}
}

// TestService_GetJWT_ValidationBeforeCredentials checks that a malformed
// request is refused as such even with bad credentials: it costs no password
// hash and does not count as a failed login.
func TestService_GetJWT_ValidationBeforeCredentials(t *testing.T) {
	e := newEnv(t)
	e.svc.Throttle = &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: 1, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
		PerClient: core.ThrottlePolicy{Free: 1, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
	}
	for range 5 {
		r := e.req()
		r.Password = "wrong password"
		r.MaxCredits = ptr[int64](0)
		_, err := e.getJWT(r)
		assertErr(t, err, core.EINVALID, "maxCredits")
	}
	if _, err := e.getJWT(e.req()); err != nil {
		t.Fatalf("GetJWT after invalid requests: %v (invalid requests must not count as failed logins)", err)
	}
}
