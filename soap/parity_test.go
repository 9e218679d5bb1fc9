package soap_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// params is one GetJWT call, to be sent through every protocol.
type params struct {
	username, password, clientIP, expiresAt string
	methods                                 []string
	maxCredits                              *int64
	options                                 [][2]string
}

func escape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // a bytes.Buffer does not fail
	return b.String()
}

// soapBody is p as a GetJWT element, parameters in WSDL order.
func (p params) soapBody() string {
	var b bytes.Buffer
	b.WriteString(`<GetJWT xmlns="http://www.data-8.co.uk/integr8">`)
	el := func(name, v string) { b.WriteString("<" + name + ">" + escape(v) + "</" + name + ">") }
	el("username", p.username)
	el("password", p.password)
	if p.clientIP != "" {
		el("clientIp", p.clientIP)
	}
	if p.expiresAt != "" {
		el("expiresAt", p.expiresAt)
	}
	if p.methods != nil {
		b.WriteString("<allowedMethods>")
		for _, m := range p.methods {
			el("string", m)
		}
		b.WriteString("</allowedMethods>")
	}
	if p.maxCredits != nil {
		el("maxCredits", strconv.FormatInt(*p.maxCredits, 10))
	} else {
		b.WriteString(`<maxCredits xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>`)
	}
	if p.options != nil {
		b.WriteString("<options>")
		for _, o := range p.options {
			b.WriteString("<Option>")
			el("Name", o[0])
			el("Value", o[1])
			b.WriteString("</Option>")
		}
		b.WriteString("</options>")
	}
	b.WriteString(`</GetJWT>`)
	return b.String()
}

// jsonBody is p as the plain endpoint's body.
func (p params) jsonBody(t *testing.T) []byte {
	t.Helper()
	m := map[string]any{"username": p.username, "password": p.password}
	if p.clientIP != "" {
		m["clientIp"] = p.clientIP
	}
	if p.expiresAt != "" {
		m["expiresAt"] = p.expiresAt
	}
	if p.methods != nil {
		m["allowedMethods"] = p.methods
	}
	if p.maxCredits != nil {
		m["maxCredits"] = *p.maxCredits
	}
	if p.options != nil {
		opts := map[string]any{}
		for _, o := range p.options {
			opts[o[0]] = o[1]
		}
		m["options"] = opts
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// viaJSON posts p to the plain JSON endpoint and reads its answer.
func (e *env) viaJSON(t *testing.T, p params) result {
	t.Helper()
	r := e.do(http.MethodPost, jsonPath, p.jsonBody(t), "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("JSON endpoint: got %v, want HTTP 200", r)
	}
	var out struct {
		Status struct {
			Success          bool
			ErrorMessage     *string
			CreditsRemaining float64
		}
		Jwt *string
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("JSON endpoint: %v: %s", err, r.body)
	}
	res := result{Success: out.Status.Success, ErrorMessage: out.Status.ErrorMessage, CreditsRemaining: out.Status.CreditsRemaining}
	if out.Jwt != nil {
		res.Jwt = *out.Jwt
	}
	return res
}

// viaSOAP posts p as a SOAP request of the version of ns.
func (e *env) viaSOAP(t *testing.T, p params, ns string) result {
	t.Helper()
	if ns == ns12 {
		return assertResult(t, e.post(envelope12(p.soapBody()), soap12(action)...), ns12)
	}
	return assertResult(t, e.post(envelope11(p.soapBody()), soap11(action)...), ns11)
}

// TestGetJWT_SameAsJSON proves SOAP is a translation and nothing more: the
// same call answers the same through SOAP 1.1, SOAP 1.2 and plain JSON.
func TestGetJWT_SameAsJSON(t *testing.T) {
	e := newEnv(t)
	valid := func() params {
		return params{
			username: testUser, password: testPassword, clientIP: "2001:db8::1",
			expiresAt: e.expires(3 * time.Hour).Format(time.RFC3339),
			methods:   []string{"Email", "AddressCapture.GetFullAddress"}, maxCredits: ptr[int64](12),
			options: [][2]string{{"ApplicationName", "Payroll & <HR>"}},
		}
	}

	t.Run("OK", func(t *testing.T) {
		p := valid()
		want := e.viaJSON(t, p)
		if !want.Success || want.Jwt == "" {
			t.Fatalf("JSON endpoint refused a valid request: %+v", want)
		}
		wantClaims := payload(t, want.Jwt)
		for _, k := range []string{"jti", "iat", "nbf"} {
			delete(wantClaims, k)
		}
		for _, ns := range []string{ns11, ns12} {
			got := e.viaSOAP(t, p, ns)
			if got.Success != want.Success || got.CreditsRemaining != want.CreditsRemaining || got.ErrorMessage != nil {
				t.Errorf("SOAP %s Status = %+v, JSON Status = %+v", ns, got, want)
			}
			e.verify(got.Jwt)
			gotClaims := payload(t, got.Jwt)
			for _, k := range []string{"jti", "iat", "nbf"} {
				delete(gotClaims, k)
			}
			if !reflect.DeepEqual(gotClaims, wantClaims) {
				t.Errorf("SOAP %s claims differ from JSON's (jti, iat, nbf aside):\n got %s\nwant %s", ns, mustMarshal(gotClaims), mustMarshal(wantClaims))
			}
		}
	})

	for _, tc := range []struct {
		name   string
		change func(*params)
	}{
		{"ExpiresAtPast", func(p *params) { p.expiresAt = e.now.Add(-time.Hour).Format(time.RFC3339) }},
		{"ExpiresAtTooFar", func(p *params) { p.expiresAt = e.now.Add(30 * 24 * time.Hour).Format(time.RFC3339) }},
		{"ExpiresAtMissing", func(p *params) { p.expiresAt = "" }},
		{"ExpiresAtNotADate", func(p *params) { p.expiresAt = "tomorrow at noon" }},
		{"UnknownOption", func(p *params) { p.options = [][2]string{{"Colour", "red"}} }},
		{"BadClientIP", func(p *params) { p.clientIP = "203.0.113.999" }},
		{"BadAllowedMethod", func(p *params) { p.methods = []string{"Email", "not a method!"} }},
		{"MaxCreditsZero", func(p *params) { p.maxCredits = ptr[int64](0) }},
		{"WrongPassword", func(p *params) { p.password = "not the password" }},
		{"UnknownUser", func(p *params) { p.username = "mallory" }},
		{"NoPassword", func(p *params) { p.password = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.change(&p)
			want := e.viaJSON(t, p)
			if want.Success || want.ErrorMessage == nil {
				t.Fatalf("JSON endpoint accepted the request: %+v", want)
			}
			for _, ns := range []string{ns11, ns12} {
				got := e.viaSOAP(t, p, ns)
				switch {
				case got.Success || got.Jwt != "" || got.CreditsRemaining != 0:
					t.Errorf("SOAP %s: got %+v, want Success=false, 0 credits, no Jwt", ns, got)
				case got.ErrorMessage == nil || *got.ErrorMessage != *want.ErrorMessage:
					t.Errorf("SOAP %s ErrorMessage = %v, JSON's = %q", ns, deref(got.ErrorMessage), *want.ErrorMessage)
				}
			}
		})
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
