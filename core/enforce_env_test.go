package core_test

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
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

func newEnf(t *testing.T) *enf {
	t.Helper()
	e := newEnv(t)
	return &enf{env: e, key: testenv.CreateServiceKey(t, e.svc, "billing")}
}

// issue returns a token for testUser limited as the fixtures say, after mod.
func (e *enf) issue(mod func(*core.GetJWTRequest)) (string, *core.Claims) {
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
func (e *enf) open() (string, *core.Claims) {
	e.t.Helper()
	return e.issue(func(r *core.GetJWTRequest) {
		r.AllowedMethods, r.ClientIP, r.MaxCredits = nil, "", nil
	})
}

func (e *enf) verify(tok, method, ip string) (*core.TokenInfo, error) {
	return e.svc.VerifyJWT(e.ctx, &core.VerifyJWTRequest{ServiceKey: e.key, JWT: tok, Method: method, ClientIP: ip})
}

func (e *enf) charge(tok, method string, credits int64, ip, requestID string) (*core.ChargeResult, error) {
	return e.svc.ChargeJWT(e.ctx, &core.ChargeJWTRequest{
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
	k, err := e.db.ActiveSigningKey(e.ctx)
	if err != nil {
		e.t.Fatalf("ActiveSigningKey: %v", err)
	}
	return k
}

// resign signs a copy of c, changed by mod, with the store's active key:
// a token only this service could have made.
func (e *env) resign(c *core.Claims, mod func(*core.Claims)) string {
	e.t.Helper()
	cp := *c
	mod(&cp)
	tok, err := e.activeKey().Sign(&cp)
	if err != nil {
		e.t.Fatalf("Sign: %v", err)
	}
	return tok
}

// ledgerLine is one row of the usage ledger, read directly.
type ledgerLine struct {
	Account     int64 // 0: no account
	Application string
	Method      string
	Credits     int64
	Outcome     string
	JTI         string
}

func (e *env) ledger() []ledgerLine {
	e.t.Helper()
	rows, err := e.raw.QueryContext(e.ctx, `SELECT account_id, application, method, credits, outcome, jti FROM usage ORDER BY id`)
	if err != nil {
		e.t.Fatalf("query usage: %v", err)
	}
	defer rows.Close()
	var out []ledgerLine
	for rows.Next() {
		var l ledgerLine
		var acct sql.NullInt64
		var jti sql.NullString
		if err := rows.Scan(&acct, &l.Application, &l.Method, &l.Credits, &l.Outcome, &jti); err != nil {
			e.t.Fatalf("scan usage: %v", err)
		}
		l.Account, l.JTI = acct.Int64, jti.String
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("usage rows: %v", err)
	}
	return out
}

// chargeLines returns the ledger lines other than GetJWT's.
func (e *env) chargeLines() []ledgerLine {
	e.t.Helper()
	var out []ledgerLine
	for _, l := range e.ledger() {
		if l.Method != core.MethodGetJWT {
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
func expiry(c *core.Claims) time.Time { return c.ExpiresAt.Time }
