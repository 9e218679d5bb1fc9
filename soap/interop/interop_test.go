// Package interop_test proves the SOAP contract with third-party SOAP stacks:
// Python zeep, PHP's SoapClient and node-soap each load the WSDL from a live
// server, call GetJWT through the SOAP 1.1 and 1.2 ports, and the tokens they
// get back are verified here against the server's JWKS.
//
// The clients are scripts in clients/; .ci/run installs their stacks. In CI
// (CI set) a missing stack fails the test, elsewhere it skips and TestMain
// lists it (testenv.Missing).
package interop_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
)

// What every client sends.
const (
	password      = "correct horse battery"
	clientIP      = "192.0.2.10"
	maxCredits    = 5
	credits       = 1000 // the account's balance; GetJWT spends none
	lifetime      = time.Hour
	wrongPassword = "invalid username or password"
)

var allowedMethods = []string{"AddressCapture", "Email.IsValid"}

// debianPython is Debian's interpreter, which sees python3-zeep; the first
// python3 on PATH may be another one (pyenv) that does not.
const debianPython = "/usr/bin/python3"

// stack is one third-party SOAP client.
type stack struct {
	name string   // also the ApplicationName it sends
	env  []string // added to the client's environment
	// command returns the client's argv before its arguments (WSDL URL,
	// username, password, application); a missing stack fails the test in
	// CI and skips it elsewhere (testenv.Missing).
	command func(t *testing.T) []string
}

var stacks = []stack{
	{name: "zeep", command: func(t *testing.T) []string {
		return []string{requireZeep(t), filepath.Join("clients", "zeep_client.py")}
	}},
	// A zone west of UTC: ext/soap writes an integer timestamp in the C
	// library's local time with its offset (-05:00 or -04:00), which the
	// server must honour.
	{name: "php-soapclient", env: []string{"TZ=America/New_York"}, command: func(t *testing.T) []string {
		php := testenv.RequireTool(t, "php", "Debian package php-cli")
		if out, err := exec.Command(php, "-r", `exit(class_exists("SoapClient") ? 0 : 1);`).CombinedOutput(); err != nil {
			testenv.Missing(t, "PHP SoapClient", "Debian package php-soap", fmt.Errorf("%v %s", err, out))
		}
		return []string{php, filepath.Join("clients", "php_client.php")}
	}},
	{name: "node-soap", command: func(t *testing.T) []string {
		node := testenv.RequireTool(t, "node", "Node.js comes with the machine")
		if _, err := os.Stat(filepath.Join("node", "node_modules", "soap", "package.json")); err != nil {
			testenv.Missing(t, "node-soap", "run: npm ci --no-audit --no-fund in soap/interop/node", err)
		}
		return []string{node, filepath.Join("clients", "node_client.js")}
	}},
}

// requireZeep returns Debian's interpreter, which must import zeep.
func requireZeep(t *testing.T) string {
	t.Helper()
	py := testenv.RequireTool(t, debianPython, "Debian package python3")
	if out, err := exec.Command(py, "-c", "import zeep").CombinedOutput(); err != nil {
		testenv.Missing(t, "zeep", "Debian package python3-zeep", fmt.Errorf("%s -c 'import zeep': %v %s", py, err, out))
	}
	return py
}

// output is what a client script prints.
type output struct {
	Stack   string                `json:"stack"`
	Version string                `json:"version"`
	Results map[string]callResult `json:"results"`
}

// callResult is one GetJWT call as the stack saw it. Fault or Error is set
// when the stack raised instead of returning a result.
type callResult struct {
	Success          *bool    `json:"success"`
	ErrorMessage     *string  `json:"errorMessage"`
	CreditsRemaining *float64 `json:"creditsRemaining"`
	Jwt              *string  `json:"jwt"`
	Fault            string   `json:"fault"`
	Error            string   `json:"error"`
	Request          string   `json:"request"`
	Response         string   `json:"response"`
}

// call is one GetJWT call every client script makes, in this order.
type call struct {
	name       string // its key in the script's results
	soap12     bool   // through the UserAdminSoap12 port
	maxCredits bool   // sends maxCredits 5; otherwise sends it nil
	fails      bool   // sends a wrong password
}

