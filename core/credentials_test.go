package core_test

import (
	"errors"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

// The refusals of credentials given more than one way, word for word: every
// surface shows them (the strict one naming the key parameter first).
const (
	msgKeyAndLogin    = "give either a username and password or an API key, not both"
	msgKeyAndBearer   = "give either a bearer token or an API key, not both"
	msgBearerAndLogin = "give either a bearer token or a username and password, not both"
)

const msgNoBearer = "GetJWT does not accept a bearer token (a token cannot mint tokens); send a username and password or an API key"

// refusal is a refusal of credentials as Op.Admit words it.
type refusal struct {
	code  core.Code
	msg   string
	field string // Error.Field
}

var (
	okCreds           = refusal{}
	errKeyAndLogin    = refusal{core.EINVALID, msgKeyAndLogin, core.FieldAPIKey}
	errKeyAndBearer   = refusal{core.EINVALID, msgKeyAndBearer, core.FieldAPIKey}
	errBearerAndLogin = refusal{core.EINVALID, msgBearerAndLogin, ""}
	errNoBearer       = refusal{core.EUNAUTHORIZED, msgNoBearer, ""}
)

// assertRefusal checks err against want: nil for okCreds, else its code,
// its whole message and the field it names.
func assertRefusal(t *testing.T, err error, want refusal) {
	t.Helper()
	if want == okCreds {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	assertExact(t, err, want.code, want.msg)
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Field != want.field {
		t.Errorf("Error.Field = %q, want %q (err: %#v)", fieldOf(err), want.field, err)
	}
}

func fieldOf(err error) string {
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce.Field
	}
	return ""
}

// TestOp_Admit: the rules on how an account's credentials are given, in
// their order: an API key on its own excludes a username and password; a
// bearer token is refused by an operation that takes none (GetJWT), and
// otherwise excludes the other kinds.
func TestOp_Admit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      core.Credentials
		bearer refusal // by an operation that takes a bearer token
		getJWT refusal // by GetJWT, which takes none
	}{
		{"OK/None", core.Credentials{}, okCreds, okCreds}, // authenticate's refusal, not this one
		{"OK/Password", core.Credentials{Username: "alice", Password: "pw"}, okCreds, okCreds},
		{"OK/UsernameOnly", core.Credentials{Username: "alice"}, okCreds, okCreds},
		{"OK/PasswordOnly", core.Credentials{Password: "pw"}, okCreds, okCreds},
		{"OK/KeyAsUsername", core.Credentials{Username: core.APIKeyUserPrefix + "jg_k"}, okCreds, okCreds},
		{"OK/Key", core.Credentials{APIKey: "jg_k"}, okCreds, okCreds},
		{"OK/Bearer", core.Credentials{Bearer: "tok"}, okCreds, errNoBearer},
		{"OK/ClientAddrIsNoCredential", core.Credentials{APIKey: "jg_k", ClientAddr: "203.0.113.7"}, okCreds, okCreds},
		{"ErrKeyAndUsername", core.Credentials{APIKey: "jg_k", Username: "alice"}, errKeyAndLogin, errKeyAndLogin},
		{"ErrKeyAndPassword", core.Credentials{APIKey: "jg_k", Password: "pw"}, errKeyAndLogin, errKeyAndLogin},
		{"ErrKeyAndLogin", core.Credentials{APIKey: "jg_k", Username: "alice", Password: "pw"}, errKeyAndLogin, errKeyAndLogin},
		{"ErrKeyAndKeyAsUsername", core.Credentials{APIKey: "jg_k", Username: core.APIKeyUserPrefix + "jg_k"}, errKeyAndLogin, errKeyAndLogin},
		{"ErrKeyAndBlankUsername", core.Credentials{APIKey: "jg_k", Username: " "}, errKeyAndLogin, errKeyAndLogin},
		{"ErrKeyAndBearer", core.Credentials{APIKey: "jg_k", Bearer: "tok"}, errKeyAndBearer, errNoBearer},
		{"ErrKeyLoginAndBearer", core.Credentials{APIKey: "jg_k", Username: "alice", Password: "pw", Bearer: "tok"}, errKeyAndLogin, errKeyAndLogin},
		{"ErrBearerAndUsername", core.Credentials{Bearer: "tok", Username: "alice"}, errBearerAndLogin, errNoBearer},
		{"ErrBearerAndPassword", core.Credentials{Bearer: "tok", Password: "pw"}, errBearerAndLogin, errNoBearer},
		{"ErrBearerAndLogin", core.Credentials{Bearer: "tok", Username: "alice", Password: "pw"}, errBearerAndLogin, errNoBearer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range core.Ops() {
				if !op.Accepts(core.CredPassword) {
					continue // it takes no account's credentials
				}
				want := tc.getJWT
				if op.Accepts(core.CredBearer) {
					want = tc.bearer
				}
				t.Run(op.Name, func(t *testing.T) { assertRefusal(t, op.Admit(tc.c), want) })
			}
		})
	}
}

