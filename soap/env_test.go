package soap_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
	"github.com/jwtgate/jwtgate/sqlite"
)

// Fixtures.
const (
	testIssuer   = "https://jwtgate.test"
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	testCredits  = 250

	asmxPath = "/useradmin.asmx"
	jsonPath = "/UserAdmin/GetJWT.json"
	jwksPath = "/.well-known/jwks.json"

	ns11   = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12   = "http://www.w3.org/2003/05/soap-envelope"
	tns    = "http://www.data-8.co.uk/integr8"
	action = tns + "/GetJWT"
)

// env is the SOAP surface, with the plain JSON one beside it (to compare
// the two), assembled by server.New on a real SQLite file. Its clock is
// fixed at the real time the test started, so tokens also verify with a
// real clock. The ledger and the tokens are read through the store.
type env struct {
	t    *testing.T
	svc  *core.Service
	db   *sqlite.DB
	user *core.User // testUser
	srv  *httptest.Server
	logs *testenv.Logs
	now  time.Time
}

// envOption changes what newEnv builds: core's Config before the Service
// is made, the SOAP surface before it is mounted.
type envOption struct {
	core func(*core.Config)
	soap func(*soap.Handler)
}

func withCore(f func(*core.Config)) envOption  { return envOption{core: f} }
func withSOAP(f func(*soap.Handler)) envOption { return envOption{soap: f} }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	log, logs := testenv.CaptureLogs()
	e := &env{t: t, logs: logs, now: time.Now().UTC()}
	e.svc, e.db = testenv.New(t, func(c *core.Config) {
		c.Issuer, c.Logger, c.Now = testIssuer, log, e.clock
		for _, o := range opts {
			if o.core != nil {
				o.core(c)
			}
		}
	})
	e.user = testenv.CreateUser(t, e.svc, testUser, testPassword, testCredits)
	deps := edge.Deps{Service: e.svc, Logger: log, ClientAddr: clientaddr.Resolver{}.Addr}
	h := &soap.Handler{Deps: deps}
	for _, o := range opts {
		if o.soap != nil {
			o.soap(h)
		}
	}
	handler, err := server.New(server.Config{Keys: e.svc.KeyRing, Logger: log, Ping: e.db.Ping,
		Surfaces: []edge.Surface{h, &jsonapi.Plain{Deps: deps}}})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.srv = httptest.NewServer(handler)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), testPassword) {
			t.Errorf("the password appears in the logs:\n%s", e.logs)
		}
	})
	return e
}

func (e *env) clock() time.Time { return e.now }

// expires returns a whole-second expiresAt d from the clock.
func (e *env) expires(d time.Duration) time.Time { return e.now.Add(d).Truncate(time.Second) }

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("HTTP %d %q", r.status, r.body) }

// do sends a request with the given header pairs ("Name", "value", ...).
func (e *env) do(method, path string, body []byte, header ...string) *response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// post sends a SOAP request to the service.
func (e *env) post(body string, header ...string) *response {
	e.t.Helper()
	return e.do(http.MethodPost, asmxPath, []byte(body), header...)
}

// Header pairs of the two bindings.
func soap11(soapAction string) []string {
	return []string{"Content-Type", "text/xml; charset=utf-8", "SOAPAction", soapAction}
}

func soap12(act string) []string {
	ct := "application/soap+xml; charset=utf-8"
	if act != "" {
		ct += `; action="` + act + `"`
	}
	return []string{"Content-Type", ct}
}

// fill replaces the placeholders of an envelope template: {user}, {pass},
// {exp} (an hour from the clock).
func (e *env) fill(tmpl string) string {
	return strings.NewReplacer(
		"{user}", testUser,
		"{pass}", testPassword,
		"{exp}", e.expires(time.Hour).Format(time.RFC3339),
	).Replace(tmpl)
}