var calls = []call{
	{name: "soap11", maxCredits: true},
	{name: "soap11NilMaxCredits"},
	{name: "soap11WrongPassword", maxCredits: true, fails: true},
	{name: "soap12", soap12: true, maxCredits: true},
	{name: "soap12NilMaxCredits", soap12: true},
}

func TestGetJWT_ThirdPartyStacks(t *testing.T) {
	srv := newServer(t)
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			argv := st.command(t)
			username := "interop-" + st.name
			srv.createUser(t, username)

			start := time.Now()
			out := runClient(t, argv, st.env, srv.URL+"/useradmin.asmx?WSDL", username, st.name)
			end := time.Now()
			t.Logf("%s %s", out.Stack, out.Version)

			wire := srv.requestsOf(username)
			if len(wire) != len(calls) {
				t.Errorf("the server received %d SOAP requests from %s, want %d", len(wire), st.name, len(calls))
			}
			var failures int64
			for i, c := range calls {
				res, ok := out.Results[c.name]
				if !ok {
					t.Errorf("%s: the client reported no result", c.name)
					continue
				}
				var req *wireRequest
				if i < len(wire) {
					req = &wire[i]
				}
				good := checkWire(t, c, req)
				if c.fails {
					failures++
					good = checkFailure(t, c.name, res) && good
				} else {
					good = checkToken(t, srv, c.name, res, tokenWant{
						username: username, application: st.name, maxCredits: c.maxCredits,
						expFrom: start.Add(lifetime), expTo: end.Add(lifetime),
					}) && good
				}
				if !good {
					logExchange(t, c.name, req, res)
				}
			}
			checkUsage(t, srv.svc, username, st.name, int64(len(calls)), failures)
		})
	}
}

// testServer is jwtgate's HTTP surface on a real SQLite file.
type testServer struct {
	*httptest.Server
	svc *core.Service

	mu       sync.Mutex
	requests []wireRequest // SOAP POSTs, in the order they arrived
}

// wireRequest is a SOAP request as it reached the server.
type wireRequest struct {
	contentType, soapAction string
	body                    []byte
}

func newServer(t *testing.T) *testServer {
	t.Helper()
	logger, logs := testenv.CaptureLogs()
	svc, db := testenv.New(t, func(c *core.Config) { c.Logger = logger })
	s := &testServer{svc: svc}
	deps := edge.Deps{Service: svc, Logger: logger, ClientAddr: clientaddr.Resolver{}.Addr}
	h, err := server.New(server.Config{Keys: svc.KeyRing, Logger: logger, Ping: db.Ping,
		Surfaces: []edge.Surface{&soap.Handler{Deps: deps}}})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	s.Server = httptest.NewServer(s.record(h))
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s
}

// record keeps a copy of every SOAP POST, so that the test can check what a
// stack really put on the wire.
func (s *testServer) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.EqualFold(r.URL.Path, "/useradmin.asmx") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			s.mu.Lock()
			s.requests = append(s.requests, wireRequest{
				contentType: r.Header.Get("Content-Type"), soapAction: r.Header.Get("SOAPAction"), body: body})
			s.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// requestsOf returns the SOAP requests that carried username.
func (s *testServer) requestsOf(username string) []wireRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wireRequest
	for _, r := range s.requests {
		if bytes.Contains(r.body, []byte(">"+username+"<")) {
			out = append(out, r)
		}
	}
	return out
}

func (s *testServer) createUser(t *testing.T, username string) {
	t.Helper()
	testenv.CreateUser(t, s.svc, username, password, credits)
}

// runClient runs a client script from this package's directory and decodes
// what it prints.
func runClient(t *testing.T, argv, env []string, wsdl, username, application string) *output {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], wsdl, username, password, application)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	var out output
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("the client's output is not the expected JSON: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return &out
}

// tokenWant is what a successful call's token must say.
type tokenWant struct {
	username, application string
	maxCredits            bool // max_credits is 5, or absent
	expFrom, expTo        time.Time
}

// claims are the claims the contract promises, decoded here without core's
// types so that the test reads the token as any verifier would.
type claims struct {
	jwt.RegisteredClaims
	Account        string          `json:"account"`
	AllowedMethods []string        `json:"allowed_methods"`
	MaxCredits     json.RawMessage `json:"max_credits"` // nil when absent
	Application    string          `json:"application"`
	ClientIP       string          `json:"client_ip"`
}

