package core_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

const msgServiceKey = "a valid serviceKey is required: VerifyJWT and ChargeJWT are for the operator's services"

var serviceKeyRE = regexp.MustCompile(`^jgs_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$`)

// callsWithKey runs VerifyJWT and ChargeJWT of a good token with key.
func (e *enf) callsWithKey(tok, key string) (verr, cerr error) {
	_, verr = e.svc.Enforcer.VerifyJWT(e.ctx, &core.VerifyJWTRequest{ServiceKey: key, JWT: tok, Method: emailMethod, ClientIP: boundIP})
	_, cerr = e.svc.Enforcer.ChargeJWT(e.ctx, &core.ChargeJWTRequest{ServiceKey: key, JWT: tok, Method: emailMethod, Credits: 1, ClientIP: boundIP})
	return verr, cerr
}

func TestService_CreateServiceKey(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		key, k, err := e.svc.Admin.CreateServiceKey(e.ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		m := serviceKeyRE.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("key %q is not jgs_<16 hex>_<secret>", key)
		}
		if m[1] != k.ID || k.Name != "billing" || !k.Created.Equal(t0) || k.Revoked != nil {
			t.Errorf("key record = %+v, key id %s", k, m[1])
		}
		stored, err := e.db.ServiceKeyByID(e.ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored.SecretHash, m[2]) || stored.SecretHash == "" {
			t.Errorf("stored hash %q holds the secret", stored.SecretHash)
		}
		key2, _, err := e.svc.Admin.CreateServiceKey(e.ctx, "reports")
		if err != nil {
			t.Fatal(err)
		}
		if key2 == key || serviceKeyRE.FindStringSubmatch(key2)[1] == m[1] {
			t.Errorf("two keys share an id or secret: %s, %s", key, key2)
		}
	})

	t.Run("ErrName", func(t *testing.T) {
		e := newEnv(t)
		for _, name := range []string{"", "two words", strings.Repeat("n", core.MaxNameLen+1), "-x"} {
			_, _, err := e.svc.Admin.CreateServiceKey(e.ctx, name)
			assertErr(t, err, core.EINVALID, "service key name")
		}
	})

	t.Run("ErrDuplicateActiveName", func(t *testing.T) {
		e := newEnv(t)
		if _, _, err := e.svc.Admin.CreateServiceKey(e.ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.svc.Admin.CreateServiceKey(e.ctx, "BILLING")
		assertErr(t, err, core.ECONFLICT, "BILLING", "already exists")
		// Once revoked, the name is free again.
		if err := e.svc.Admin.RevokeServiceKey(e.ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Admin.CreateServiceKey(e.ctx, "billing"); err != nil {
			t.Errorf("reusing a revoked key's name: %v", err)
		}
	})
}

func TestService_ServiceKeyRequired(t *testing.T) {
	e := newEnf(t)
	tok, _ := e.issue(nil)
	m := serviceKeyRE.FindStringSubmatch(e.key)
	id, secret := m[1], m[2]

	t.Run("OK", func(t *testing.T) {
		for _, key := range []string{e.key, " " + e.key + "\n"} {
			if verr, cerr := e.callsWithKey(tok, key); verr != nil || cerr != nil {
				t.Errorf("key %q: VerifyJWT %v, ChargeJWT %v", key, verr, cerr)
			}
		}
	})

	// Every bad key is refused with one message, whatever is wrong with it.
	for _, tc := range []struct{ name, key string }{
		{"Missing", ""},
		{"Blank", "   "},
		{"Garbage", "garbage"},
		{"PrefixOnly", "jgs_"},
		{"NoSecret", "jgs_" + id},
		{"EmptySecret", "jgs_" + id + "_"},
		{"WrongSecret", "jgs_" + id + "_" + strings.Repeat("A", len(secret))},
		{"SecretOfOtherLength", "jgs_" + id + "_x"},
		{"UnknownID", "jgs_0123456789abcdef_" + secret},
		{"UpperCaseID", "jgs_" + strings.ToUpper(id) + "_" + secret},
		{"ShortID", "jgs_" + id[:15] + "_" + secret},
		{"NoPrefix", id + "_" + secret},
		{"OtherPrefix", "jg_" + id + "_" + secret},
		{"SecretOnly", secret},
		{"InvalidUTF8", "jgs_" + id + "_\xff"},
		{"APIKeyOfAUser", "apikey-jg_" + id + "_" + secret},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			before := e.balance(testUser)
			verr, cerr := e.callsWithKey(tok, tc.key)
			assertExact(t, verr, core.EUNAUTHORIZED, msgServiceKey)
			assertExact(t, cerr, core.EUNAUTHORIZED, msgServiceKey)
			if got := e.balance(testUser); got != before {
				t.Errorf("balance %d -> %d: a refused service charged", before, got)
			}
		})
	}

	t.Run("ErrRevoked", func(t *testing.T) {
		e := newEnf(t)
		tok, c := e.issue(nil)
		other, _, err := e.svc.Admin.CreateServiceKey(e.ctx, "reports")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Admin.RevokeServiceKey(e.ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		verr, cerr := e.callsWithKey(tok, e.key)
		assertExact(t, verr, core.EUNAUTHORIZED, `service key "billing" has been revoked`)
		assertExact(t, cerr, core.EUNAUTHORIZED, `service key "billing" has been revoked`)
		// Only with the right secret does the caller learn that the key was revoked.
		m := serviceKeyRE.FindStringSubmatch(e.key)
		verr, _ = e.callsWithKey(tok, "jgs_"+m[1]+"_wrong")
		assertExact(t, verr, core.EUNAUTHORIZED, msgServiceKey)
		// Another key is unaffected.
		if verr, cerr := e.callsWithKey(tok, other); verr != nil || cerr != nil {
			t.Errorf("other key: VerifyJWT %v, ChargeJWT %v", verr, cerr)
		}
		if spent := e.token(c.ID).CreditsSpent; spent != 1 {
			t.Errorf("token spent %d, want 1 (only the other key's charge)", spent)
		}
	})
}

