package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
	"github.com/jwtgate/jwtgate/sqlite"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Fixtures. The issuer is not the default, to prove it is configurable.
const (
	testIssuer   = "https://jwtgate.test"
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	testCredits  = 250
	brokeUser    = "bob"
	brokePass    = "bob's long password"
	getJWTPath   = "/UserAdmin/GetJWT.json"
	jwksPath     = "/.well-known/jwks.json"
	loopbackAddr = "127.0.0.1" // the client address httptest callers have
)

// env is the assembled server on a real SQLite file, with an injected clock
// that starts at the real time (so that other languages' verifiers, which use
// the real clock, accept its tokens). Its checks read the state through the
// store, never with SQL of their own.
type env struct {
	t      *testing.T
	ctx    context.Context
	svc    *core.Service
	db     *sqlite.DB
	srv    *httptest.Server
	logs   *testenv.Logs
	clk    *testenv.Clock
	apiKey string       // a live key of testUser
	keyRec *core.APIKey // its record
}

// newEnv is newEnvAt with no trusted proxy: the client address is the TCP
// peer's.
func newEnv(t *testing.T, configure ...func(*core.Config)) *env {
	t.Helper()
	return newEnvAt(t, clientaddr.Resolver{}, configure...)
}

// newEnvAt assembles the server as cmd/jwtgate does, with every surface,
// the client address resolved by addr, and the Service's Config changed by
// each configure after the env's own settings.
func newEnvAt(t *testing.T, addr clientaddr.Resolver, configure ...func(*core.Config)) *env {
	t.Helper()
	log, logs := testenv.CaptureLogs()
	e := &env{t: t, ctx: t.Context(), logs: logs, clk: testenv.NewClock(time.Now().UTC())}
	e.svc, e.db = testenv.New(t, append([]func(*core.Config){func(c *core.Config) {
		c.Issuer, c.Logger, c.Now = testIssuer, log, e.clk.Now
	}}, configure...)...)
	testenv.CreateUser(t, e.svc, testUser, testPassword, testCredits)
	testenv.CreateUser(t, e.svc, brokeUser, brokePass, 0)
	e.apiKey, e.keyRec = testenv.CreateAPIKey(t, e.svc, testUser)
	h, err := server.New(server.Config{
		Keys:     e.svc.KeyRing,
		Logger:   log,
		Ping:     e.db.Ping,
		Surfaces: surfacesOf(t, edge.Deps{Service: e.svc, Logger: log, ClientAddr: addr.Addr}),
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// surfacesOf returns the surfaces cmd/jwtgate serves, in its order: plain
// JSON, SOAP and the OpenAPI surface.
func surfacesOf(t *testing.T, d edge.Deps) []edge.Surface {
	t.Helper()
	spec, err := jsonapi.LoadSpec(t.Context())
	if err != nil {
		t.Fatalf("LoadSpec: %v", err)
	}
	return []edge.Surface{&jsonapi.Plain{Deps: d}, &soap.Handler{Deps: d}, &jsonapi.OpenAPI{Deps: d, Spec: spec}}
}

func (e *env) clock() time.Time        { return e.clk.Now() }
func (e *env) advance(d time.Duration) { e.clk.Advance(d) }

// expires returns a whole-second expiresAt d from the clock, so that exp can
// be compared exactly.
func (e *env) expires(d time.Duration) time.Time {
	return e.clock().Add(d).Truncate(time.Second)
}

// rotate makes a fresh key of alg the active one and returns it.
func (e *env) rotate(alg string) *core.SigningKey {
	e.t.Helper()
	k, err := e.svc.Admin.RotateSigningKey(e.ctx, alg, true)
	if err != nil {
		e.t.Fatalf("RotateSigningKey(%s): %v", alg, err)
	}
	if k.Alg != alg {
		e.t.Fatalf("RotateSigningKey(%s) made a %s key", alg, k.Alg)
	}
	return k
}

// request is a GetJWT body with every parameter.
func (e *env) request(d time.Duration) map[string]any {
	return map[string]any{
		"username":       testUser,
		"password":       testPassword,
		"clientIp":       "203.0.113.9",
		"expiresAt":      e.expires(d).Format(time.RFC3339),
		"allowedMethods": []string{"AddressCapture", "Email.IsValid"},
		"maxCredits":     40,
		"options":        map[string]any{"ApplicationName": "Checkout"},
	}
}

// minimal is a GetJWT body with only what is required.
func (e *env) minimal() map[string]any {
	return map[string]any{"username": testUser, "password": testPassword, "expiresAt": e.expires(time.Hour).Format(time.RFC3339)}
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("HTTP %d %q", r.status, r.body)
}

// send makes a request without failing the test, for use in goroutines.
// An empty contentType sends no Content-Type at all.
func (e *env) send(method, path, contentType string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

func (e *env) do(method, path, contentType string, body []byte) *response {
	e.t.Helper()
	r, err := e.send(method, path, contentType, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// getJWT posts body (a map or raw JSON) to the GetJWT endpoint.
func (e *env) getJWT(body any) *response {
	e.t.Helper()
	return e.getJWTAt(getJWTPath, body)
}

func (e *env) getJWTAt(path string, body any) *response {
	e.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b = mustJSON(e.t, body)
	}
	return e.do(http.MethodPost, path, "application/json", b)
}

// The envelope exactly as the contract prints it: Status then Jwt; Success,
// ErrorMessage, CreditsRemaining in that order; nothing else.
var (
	okRE   = regexp.MustCompile(`^\{"Status":\{"Success":true,"ErrorMessage":null,"CreditsRemaining":(\d+)\},"Jwt":"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"\}\n?$`)
	failRE = regexp.MustCompile(`^\{"Status":\{"Success":false,"ErrorMessage":("(?:[^"\\]|\\.)+"),"CreditsRemaining":0\},"Jwt":null\}\n?$`)
)

// assertJSONHeaders checks the headers every envelope carries.
func assertJSONHeaders(t *testing.T, r *response) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		t.Errorf("Content-Type = %q, want application/json", r.header.Get("Content-Type"))
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if !json.Valid(r.body) {
		t.Errorf("body is not valid JSON: %q", r.body)
	}
}

// assertOK checks a successful GetJWT answer and returns its token.
func assertOK(t *testing.T, r *response, credits int64) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got %v, want HTTP 200", r)
	}
	assertJSONHeaders(t, r)
	m := okRE.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("body %q is not exactly {\"Status\":{\"Success\":true,\"ErrorMessage\":null,\"CreditsRemaining\":N},\"Jwt\":\"...\"}", r.body)
	}
	if got, _ := strconv.ParseInt(string(m[1]), 10, 64); got != credits {
		t.Errorf("CreditsRemaining = %s, want %d", m[1], credits)
	}
	return string(m[2])
}

// assertFail checks a refused GetJWT answer of the given HTTP status and
// returns its ErrorMessage after checking it holds every want substring.
func assertFail(t *testing.T, r *response, status int, want ...string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %v, want HTTP %d", r, status)
	}
	assertJSONHeaders(t, r)
	m := failRE.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("body %q is not exactly {\"Status\":{\"Success\":false,\"ErrorMessage\":\"...\",\"CreditsRemaining\":0},\"Jwt\":null}", r.body)
	}
	var msg string
	if err := json.Unmarshal(m[1], &msg); err != nil {
		t.Fatalf("ErrorMessage %s: %v", m[1], err)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("ErrorMessage %q does not contain %q", msg, w)
		}
	}
	return msg
}