// checkToken checks a call that must have issued a token; it reports whether
// everything held.
func checkToken(t *testing.T, srv *testServer, call string, res callResult, want tokenWant) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Errorf(call+": "+format, args...)
		ok = false
	}
	if res.Fault != "" || res.Error != "" {
		fail("the stack raised instead of returning a result: %s%s", res.Fault, res.Error)
		return false
	}
	if res.Success == nil || !*res.Success {
		fail("Status.Success = %v, want true (ErrorMessage %q)", deref(res.Success), deref(res.ErrorMessage))
	}
	if res.ErrorMessage != nil && *res.ErrorMessage != "" {
		fail("Status.ErrorMessage = %q, want none", *res.ErrorMessage)
	}
	if res.CreditsRemaining == nil || *res.CreditsRemaining != credits {
		fail("Status.CreditsRemaining = %v, want %d", deref(res.CreditsRemaining), credits)
	}
	if res.Jwt == nil || *res.Jwt == "" {
		fail("no Jwt")
		return false
	}

	var c claims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{core.AlgEdDSA}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(core.DefaultIssuer), jwt.WithSubject(want.username), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	if _, err := parser.ParseWithClaims(*res.Jwt, &c, srv.keyfunc(t)); err != nil {
		fail("the token does not verify against %s/.well-known/jwks.json: %v", srv.URL, err)
		return false
	}
	if c.Account != want.username {
		fail("account = %q, want %q", c.Account, want.username)
	}
	if c.ClientIP != clientIP {
		fail("client_ip = %q, want %q", c.ClientIP, clientIP)
	}
	if !slices.Equal(c.AllowedMethods, allowedMethods) {
		fail("allowed_methods = %q, want %q", c.AllowedMethods, allowedMethods)
	}
	if c.Application != want.application {
		fail("application = %q, want %q", c.Application, want.application)
	}
	switch {
	case want.maxCredits && string(c.MaxCredits) != fmt.Sprint(maxCredits):
		fail("max_credits = %s, want %d", orAbsent(c.MaxCredits), maxCredits)
	case !want.maxCredits && c.MaxCredits != nil:
		fail("max_credits = %s, want it absent (maxCredits was sent as nil)", c.MaxCredits)
	}
	// Each call asks for its own now + 1h; exp has whole seconds.
	if exp := c.ExpiresAt.Time; exp.Before(want.expFrom.Add(-2*time.Second)) || exp.After(want.expTo.Add(2*time.Second)) {
		fail("exp = %s, want between %s and %s (now + %s when the client called)",
			exp.UTC().Format(time.RFC3339), want.expFrom.UTC().Format(time.RFC3339), want.expTo.UTC().Format(time.RFC3339), lifetime)
	}
	return ok
}

// checkFailure checks a wrong-password call: a normal response with
// Success=false, not a SOAP fault.
func checkFailure(t *testing.T, call string, res callResult) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Errorf(call+": "+format, args...)
		ok = false
	}
	if res.Fault != "" || res.Error != "" {
		fail("the stack raised instead of returning Success=false: %s%s", res.Fault, res.Error)
		return false
	}
	if res.Success == nil || *res.Success {
		fail("Status.Success = %v, want false", deref(res.Success))
	}
	if res.ErrorMessage == nil || *res.ErrorMessage != wrongPassword {
		fail("Status.ErrorMessage = %q, want %q", deref(res.ErrorMessage), wrongPassword)
	}
	if res.CreditsRemaining == nil || *res.CreditsRemaining != 0 {
		fail("Status.CreditsRemaining = %v, want 0", deref(res.CreditsRemaining))
	}
	if res.Jwt != nil && *res.Jwt != "" {
		fail("Jwt = %q, want none", *res.Jwt)
	}
	return ok
}

// checkUsage checks that the usage report attributes the calls to the
// ApplicationName the stack sent.
func checkUsage(t *testing.T, svc *core.Service, account, application string, wantCalls, wantFailures int64) {
	t.Helper()
	rows, err := svc.Admin.UsageReport(context.Background(), core.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var calls, failures int64
	for _, r := range rows {
		if r.Account == account && r.Application == application && r.Method == core.OpGetJWT.Method {
			calls += r.Calls
			failures += r.Failures
		}
	}
	if calls != wantCalls || failures != wantFailures {
		var got strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&got, "\n  %+v", *r)
		}
		t.Errorf("usage for account %q, application %q: %d calls, %d failures; want %d and %d; report:%s",
			account, application, calls, failures, wantCalls, wantFailures, got.String())
	}
}

