package core_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/token"
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
	type check func(t *testing.T, c *token.Claims)
	methods := func(want ...string) check {
		return func(t *testing.T, c *token.Claims) {
			t.Helper()
			if !slices.Equal(c.AllowedMethods, want) {
				t.Errorf("allowed_methods = %q, want %q", c.AllowedMethods, want)
			}
		}
	}
	clientIP := func(want string) check {
		return func(t *testing.T, c *token.Claims) {
			t.Helper()
			if c.ClientIP != want {
				t.Errorf("client_ip = %q, want %q", c.ClientIP, want)
			}
		}
	}
	app := func(want string) check {
		return func(t *testing.T, c *token.Claims) {
			t.Helper()
			if c.Application != want {
				t.Errorf("application = %q, want %q", c.Application, want)
			}
		}
	}
	maxCredits := func(want *int64) check {
		return func(t *testing.T, c *token.Claims) {
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
		return func(t *testing.T, c *token.Claims) {
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
				// The credentials are alice's: the refusal is hers.
				if l := e.ledger(); len(l) == 1 && l[0].Account != e.accountID(testUser) {
					t.Errorf("ledger line %+v, want it attributed to alice's account", l[0])
				}
				return
			}
			if err != nil {
				t.Fatalf("GetJWT: %v", err)
			}
			c := e.parse(res.JWT)
			if tc.check != nil {
				tc.check(t, c)
			}
			if got := e.outcomes(); !slices.Equal(got, []string{string(core.OutcomeOK)}) {
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
// hash (the hash gate is full: a hash would be EBUSY) and does not count as
// a failed login.
func TestService_GetJWT_ValidationBeforeCredentials(t *testing.T) {
	e := newEnv(t)
	e.svc.Authenticator.Throttle = &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: 1, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
		PerClient: core.ThrottlePolicy{Free: 1, Base: time.Minute, Max: time.Hour, Forget: time.Hour},
	}
	key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Authenticator.HashGate = core.NewHashGate(1, 0, time.Hour)
	release := holdHashGate(e.svc.Authenticator.HashGate)
	for _, c := range []core.Credentials{
		{Username: testUser, Password: "wrong password"},
		{Username: testUser, Password: testPassword},
		{Username: "nobody", Password: "wrong password"},
		{Username: core.APIKeyUserPrefix + key},
		{APIKey: key},
		{APIKey: key[:len(key)-2] + "xx"},
	} {
		for range 3 {
			r := e.req()
			c.ClientAddr = testAddr
			r.Credentials = c
			r.MaxCredits = ptr[int64](0)
			_, err := e.getJWT(r)
			assertErr(t, err, core.EINVALID, "maxCredits")
			r.MaxCredits, r.Malformed = nil, core.Errorf(core.EINVALID, "maxCredits is not a number")
			_, err = e.getJWT(r)
			assertExact(t, err, core.EINVALID, "maxCredits is not a number")
		}
	}
	release()
	if _, err := e.getJWT(e.req()); err != nil {
		t.Fatalf("GetJWT after invalid requests: %v (invalid requests must not count as failed logins)", err)
	}
}

// TestService_GetJWT_RefusalAttributed: a GetJWT refused for the request's
// own rules (a field that breaks a rule, or one the surface could not
// decode) is one failed ledger line under the account its credentials name,
// looked up without checking the secret (as a wrong password is), with the
// ApplicationName whenever the options could be read. Credentials that name
// no one, or not one way only, or a bearer token, leave it unattributed. No
// secret is hashed (the gate is full) and no login counts as failed (one
// would lock the caller out).
func TestService_GetJWT_RefusalAttributed(t *testing.T) {
	e := newEnf(t)
	bob := e.createUser("bob", testPassword, 5)
	bobKey, bk := testenv.CreateAPIKey(t, e.svc, "bob")
	bearer, _ := e.open()
	alice, err := e.db.UserByName(e.ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Authenticator.Throttle = &core.Throttle{
		PerUser:   core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour},
		PerClient: core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour},
	}
	e.svc.Authenticator.HashGate = core.NewHashGate(1, 0, time.Hour)
	release := holdHashGate(e.svc.Authenticator.HashGate)

	probe := []core.Option{{Name: core.OptionApplicationName, Value: " Probe "}}
	malformed := core.Errorf(core.EINVALID, "maxCredits must be an integer")
	type who struct{ account, user *int64 }
	var (
		nobody  = who{}
		asAlice = who{&alice.AccountID, &alice.ID}
		asBob   = who{&bob.AccountID, &bob.ID}
	)
	for _, tc := range []struct {
		name string
		mod  func(r *core.GetJWTRequest)
		code core.Code
		msg  string
		who  who
		app  string
	}{
		{"RightPassword", func(r *core.GetJWTRequest) {}, core.EINVALID, "", asAlice, "Probe"},
		{"WrongPassword", func(r *core.GetJWTRequest) { r.Password = "wrong password" }, core.EINVALID, "", asAlice, "Probe"},
		{"NoPassword", func(r *core.GetJWTRequest) { r.Password = "" }, core.EINVALID, "", asAlice, "Probe"},
		{"UsernameInOtherCase", func(r *core.GetJWTRequest) { r.Username = " ALICE " }, core.EINVALID, "", asAlice, "Probe"},
		{"UnknownUser", func(r *core.GetJWTRequest) { r.Username = "mallory" }, core.EINVALID, "", nobody, "Probe"},
		{"NoCredentials", func(r *core.GetJWTRequest) { r.Username, r.Password = "", "" }, core.EINVALID, "", nobody, "Probe"},
		{"APIKeyAsUsername", func(r *core.GetJWTRequest) { r.Username, r.Password = core.APIKeyUserPrefix+bobKey, "" },
			core.EINVALID, "", asBob, "Probe"},
		{"APIKeyAsUsernameInOtherCase", func(r *core.GetJWTRequest) { r.Username, r.Password = "APIKEY-"+bobKey, "" },
			core.EINVALID, "", asBob, "Probe"},
		{"APIKeyGivenAlone", func(r *core.GetJWTRequest) { r.Username, r.Password, r.APIKey = "", "", bobKey },
			core.EINVALID, "", asBob, "Probe"},
		{"APIKeyWrongSecret", func(r *core.GetJWTRequest) { r.Username, r.Password, r.APIKey = "", "", "jg_"+bk.ID+"_wrong" },
			core.EINVALID, "", asBob, "Probe"},
		{"UnknownAPIKey", func(r *core.GetJWTRequest) { r.Username, r.Password, r.APIKey = "", "", "jg_0123456789abcdef_secret" },
			core.EINVALID, "", nobody, "Probe"},
		{"MalformedAPIKey", func(r *core.GetJWTRequest) { r.Username, r.Password = core.APIKeyUserPrefix+"garbage", "" },
			core.EINVALID, "", nobody, "Probe"},
		{"BearerOnly", func(r *core.GetJWTRequest) { r.Username, r.Password, r.Bearer = "", "", bearer },
			core.EUNAUTHORIZED, msgNoBearer, nobody, ""},
		{"BearerAndLogin", func(r *core.GetJWTRequest) { r.Bearer = bearer }, core.EUNAUTHORIZED, msgNoBearer, nobody, ""},
		{"APIKeyAndLogin", func(r *core.GetJWTRequest) { r.APIKey = bobKey }, core.EINVALID, msgKeyAndLogin, nobody, ""},

		// Each rule of the request is attributed alike.
		{"InvalidOption", func(r *core.GetJWTRequest) {
			r.MaxCredits, r.Options = nil, []core.Option{{Name: "Colour", Value: "blue"}}
		}, core.EINVALID, `unknown option "Colour"; the supported option is ApplicationName`, asAlice, ""},
		{"BadExpiresAt", func(r *core.GetJWTRequest) { r.MaxCredits, r.ExpiresAt = nil, "soon" }, core.EINVALID, "", asAlice, "Probe"},
		{"BadClientIP", func(r *core.GetJWTRequest) { r.MaxCredits, r.ClientIP = nil, "localhost" }, core.EINVALID, "", asAlice, "Probe"},

		// What a surface could not decode comes after the credentials'
		// rules and before every other field's.
		{"Malformed", func(r *core.GetJWTRequest) { r.MaxCredits, r.Malformed = nil, malformed },
			core.EINVALID, malformed.Message, asAlice, "Probe"},
		{"MalformedBeatsOtherFields", func(r *core.GetJWTRequest) { r.ExpiresAt, r.ClientIP, r.Malformed = "soon", "localhost", malformed },
			core.EINVALID, malformed.Message, asAlice, "Probe"},
		{"MalformedWithBadOptions", func(r *core.GetJWTRequest) {
			r.Options, r.Malformed = []core.Option{{Name: "Colour", Value: "blue"}}, malformed
		}, core.EINVALID, malformed.Message, asAlice, ""},
		{"MalformedByAPIKey", func(r *core.GetJWTRequest) { r.Username, r.Password, r.APIKey, r.Malformed = "", "", bobKey, malformed },
			core.EINVALID, malformed.Message, asBob, "Probe"},
		{"MalformedUnknownUser", func(r *core.GetJWTRequest) { r.Username, r.Malformed = "mallory", malformed },
			core.EINVALID, malformed.Message, nobody, "Probe"},
		{"CredentialRulesBeatMalformed", func(r *core.GetJWTRequest) { r.APIKey, r.Malformed = bobKey, malformed },
			core.EINVALID, msgKeyAndLogin, nobody, ""},
		{"BearerBeatsMalformed", func(r *core.GetJWTRequest) { r.Bearer, r.Malformed = bearer, malformed },
			core.EUNAUTHORIZED, msgNoBearer, nobody, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.req()
			r.MaxCredits, r.Options = ptr[int64](0), probe
			tc.mod(r)
			before, tokens := len(testenv.UsageLines(t, e.db)), e.countTokens()
			res, err := e.getJWT(r)
			if res != nil {
				t.Errorf("result with the refusal: %+v", res)
			}
			if tc.msg == "" {
				assertErr(t, err, tc.code)
			} else {
				assertExact(t, err, tc.code, tc.msg)
			}
			lines := testenv.UsageLines(t, e.db)
			if len(lines) != before+1 {
				t.Fatalf("%d new ledger lines, want 1", len(lines)-before)
			}
			l := lines[before]
			if !reflect.DeepEqual(l.AccountID, tc.who.account) || !reflect.DeepEqual(l.UserID, tc.who.user) {
				t.Errorf("line attributed to account %v, user %v; want %v, %v",
					derefID(l.AccountID), derefID(l.UserID), derefID(tc.who.account), derefID(tc.who.user))
			}
			want := core.UsageEvent{Time: t0, AccountID: l.AccountID, UserID: l.UserID, Application: tc.app,
				Method: core.OpGetJWT.Method, Outcome: core.Outcome(tc.code), ClientAddr: testAddr}
			if !l.Time.Equal(t0) {
				t.Errorf("line time %v, want %v", l.Time, t0)
			}
			l.Time = t0
			if !reflect.DeepEqual(*l, want) {
				t.Errorf("line = %+v\nwant   %+v", *l, want)
			}
			if n := e.countTokens(); n != tokens {
				t.Errorf("tokens %d -> %d", tokens, n)
			}
		})
	}

	// The operator's report counts them under each account.
	for account, want := range map[string]int64{testUser: 10, "bob": 5} {
		rows, err := e.svc.Admin.UsageReport(e.ctx, core.UsageQuery{Account: account})
		if err != nil {
			t.Fatal(err)
		}
		var failures int64
		for _, row := range rows {
			failures += row.Failures
		}
		if failures != want {
			t.Errorf("%s: %d failures in the report, want %d", account, failures, want)
		}
	}

	// Nothing was hashed and no login was counted as failed: with the gate
	// free, alice's password and bob's key work at once.
	release()
	if _, err := e.getJWT(e.req()); err != nil {
		t.Errorf("alice's login after the refusals: %v", err)
	}
	r := e.req()
	r.Username, r.Password = core.APIKeyUserPrefix+bobKey, ""
	if _, err := e.getJWT(r); err != nil {
		t.Errorf("bob's API key after the refusals: %v", err)
	}
}

func derefID(p *int64) any {
	if p == nil {
		return "none"
	}
	return *p
}
