package jsonapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/jsonapi/apiclient"
	"github.com/jwtgate/jwtgate/server"
)

// Fixtures; alice's password is the one the document's examples use.
const (
	testIssuer    = "https://jwtgate.test"
	alice         = "alice"
	alicePassword = "correct-horse-battery"
	aliceCredits  = 250
	broke         = "bob" // an account without credits
	brokePassword = "bob's long password"
	disabled      = "carol"
	disabledPass  = "carol's long password"
	getJWTPath    = jsonapi.APIBase + "/UserAdmin/GetJWT"
)

// countingStore counts credential look-ups: a request refused by the
// document must never get that far into core.
type countingStore struct {
	core.Store
	lookups atomic.Int64
}

func (s *countingStore) UserByName(ctx context.Context, name string) (*core.User, error) {
	s.lookups.Add(1)
	return s.Store.UserByName(ctx, name)
}

func (s *countingStore) APIKeyByID(ctx context.Context, id string) (*core.APIKey, error) {
	s.lookups.Add(1)
	return s.Store.APIKeyByID(ctx, id)
}

func (s *countingStore) ServiceKeyByID(ctx context.Context, id string) (*core.ServiceKey, error) {
	s.lookups.Add(1)
	return s.Store.ServiceKeyByID(ctx, id)
}

func (s *countingStore) TokenByJTI(ctx context.Context, jti string) (*core.IssuedToken, error) {
	s.lookups.Add(1)
	return s.Store.TokenByJTI(ctx, jti)
}

// env is the assembled server on a real SQLite file, with the strict
// surface, and a generated client whose every answer is validated against
// the document.
type env struct {
	t      *testing.T
	ctx    context.Context
	svc    *core.Service
	store  *countingStore
	spec   *jsonapi.Spec
	srv    *httptest.Server
	logs   *testenv.Logs
	apiKey string

	// http validates every answer (and the generated client's requests)
	// against the document; client is the generated SDK on top of it.
	http      *http.Client
	client    *apiclient.ClientWithResponses
	validated atomic.Int64
}

type envOption func(*server.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	spec, err := jsonapi.LoadSpec(ctx)
	if err != nil {
		t.Fatalf("LoadSpec: %v", err)
	}
	log, logs := testenv.CaptureLogs()
	e := &env{t: t, ctx: ctx, spec: spec, logs: logs}
	svc, db := testenv.New(t, func(s *core.Service) {
		e.store = &countingStore{Store: s.Store}
		s.Store, s.Issuer, s.Logger = e.store, testIssuer, log
	})
	e.svc = svc
	testenv.CreateUser(t, svc, alice, alicePassword, aliceCredits)
	testenv.CreateUser(t, svc, broke, brokePassword, 0)
	testenv.CreateUser(t, svc, disabled, disabledPass, 10)
	if err := e.svc.SetUserDisabled(ctx, disabled, true); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	e.apiKey, _ = testenv.CreateAPIKey(t, svc, alice)
	cfg := server.Config{Service: e.svc, Logger: log, ClientAddr: clientaddr.Resolver{}, Ping: db.Ping, OpenAPI: spec}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv = httptest.NewServer(server.New(cfg))
	t.Cleanup(e.srv.Close)
	e.http = &http.Client{Transport: &validatingTransport{e: e, next: e.srv.Client().Transport}}
	sdkHTTP := &http.Client{Transport: &validatingTransport{e: e, next: e.srv.Client().Transport, requests: true}}
	if e.client, err = apiclient.NewClientWithResponses(e.srv.URL+jsonapi.APIBase, apiclient.WithHTTPClient(sdkHTTP)); err != nil {
		t.Fatalf("NewClientWithResponses: %v", err)
	}
	t.Cleanup(func() {
		if !t.Failed() && e.validated.Load() == 0 {
			t.Error("no answer was validated against openapi.yaml")
		}
	})
	return e
}

// validatingTransport checks every answer of the strict surface against the
// document (status documented for the operation, headers, body), and with
// requests set, every request too: the generated client must send what the
// document says.
type validatingTransport struct {
	e        *env
	next     http.RoundTripper
	requests bool
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := v.e.t
	t.Helper()
	rt, rerr := v.e.spec.Route(req.Method, req.URL.Path)
	if rerr != nil {
		t.Errorf("%s %s is no operation of openapi.yaml; send it with e.raw", req.Method, req.URL.Path)
	}
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	if v.requests && rt != nil {
		check := req.Clone(req.Context())
		check.Body = io.NopCloser(bytes.NewReader(reqBody))
		if err := openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
			Request: check, Route: rt, Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}); err != nil {
			t.Errorf("the generated client sent a request that breaks openapi.yaml: %v", err)
		}
	}
	res, err := v.next.RoundTrip(req)
	if err != nil || rt == nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err := v.e.spec.ValidateResponse(req.Context(), rt, req, res.StatusCode, res.Header, body); err != nil {
		t.Errorf("answer breaks openapi.yaml: %v\n%s", err, body)
	} else {
		v.e.validated.Add(1)
	}
	return res, nil
}

// answer is an HTTP answer of the strict surface, read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
	// result is the answer of GetJWT (or of a path outside the operations);
	// out that of another operation, decoded strictly into its result type
	// (a pointer); env is the Status envelope of either.
	result jsonapi.GetJWTResponse
	out    any
	env    jsonapi.Status
}