// keyfunc returns a jwt.Keyfunc over the server's published JWKS, fetched
// once per call so that it sees the keys a verifier would.
func (s *testServer) keyfunc(t *testing.T) jwt.Keyfunc {
	t.Helper()
	resp, err := http.Get(s.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg, Use string
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("JWKS key %q: x is not a base64url Ed25519 public key", k.Kid)
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q is not an Ed25519 key in the JWKS", kid)
	}
}

// logExchange shows the bytes a failing call sent and received: the request
// as the server got it (or else as the stack reported it) and the response as
// the stack reported it.
func logExchange(t *testing.T, call string, req *wireRequest, res callResult) {
	t.Helper()
	if req != nil {
		t.Logf("%s request (Content-Type: %s, SOAPAction: %s):\n%s", call, req.contentType, req.soapAction, req.body)
	} else {
		t.Logf("%s request (as the stack reported it):\n%s", call, res.Request)
	}
	t.Logf("%s response:\n%s", call, res.Response)
}

// checkWire checks that a request went out in the SOAP version the call
// asked for, and that maxCredits was sent as 5, or nil (xsi:nil or absent).
func checkWire(t *testing.T, c call, req *wireRequest) bool {
	t.Helper()
	if req == nil {
		t.Errorf("%s: the server never received this request", c.name)
		return false
	}
	ok := true
	fail := func(format string, args ...any) {
		t.Errorf(c.name+": "+format, args...)
		ok = false
	}
	wantType, wantNS := "text/xml", nsSOAP11
	if c.soap12 {
		wantType, wantNS = "application/soap+xml", nsSOAP12
	}
	if mt, _, err := mime.ParseMediaType(req.contentType); err != nil || mt != wantType {
		fail("Content-Type %q, want %s", req.contentType, wantType)
	}
	root, mc, err := scanRequest(req.body)
	if err != nil {
		fail("the request is not XML the test can read: %v", err)
		return false
	}
	if root.Space != wantNS || root.Local != "Envelope" {
		fail("root element {%s}%s, want {%s}Envelope", root.Space, root.Local, wantNS)
	}
	switch {
	case c.maxCredits && (mc == nil || mc.nil || mc.text != fmt.Sprint(maxCredits)):
		fail("maxCredits was sent as %s, want %d", mc, maxCredits)
	case !c.maxCredits && mc != nil && !(mc.nil && mc.text == ""):
		fail("maxCredits was sent as %s, want xsi:nil or absent", mc)
	}
	return ok
}

const (
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsXSI    = "http://www.w3.org/2001/XMLSchema-instance"
	nsTarget = "http://www.data-8.co.uk/integr8"
)

// sentInt is an xsd:int element as a request carried it.
type sentInt struct {
	nil  bool
	text string
}

func (s *sentInt) String() string {
	if s == nil {
		return "absent"
	}
	if s.nil {
		return fmt.Sprintf("xsi:nil with content %q", s.text)
	}
	return fmt.Sprintf("%q", s.text)
}

// scanRequest returns a request's root element name and its maxCredits
// element (nil when absent).
func scanRequest(body []byte) (root xml.Name, mc *sentInt, err error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return root, mc, nil
		} else if err != nil {
			return root, nil, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root.Local == "" {
			root = start.Name
		}
		if start.Name != (xml.Name{Space: nsTarget, Local: "maxCredits"}) {
			continue
		}
		mc = &sentInt{}
		for _, a := range start.Attr {
			if a.Name == (xml.Name{Space: nsXSI, Local: "nil"}) {
				mc.nil = a.Value == "true" || a.Value == "1"
			}
		}
		var text string
		if err := dec.DecodeElement(&text, &start); err != nil {
			return root, nil, err
		}
		mc.text = strings.TrimSpace(text)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func orAbsent(raw json.RawMessage) string {
	if raw == nil {
		return "absent"
	}
	return string(raw)
}