// usage returns every line of the usage ledger, oldest first, as the store
// reads it.
func (e *env) usage() []*core.UsageEvent {
	e.t.Helper()
	return testenv.UsageLines(e.t, e.db)
}

// tokens returns the record of every issued token, newest first.
func (e *env) tokens() []*core.IssuedToken {
	e.t.Helper()
	return testenv.Tokens(e.t, e.db)
}

func (e *env) countTokens() int { return len(e.tokens()) }
func (e *env) countUsage() int  { return len(e.usage()) }

// countOK returns the number of ledger lines of calls that succeeded.
func (e *env) countOK() int {
	n := 0
	for _, ev := range e.usage() {
		if ev.Outcome == core.OutcomeOK {
			n++
		}
	}
	return n
}

// issued returns the stored record of the token jti.
func (e *env) issued(jti string) *core.IssuedToken {
	e.t.Helper()
	rec, err := e.db.TokenByJTI(e.ctx, jti)
	if err != nil {
		e.t.Fatalf("TokenByJTI(%q): %v", jti, err)
	}
	return rec
}

// accountID returns the id of the account named name.
func (e *env) accountID(name string) int64 {
	e.t.Helper()
	a, err := e.svc.Admin.Account(e.ctx, name)
	if err != nil {
		e.t.Fatalf("Account(%q): %v", name, err)
	}
	return a.ID
}
