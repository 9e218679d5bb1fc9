package server_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
)

// The attack suite drives every operation over the three surfaces of one
// assembled server: plain JSON (/UserAdmin/<Op>.json), strict JSON
// (/api/v1/UserAdmin/<Op>, validated against openapi.yaml) and SOAP 1.1 and
// 1.2 (/useradmin.asmx).

// surface is where a call is sent.
type surface string

const (
	plain  surface = "plain"
	strict surface = "strict"
	soap11 surface = "soap11"
	soap12 surface = "soap12"
)

var surfaces = []surface{plain, strict, soap11, soap12}

// attackEnv is the server env with a service key, and the loopback address
// trusted as a proxy (so that a test can say which client address a request
// comes from with X-Forwarded-For).
type attackEnv struct {
	*env
	serviceKey string
	requests   int // requests sent through send, for the access-log count
}

func newAttackEnv(t *testing.T, configure ...func(*core.Config)) *attackEnv {
	t.Helper()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	e := newEnvAt(t, clientaddr.Resolver{TrustedProxies: loopback}, configure...)
	return &attackEnv{env: e, serviceKey: testenv.CreateServiceKey(t, e.svc, "billing")}
}

// field is one parameter of a call, in the WSDL's order. A value is a
// string, a []string (allowedMethods), an option map (options) or a raw
// JSON number (json.Number), written the same way on every surface.
type field struct {
	name  string
	value any
}

// call is an operation with its parameters and credentials that travel
// outside the body.
type call struct {
	op     string
	fields []field
	key    string // ?key= (JSON surfaces)
	bearer string // Authorization: Bearer (JSON surfaces)
	xff    string // X-Forwarded-For: the client address as a trusted proxy says
}

// with returns a copy of c with the field at path (name, or
// "allowedMethods[0]", or "options.ApplicationName") set to v.
func (c call) with(path string, v any) call {
	out := c
	out.fields = make([]field, len(c.fields))
	copy(out.fields, c.fields)
	name, sub, _ := strings.Cut(path, ".")
	name, idx, indexed := strings.Cut(name, "[")
	for i, f := range out.fields {
		if f.name != name {
			continue
		}
		switch {
		case indexed:
			items := append([]string(nil), f.value.([]string)...)
			var n int
			fmt.Sscanf(idx, "%d]", &n) //nolint:errcheck // test paths are well-formed
			items[n] = v.(string)
			out.fields[i].value = items
		case sub != "":
			opts := map[string]string{}
			for k, val := range f.value.(map[string]string) {
				opts[k] = val
			}
			opts[sub] = v.(string)
			out.fields[i].value = opts
		default:
			out.fields[i].value = v
		}
		return out
	}
	panic("no field " + path + " in " + c.op)
}

// outcome is an answer as the attack suite judges it.
type outcome struct {
	surface surface
	status  int
	success bool
	message string // ErrorMessage, or the fault's message
	fault   string // the SOAP fault code's local name, if a fault
	fields  map[string]string
	body    []byte
}

func (o *outcome) String() string {
	return fmt.Sprintf("%s: HTTP %d %q", o.surface, o.status, o.body)
}

// send makes c over s and reads the answer.
func (e *attackEnv) send(s surface, c call) *outcome {
	e.t.Helper()
	var path, contentType string
	var body []byte
	header := http.Header{}
	switch s {
	case plain, strict:
		body = jsonBody(e.t, c.fields)
		path, contentType = "/UserAdmin/"+c.op+".json", "application/json"
		if s == strict {
			path = jsonapi.APIBase + "/UserAdmin/" + c.op
		}
		if c.key != "" {
			path += "?key=" + urlQueryEscape(c.key)
		}
		if c.bearer != "" {
			header.Set("Authorization", "Bearer "+c.bearer)
		}
	case soap11, soap12:
		body = soapBody(s, c)
		path, contentType = "/useradmin.asmx", `text/xml; charset=utf-8`
		header.Set("SOAPAction", `"http://www.data-8.co.uk/integr8/`+c.op+`"`)
		if s == soap12 {
			contentType = `application/soap+xml; charset=utf-8; action="http://www.data-8.co.uk/integr8/` + c.op + `"`
			header.Del("SOAPAction")
		}
	}
	if c.xff != "" {
		header.Set("X-Forwarded-For", c.xff)
	}
	return e.sendRaw(s, path, contentType, body, header)
}

// sendRaw posts body to path and reads the answer of surface s.
func (e *attackEnv) sendRaw(s surface, path, contentType string, body []byte, header http.Header) *outcome {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", s, path, err)
	}
	defer res.Body.Close()
	e.requests++
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	o := &outcome{surface: s, status: res.StatusCode, body: raw, fields: map[string]string{}}
	if s == soap11 || s == soap12 {
		readSOAP(e.t, o)
	} else {
		readJSON(e.t, o)
	}
	return o
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// jsonBody writes the fields as a JSON object; a json.Number is written
// as it is, unquoted.
func jsonBody(t *testing.T, fields []field) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(t, f.name))
		b.WriteByte(':')
		if n, ok := f.value.(json.Number); ok {
			b.WriteString(string(n))
			continue
		}
		b.Write(mustJSON(t, f.value))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// soapBody writes c as a SOAP envelope of version s. Text is escaped for