// A minimal valid request of each version, in the shape a WSDL-generated
// client sends it.
const (
	minimal11 = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soap:Body>
    <GetJWT xmlns="http://www.data-8.co.uk/integr8">
      <username>{user}</username>
      <password>{pass}</password>
      <expiresAt>{exp}</expiresAt>
      <maxCredits xsi:nil="true"/>
    </GetJWT>
  </soap:Body>
</soap:Envelope>`
	minimal12 = `<?xml version="1.0" encoding="utf-8"?>
<soap12:Envelope xmlns:soap12="http://www.w3.org/2003/05/soap-envelope">
  <soap12:Body>
    <GetJWT xmlns="http://www.data-8.co.uk/integr8">
      <username>{user}</username>
      <password>{pass}</password>
      <expiresAt>{exp}</expiresAt>
    </GetJWT>
  </soap12:Body>
</soap12:Envelope>`
)

// --- reading answers -------------------------------------------------------

// text is an element's name and text, to check that it is qualified as the
// contract says.
type text struct {
	XMLName xml.Name
	Lang    string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
	Text    string `xml:",chardata"`
}

// answer is a response envelope of either version, decoded independently of
// the generated types so that namespaces and presence are checked exactly.
type answer struct {
	XMLName xml.Name // the Envelope; its space is the version
	Body    struct {
		XMLName xml.Name
		Fault   *struct {
			XMLName xml.Name
			// SOAP 1.1
			FaultCode   *text `xml:"faultcode"`
			FaultString *text `xml:"faultstring"`
			// SOAP 1.2
			Code *struct {
				XMLName xml.Name
				Value   text `xml:"Value"`
			} `xml:"Code"`
			Reason *struct {
				XMLName xml.Name
				Text    text `xml:"Text"`
			} `xml:"Reason"`
		} `xml:"Fault"`
		Response *struct {
			Result *struct {
				Status *struct {
					Success          *text `xml:"http://www.data-8.co.uk/integr8 Success"`
					ErrorMessage     *text `xml:"http://www.data-8.co.uk/integr8 ErrorMessage"`
					CreditsRemaining *text `xml:"http://www.data-8.co.uk/integr8 CreditsRemaining"`
				} `xml:"http://www.data-8.co.uk/integr8 Status"`
				Jwt *text `xml:"http://www.data-8.co.uk/integr8 Jwt"`
			} `xml:"http://www.data-8.co.uk/integr8 GetJWTResult"`
		} `xml:"http://www.data-8.co.uk/integr8 GetJWTResponse"`
	} `xml:"Body"`
}

// parse decodes r as a SOAP envelope of the namespace wantNS, served with
// that version's Content-Type.
func parse(t *testing.T, r *response, wantNS string) *answer {
	t.Helper()
	wantCT := "text/xml"
	if wantNS == ns12 {
		wantCT = "application/soap+xml"
	}
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != wantCT || !strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("Content-Type = %q, want %s; charset=utf-8", r.header.Get("Content-Type"), wantCT)
	}
	if !bytes.HasPrefix(r.body, []byte(`<?xml version="1.0" encoding="utf-8"?>`)) {
		t.Errorf("body does not start with the XML declaration: %q", r.body)
	}
	var a answer
	if err := strictUnmarshal(r.body, &a); err != nil {
		t.Fatalf("answer is not well-formed XML: %v\n%s", err, r.body)
	}
	if a.XMLName.Space != wantNS || a.XMLName.Local != "Envelope" {
		t.Fatalf("root is {%s}%s, want {%s}Envelope: %s", a.XMLName.Space, a.XMLName.Local, wantNS, r.body)
	}
	if a.Body.XMLName.Space != wantNS {
		t.Fatalf("Body is in namespace %q, want %q: %s", a.Body.XMLName.Space, wantNS, r.body)
	}
	if n := bodyChildren(t, r.body); n != 1 {
		t.Errorf("Body has %d child elements, want exactly 1: %s", n, r.body)
	}
	return &a
}

func strictUnmarshal(b []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(v); err != nil {
		return err
	}
	// Nothing but white space may follow the root.
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if cd, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(cd)) > 0 {
			return fmt.Errorf("content after the root element: %#v", tok)
		}
	}
}

// bodyChildren counts the element children of the SOAP Body.
func bodyChildren(t *testing.T, b []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, n, inBody := 0, 0, false
	for {
		tok, err := d.Token()
		if err != nil {
			return n
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				inBody = tok.Name.Local == "Body"
			}
			if depth == 3 && inBody {
				n++
			}
		case xml.EndElement:
			depth--
		}
	}
}

// result is a GetJWT answer as a caller reads it.
type result struct {
	Success          bool
	ErrorMessage     *string
	CreditsRemaining float64
	Jwt              string
}

// assertResult checks r is an HTTP 200 GetJWTResponse of the version of
// wantNS, shaped as the WSDL says, and returns it.
func assertResult(t *testing.T, r *response, wantNS string) result {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got %v, want HTTP 200", r)
	}
	a := parse(t, r, wantNS)
	if a.Body.Fault != nil || a.Body.Response == nil || a.Body.Response.Result == nil || a.Body.Response.Result.Status == nil {
		t.Fatalf("not a GetJWTResponse/GetJWTResult/Status: %s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	res := a.Body.Response.Result
	st := res.Status
	if st.Success == nil || st.CreditsRemaining == nil {
		t.Fatalf("Status lacks Success or CreditsRemaining (both minOccurs=1): %s", r.body)
	}
	var out result
	switch st.Success.Text {
	case "true":
		out.Success = true
	case "false":
	default:
		t.Fatalf("Success = %q, want true or false", st.Success.Text)
	}
	if _, err := fmt.Sscan(st.CreditsRemaining.Text, &out.CreditsRemaining); err != nil {
		t.Fatalf("CreditsRemaining %q is not an xsd:double: %v", st.CreditsRemaining.Text, err)
	}
	if st.ErrorMessage != nil {
		out.ErrorMessage = &st.ErrorMessage.Text
	}
	if res.Jwt != nil {
		out.Jwt = res.Jwt.Text
	}
	// Element order is part of the contract (xs:sequence).
	if want := []string{"Status", "Success", "CreditsRemaining", "Jwt"}; out.Success && !inOrder(r.body, want) {
		t.Errorf("elements not in the order %q: %s", want, r.body)
	}
	if want := []string{"Status", "Success", "ErrorMessage", "CreditsRemaining"}; !out.Success && !inOrder(r.body, want) {
		t.Errorf("elements not in the order %q: %s", want, r.body)
	}
	return out
}

// inOrder reports whether the elements named want start in that order.
func inOrder(b []byte, want []string) bool {
	d := xml.NewDecoder(bytes.NewReader(b))
	i := 0
	for i < len(want) {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == want[i] {
			i++
		}
	}
	return true
}

// assertOK checks a successful GetJWT answer and returns its token.
func assertOK(t *testing.T, r *response, wantNS string) string {
	t.Helper()
	res := assertResult(t, r, wantNS)
	if !res.Success || res.ErrorMessage != nil || res.CreditsRemaining != testCredits || res.Jwt == "" {
		t.Fatalf("got %+v, want Success with %d credits, no ErrorMessage and a Jwt: %s", res, testCredits, r.body)
	}
	return res.Jwt
}

// assertFailure checks a refused GetJWT answer (HTTP 200, Success=false)
// and returns its ErrorMessage.
func assertFailure(t *testing.T, r *response, wantNS string) string {
	t.Helper()
	res := assertResult(t, r, wantNS)
	if res.Success || res.ErrorMessage == nil || *res.ErrorMessage == "" || res.CreditsRemaining != 0 || res.Jwt != "" {
		t.Fatalf("got %+v, want Success=false with an ErrorMessage, 0 credits and no Jwt: %s", res, r.body)
	}
	return *res.ErrorMessage
}

// fault is a SOAP fault as a caller reads it, in 1.1 names
// (Client/Server/VersionMismatch/MustUnderstand) or 1.2 names
// (Sender/Receiver/...), as sent.
type fault struct {
	Code    string // local part of the code
	Message string
}

// assertFault checks r is a SOAP fault of the version of wantNS with the
// given HTTP status and code (the local name, as that version spells it),
// and returns it.
func assertFault(t *testing.T, r *response, wantNS string, status int, code string) fault {
	t.Helper()
	if r.status != status {
		t.Errorf("HTTP status = %d, want %d: %s", r.status, status, r.body)
	}
	a := parse(t, r, wantNS)
	f := a.Body.Fault
	if f == nil || f.XMLName.Space != wantNS {
		t.Fatalf("not a {%s}Fault: %s", wantNS, r.body)
	}
	var got fault
	if wantNS == ns11 {
		if f.FaultCode == nil || f.FaultString == nil || f.FaultCode.XMLName.Space != "" || f.FaultString.XMLName.Space != "" {
			t.Fatalf("a SOAP 1.1 fault needs unqualified faultcode and faultstring: %s", r.body)
		}
		if want := "<faultcode>soap:" + code + "</faultcode>"; !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("body lacks %s: %s", want, r.body)
		}
		got = fault{Code: f.FaultCode.Text, Message: f.FaultString.Text}
	} else {
		if f.Code == nil || f.Reason == nil || f.Code.XMLName.Space != ns12 || f.Code.Value.XMLName.Space != ns12 ||
			f.Reason.XMLName.Space != ns12 || f.Reason.Text.XMLName.Space != ns12 {
			t.Fatalf("a SOAP 1.2 fault needs qualified Code/Value and Reason/Text: %s", r.body)
		}
		if f.Reason.Text.Lang == "" {
			t.Errorf("Reason/Text has no xml:lang: %s", r.body)
		}
		if want := "<soap:Code><soap:Value>soap:" + code + "</soap:Value>"; !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("body lacks %s: %s", want, r.body)
		}
		got = fault{Code: f.Code.Value.Text, Message: f.Reason.Text.Text}
	}
	// The code is a QName whose prefix must be bound to the envelope namespace.
	prefix, local, ok := strings.Cut(got.Code, ":")
	if !ok || local != code {
		t.Errorf("fault code = %q, want <prefix>:%s", got.Code, code)
	}
	if !bytes.Contains(r.body, []byte(`xmlns:`+prefix+`="`+wantNS+`"`)) {
		t.Errorf("fault code prefix %q is not bound to %s: %s", prefix, wantNS, r.body)
	}
	got.Code = local
	if strings.TrimSpace(got.Message) == "" {
		t.Errorf("fault has an empty message: %s", r.body)
	}
	return got
}

// --- tokens --------------------------------------------------------------

// claims are a token's claims as a downstream verifier declares them.
type claims struct {
	jwt.RegisteredClaims
	Account        string   `json:"account"`
	AllowedMethods []string `json:"allowed_methods"`
	MaxCredits     *int64   `json:"max_credits"`
	Application    string   `json:"application"`
	ClientIP       string   `json:"client_ip"`
}

// jwk is a public key of the JWKS as a verifier reads it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
}

// verify checks tok the way a downstream service does: EdDSA only, expiry
// and issuer required, the key by kid from the published JWKS.
func (e *env) verify(tok string) *claims {
	e.t.Helper()
	r := e.do(http.MethodGet, jwksPath, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %v", jwksPath, r)
	}
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(r.body, &set); err != nil {
		e.t.Fatalf("JWKS %q: %v", r.body, err)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(testIssuer),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(e.clock),
	)
	c := &claims{}
	_, err := p.ParseWithClaims(tok, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range set.Keys {
			if k.Kid != kid {
				continue
			}
			if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" {
				return nil, fmt.Errorf("JWK %s is kty %q crv %q alg %q", kid, k.Kty, k.Crv, k.Alg)
			}
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("JWK %s: x is %d bytes (%v)", kid, len(x), err)
			}
			return ed25519.PublicKey(x), nil
		}
		return nil, fmt.Errorf("kid %q is not in the JWKS %s", kid, r.body)
	})
	if err != nil {
		e.t.Fatalf("token does not verify: %v", err)
	}
	if c.ID == "" || c.IssuedAt == nil || c.NotBefore == nil {
		e.t.Fatalf("token lacks jti, iat or nbf: %+v", c)
	}
	return c
}

// lines returns the ledger lines written since the ledger had n lines.
func (e *env) lines(t *testing.T, n int) []*core.UsageEvent {
	t.Helper()
	all := testenv.UsageLines(t, e.db)
	if len(all) < n {
		t.Fatalf("the ledger shrank from %d to %d lines", n, len(all))
	}
	return all[n:]
}

// fmtLines shows ledger lines in a failure message.
func fmtLines(lines []*core.UsageEvent) string {
	if len(lines) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for _, l := range lines {
		acc := "none"
		if l.AccountID != nil {
			acc = fmt.Sprint(*l.AccountID)
		}
		fmt.Fprintf(&b, "\n  %s %s account=%s application=%q credits=%d jti=%q", l.Method, l.Outcome, acc, l.Application, l.Credits, l.JTI)
	}
	return b.String()
}

// payload returns the claims of tok as raw JSON values.
func payload(t *testing.T, tok string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return m
}
