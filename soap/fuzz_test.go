package soap_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/soap"
)

// FuzzSOAP posts bytes to the SOAP handler as a SOAP 1.1 or 1.2 request
// with a SOAPAction. The service behind it knows no user, API key, service
// key or signing key, so no request can authenticate. Properties: no panic;
// every answer is a well-formed envelope of the request's version (SOAP 1.1
// for a VersionMismatch, or when the Content-Type says neither) whose Body
// holds one element: a Client/Sender, VersionMismatch or MustUnderstand
// fault with the status its binding prescribes, or an operation's response
// saying Success=false, without a token; never a Server fault; and the
// answer is never much larger than the request. Seeds: f.Add below and
// testdata/fuzz/FuzzSOAP.
func FuzzSOAP(f *testing.F) {
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	op := func(name, inner string) string {
		return `<` + name + ` xmlns="http://www.data-8.co.uk/integr8">` + inner + `</` + name + `>`
	}
	getJWT := op("GetJWT", `<username>alice</username><password>correct horse battery staple</password><clientIp>192.0.2.1</clientIp>`+
		`<expiresAt>`+exp+`</expiresAt><allowedMethods><string>Email</string></allowedMethods><maxCredits xsi:nil="true"/>`+
		`<options><Option><Name>ApplicationName</Name><Value>fuzz</Value></Option></options>`)
	for _, s := range []struct {
		body   string
		v12    bool
		action string
	}{
		{envelope11(getJWT), false, soap.Action("GetJWT")},
		{envelope12(getJWT), true, soap.Action("GetJWT")},
		{envelope11(getJWT), true, ""},
		{envelope11(op("VerifyJWT", `<serviceKey>jgs_0123456789abcdef_x</serviceKey><jwt>eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.c2ln</jwt><method>Email.IsValid</method><clientIp>::ffff:192.0.2.1</clientIp>`)), false, soap.Action("VerifyJWT")},
		{envelope12(op("ChargeJWT", `<serviceKey>k</serviceKey><jwt>a.b.c</jwt><method>Email.IsValid</method><credits>9223372036854775808</credits><requestId>r</requestId>`)), true, ""},
		{envelope11(op("RevokeJWT", `<jwt>eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.c2ln</jwt>`)), false, soap.Action("RevokeJWT")},
		{envelope11(op("GetCreditsRemaining", `<username>apikey-jg_0123456789abcdef_secret</username><password></password>`)), false, ""},
		{envelope12(op("GetUsage", `<username>alice</username><password>pw</password><from>2030-01-01</from><to>2030-02-01T00:00:00Z</to>`)), true, ""},
		{envelope11(op("Unknown", ``)), false, ""},
		{`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&a;</soap:Body></soap:Envelope>`, false, ""},
		{`<?xml version="1.0" encoding="ISO-8859-1"?>` + strings.TrimPrefix(envelope11(op("GetJWT", "<username>\xe9</username>")), `<?xml version="1.0" encoding="utf-8"?>`), false, ""},
		{"\xff\xfe<\x00s\x00o\x00a\x00p\x00", false, ""},
		{`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><h xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" soap:mustUnderstand="1"/></soap:Header><soap:Body/></soap:Envelope>`, false, ""},
		{`<e:Envelope xmlns:e="urn:other"/>`, true, ""},
		{envelope11(op("GetJWT", strings.Repeat("<d>", 40)+strings.Repeat("</d>", 40))), false, ""},
	} {
		f.Add([]byte(s.body), s.v12, s.action)
	}

	h := &soap.Handler{Deps: edge.Deps{Service: newNobodyService(), Logger: slog.New(slog.DiscardHandler),
		ClientAddr: func(*http.Request) string { return "192.0.2.1" }}}
	f.Fuzz(func(t *testing.T, body []byte, v12 bool, action string) {
		r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, soap.Path, bytes.NewReader(body))
		ct := "text/xml; charset=utf-8"
		if v12 {
			ct = mime.FormatMediaType("application/soap+xml", map[string]string{"charset": "utf-8", "action": action})
			if ct == "" {
				ct = "application/soap+xml; charset=utf-8"
			}
		} else {
			r.Header.Set("SOAPAction", `"`+action+`"`)
		}
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		checkAnswer(t, body, v12, w.Result())
	})
}