// results are the result types of the operations but GetJWT, which every
// answer of theirs must decode into with no unknown field.
var results = map[string]func() any{
	"VerifyJWT":           func() any { return new(jsonapi.VerifyJWTResponse) },
	"ChargeJWT":           func() any { return new(jsonapi.ChargeJWTResponse) },
	"RevokeJWT":           func() any { return new(jsonapi.RevokeJWTResponse) },
	"GetCreditsRemaining": func() any { return new(jsonapi.StatusResponse) },
	"GetUsage":            func() any { return new(jsonapi.GetUsageResponse) },
}

func (a *answer) String() string { return fmt.Sprintf("HTTP %d %s", a.status, a.body) }

// post sends a body to GetJWT through the validating client; query is
// added to the URL as it is.
func (e *env) post(contentType, body, query string) *answer {
	e.t.Helper()
	return e.postOp("GetJWT", contentType, body, query, nil)
}

// postOp sends a body to operation op through the validating client, with
// the headers of header.
func (e *env) postOp(op, contentType, body, query string, header http.Header) *answer {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.URL+jsonapi.APIBase+"/UserAdmin/"+op+query, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.do(e.http, req)
}

// raw sends a request outside the document's operations (not validated).
func (e *env) raw(method, path, contentType, body string) *answer {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.do(e.srv.Client(), req)
}

func (e *env) do(c *http.Client, req *http.Request) *answer {
	e.t.Helper()
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	a := &answer{status: res.StatusCode, header: res.Header}
	if a.body, err = io.ReadAll(res.Body); err != nil {
		e.t.Fatal(err)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && strings.HasPrefix(req.URL.Path, jsonapi.APIBase) {
		var v any = &a.result
		if newResult, ok := results[path.Base(req.URL.Path)]; ok {
			a.out = newResult()
			v = a.out
		}
		dec := json.NewDecoder(bytes.NewReader(a.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			e.t.Fatalf("%s %s: answer is not the operation's result: %v\n%s", req.Method, req.URL.Path, err, a.body)
		}
		var st struct{ Status jsonapi.Status }
		if err := json.Unmarshal(a.body, &st); err != nil {
			e.t.Fatal(err)
		}
		a.env = st.Status
	}
	return a
}

func (e *env) expiresAt(d time.Duration) string {
	return time.Now().UTC().Add(d).Truncate(time.Second).Format(time.RFC3339)
}

// serviceKey creates a key for one of the operator's services.
func (e *env) serviceKey(name string) string {
	e.t.Helper()
	return testenv.CreateServiceKey(e.t, e.svc, name)
}

// token gets a token from the generated client's GetJWT: alice's, valid one
// hour, unless req says otherwise.
func (e *env) token(req apiclient.GetJWTRequest) string {
	e.t.Helper()
	if req.Username == nil {
		req.Username, req.Password = ptr(alice), ptr(alicePassword)
	}
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = expires()
	}
	res, err := e.client.GetJWTWithResponse(e.ctx, req)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.JSON200 == nil || res.JSON200.Jwt == nil {
		e.t.Fatalf("GetJWT: HTTP %d %s", res.StatusCode(), res.Body)
	}
	return *res.JSON200.Jwt
}

// jti returns a token's id.
func (e *env) jti(tok string) string {
	e.t.Helper()
	c, err := e.verify(tok)
	if err != nil || c.ID == "" {
		e.t.Fatalf("token: %v (jti %q)", err, c.ID)
	}
	return c.ID
}

// refusals is the number of GetJWT calls the usage ledger holds as failed.
func (e *env) refusals() int64 {
	e.t.Helper()
	rows, err := e.svc.Usage(e.ctx, core.UsageFilter{})
	if err != nil {
		e.t.Fatalf("Usage: %v", err)
	}
	var n int64
	for _, r := range rows {
		if r.Method == core.MethodGetJWT {
			n += r.Failures
		}
	}
	return n
}

// tokenClaims are the claims a downstream verifier reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Account        string   `json:"account"`
	AllowedMethods []string `json:"allowed_methods"`
	MaxCredits     *int64   `json:"max_credits"`
	Application    string   `json:"application"`
	ClientIP       string   `json:"client_ip"`
}

// verify checks a token the strict way, with the key its kid names in the
// server's JWKS (the default algorithm, EdDSA).
func (e *env) verify(tok string) (*tokenClaims, error) {
	e.t.Helper()
	res, err := e.srv.Client().Get(e.srv.URL + "/.well-known/jwks.json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg, X string }
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		e.t.Fatalf("JWKS: %v", err)
	}
	claims := &tokenClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tk.Header["kid"] && k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" {
				x, err := base64.RawURLEncoding.DecodeString(k.X)
				if err != nil || len(x) != ed25519.PublicKeySize {
					return nil, fmt.Errorf("JWK x: %v", err)
				}
				return ed25519.PublicKey(x), nil
			}
		}
		return nil, errors.New("no JWK with the token's kid")
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithIssuer(testIssuer), jwt.WithLeeway(5*time.Second))
	return claims, err
}

// requireTool fails in CI and skips elsewhere when a tool is missing.
func requireTool(t *testing.T, name, path, hint string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (installed by .ci/run; %s): %v", name, hint, err)
	}
	t.Skipf("%s not installed (%s): %v", name, hint, err)
	return ""
}
