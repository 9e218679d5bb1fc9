package core_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/sqlite"
)

// TestOps: the one operation table is consistent: one entry per operation
// of the contracts, in their order, each named once and found by its name;
// its ledger method is UserAdmin.<Name>; only GetJWT and ChargeJWT are in
// the ledger; a bearer token is a credential only for the account
// operations other than GetJWT; every code an operation lists is a code.
func TestOps(t *testing.T) {
	ops := core.Ops()
	var names []string
	for _, op := range ops {
		names = append(names, op.Name)
	}
	if want := []string{"GetJWT", "VerifyJWT", "ChargeJWT", "RevokeJWT", "GetCreditsRemaining", "GetUsage"}; !slices.Equal(names, want) {
		t.Fatalf("Ops() = %q, want %q", names, want)
	}
	for i, op := range []*core.Op{core.OpGetJWT, core.OpVerifyJWT, core.OpChargeJWT, core.OpRevokeJWT, core.OpGetCreditsRemaining, core.OpGetUsage} {
		if ops[i] != op {
			t.Errorf("Ops()[%d] is not the exported Op%s", i, op.Name)
		}
	}
	ops[0] = nil
	if core.Ops()[0] != core.OpGetJWT {
		t.Error("changing the slice Ops returned changed the table")
	}

	methods := map[string]bool{}
	for _, op := range core.Ops() {
		t.Run(op.Name, func(t *testing.T) {
			if got := core.OpNamed(op.Name); got != op {
				t.Errorf("OpNamed(%q) = %v", op.Name, got)
			}
			for _, other := range []string{strings.ToLower(op.Name), " " + op.Name, op.Method} {
				if got := core.OpNamed(other); got != nil {
					t.Errorf("OpNamed(%q) = %s, want nil: names match exactly", other, got.Name)
				}
			}
			if op.Method != core.ServiceUserAdmin+"."+op.Name || methods[op.Method] {
				t.Errorf("Method = %q, want the unique %s.%s", op.Method, core.ServiceUserAdmin, op.Name)
			}
			methods[op.Method] = true

			wantRecorded := op == core.OpGetJWT || op == core.OpChargeJWT
			if op.Recorded != wantRecorded {
				t.Errorf("Recorded = %v, want %v", op.Recorded, wantRecorded)
			}

			// Credentials: the operator's services give a service key and
			// nothing else; the account operations a login or an API key,
			// and a bearer token except GetJWT (a token cannot mint tokens).
			service := op == core.OpVerifyJWT || op == core.OpChargeJWT
			bearer := !service && op != core.OpGetJWT
			for _, k := range []struct {
				kind core.CredentialKind
				name string
				want bool
			}{
				{core.CredServiceKey, "service key", service},
				{core.CredPassword, "password", !service},
				{core.CredAPIKey, "API key", !service},
				{core.CredBearer, "bearer token", bearer},
			} {
				if got := op.Accepts(k.kind); got != k.want {
					t.Errorf("Accepts(%s) = %v, want %v", k.name, got, k.want)
				}
			}
			all := core.CredPassword | core.CredAPIKey | core.CredBearer | core.CredServiceKey
			if op.Credentials == 0 || op.Credentials&^all != 0 {
				t.Errorf("Credentials = %b, want known kinds only", op.Credentials)
			}
			if !service {
				err := op.Admit(core.Credentials{Bearer: "tok"})
				switch {
				case bearer && err != nil:
					t.Errorf("Admit(bearer) = %v, want nil", err)
				case !bearer && (core.ErrorCode(err) != core.EUNAUTHORIZED || !strings.Contains(core.ErrorMessage(err), "bearer token")):
					t.Errorf("Admit(bearer) = %v, want an unauthorized refusal naming the bearer token", err)
				}
			}

			seen := map[core.Code]bool{}
			for _, c := range op.Codes {
				if seen[c] || !slices.Contains(core.Codes(), c) {
					t.Errorf("Codes has %q twice or it is not a code", c)
				}
				seen[c] = true
			}
			if !seen[core.EINTERNAL] {
				t.Error("Codes lacks internal, which every operation may answer")
			}
			for _, c := range append(core.Codes(), "", "bogus") {
				if op.AllowsCode(c) != seen[c] {
					t.Errorf("AllowsCode(%q) = %v, Codes %q", c, op.AllowsCode(c), op.Codes)
				}
			}
		})
	}
	if core.OpNamed("") != nil || core.OpNamed("SignIn") != nil {
		t.Error("OpNamed finds an operation that does not exist")
	}
}

