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
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/jsonapi/apiclient"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/sqlite"
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

// countingStore counts the look-ups of a credential's record (a user, an
// API key, a service key, a token): a request refused for how its
// credentials are given, or by the document before core, must not get that
// far; a GetJWT refused for its own shape gets exactly the one look-up that
// names its account.
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

// env is the assembled server on a real SQLite file, with both JSON
// surfaces, and a generated client whose every answer is validated against
// the document.
type env struct {
	t      *testing.T
	ctx    context.Context
	svc    *core.Service
	db     *sqlite.DB // read through the store: the ledger, the tokens
	store  *countingStore
	spec   *jsonapi.Spec
	srv    *httptest.Server
	logs   *testenv.Logs
	alice  *core.User
	apiKey string

	// http validates every answer (and the generated client's requests)
	// against the document; client is the generated SDK on top of it.
	http      *http.Client
	client    *apiclient.ClientWithResponses
	validated atomic.Int64
}

// envOption changes what newEnv builds: core's Config before the Service
// is made, and the OpenAPI surface before it is mounted.
type envOption struct {
	core    func(*core.Config)
	openAPI func(*jsonapi.OpenAPI)
}

// validateResponses turns on the OpenAPI surface's own check of its answers.
func validateResponses() envOption {
	return envOption{openAPI: func(a *jsonapi.OpenAPI) { a.ValidateResponses = true }}
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	spec, err := jsonapi.LoadSpec(ctx)
	if err != nil {
		t.Fatalf("LoadSpec: %v", err)
	}
	log, logs := testenv.CaptureLogs()
	e := &env{t: t, ctx: ctx, spec: spec, logs: logs}
	svc, db := testenv.New(t, func(c *core.Config) {
		e.store = &countingStore{Store: c.Store}
		c.Store, c.Issuer, c.Logger = e.store, testIssuer, log
		for _, o := range opts {
			if o.core != nil {
				o.core(c)
			}
		}
	})
	e.svc, e.db = svc, db
	e.alice = testenv.CreateUser(t, svc, alice, alicePassword, aliceCredits)
	testenv.CreateUser(t, svc, broke, brokePassword, 0)
	testenv.CreateUser(t, svc, disabled, disabledPass, 10)
	if err := e.svc.Admin.SetUserDisabled(ctx, disabled, true); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	e.apiKey, _ = testenv.CreateAPIKey(t, svc, alice)
	deps := edge.Deps{Service: svc, Logger: log, ClientAddr: clientaddr.Resolver{}.Addr}
	strict := &jsonapi.OpenAPI{Deps: deps, Spec: spec}
	for _, o := range opts {
		if o.openAPI != nil {
			o.openAPI(strict)
		}
	}
	h, err := server.New(server.Config{Keys: svc.KeyRing, Logger: log, Ping: db.Ping,
		Surfaces: []edge.Surface{&jsonapi.Plain{Deps: deps}, strict}})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.srv = httptest.NewServer(h)
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

// withoutHashing runs f with a hash gate that has no slot and no queue: a
// password or key hash attempted meanwhile is answered EBUSY ("server
// busy"; TestSurfaces_GetJWTRefusalLedger checks that it is), so an answer
// that is not that proves that none was attempted. Requests are sent one at
// a time, so the gate is swapped between them.
func (e *env) withoutHashing(f func()) {
	auth := e.svc.Authenticator
	gate := auth.HashGate
	auth.HashGate = &core.HashGate{}
	defer func() { auth.HashGate = gate }()
	f()
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
	env    edge.Status
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
		var st struct{ Status edge.Status }
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

// lines returns the usage ledger's lines, oldest first, read through the
// store.
func (e *env) lines() []*core.UsageEvent {
	e.t.Helper()
	return testenv.UsageLines(e.t, e.db)
}

// refusals returns the failed GetJWT calls among the ledger's lines.
func refusals(lines []*core.UsageEvent) []*core.UsageEvent {
	var out []*core.UsageEvent
	for _, l := range lines {
		if l.Method == core.OpGetJWT.Method && l.Outcome != core.OutcomeOK {
			out = append(out, l)
		}
	}
	return out
}

// accountOf returns the account a ledger line is attributed to, 0 for none.
func accountOf(l *core.UsageEvent) int64 {
	if l.AccountID == nil {
		return 0
	}
	return *l.AccountID
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