func TestService_RevokeServiceKey(t *testing.T) {
	for _, how := range []string{"name", "name in other case", "id", "whole key"} {
		t.Run(how, func(t *testing.T) {
			e := newEnf(t)
			tok, _ := e.issue(nil)
			_, k, err := e.svc.Admin.CreateServiceKey(e.ctx, "other")
			if err != nil {
				t.Fatal(err)
			}
			id := serviceKeyRE.FindStringSubmatch(e.key)[1]
			arg := map[string]string{"name": "billing", "name in other case": "BiLLing", "id": id, "whole key": e.key}[how]
			if err := e.svc.Admin.RevokeServiceKey(e.ctx, arg); err != nil {
				t.Fatalf("RevokeServiceKey(%s): %v", how, err)
			}
			e.advance(time.Minute)
			if err := e.svc.Admin.RevokeServiceKey(e.ctx, arg); err != nil {
				t.Errorf("revoking twice: %v", err)
			}
			got, err := e.db.ServiceKeyByID(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Revoked == nil || !got.Revoked.Equal(t0) {
				t.Errorf("revoked at %v, want the first revocation %v", got.Revoked, t0)
			}
			if o, _ := e.db.ServiceKeyByID(e.ctx, k.ID); o.Revoked != nil {
				t.Error("revoking one key revoked another")
			}
			verr, _ := e.callsWithKey(tok, e.key)
			assertErr(t, verr, core.EUNAUTHORIZED, "revoked")
		})
	}
	t.Run("ErrUnknown", func(t *testing.T) {
		e := newEnf(t)
		for _, arg := range []string{"nosuch", "0123456789abcdef", "jgs_0123456789abcdef_secret"} {
			assertErr(t, e.svc.Admin.RevokeServiceKey(e.ctx, arg), core.ENOTFOUND)
		}
	})
}