// faultyStore is the SQLite store with its reads and charge transaction
// failing while broken is set: what a lost database looks like.
type faultyStore struct {
	*sqlite.DB
	broken atomic.Bool
}

var errDiskOnFire = errors.New("disk on fire")

func (s *faultyStore) fail() error {
	if s.broken.Load() {
		return errDiskOnFire
	}
	return nil
}

func (s *faultyStore) UserByName(ctx context.Context, name string) (*core.User, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.UserByName(ctx, name)
}

func (s *faultyStore) APIKeyByID(ctx context.Context, id string) (*core.APIKey, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.APIKeyByID(ctx, id)
}

func (s *faultyStore) ServiceKeyByID(ctx context.Context, id string) (*core.ServiceKey, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.ServiceKeyByID(ctx, id)
}

func (s *faultyStore) TokenByJTI(ctx context.Context, jti string) (*core.IssuedToken, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.TokenByJTI(ctx, jti)
}

func (s *faultyStore) ChargeTx(ctx context.Context, jti, requestID string, decide func(core.ChargeState) (core.ChargeWrite, error)) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.DB.ChargeTx(ctx, jti, requestID, decide)
}

// TestOps_Codes runs failing calls of every operation through the real
// Service and checks that each answers only codes its Op lists, and that
// the calls reach every code listed: the table says exactly what each
// operation may answer, which is what the surfaces map. Operations in the
// ledger write one line per call of an identified caller; the others none.
func TestOps_Codes(t *testing.T) {
	store := &faultyStore{}
	e := newEnf(t, func(c *core.Config) {
		store.DB = c.Store.(*sqlite.DB)
		c.Store = store
		c.Throttle = &core.Throttle{
			PerUser:   core.ThrottlePolicy{Free: 1, Base: time.Hour, Max: time.Hour, Forget: time.Hour},
			PerClient: core.ThrottlePolicy{Free: 1000, Base: time.Hour, Max: time.Hour, Forget: time.Hour},
		}
		c.HashGate = core.NewHashGate(1, 0, time.Hour)
	})
	e.createUser("dora", testPassword, 10)
	e.createUser("zero", testPassword, 0)
	e.createUser("locked", testPassword, 10)
	if err := e.svc.Admin.SetUserDisabled(e.ctx, "dora", true); err != nil {
		t.Fatal(err)
	}
	tok, claims := e.issue(nil) // Email only, bound to boundIP, 10 credits
	usageOnly, _ := e.issue(func(r *core.GetJWTRequest) { r.ClientIP, r.AllowedMethods = "", []string{"UserAdmin.GetUsage"} })
	e.mustCharge(tok, emailMethod, 1, boundIP, "once")
	freshKey := testenv.CreateServiceKey(t, e.svc, "fresh") // never verified: not cached

	alice := core.Credentials{Username: testUser, Password: testPassword, ClientAddr: testAddr}
	dora := core.Credentials{Username: "dora", Password: testPassword, ClientAddr: testAddr}
	locked := core.Credentials{Username: "locked", Password: testPassword, ClientAddr: testAddr}
	n := 0
	stranger := func() core.Credentials { // a new unknown user each time: no lockout
		n++
		return core.Credentials{Username: "stranger" + string(rune('a'+n)), Password: "wrong password", ClientAddr: testAddr}
	}
	getJWT := func(c core.Credentials, mod func(*core.GetJWTRequest)) func() error {
		return func() error {
			r := e.req()
			r.Credentials = c
			if mod != nil {
				mod(r)
			}
			_, err := e.getJWT(r)
			return err
		}
	}
	verify := func(key, tok, method, ip string) func() error {
		return func() error {
			_, err := e.svc.Enforcer.VerifyJWT(e.ctx, &core.VerifyJWTRequest{ServiceKey: key, JWT: tok, Method: method, ClientIP: ip})
			return err
		}
	}
	charge := func(key, tok, method string, credits int64, ip, reqID string) func() error {
		return func() error {
			_, err := e.svc.Enforcer.ChargeJWT(e.ctx, &core.ChargeJWTRequest{ServiceKey: key, JWT: tok, Method: method,
				Credits: credits, ClientIP: ip, RequestID: reqID, ClientAddr: testAddr})
			return err
		}
	}
	revoke := func(c core.Credentials, jwt, jti string) func() error {
		return func() error {
			_, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{Credentials: c, JWT: jwt, JTI: jti})
			return err
		}
	}
	credits := func(c core.Credentials) func() error {
		return func() error { _, err := e.svc.Accounts.GetCreditsRemaining(e.ctx, c); return err }
	}
	usage := func(c core.Credentials, from string) func() error {
		return func() error {
			_, _, err := e.svc.Accounts.GetUsage(e.ctx, &core.GetUsageRequest{Credentials: c, From: from})
			return err
		}
	}
	type call struct {
		op   *core.Op
		name string
		run  func() error
	}
	// lockOut fails "locked"'s login until it is throttled.
	lockOut := []call{
		{core.OpGetJWT, "WrongPassword", getJWT(core.Credentials{Username: "locked", Password: "wrong", ClientAddr: testAddr}, nil)},
		{core.OpGetJWT, "WrongPasswordAgain", getJWT(core.Credentials{Username: "locked", Password: "wrong", ClientAddr: testAddr}, nil)},
		{core.OpGetJWT, "Throttled", getJWT(locked, nil)},
		{core.OpRevokeJWT, "Throttled", revoke(locked, "", claims.ID)},
		{core.OpGetCreditsRemaining, "Throttled", credits(locked)},
		{core.OpGetUsage, "Throttled", usage(locked, "")},
	}
	calls := append([]call{
		{core.OpGetJWT, "Invalid", getJWT(alice, func(r *core.GetJWTRequest) { r.MaxCredits = ptr[int64](0) })},
		{core.OpGetJWT, "Malformed", getJWT(alice, func(r *core.GetJWTRequest) { r.Malformed = core.Errorf(core.EINVALID, "bad body") })},
		{core.OpGetJWT, "Unauthorized", getJWT(stranger(), nil)},
		{core.OpGetJWT, "Bearer", getJWT(core.Credentials{Bearer: tok}, nil)},
		{core.OpGetJWT, "KeyAndLogin", getJWT(core.Credentials{Username: testUser, APIKey: "jg_x"}, nil)},
		{core.OpGetJWT, "Disabled", getJWT(dora, nil)},
		{core.OpGetJWT, "NoCredits", getJWT(core.Credentials{Username: "zero", Password: testPassword, ClientAddr: testAddr}, nil)},

		{core.OpVerifyJWT, "BadMethod", verify(e.key, tok, "Email", boundIP)},
		{core.OpVerifyJWT, "BadClientIP", verify(e.key, tok, emailMethod, "localhost")},
		{core.OpVerifyJWT, "BadServiceKey", verify("jgs_nope", tok, emailMethod, boundIP)},
		{core.OpVerifyJWT, "Garbage", verify(e.key, "garbage", emailMethod, boundIP)},
		{core.OpVerifyJWT, "MethodNotAllowed", verify(e.key, tok, "Phone.Lookup", boundIP)},
		{core.OpVerifyJWT, "WrongIP", verify(e.key, tok, emailMethod, testAddr)},

		{core.OpChargeJWT, "BadCredits", charge(e.key, tok, emailMethod, 0, boundIP, "")},
		{core.OpChargeJWT, "BadServiceKey", charge("", tok, emailMethod, 1, boundIP, "")},
		{core.OpChargeJWT, "Garbage", charge(e.key, "garbage", emailMethod, 1, boundIP, "")},
		{core.OpChargeJWT, "MethodNotAllowed", charge(e.key, tok, "Phone.Lookup", 1, boundIP, "")},
		{core.OpChargeJWT, "OverLimit", charge(e.key, tok, emailMethod, 100, boundIP, "")},
		{core.OpChargeJWT, "Conflict", charge(e.key, tok, emailMethod, 2, boundIP, "once")},

		{core.OpRevokeJWT, "NothingNamed", revoke(alice, "", "")},
		{core.OpRevokeJWT, "KeyAndBearer", revoke(core.Credentials{APIKey: "jg_x", Bearer: tok}, "", claims.ID)},
		{core.OpRevokeJWT, "Unauthorized", revoke(stranger(), "", claims.ID)},
		{core.OpRevokeJWT, "ForgedToken", revoke(core.Credentials{}, "a.b.c", "")},
		{core.OpRevokeJWT, "BearerScope", revoke(core.Credentials{Bearer: usageOnly, ClientAddr: testAddr}, "", claims.ID)},
		{core.OpRevokeJWT, "Disabled", revoke(dora, "", claims.ID)},
		{core.OpRevokeJWT, "NotFound", revoke(alice, "", "no-such-jti")},

		{core.OpGetCreditsRemaining, "KeyAndLogin", credits(core.Credentials{Username: testUser, APIKey: "jg_x"})},
		{core.OpGetCreditsRemaining, "Unauthorized", credits(stranger())},
		{core.OpGetCreditsRemaining, "NoCredentials", credits(core.Credentials{})},
		{core.OpGetCreditsRemaining, "Disabled", credits(dora)},
		{core.OpGetCreditsRemaining, "BearerScope", credits(core.Credentials{Bearer: usageOnly, ClientAddr: testAddr})},

		{core.OpGetUsage, "BadFrom", usage(alice, "yesterday")},
		{core.OpGetUsage, "Unauthorized", usage(stranger(), "")},
		{core.OpGetUsage, "Disabled", usage(dora, "")},
		{core.OpGetUsage, "ForgedBearer", usage(core.Credentials{Bearer: "a.b.c"}, "")},
	}, lockOut...)
	// With the hashing slot taken, a login is turned away.
	busy := []call{
		{core.OpGetJWT, "Busy", getJWT(alice, nil)},
		{core.OpRevokeJWT, "Busy", revoke(alice, "", claims.ID)},
		{core.OpGetCreditsRemaining, "Busy", credits(alice)},
		{core.OpGetUsage, "Busy", usage(alice, "")},
	}
	// With the store gone, every operation fails internally.
	internal := []call{
		{core.OpGetJWT, "Internal", getJWT(alice, nil)},
		{core.OpVerifyJWT, "Internal", verify(freshKey, tok, emailMethod, boundIP)},
		{core.OpChargeJWT, "Internal", charge(e.key, tok, emailMethod, 1, boundIP, "")},
		{core.OpRevokeJWT, "Internal", revoke(alice, "", claims.ID)},
		{core.OpGetCreditsRemaining, "Internal", credits(alice)},
		{core.OpGetUsage, "Internal", usage(alice, "")},
	}

	seen := map[*core.Op]map[core.Code]bool{}
	run := func(calls []call) {
		t.Helper()
		for _, c := range calls {
			before := len(e.ledger())
			err := c.run()
			code := core.ErrorCode(err)
			t.Logf("%s/%s: %v", c.op.Name, c.name, err)
			if err == nil {
				t.Errorf("%s/%s: succeeded, want a failure", c.op.Name, c.name)
				continue
			}
			if !c.op.AllowsCode(code) {
				t.Errorf("%s/%s: code %q (%v) is not in the Op's Codes %q", c.op.Name, c.name, code, err, c.op.Codes)
			}
			if seen[c.op] == nil {
				seen[c.op] = map[core.Code]bool{}
			}
			seen[c.op][code] = true
			lines := len(e.ledger()) - before
			switch {
			case !c.op.Recorded && lines != 0:
				t.Errorf("%s/%s: %d ledger lines, want none (the Op is not Recorded)", c.op.Name, c.name, lines)
			case c.op == core.OpGetJWT && lines != 1:
				t.Errorf("%s/%s: %d ledger lines, want 1", c.op.Name, c.name, lines)
			case c.op == core.OpChargeJWT && lines > 1:
				t.Errorf("%s/%s: %d ledger lines, want at most 1", c.op.Name, c.name, lines)
			}
		}
	}
	run(calls)
	release := holdHashGate(e.svc.Authenticator.HashGate)
	run(busy)
	release()
	store.broken.Store(true)
	run(internal)
	store.broken.Store(false)

	for _, op := range core.Ops() {
		for _, code := range op.Codes {
			if !seen[op][code] {
				t.Errorf("%s: no call answered %q: list a call that does, or drop the code from the Op", op.Name, code)
			}
		}
	}
}