// checkAnswer checks one answer of the handler to the request body.
func checkAnswer(t *testing.T, body []byte, v12 bool, res *http.Response) {
	t.Helper()
	got, _ := io.ReadAll(res.Body)
	if len(got) > 8*len(body)+8192 {
		t.Fatalf("a %d-byte request got a %d-byte answer", len(body), len(got))
	}
	var env struct {
		XMLName xml.Name
		Header  *struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"Header"`
		Body struct {
			XMLName  xml.Name
			Children []struct {
				XMLName xml.Name
				Inner   []byte `xml:",innerxml"`
			} `xml:",any"`
		} `xml:"Body"`
	}
	if err := strictUnmarshal(got, &env); err != nil {
		t.Fatalf("answer is not well-formed XML (%v): %q", err, got)
	}
	if len(env.Body.Children) != 1 {
		t.Fatalf("the Body holds %d elements: %s", len(env.Body.Children), got)
	}
	el := env.Body.Children[0]
	ns := env.XMLName.Space
	wantNS, wantCT := ns11, "text/xml"
	if v12 {
		wantNS, wantCT = ns12, "application/soap+xml"
	}
	isFault := el.XMLName.Local == "Fault" && el.XMLName.Space == ns
	var code string
	if isFault {
		var f struct {
			Code11 string `xml:"faultcode"`
			Code12 string `xml:"Code>Value"`
		}
		if err := xml.Unmarshal(append(append([]byte("<f>"), el.Inner...), "</f>"...), &f); err != nil {
			t.Fatalf("fault: %v: %s", err, got)
		}
		_, code, _ = strings.Cut(f.Code11+f.Code12, ":")
		if code == "VersionMismatch" && ns == ns11 {
			// Either version may answer an envelope of another version;
			// a SOAP 1.1 node can read only SOAP 1.1.
			wantNS, wantCT = ns11, "text/xml"
		}
	}
	if ns != wantNS || env.XMLName.Local != "Envelope" || env.Body.XMLName.Space != ns {
		t.Fatalf("answer is a {%s}%s, want a {%s}Envelope: %s", ns, env.XMLName.Local, wantNS, got)
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != wantCT {
		t.Fatalf("Content-Type %q, want %s: %s", res.Header.Get("Content-Type"), wantCT, got)
	}
	if env.Header != nil && code != "VersionMismatch" {
		t.Fatalf("a Header block outside a VersionMismatch fault: %s", got)
	}
	if !isFault {
		checkRefusal(t, el.XMLName, el.Inner, res.StatusCode, got)
		return
	}
	status := res.StatusCode
	switch {
	case status == http.StatusRequestEntityTooLarge || status == http.StatusUnsupportedMediaType:
		if code != "Client" && code != "Sender" {
			t.Fatalf("HTTP %d with fault code %q: %s", status, code, got)
		}
	case code == "Client" && ns == ns11, code == "VersionMismatch", code == "MustUnderstand" && ns == ns11:
		if status != http.StatusInternalServerError {
			t.Fatalf("%s fault with HTTP %d: %s", code, status, got)
		}
	case code == "Sender" && ns == ns12:
		if status != http.StatusBadRequest {
			t.Fatalf("Sender fault with HTTP %d: %s", status, got)
		}
	case code == "MustUnderstand" && ns == ns12:
		if status != http.StatusInternalServerError {
			t.Fatalf("MustUnderstand fault with HTTP %d: %s", status, got)
		}
	default:
		t.Fatalf("fault code %q (HTTP %d): nothing here is the server's fault: %s", code, status, got)
	}
}

// checkRefusal checks an operation's response: HTTP 200, Success=false,
// no credits, no token and no jti.
func checkRefusal(t *testing.T, name xml.Name, inner []byte, status int, got []byte) {
	t.Helper()
	op, ok := strings.CutSuffix(name.Local, "Response")
	if !ok || name.Space != tns || status != http.StatusOK {
		t.Fatalf("HTTP %d with a {%s}%s in the Body: %s", status, name.Space, name.Local, got)
	}
	var result struct {
		XMLName xml.Name
		Status  struct {
			Success          string
			ErrorMessage     *string
			CreditsRemaining string
		}
		Jwt *string
		Jti *string
	}
	if err := xml.Unmarshal(inner, &result); err != nil || result.XMLName.Local != op+"Result" {
		t.Fatalf("%s: no %sResult (%v): %s", name.Local, op, err, got)
	}
	if result.Status.Success != "false" || result.Status.ErrorMessage == nil || result.Status.CreditsRemaining != "0" {
		t.Fatalf("a service that knows nobody answered Success=%q, ErrorMessage=%v, CreditsRemaining=%q: %s",
			result.Status.Success, result.Status.ErrorMessage, result.Status.CreditsRemaining, got)
	}
	if result.Jwt != nil || result.Jti != nil {
		t.Fatalf("a refusal carries a token or jti: %s", got)
	}
}

// newNobodyService is a core service on a store that holds nothing: no
// user, API key, service key, signing key or token. Every look-up is "not
// found" and every ledger line is dropped, so fuzzing runs at full speed and
// no request can succeed.
func newNobodyService() *core.Service { return testenv.NewService(nobodyStore{}) }

// nobodyStore answers every look-up with core.ErrNotFound. Methods a
// refused call never reaches are left to the nil embedded Store: calling one
// panics, which the fuzzer reports.
type nobodyStore struct{ core.Store }

var errNobody = fmt.Errorf("nobody store: %w", core.ErrNotFound)

func (nobodyStore) AccountByName(context.Context, string) (*core.Account, error) {
	return nil, errNobody
}
func (nobodyStore) AccountByID(context.Context, int64) (*core.Account, error) { return nil, errNobody }
func (nobodyStore) UserByName(context.Context, string) (*core.User, error)    { return nil, errNobody }
func (nobodyStore) UserByID(context.Context, int64) (*core.User, error)       { return nil, errNobody }
func (nobodyStore) APIKeyByID(context.Context, string) (*core.APIKey, error)  { return nil, errNobody }
func (nobodyStore) ServiceKeyByID(context.Context, string) (*core.ServiceKey, error) {
	return nil, errNobody
}
func (nobodyStore) ActiveSigningKey(context.Context, time.Time) (*core.SigningKey, error) {
	return nil, errNobody
}
func (nobodyStore) SigningKeyByKid(context.Context, string) (*core.SigningKey, error) {
	return nil, errNobody
}
func (nobodyStore) TokenByJTI(context.Context, string) (*core.IssuedToken, error) {
	return nil, errNobody
}
func (nobodyStore) RecordUsage(context.Context, *core.UsageEvent) error { return nil }
