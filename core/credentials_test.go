package core_test

import (
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

func TestCredentials_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    core.Credentials
		want string // "" for none
	}{
		{"OK/None", core.Credentials{}, ""}, // authenticate's refusal, not this one
		{"OK/Password", core.Credentials{Username: "alice", Password: "pw"}, ""},
		{"OK/UsernameOnly", core.Credentials{Username: "alice"}, ""},
		{"OK/KeyAsUsername", core.Credentials{Username: core.APIKeyUserPrefix + "jg_k"}, ""},
		{"OK/Key", core.Credentials{APIKey: "jg_k"}, ""},
		{"OK/Bearer", core.Credentials{Bearer: "tok"}, ""},
		{"OK/ClientAddrIsNoCredential", core.Credentials{APIKey: "jg_k", ClientAddr: "203.0.113.7"}, ""},
		{"ErrKeyAndUsername", core.Credentials{APIKey: "jg_k", Username: "alice"}, msgKeyAndLogin},
		{"ErrKeyAndPassword", core.Credentials{APIKey: "jg_k", Password: "pw"}, msgKeyAndLogin},
		{"ErrKeyAndLogin", core.Credentials{APIKey: "jg_k", Username: "alice", Password: "pw"}, msgKeyAndLogin},
		{"ErrKeyAndKeyAsUsername", core.Credentials{APIKey: "jg_k", Username: core.APIKeyUserPrefix + "jg_k"}, msgKeyAndLogin},
		{"ErrKeyAndBlankUsername", core.Credentials{APIKey: "jg_k", Username: " "}, msgKeyAndLogin},
		{"ErrKeyAndBearer", core.Credentials{APIKey: "jg_k", Bearer: "tok"}, msgKeyAndBearer},
		{"ErrKeyLoginAndBearer", core.Credentials{APIKey: "jg_k", Username: "alice", Password: "pw", Bearer: "tok"}, msgKeyAndLogin},
		{"ErrBearerAndUsername", core.Credentials{Bearer: "tok", Username: "alice"}, msgBearerAndLogin},
		{"ErrBearerAndPassword", core.Credentials{Bearer: "tok", Password: "pw"}, msgBearerAndLogin},
		{"ErrBearerAndLogin", core.Credentials{Bearer: "tok", Username: "alice", Password: "pw"}, msgBearerAndLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			assertExact(t, err, core.EINVALID, tc.want)
		})
	}
}

// TestService_CredentialsOneWay: every operation that authenticates an
// account applies Credentials.Validate itself, before any credential is
// checked, whatever the transport did.
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
		if tc.with.bearer {
			continue // GetJWT takes no bearer token: the transports refuse it
		}
		t.Run("GetJWT/"+tc.name, func(t *testing.T) {
			e := newEnf(t)
			c := build(e, tc.with)
			r := e.req()
			r.Username, r.Password, r.APIKey = c.Username, c.Password, c.APIKey
			_, err := e.getJWT(r)
			assertExact(t, err, core.EINVALID, tc.want)
			e.assertRefused(core.EINVALID)
		})
	}
	ops := []struct {
		name string
		call func(e *enf, c core.Credentials) error
	}{
		{"GetCreditsRemaining", func(e *enf, c core.Credentials) error {
			_, err := e.svc.GetCreditsRemaining(e.ctx, c)
			return err
		}},
		{"GetUsage", func(e *enf, c core.Credentials) error {
			_, _, err := e.svc.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: c})
			return err
		}},
		{"RevokeJWT", func(e *enf, c core.Credentials) error {
			tok, claims := e.open()
			_, err := e.svc.RevokeJWT(e.ctx, &core.RevokeJWTRequest{Credentials: c, JTI: claims.ID})
			e.assertLive(tok)
			return err
		}},
	}
	for _, op := range ops {
		for _, tc := range combos {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				e := newEnf(t)
				assertExact(t, op.call(e, build(e, tc.with)), core.EINVALID, tc.want)
			})
		}
	}
	// The key alone works for each of them: TestService_GetCreditsRemaining,
	// TestService_GetUsage and TestService_RevokeJWT run with "key" too.

	t.Run("GetJWT/OK/Key", func(t *testing.T) {
		e := newEnf(t)
		key, k, err := e.svc.CreateAPIKey(e.ctx, testUser)
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
		key, _, err := e.svc.CreateAPIKey(e.ctx, testUser)
		if err != nil {
			t.Fatal(err)
		}
		r := e.req()
		r.Username, r.Password, r.APIKey = "", "", key[:len(key)-2]+"xx"
		_, err = e.getJWT(r)
		assertExact(t, err, core.EUNAUTHORIZED, "invalid API key")
	})
}
