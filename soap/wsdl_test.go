package soap_test

import (
	"bytes"
	"encoding/xml"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/soap"
)

// wsdlDoc is as much of a WSDL as a client needs to find the service.
type wsdlDoc struct {
	XMLName         xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	TargetNamespace string   `xml:"targetNamespace,attr"`
	Ports           []struct {
		Name    string `xml:"name,attr"`
		Binding string `xml:"binding,attr"`
		SOAP    *struct {
			Location string `xml:"location,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
		SOAP12 *struct {
			Location string `xml:"location,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap12/ address"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ service>port"`
}

// getWSDL fetches the WSDL at path and returns the two addresses it announces.
func (e *env) getWSDL(t *testing.T, path string) (soap11Addr, soap12Addr string) {
	t.Helper()
	r := e.do(http.MethodGet, path, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %v", path, r)
	}
	if mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type")); err != nil || mt != "text/xml" {
		t.Errorf("Content-Type = %q, want text/xml", r.header.Get("Content-Type"))
	}
	var doc wsdlDoc
	if err := strictUnmarshal(r.body, &doc); err != nil {
		t.Fatalf("the WSDL is not well-formed: %v", err)
	}
	if doc.TargetNamespace != tns {
		t.Errorf("targetNamespace = %q, want %q", doc.TargetNamespace, tns)
	}
	if !bytes.Contains(r.body, []byte(`soapAction="`+action+`"`)) {
		t.Errorf("the WSDL does not name the SOAPAction %s", action)
	}
	for _, p := range doc.Ports {
		switch {
		case p.SOAP != nil && p.SOAP12 == nil && soap11Addr == "":
			soap11Addr = p.SOAP.Location
		case p.SOAP12 != nil && p.SOAP == nil && soap12Addr == "":
			soap12Addr = p.SOAP12.Location
		default:
			t.Errorf("unexpected port %+v", p)
		}
	}
	if soap11Addr == "" || soap12Addr == "" {
		t.Fatalf("the WSDL lacks a soap:address or a soap12:address: %+v", doc.Ports)
	}
	return soap11Addr, soap12Addr
}

func TestWSDL(t *testing.T) {
	e := newEnv(t)

	t.Run("OK", func(t *testing.T) {
		for _, path := range []string{
			"/useradmin.asmx?WSDL", "/useradmin.asmx?wsdl", "/useradmin.asmx?Wsdl",
			"/UserAdmin.asmx?WSDL", "/USERADMIN.ASMX?wsdl", "/useradmin.asmx?foo=1&WSDL",
		} {
			t.Run(path, func(t *testing.T) {
				a11, a12 := e.getWSDL(t, path)
				want := e.srv.URL + path[:strings.Index(path, "?")]
				if a11 != want || a12 != want {
					t.Errorf("soap:address = %q, soap12:address = %q; want %q", a11, a12, want)
				}
			})
		}
	})

	t.Run("PublicURL", func(t *testing.T) {
		const public = "https://api.example.com/useradmin.asmx"
		e := newEnv(t, withSOAP(func(h *soap.Handler) { h.PublicURL = public }))
		a11, a12 := e.getWSDL(t, "/USERADMIN.asmx?wsdl")
		if a11 != public || a12 != public {
			t.Errorf("soap:address = %q, soap12:address = %q; want %q", a11, a12, public)
		}
	})

	t.Run("PublicURLEscaped", func(t *testing.T) {
		const public = "https://api.example.com/useradmin.asmx?tenant=a&x=<y>"
		e := newEnv(t, withSOAP(func(h *soap.Handler) { h.PublicURL = public }))
		a11, a12 := e.getWSDL(t, "/useradmin.asmx?WSDL")
		if a11 != public || a12 != public {
			t.Errorf("soap:address = %q, soap12:address = %q; want %q", a11, a12, public)
		}
	})

	t.Run("Head", func(t *testing.T) {
		r := e.do(http.MethodHead, "/useradmin.asmx?WSDL", nil)
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("HEAD ?WSDL: %v", r)
		}
	})

	t.Run("Help", func(t *testing.T) {
		r := e.do(http.MethodGet, asmxPath, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %v", asmxPath, r)
		}
		if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "text/plain" {
			t.Errorf("Content-Type = %q, want text/plain", r.header.Get("Content-Type"))
		}
		if !bytes.Contains(r.body, []byte(e.srv.URL+asmxPath+"?WSDL")) {
			t.Errorf("help does not point at the WSDL: %q", r.body)
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := e.do(m, asmxPath, []byte(e.fill(minimal11)), soap11(action)...)
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s: %v, want HTTP 405", m, r)
			}
			if allow := r.header.Get("Allow"); !strings.Contains(allow, "POST") || !strings.Contains(allow, "GET") {
				t.Errorf("%s: Allow = %q", m, allow)
			}
		}
	})
}
