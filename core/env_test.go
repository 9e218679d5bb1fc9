package core_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/sqlite"
	"github.com/jwtgate/jwtgate/token"
)

// Test fixtures. t0 has a fractional second on purpose: iat/nbf must be
// truncated to whole seconds.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 250_000_000, time.UTC)

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	testCredits  = 250
	testAddr     = "203.0.113.7"
)

// env is a Service on a real SQLite file with an injected clock. Tests
// read what the Service wrote through the store, never through SQL.
type env struct {
	t   *testing.T
	ctx context.Context
	svc *core.Service
	db  *sqlite.DB
	clk *testenv.Clock
}

// newBareEnv returns an env with a signing key and no user; configure
// changes the Service's Config after the env's clock is set.
func newBareEnv(t *testing.T, configure ...func(*core.Config)) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), clk: testenv.NewClock(t0)}
	e.svc, e.db = testenv.New(t, append([]func(*core.Config){func(c *core.Config) { c.Now = e.clk.Now }}, configure...)...)
	return e
}

// newEnv returns an env with user testUser holding testCredits.
func newEnv(t *testing.T, configure ...func(*core.Config)) *env {
	t.Helper()
	e := newBareEnv(t, configure...)
	e.createUser(testUser, testPassword, testCredits)
	return e
}

func (e *env) clock() time.Time        { return e.clk.Now() }
func (e *env) advance(d time.Duration) { e.clk.Advance(d) }

func (e *env) createUser(name, password string, credits int64) *core.User {
	e.t.Helper()
	return testenv.CreateUser(e.t, e.svc, name, password, credits)
}

// req returns a valid GetJWT request for testUser, expiring in an hour.
func (e *env) req() *core.GetJWTRequest {
	return &core.GetJWTRequest{
		Credentials: core.Credentials{Username: testUser, Password: testPassword, ClientAddr: testAddr},
		ExpiresAt:   fmtExpires(e.clock().Add(time.Hour)),
	}
}

// fmtExpires formats t the way a client would, with 7 fractional digits.
func fmtExpires(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func (e *env) getJWT(r *core.GetJWTRequest) (*core.GetJWTResult, error) {
	return e.svc.Issuer.GetJWT(e.ctx, r)
}

// mustGetJWT issues a token and returns it with its strictly verified claims.
func (e *env) mustGetJWT(r *core.GetJWTRequest) (*core.GetJWTResult, *token.Claims) {
	e.t.Helper()
	res, err := e.getJWT(r)
	if err != nil {
		e.t.Fatalf("GetJWT: %v", err)
	}
	return res, e.parse(res.JWT)
}

// countTokens counts the issued tokens the store holds.
func (e *env) countTokens() int {
	e.t.Helper()
	return len(testenv.Tokens(e.t, e.db))
}

// outcomes returns the outcomes of the usage ledger's lines, oldest first.
func (e *env) outcomes() []string {
	e.t.Helper()
	var out []string
	for _, l := range testenv.UsageLines(e.t, e.db) {
		out = append(out, string(l.Outcome))
	}
	return out
}

// usageReport returns the operator's usage report of every account.
func (e *env) usageReport() []*core.UsageRow {
	e.t.Helper()
	rows, err := e.svc.Admin.UsageReport(e.ctx, core.UsageQuery{})
	if err != nil {
		e.t.Fatalf("UsageReport: %v", err)
	}
	return rows
}

// usageTotals sums every row of the usage report.
func (e *env) usageTotals() (calls, failures, credits int64) {
	e.t.Helper()
	rows := e.usageReport()
	for _, r := range rows {
		calls += r.Calls
		failures += r.Failures
		credits += r.Credits
	}
	return calls, failures, credits
}

// assertRefused checks that a GetJWT that failed with code left exactly one
// failed line in the ledger and no token.
func (e *env) assertRefused(code core.Code) {
	e.t.Helper()
	if got := e.outcomes(); len(got) != 1 || got[0] != string(code) {
		e.t.Errorf("usage outcomes = %q, want [%q]", got, code)
	}
	if calls, failures, credits := e.usageTotals(); calls != 1 || failures != 1 || credits != 0 {
		e.t.Errorf("usage report: calls=%d failures=%d credits=%d, want 1, 1, 0", calls, failures, credits)
	}
	if n := e.countTokens(); n != 0 {
		e.t.Errorf("tokens table has %d rows after a refused call, want 0", n)
	}
}

// assertErr checks err's code and that its message holds every want substring.
func assertErr(t *testing.T, err error, code core.Code, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want code %q", code)
	}
	if got := core.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode = %q, want %q (err: %v)", got, code, err)
	}
	msg := core.ErrorMessage(err)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
}

// parse verifies tok strictly: the algorithm must be the key's, expiry and
// issuer are required, time is the env's clock. Public keys come from JWKS;
// an HS256 secret (never published) from the store.
func (e *env) parse(tok string) *token.Claims {
	e.t.Helper()
	c, err := e.tryParse(tok)
	if err != nil {
		e.t.Fatalf("parsing token: %v", err)
	}
	return c
}

func (e *env) tryParse(tok string) (*token.Claims, error) {
	alg, _ := tokenHeader(e.t, tok)
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(core.DefaultIssuer),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(e.clock),
	)
	c := &token.Claims{}
	_, err := p.ParseWithClaims(tok, c, e.keyFunc)
	return c, err
}

func (e *env) keyFunc(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	alg, _ := tok.Header["alg"].(string)
	if alg == core.AlgHS256 {
		k, err := e.db.SigningKeyByKid(e.ctx, kid)
		if err != nil {
			return nil, err
		}
		if k.Alg != core.AlgHS256 {
			return nil, fmt.Errorf("key %s is %s, token says HS256", kid, k.Alg)
		}
		return k.Private, nil
	}
	set, err := e.svc.KeyRing.JWKS(e.ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range set.Keys {
		if j.Kid == kid {
			if j.Alg != alg {
				return nil, fmt.Errorf("JWK %s has alg %s, token says %s", kid, j.Alg, alg)
			}
			return testenv.PublicKey(testenv.JWK(j))
		}
	}
	return nil, fmt.Errorf("kid %q not in JWKS", kid)
}

// tokenHeader decodes the JOSE header of tok.
func tokenHeader(t *testing.T, tok string) (alg, kid string) {
	t.Helper()
	var h map[string]any
	decodeSegment(t, tok, 0, &h)
	alg, _ = h["alg"].(string)
	kid, _ = h["kid"].(string)
	return alg, kid
}

// tokenPayload decodes the raw claims of tok, to see which are present.
func tokenPayload(t *testing.T, tok string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	decodeSegment(t, tok, 1, &m)
	return m
}

func decodeSegment(t *testing.T, tok string, i int, v any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
}
