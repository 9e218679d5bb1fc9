package soap_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/soap"
)

// faultCase is a request the service must refuse with a SOAP fault.
type faultCase struct {
	name   string
	header []string
	body   string // an envelope template (see env.fill)
	ns     string // the version the fault must have
	status int
	code   string // as that version spells it
	msg    string // a substring the fault message must hold, if set
	// recorded says the request is still a GetJWT core refuses, so that it
	// leaves one ledger line (invalid); every other fault leaves none.
	recorded bool
}

// checkFaults posts each case to one server, and after each a valid request
// of the same version, to show the server keeps serving.
func checkFaults(t *testing.T, cases []faultCase) {
	e := newEnv(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(testenv.UsageLines(t, e.db))
			r := e.post(e.fill(tc.body), tc.header...)
			f := assertFault(t, r, tc.ns, tc.status, tc.code)
			lines := e.lines(t, before)
			switch {
			case tc.recorded && (len(lines) != 1 || lines[0].Method != core.OpGetJWT.Method || lines[0].Outcome != core.Outcome(core.EINVALID)):
				t.Errorf("ledger lines %s, want one %s line with outcome %s", fmtLines(lines), core.OpGetJWT.Method, core.EINVALID)
			case !tc.recorded && len(lines) != 0:
				t.Errorf("a fault before the operation reached core left ledger lines %s", fmtLines(lines))
			}
			t.Logf("HTTP %d %s: %s", r.status, f.Code, f.Message)
			if tc.msg != "" && !strings.Contains(f.Message, tc.msg) {
				t.Errorf("fault message %q does not mention %q", f.Message, tc.msg)
			}
			// SOAP 1.2 Part 1 §5.4.7: a VersionMismatch fault names the envelopes understood.
			if upgrade := `<upg:Upgrade xmlns:upg="` + ns12 + `">`; tc.code == "VersionMismatch" && !strings.Contains(string(r.body), upgrade) {
				t.Errorf("VersionMismatch fault without an Upgrade header block: %s", r.body)
			}
			if strings.Contains(string(r.body), testPassword) {
				t.Errorf("the fault echoes the password: %s", r.body)
			}
			e.assertServing(t, tc.ns)
		})
	}
}

// assertServing checks that a valid request of the version of ns succeeds.
func (e *env) assertServing(t *testing.T, ns string) {
	t.Helper()
	hdr, body := soap11(action), minimal11
	if ns == ns12 {
		hdr, body = soap12(action), minimal12
	}
	assertOK(t, e.post(e.fill(body), hdr...), ns)
}

// SOAP 1.1 faults are HTTP 500; SOAP 1.2 Sender faults are 400, the others 500.
const (
	status11       = http.StatusInternalServerError
	status12Sender = http.StatusBadRequest
	status12Other  = http.StatusInternalServerError
)