// TestService_CredentialsOneWay: every operation that authenticates an
// account applies its Op's Admit itself, before any credential is checked,
// whatever the surface did.
func TestService_CredentialsOneWay(t *testing.T) {
	// Each combination joins a genuine API key to a genuine password or
	// token: taking either one alone would succeed.
	type creds struct{ username, password, bearer bool }
	combos := []struct {
		name string
		with creds
		want string
	}{
		{"KeyAndUsername", creds{username: true}, msgKeyAndLogin},
		{"KeyAndPassword", creds{password: true}, msgKeyAndLogin},
		{"KeyAndLogin", creds{username: true, password: true}, msgKeyAndLogin},
		{"KeyAndBearer", creds{bearer: true}, msgKeyAndBearer},
		{"KeyLoginAndBearer", creds{username: true, password: true, bearer: true}, msgKeyAndLogin},
	}
	build := func(e *enf, with creds) core.Credentials {
		c := e.credentials("key")
		if with.username {
			c.Username = testUser
		}
		if with.password {
			c.Password = testPassword
		}
		if with.bearer {
			c.Bearer, _ = e.issue(allowUserAdmin)
		}
		return c
	}
	for _, tc := range combos {
		t.Run("GetJWT/"+tc.name, func(t *testing.T) {
			e := newEnf(t)
			c := build(e, tc.with)
			lines, tokens := len(e.ledger()), e.countTokens() // the bearer token's
			r := e.req()
			r.Credentials = c
			_, err := e.getJWT(r)
			// GetJWT takes no bearer token: given with an API key, that is
			// the refusal, unless the key already excludes a login.
			want := refusal{core.EINVALID, tc.want, core.FieldAPIKey}
			if tc.with.bearer && !tc.with.username && !tc.with.password {
				want = errNoBearer
			}
			assertRefusal(t, err, want)
			// One failed line, attributed to no account (credentials given
			// more than one way name nobody), and no token.
			got := e.ledger()
			if len(got) != lines+1 || got[lines] != (ledgerLine{Method: core.OpGetJWT.Method, Outcome: core.Outcome(want.code)}) {
				t.Errorf("ledger after the refusal = %+v", got[min(lines, len(got)):])
			}
			if n := e.countTokens(); n != tokens {
				t.Errorf("tokens %d -> %d after a refused call", tokens, n)
			}
		})
	}
	ops := []struct {
		name string
		call func(e *enf, c core.Credentials) error
	}{
		{"GetCreditsRemaining", func(e *enf, c core.Credentials) error {
			_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, c)
			return err
		}},
		{"GetUsage", func(e *enf, c core.Credentials) error {
			_, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: c})
			return err
		}},
		{"RevokeJWT", func(e *enf, c core.Credentials) error {
			tok, claims := e.open()
			_, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{Credentials: c, JTI: claims.ID})
			e.assertLive(tok)
			return err
		}},
	}
	for _, op := range ops {
		for _, tc := range combos {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				e := newEnf(t)
				assertRefusal(t, op.call(e, build(e, tc.with)), refusal{core.EINVALID, tc.want, core.FieldAPIKey})
			})
		}
	}
	// The key alone works for each of them: TestService_GetCreditsRemaining,
	// TestService_GetUsage and TestService_RevokeJWT run with "key" too.

	t.Run("GetJWT/OK/Key", func(t *testing.T) {
		e := newEnf(t)
		key, k, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password, r.APIKey = "", "", key
		_, c := e.mustGetJWT(r)
		if tok := e.token(c.ID); tok.APIKeyID != k.ID {
			t.Errorf("token issued for API key %q, want %q", tok.APIKeyID, k.ID)
		}
	})

	t.Run("GetJWT/ErrWrongKey", func(t *testing.T) {
		e := newEnf(t)
		key, _, err := e.svc.Admin.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password, r.APIKey = "", "", key[:len(key)-2]+"xx"
		_, err = e.getJWT(r)
		assertExact(t, err, core.EUNAUTHORIZED, "invalid API key")
	})
}

// TestService_CredentialsBeforeFields: each operation that takes an
// account's credentials refuses credentials given more than one way (or a
// bearer token it takes none of) before it looks at any other field, so
// that every surface reports the same refusal first.
func TestService_CredentialsBeforeFields(t *testing.T) {
	e := newEnf(t)
	keyAndLogin := core.Credentials{APIKey: "jg_k", Username: testUser, Password: testPassword, ClientAddr: testAddr}
	keyAndBearer := core.Credentials{APIKey: "jg_k", Bearer: "tok", ClientAddr: testAddr}
	bearerAndLogin := core.Credentials{Bearer: "tok", Username: testUser, ClientAddr: testAddr}
	for _, tc := range []struct {
		name string
		call func() error
		want refusal
	}{
		{"GetJWT/BadFields", func() error {
			_, err := e.getJWT(&core.GetJWTRequest{Credentials: keyAndLogin, ExpiresAt: "soon", ClientIP: "localhost",
				MaxCredits: ptr[int64](0), Options: []core.Option{{Name: "Colour"}}})
			return err
		}, errKeyAndLogin},
		{"GetJWT/BearerWithBadFields", func() error {
			_, err := e.getJWT(&core.GetJWTRequest{Credentials: core.Credentials{Bearer: "tok"}, ExpiresAt: "soon"})
			return err
		}, errNoBearer},
		{"RevokeJWT/NothingNamed", func() error {
			_, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{Credentials: keyAndLogin})
			return err
		}, errKeyAndLogin},
		{"RevokeJWT/BearerAndLoginNothingNamed", func() error {
			_, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{Credentials: bearerAndLogin})
			return err
		}, errBearerAndLogin},
		{"GetUsage/BadRange", func() error {
			_, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: keyAndBearer, From: "yesterday", To: "never"})
			return err
		}, errKeyAndBearer},
		{"GetCreditsRemaining", func() error {
			_, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, bearerAndLogin)
			return err
		}, errBearerAndLogin},
	} {
		t.Run(tc.name, func(t *testing.T) { assertRefusal(t, tc.call(), tc.want) })
	}
}