// XML; a character XML cannot carry (a C0 control other than tab, CR and
// LF) is written as a character reference, which a conforming parser
// refuses.
func soapBody(s surface, c call) []byte {
	var b strings.Builder
	ns := "http://schemas.xmlsoap.org/soap/envelope/"
	if s == soap12 {
		ns = "http://www.w3.org/2003/05/soap-envelope"
	}
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + ns + `"><soap:Body>`)
	b.WriteString(`<` + c.op + ` xmlns="http://www.data-8.co.uk/integr8">`)
	for _, f := range c.fields {
		switch v := f.value.(type) {
		case string:
			b.WriteString("<" + f.name + ">" + xmlText(v) + "</" + f.name + ">")
		case json.Number:
			b.WriteString("<" + f.name + ">" + xmlText(string(v)) + "</" + f.name + ">")
		case []string:
			b.WriteString("<" + f.name + ">")
			for _, it := range v {
				b.WriteString("<string>" + xmlText(it) + "</string>")
			}
			b.WriteString("</" + f.name + ">")
		case map[string]string:
			b.WriteString("<" + f.name + ">")
			names := make([]string, 0, len(v))
			for k := range v {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				b.WriteString("<Option><Name>" + xmlText(k) + "</Name><Value>" + xmlText(v[k]) + "</Value></Option>")
			}
			b.WriteString("</" + f.name + ">")
		default:
			panic(fmt.Sprintf("field %s: %T", f.name, f.value))
		}
	}
	b.WriteString(`</` + c.op + `></soap:Body></soap:Envelope>`)
	return []byte(b.String())
}

func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '\r' || r < 0x20 && r != '\t' && r != '\n':
			fmt.Fprintf(&b, "&#x%X;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// readJSON reads a JSON surface's answer: the Status envelope, and the
// result's other scalar fields as text.
func readJSON(t *testing.T, o *outcome) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(o.body, &m); err != nil {
		t.Fatalf("%v: the answer is not JSON: %v", o, err)
	}
	st, ok := m["Status"].(map[string]any)
	if !ok {
		t.Fatalf("%v: no Status", o)
	}
	o.success = st["Success"] == true
	o.message, _ = st["ErrorMessage"].(string)
	for k, v := range m {
		switch v := v.(type) {
		case string:
			o.fields[k] = v
		case bool:
			o.fields[k] = fmt.Sprint(v)
		case float64:
			o.fields[k] = fmt.Sprint(int64(v))
		}
	}
	if c, ok := st["CreditsRemaining"].(float64); ok && c == math.Trunc(c) {
		o.fields["CreditsRemaining"] = fmt.Sprint(int64(c))
	}
}

// readSOAP reads a SOAP answer: a fault's code and message, or the
// result's Status and its other leaf elements by local name.
func readSOAP(t *testing.T, o *outcome) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(o.body))
	d.Strict = true
	var path []string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%v: the answer is not well-formed XML: %v", o, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			text.Reset()
		case xml.CharData:
			text.Write(tok)
		case xml.EndElement:
			v := text.String()
			switch name := path[len(path)-1]; {
			case name == "faultcode" || name == "Value" && len(path) > 1 && path[len(path)-2] == "Code":
				_, o.fault, _ = strings.Cut(v, ":")
			case name == "faultstring" || name == "Text" && len(path) > 1 && path[len(path)-2] == "Reason":
				o.message = v
			case name == "Success":
				o.success = v == "true"
			case name == "ErrorMessage":
				o.message = v
			default:
				o.fields[name] = v
			}
			path = path[:len(path)-1]
			text.Reset()
		}
	}
}

// assertNotServerFault checks that o is an answer to the caller's request,
// not a failure of the server: no 5xx on the JSON surfaces, no Server
// (Receiver) fault on SOAP (whose 1.1 binding sends every fault as 500).
func assertNotServerFault(t *testing.T, o *outcome, what string) {
	t.Helper()
	switch o.surface {
	case plain, strict:
		if o.status >= 500 {
			t.Errorf("%s: %v", what, o)
		}
	case soap11:
		if o.fault != "" && o.fault != "Client" || o.fault == "" && o.status != http.StatusOK {
			t.Errorf("%s: %v", what, o)
		}
	case soap12:
		if o.fault != "" && o.fault != "Sender" || o.status >= 500 {
			t.Errorf("%s: %v", what, o)
		}
	}
}

// issue issues a token for testUser through core, limited as mod says,
// valid for an hour.
func (e *attackEnv) issue(mod func(*core.GetJWTRequest)) string {
	e.t.Helper()
	r := &core.GetJWTRequest{
		Credentials: core.Credentials{Username: testUser, Password: testPassword, ClientAddr: loopbackAddr},
		ExpiresAt:   e.expires(time.Hour).Format(time.RFC3339),
	}
	if mod != nil {
		mod(r)
	}
	res, err := e.svc.Issuer.GetJWT(e.ctx, r)
	if err != nil {
		e.t.Fatalf("GetJWT: %v", err)
	}
	return res.JWT
}

// jtiOf returns a token's jti, read from its payload.
func jtiOf(t *testing.T, tok string) string {
	t.Helper()
	var jti string
	if err := json.Unmarshal(segment(t, tok, 1)["jti"], &jti); err != nil {
		t.Fatalf("jti of %q: %v", tok, err)
	}
	return jti
}