func TestGetJWT_Faults(t *testing.T) {
	truncated11 := minimal11[:strings.Index(minimal11, "<password>")]
	truncated12 := minimal12[:strings.Index(minimal12, "</soap12:Body>")]
	checkFaults(t, []faultCase{
		// Malformed XML.
		{name: "11/Truncated", header: soap11(action), body: truncated11, ns: ns11, status: status11, code: "Client"},
		{name: "11/TruncatedAfterOperation", header: soap11(action), body: strings.TrimSuffix(minimal11, "</soap:Envelope>"), ns: ns11, status: status11, code: "Client"},
		{name: "12/Truncated", header: soap12(action), body: truncated12, ns: ns12, status: status12Sender, code: "Sender"},
		{name: "11/MismatchedTags", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: envelope11(`<GetJWT xmlns="http://www.data-8.co.uk/integr8"><username>{user}</password><expiresAt>{exp}</expiresAt></GetJWT>`)},
		{name: "11/MismatchedEnvelopeEnd", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: strings.Replace(minimal11, "</soap:Envelope>", "</soap:Envelop>", 1)},
		{name: "12/MismatchedTags", header: soap12(action), ns: ns12, status: status12Sender, code: "Sender",
			body: strings.Replace(minimal12, "</password>", "</username>", 1)},
		{name: "11/UnclosedAttributeQuote", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/><soap:Body/></soap:Envelope>`},
		{name: "11/UndeclaredPrefix", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: envelope11(`<q:GetJWT><q:username>{user}</q:username></q:GetJWT>`)},
		{name: "11/SecondRootAfterEnvelope", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: minimal11 + `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>`},
		{name: "11/TextAfterEnvelope", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: minimal11 + "trailing text"},

		// Not a usable envelope.
		{name: "11/EmptyBody", header: soap11(action), body: "", ns: ns11, status: status11, code: "Client"},
		{name: "12/EmptyBody", header: soap12(action), body: "", ns: ns12, status: status12Sender, code: "Sender"},
		{name: "11/WhitespaceOnly", header: soap11(action), body: " \r\n\t", ns: ns11, status: status11, code: "Client"},
		{name: "11/NotAnEnvelope", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "not a SOAP envelope",
			body: minimalWith("")},
		{name: "12/NotAnEnvelope", header: soap12(action), ns: ns12, status: status12Sender, code: "Sender", msg: "not a SOAP envelope",
			body: `<html><body>hello</body></html>`},
		{name: "11/EnvelopeWithoutBody", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>`},
		{name: "11/BodyWithNoOperation", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "no operation",
			body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>  </soap:Body></soap:Envelope>`},
		{name: "12/EmptyBodyElement", header: soap12(action), ns: ns12, status: status12Sender, code: "Sender", msg: "no operation",
			body: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>`},
		{name: "11/TextInBody", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: envelope11(`GetJWT please`)},
		{name: "11/UnexpectedEnvelopeChild", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Trailer/><soap:Body>` + minimalWith("") + `</soap:Body></soap:Envelope>`},

		// Unknown operation, or one the SOAPAction contradicts.
		{name: "11/UnknownOperation", header: soap11(`""`), ns: ns11, status: status11, code: "Client", msg: "unknown operation",
			body: envelope11(`<GetCredits xmlns="http://www.data-8.co.uk/integr8"><username>{user}</username></GetCredits>`)},
		{name: "12/UnknownOperation", header: soap12(""), ns: ns12, status: status12Sender, code: "Sender", msg: "unknown operation",
			body: envelope12(`<GetCredits xmlns="http://www.data-8.co.uk/integr8"/>`)},
		{name: "11/OperationInOtherNamespace", header: soap11(`""`), ns: ns11, status: status11, code: "Client", msg: "unknown operation",
			body: envelope11(strings.Replace(minimalWith(""), "http://www.data-8.co.uk/integr8", "http://tempuri.org/", 1))},
		{name: "11/UnqualifiedOperation", header: soap11(`""`), ns: ns11, status: status11, code: "Client", msg: "unknown operation",
			body: envelope11(strings.Replace(minimalWith(""), ` xmlns="http://www.data-8.co.uk/integr8"`, "", 1))},
		{name: "11/MismatchedSOAPAction", header: soap11(`"` + tns + `/GetCredits"`), body: minimal11, ns: ns11, status: status11, code: "Client", msg: "SOAPAction"},
		{name: "11/SOAPActionOtherNamespace", header: soap11("http://tempuri.org/GetJWT"), body: minimal11, ns: ns11, status: status11, code: "Client", msg: "SOAPAction"},
		{name: "12/MismatchedAction", header: soap12(tns + "/GetCredits"), body: minimal12, ns: ns12, status: status12Sender, code: "Sender", msg: "GetCredits"},

		// The wrong SOAP version.
		{name: "12EnvelopeAsTextXML", header: soap11(action), body: minimal12, ns: ns11, status: status11, code: "VersionMismatch"},
		// SOAP 1.2 Part 1, appendix A: a 1.1 envelope gets a SOAP 1.1 VersionMismatch fault.
		{name: "11EnvelopeAsSoapXML", header: soap12(action), body: minimal11, ns: ns11, status: status11, code: "VersionMismatch"},
		{name: "11/UnknownEnvelopeNamespace", header: soap11(action), ns: ns11, status: status11, code: "VersionMismatch",
			body: strings.Replace(minimal11, ns11, "http://schemas.xmlsoap.org/soap/envelope/v2", 1)},
		{name: "12/UnknownEnvelopeNamespace", header: soap12(action), ns: ns12, status: status12Other, code: "VersionMismatch",
			body: strings.Replace(minimal12, ns12, "http://www.w3.org/2001/12/soap-envelope", 1)},
		{name: "11/UnqualifiedEnvelope", header: soap11(action), ns: ns11, status: status11, code: "VersionMismatch",
			body: `<Envelope><Body>` + minimalWith("") + `</Body></Envelope>`},

		// Headers that must be understood: jwtgate understands none.
		{name: "11/MustUnderstand", header: soap11(action), ns: ns11, status: status11, code: "MustUnderstand", msg: "Security",
			body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>` +
				`<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" soap:mustUnderstand="1">` +
				`<wsse:UsernameToken><wsse:Username>x</wsse:Username></wsse:UsernameToken></wsse:Security>` +
				`</soap:Header><soap:Body>` + minimalWith("") + `</soap:Body></soap:Envelope>`},
		{name: "12/MustUnderstand", header: soap12(action), ns: ns12, status: status12Other, code: "MustUnderstand", msg: "Token",
			body: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Header>` +
				`<t:Token xmlns:t="urn:example" e:mustUnderstand="true">x</t:Token>` +
				`</e:Header><e:Body>` + minimalWith("") + `</e:Body></e:Envelope>`},

		// A parameter that is not of its schema type.
		{name: "11/MaxCreditsNotAnInt", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "maxCredits", recorded: true,
			body: envelope11(minimalWith(`<maxCredits>abc</maxCredits>`))},
		{name: "12/MaxCreditsNotAnInt", header: soap12(action), ns: ns12, status: status12Sender, code: "Sender", msg: "maxCredits", recorded: true,
			body: envelope12(minimalWith(`<maxCredits>abc</maxCredits>`))},
		{name: "11/MaxCreditsBeyondXsdInt", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "maxCredits", recorded: true,
			body: envelope11(minimalWith(`<maxCredits>2147483648</maxCredits>`))},
		{name: "11/MaxCreditsFraction", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "maxCredits", recorded: true,
			body: envelope11(minimalWith(`<maxCredits>1.5</maxCredits>`))},
	})
}

// An internal error is a Server (1.2: Receiver) fault that says no more
// than "internal error"; the cause goes to the log.
func TestGetJWT_ServerFault(t *testing.T) {
	e := newEnv(t)
	e.db.Close() // every store call now fails
	for _, v := range []struct {
		ns     string
		header []string
		body   string
		code   string
	}{
		{ns11, soap11(action), minimal11, "Server"},
		{ns12, soap12(action), minimal12, "Receiver"},
	} {
		f := assertFault(t, e.post(e.fill(v.body), v.header...), v.ns, http.StatusInternalServerError, v.code)
		if f.Message != "internal error" {
			t.Errorf("fault message = %q, want \"internal error\" and nothing of the cause", f.Message)
		}
	}
	if !strings.Contains(e.logs.String(), "SOAP request failed") {
		t.Errorf("the cause of the internal error was not logged:\n%s", e.logs)
	}
}

func TestGetJWT_ContentType(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"JSON", []string{"Content-Type", "application/json"}},
		{"PlainText", []string{"Content-Type", "text/plain", "SOAPAction", action}},
		{"Missing", nil},
		{"Malformed", []string{"Content-Type", "text/xml; charset", "SOAPAction", action}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.fill(minimal11), tc.header...)
			assertFault(t, r, ns11, http.StatusUnsupportedMediaType, "Client")
			e.assertServing(t, ns11)
		})
	}
}

// deep returns n nested elements.
func deep(n int) string {
	return strings.Repeat("<d>", n) + strings.Repeat("</d>", n)
}

func TestGetJWT_Hostile(t *testing.T) {
	// A well-formed envelope just over the limit: padding in a comment.
	pad := func(tmpl string) string {
		return strings.Replace(tmpl, "<soap", "<!--"+strings.Repeat("x", edge.MaxBodyBytes)+"--><soap", 1)
	}
	// Envelope + Header + block = 3 levels; the rest is nested in the block.
	header11 := func(levels int) string {
		return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><h:Block xmlns:h="urn:x">` +
			deep(levels-3) + `</h:Block></soap:Header><soap:Body>` + minimalWith("") + `</soap:Body></soap:Envelope>`
	}

	t.Run("DepthLimitIsExact", func(t *testing.T) {
		e := newEnv(t)
		assertOK(t, e.post(e.fill(header11(soap.MaxDepth)), soap11(action)...), ns11)
	})

	checkFaults(t, []faultCase{
		{name: "11/TooLarge", header: soap11(action), body: pad(minimal11), ns: ns11, status: http.StatusRequestEntityTooLarge, code: "Client",
			msg: "the request body is larger than 1 MiB"},
		{name: "12/TooLarge", header: soap12(action), body: pad(minimal12), ns: ns12, status: http.StatusRequestEntityTooLarge, code: "Sender",
			msg: "the request body is larger than 1 MiB"},
		{name: "11/TooDeepInHeader", header: soap11(action), body: header11(soap.MaxDepth + 1), ns: ns11, status: status11, code: "Client", msg: "nested"},
		{name: "12/TooDeepInOperation", header: soap12(action), ns: ns12, status: status12Sender, code: "Sender", msg: "nested",
			body: envelope12(minimalWith(`<options>` + deep(soap.MaxDepth) + `</options>`))},
		{name: "11/TooDeepAfterOperation", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "nested",
			body: envelope11(minimalWith(deep(10 * soap.MaxDepth)))},
		{name: "11/SecondOperation", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "exactly one operation",
			body: envelope11(minimalWith("") + minimalWith(""))},
		{name: "11/ProcessingInstructionAfterDeclaration", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "processing instruction",
			body: strings.Replace(minimal11, "?>", `?><?xml-stylesheet type="text/xsl" href="http://attacker.example/x.xsl"?>`, 1)},
		{name: "11/ProcessingInstructionInBody", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: envelope11(minimalWith(`<?php system("id"); ?>`))},
		{name: "11/SecondXMLDeclaration", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: strings.Replace(minimal11, "<soap:Body>", `<soap:Body><?xml version="1.0"?>`, 1)},
		{name: "11/EncodingUTF16", header: soap11(action), ns: ns11, status: status11, code: "Client",
			body: strings.Replace(minimal11, `encoding="utf-8"`, `encoding="UTF-16"`, 1)},
		{name: "12/EncodingUTF16", header: soap12(action), ns: ns12, status: status12Sender, code: "Sender",
			body: strings.Replace(minimal12, `encoding="utf-8"`, `encoding="UTF-16"`, 1)},
		{name: "11/ExternalEntity", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "DOCTYPE",
			body: `<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
				strings.Replace(strings.TrimPrefix(minimal11, `<?xml version="1.0" encoding="utf-8"?>`), "<username>{user}", "<username>&xxe;", 1)},
		{name: "11/DoctypeWithoutSubset", header: soap11(action), ns: ns11, status: status11, code: "Client", msg: "DOCTYPE",
			body: `<!DOCTYPE Envelope>` + strings.TrimPrefix(minimal11, `<?xml version="1.0" encoding="utf-8"?>`)},
	})

	t.Run("BillionLaughs", func(t *testing.T) {
		e := newEnv(t)
		var dtd strings.Builder
		dtd.WriteString(`<?xml version="1.0" encoding="utf-8"?><!DOCTYPE soap:Envelope [<!ENTITY lol0 "lol">`)
		for i := 1; i <= 9; i++ {
			dtd.WriteString(`<!ENTITY lol` + string(rune('0'+i)) + ` "` + strings.Repeat("&lol"+string(rune('0'+i-1))+";", 10) + `">`)
		}
		dtd.WriteString(`]>`)
		body := dtd.String() + strings.TrimPrefix(e.fill(minimal11), `<?xml version="1.0" encoding="utf-8"?>`)
		body = strings.Replace(body, "<password>", "<password>&lol9;", 1)
		for _, v := range []struct {
			ns     string
			header []string
			body   string
			status int
			code   string
		}{
			{ns11, soap11(action), body, status11, "Client"},
			{ns12, soap12(action), strings.NewReplacer("soap:", "e:", "xmlns:soap=", "xmlns:e=", ns11, ns12).Replace(body), status12Sender, "Sender"},
		} {
			start := time.Now()
			r := e.post(v.body, v.header...)
			took := time.Since(start)
			f := assertFault(t, r, v.ns, v.status, v.code)
			if !strings.Contains(f.Message, "DOCTYPE") {
				t.Errorf("fault message %q does not say DOCTYPE is refused", f.Message)
			}
			if took > 2*time.Second {
				t.Errorf("refusing the DTD took %v", took)
			}
			if len(r.body) > 4096 || bytes.Contains(r.body, []byte("lollol")) {
				t.Errorf("an entity was expanded: %d bytes", len(r.body))
			}
			e.assertServing(t, v.ns)
		}
	})
}
