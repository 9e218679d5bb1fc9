package core_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/token"
)

// Fixtures of the enforcement tests: a token bound to boundIP, limited to the
// Email service and maxCredits, issued for the application testApp.
const (
	testApp     = "Checkout"
	boundIP     = "198.51.100.9"
	emailMethod = "Email.IsValid"
)

// enf is an env with a service key, for VerifyJWT and ChargeJWT.
type enf struct {
	*env
	key string // the service key
}

func newEnf(t *testing.T, configure ...func(*core.Config)) *enf {
	t.Helper()
	e := newEnv(t, configure...)
	return &enf{env: e, key: testenv.CreateServiceKey(t, e.svc, "billing")}
}

// issue returns a token for testUser limited as the fixtures say, after mod.
func (e *enf) issue(mod func(*core.GetJWTRequest)) (string, *token.Claims) {
	e.t.Helper()
	r := e.req()
	r.AllowedMethods = []string{"Email"}
	r.ClientIP = boundIP
	r.MaxCredits = ptr[int64](10)
	r.Options = []core.Option{{Name: core.OptionApplicationName, Value: testApp}}
	if mod != nil {
		mod(r)
	}
	res, c := e.mustGetJWT(r)
	return res.JWT, c
}

// open issues a token with no limits of use: any method, any address, no
// credit limit of its own.
func (e *enf) open() (string, *token.Claims) {
	e.t.Helper()
	return e.issue(func(r *core.GetJWTRequest) {
		r.AllowedMethods, r.ClientIP, r.MaxCredits = nil, "", nil
	})
}

func (e *enf) verify(tok, method, ip string) (*core.TokenInfo, error) {
	return e.svc.Enforcer.VerifyJWT(e.ctx, &core.VerifyJWTRequest{ServiceKey: e.key, JWT: tok, Method: method, ClientIP: ip})
}

func (e *enf) charge(tok, method string, credits int64, ip, requestID string) (*core.ChargeResult, error) {
	return e.svc.Enforcer.ChargeJWT(e.ctx, &core.ChargeJWTRequest{
		ServiceKey: e.key, JWT: tok, Method: method, Credits: credits, ClientIP: ip, RequestID: requestID, ClientAddr: testAddr,
	})
}

// mustCharge charges and fails the test on any error.
func (e *enf) mustCharge(tok, method string, credits int64, ip, requestID string) *core.ChargeResult {
	e.t.Helper()
	res, err := e.charge(tok, method, credits, ip, requestID)
	if err != nil {
		e.t.Fatalf("ChargeJWT(%s, %d): %v", method, credits, err)
	}
	return res
}

// balance reads an account's balance from the store.
func (e *env) balance(account string) int64 {
	e.t.Helper()
	a, err := e.db.AccountByName(e.ctx, account)
	if err != nil {
		e.t.Fatalf("AccountByName(%s): %v", account, err)
	}
	return a.Credits
}

// token reads a token's record from the store.
func (e *env) token(jti string) *core.IssuedToken {
	e.t.Helper()
	rec, err := e.db.TokenByJTI(e.ctx, jti)
	if err != nil {
		e.t.Fatalf("TokenByJTI(%s): %v", jti, err)
	}
	return rec
}

func (e *env) activeKey() *core.SigningKey {
	e.t.Helper()
	k, err := e.db.ActiveSigningKey(e.ctx, e.clock())
	if err != nil {
		e.t.Fatalf("ActiveSigningKey: %v", err)
	}
	return k
}

// resign signs a copy of c, changed by mod, with the store's active key:
// a token only this service could have made.
func (e *env) resign(c *token.Claims, mod func(*token.Claims)) string {
	e.t.Helper()
	cp := *c
	mod(&cp)
	tok, err := token.SignClaims(e.activeKey(), &cp)
	if err != nil {
		e.t.Fatalf("SignClaims: %v", err)
	}
	return tok
}

// ledgerLine is one line of the usage ledger, as the store lists it.
type ledgerLine struct {
	Account     int64 // 0: no account
	Application string
	Method      string
	Credits     int64
	Outcome     core.Outcome
	JTI         string
}

func (e *env) ledger() []ledgerLine {
	e.t.Helper()
	var out []ledgerLine
	for _, ev := range testenv.UsageLines(e.t, e.db) {
		l := ledgerLine{Application: ev.Application, Method: ev.Method, Credits: ev.Credits, Outcome: ev.Outcome, JTI: ev.JTI}
		if ev.AccountID != nil {
			l.Account = *ev.AccountID
		}
		out = append(out, l)
	}
	return out
}

// chargeLines returns the ledger lines other than GetJWT's.
func (e *env) chargeLines() []ledgerLine {
	e.t.Helper()
	var out []ledgerLine
	for _, l := range e.ledger() {
		if l.Method != core.OpGetJWT.Method {
			out = append(out, l)
		}
	}
	return out
}

func (e *env) accountID(name string) int64 {
	e.t.Helper()
	a, err := e.db.AccountByName(e.ctx, name)
	if err != nil {
		e.t.Fatalf("AccountByName(%s): %v", name, err)
	}
	return a.ID
}

// assertExact checks err's code and its whole message.
func assertExact(t *testing.T, err error, code core.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s %q", code, msg)
	}
	if got := core.ErrorCode(err); got != code {
		t.Errorf("ErrorCode = %q, want %q (err: %v)", got, code, err)
	}
	if got := core.ErrorMessage(err); got != msg {
		t.Errorf("message = %q\n                   want %q", got, msg)
	}
}

// setSegment replaces segment i of a token with the encoding of v.
func setSegment(t *testing.T, tok string, i int, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	parts[i] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// expiry returns the exp of a token's claims.
func expiry(c *token.Claims) time.Time { return c.ExpiresAt.Time }
