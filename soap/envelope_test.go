package soap_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// fullBody is a GetJWT element with every parameter, qualified by the
// default namespace.
const fullBody = `<GetJWT xmlns="http://www.data-8.co.uk/integr8">
      <username>{user}</username>
      <password>{pass}</password>
      <clientIp>203.0.113.9</clientIp>
      <expiresAt>{exp}</expiresAt>
      <allowedMethods><string>AddressCapture</string><string>Email.IsValid</string></allowedMethods>
      <maxCredits>40</maxCredits>
      <options><Option><Name>ApplicationName</Name><Value>Checkout</Value></Option></options>
    </GetJWT>`

func envelope11(body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soap:Body>
    ` + body + `
  </soap:Body>
</soap:Envelope>`
}

func envelope12(body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap12:Envelope xmlns:soap12="http://www.w3.org/2003/05/soap-envelope" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soap12:Body>
    ` + body + `
  </soap12:Body>
</soap12:Envelope>`
}

// minimalWith is the minimal GetJWT with extra elements after expiresAt.
func minimalWith(extra string) string {
	return `<GetJWT xmlns="http://www.data-8.co.uk/integr8"><username>{user}</username><password>{pass}</password><expiresAt>{exp}</expiresAt>` +
		extra + `</GetJWT>`
}

func ptr[T any](v T) *T { return &v }

// TestGetJWT_Envelopes posts the shapes real SOAP stacks send and checks
// each is answered in its own version with a token that says what was asked.
func TestGetJWT_Envelopes(t *testing.T) {
	// want is what the token of a request must carry.
	type want struct {
		maxCredits *int64 // nil: no max_credits claim
		full       bool   // the request had every parameter of fullBody
	}
	for _, tc := range []struct {
		name   string
		path   string // default asmxPath
		header []string
		body   string
		ns     string // the version the answer must have
		want   want
	}{
		// SOAP 1.1: text/xml and SOAPAction.
		{name: "11/QuotedAction", header: soap11(`"` + action + `"`), body: envelope11(fullBody), ns: ns11, want: want{maxCredits: ptr[int64](40), full: true}},
		{name: "11/UnquotedAction", header: soap11(action), body: minimal11, ns: ns11},
		{name: "11/EmptyActionDispatchesByBody", header: soap11(`""`), body: minimal11, ns: ns11},
		{name: "11/NoXMLDeclaration", header: soap11(action), body: strings.TrimPrefix(minimal11, `<?xml version="1.0" encoding="utf-8"?>`), ns: ns11},
		{name: "11/TextXMLWithoutCharset", header: []string{"Content-Type", "text/xml", "SOAPAction", action}, body: minimal11, ns: ns11},
		{name: "11/DefaultNamespaces", header: soap11(action), ns: ns11, body: `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">` +
			`<Body><GetJWT xmlns="http://www.data-8.co.uk/integr8"><username>{user}</username><password>{pass}</password>` +
			`<expiresAt>{exp}</expiresAt></GetJWT></Body></Envelope>`},
		{name: "11/PrefixedTns", header: soap11(action), ns: ns11, want: want{maxCredits: ptr[int64](40), full: true}, body: `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="http://www.data-8.co.uk/integr8">
   <soapenv:Header/>
   <soapenv:Body>
      <tns:GetJWT>
         <tns:username>{user}</tns:username>
         <tns:password>{pass}</tns:password>
         <tns:clientIp>203.0.113.9</tns:clientIp>
         <tns:expiresAt>{exp}</tns:expiresAt>
         <tns:allowedMethods>
            <tns:string>AddressCapture</tns:string>
            <tns:string>Email.IsValid</tns:string>
         </tns:allowedMethods>
         <tns:maxCredits>40</tns:maxCredits>
         <tns:options>
            <tns:Option>
               <tns:Name>ApplicationName</tns:Name>
               <tns:Value>Checkout</tns:Value>
            </tns:Option>
         </tns:options>
      </tns:GetJWT>
   </soapenv:Body>
</soapenv:Envelope>`},
		{name: "11/OddPrefixes", header: soap11(action), ns: ns11, want: want{maxCredits: ptr[int64](40), full: true},
			body: `<ns7:Envelope xmlns:ns7="http://schemas.xmlsoap.org/soap/envelope/"><ns7:Body>` +
				`<ns0:GetJWT xmlns:ns0="http://www.data-8.co.uk/integr8"><ns0:username>{user}</ns0:username><ns0:password>{pass}</ns0:password>` +
				`<ns0:clientIp>203.0.113.9</ns0:clientIp><ns0:expiresAt>{exp}</ns0:expiresAt>` +
				`<ns0:allowedMethods><ns0:string>AddressCapture</ns0:string><ns0:string>Email.IsValid</ns0:string></ns0:allowedMethods>` +
				`<ns0:maxCredits>40</ns0:maxCredits><ns0:options><ns0:Option><ns0:Name>ApplicationName</ns0:Name><ns0:Value>Checkout</ns0:Value></ns0:Option></ns0:options>` +
				`</ns0:GetJWT></ns7:Body></ns7:Envelope>`},
		{name: "11/WhitespaceAndComments", header: soap11(action), ns: ns11, want: want{maxCredits: ptr[int64](40), full: true},
			body: "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- a client's banner -->\r\n" +
				"<s:Envelope\r\n\txmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" >\r\n\t<!-- before Body -->\r\n\t<s:Body >\r\n\t\t<!-- before the operation -->\r\n" +
				"\t\t<GetJWT xmlns=\"http://www.data-8.co.uk/integr8\">\r\n\t\t\t<!-- inside -->\r\n" +
				"\t\t\t<username>{user}</username>\r\n\t\t\t<password>{pass}</password>\r\n\t\t\t<clientIp>203.0.113.9</clientIp>\r\n" +
				"\t\t\t<expiresAt>\r\n\t\t\t\t{exp}\r\n\t\t\t</expiresAt>\r\n" +
				"\t\t\t<allowedMethods>\r\n\t\t\t\t<string>AddressCapture</string>\r\n\t\t\t\t<!-- a comment between items -->\r\n\t\t\t\t<string>Email.IsValid</string>\r\n\t\t\t</allowedMethods>\r\n" +
				"\t\t\t<maxCredits>\r\n\t\t\t\t40\r\n\t\t\t</maxCredits>\r\n" +
				"\t\t\t<options>\r\n\t\t\t\t<Option>\r\n\t\t\t\t\t<Name>ApplicationName</Name>\r\n\t\t\t\t\t<Value>Checkout</Value>\r\n\t\t\t\t</Option>\r\n\t\t\t</options>\r\n" +
				"\t\t</GetJWT>\r\n\t</s:Body>\r\n</s:Envelope>\r\n<!-- trailing comment -->\r\n"},
		{name: "11/CDATAAndCharacterReferences", header: soap11(action), ns: ns11,
			body: envelope11(`<GetJWT xmlns="http://www.data-8.co.uk/integr8"><username>&#97;lice</username><password><![CDATA[{pass}]]></password><expiresAt>{exp}</expiresAt></GetJWT>`)},
		{name: "11/NilMaxCredits", header: soap11(action), body: envelope11(minimalWith(`<maxCredits xsi:nil="true"/>`)), ns: ns11},
		{name: "11/NilMaxCreditsOddPrefix", header: soap11(action), ns: ns11,
			body: envelope11(minimalWith(`<maxCredits xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="1"></maxCredits>`))},
		{name: "11/AbsentMaxCredits", header: soap11(action), body: envelope11(minimalWith("")), ns: ns11},
		{name: "11/EmptyMaxCredits", header: soap11(action), body: envelope11(minimalWith(`<maxCredits/>`)), ns: ns11},
		{name: "11/EmptyMaxCreditsOpenClose", header: soap11(action), body: envelope11(minimalWith(`<maxCredits> </maxCredits>`)), ns: ns11},
		{name: "11/MaxCredits", header: soap11(action), body: envelope11(minimalWith(`<maxCredits>7</maxCredits>`)), ns: ns11, want: want{maxCredits: ptr[int64](7)}},
		{name: "11/HeaderWithoutMustUnderstand", header: soap11(action), ns: ns11, body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header>
    <h:Trace xmlns:h="urn:example:trace">abc-123<h:Nested><h:Deeper/></h:Nested></h:Trace>
    <h:Locale xmlns:h="urn:example:locale" soap:mustUnderstand="0">en-GB</h:Locale>
    <h:Other xmlns:h="urn:example:other" mustUnderstand="1">an unqualified mustUnderstand is not SOAP's</h:Other>
  </soap:Header>
  <soap:Body>` + minimalWith("") + `</soap:Body>
</soap:Envelope>`},
		{name: "11/PathMixedCase", path: "/UserAdmin.asmx", header: soap11(action), body: minimal11, ns: ns11},
		{name: "11/PathUpperCase", path: "/USERADMIN.ASMX", header: soap11(action), body: minimal11, ns: ns11},
		{name: "11/ByteOrderMark", header: soap11(action), body: "\uFEFF" + minimal11, ns: ns11},

		// SOAP 1.2: application/soap+xml with the action parameter.
		{name: "12/Action", header: soap12(action), body: envelope12(fullBody), ns: ns12, want: want{maxCredits: ptr[int64](40), full: true}},
		{name: "12/NoAction", header: soap12(""), body: minimal12, ns: ns12},
		{name: "12/ActionFirstNoCharset", header: []string{"Content-Type", `application/soap+xml;action="` + action + `"`}, body: minimal12, ns: ns12},
		{name: "12/DefaultNamespaces", header: soap12(action), ns: ns12, body: `<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope">` +
			`<Body><GetJWT xmlns="http://www.data-8.co.uk/integr8"><username>{user}</username><password>{pass}</password>` +
			`<expiresAt>{exp}</expiresAt></GetJWT></Body></Envelope>`},
		{name: "12/OddPrefixesAndHeader", header: soap12(action), ns: ns12, want: want{maxCredits: ptr[int64](40), full: true},
			body: `<ns7:Envelope xmlns:ns7="http://www.w3.org/2003/05/soap-envelope" xmlns:q="http://www.data-8.co.uk/integr8">` +
				`<ns7:Header><a:To xmlns:a="http://www.w3.org/2005/08/addressing">somewhere</a:To>` +
				`<x:Hint xmlns:x="urn:x" ns7:mustUnderstand="false">ignored</x:Hint></ns7:Header>` +
				`<ns7:Body><q:GetJWT><q:username>{user}</q:username><q:password>{pass}</q:password>` +
				`<q:clientIp>203.0.113.9</q:clientIp><q:expiresAt>{exp}</q:expiresAt>` +
				`<q:allowedMethods><q:string>AddressCapture</q:string><q:string>Email.IsValid</q:string></q:allowedMethods>` +
				`<q:maxCredits>40</q:maxCredits><q:options><q:Option><q:Name>ApplicationName</q:Name><q:Value>Checkout</q:Value></q:Option></q:options>` +
				`</q:GetJWT></ns7:Body></ns7:Envelope>`},
		{name: "12/NilMaxCredits", header: soap12(action), body: envelope12(minimalWith(`<maxCredits xsi:nil="true"/>`)), ns: ns12},
		{name: "12/EmptyMaxCredits", header: soap12(action), body: envelope12(minimalWith(`<maxCredits/>`)), ns: ns12},
		{name: "12/PathUpperCase", path: "/USERADMIN.ASMX", header: soap12(action), body: minimal12, ns: ns12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			path := tc.path
			if path == "" {
				path = asmxPath
			}
			r := e.do(http.MethodPost, path, []byte(e.fill(tc.body)), tc.header...)
			tok := assertOK(t, r, tc.ns)
			c := e.verify(tok)
			if c.Subject != testUser || !c.ExpiresAt.Equal(e.expires(time.Hour)) {
				t.Errorf("sub, exp = %q, %v", c.Subject, c.ExpiresAt)
			}
			_, hasMax := payload(t, tok)["max_credits"]
			switch {
			case tc.want.maxCredits == nil && hasMax:
				t.Errorf("max_credits = %d; a nil, empty or absent maxCredits means no limit and no claim", *c.MaxCredits)
			case tc.want.maxCredits != nil && (c.MaxCredits == nil || *c.MaxCredits != *tc.want.maxCredits):
				t.Errorf("max_credits = %v, want %d", c.MaxCredits, *tc.want.maxCredits)
			}
			if tc.want.full {
				if !slices.Equal(c.AllowedMethods, []string{"AddressCapture", "Email.IsValid"}) || c.Application != "Checkout" || c.ClientIP != "203.0.113.9" {
					t.Errorf("allowed_methods, application, client_ip = %q, %q, %q", c.AllowedMethods, c.Application, c.ClientIP)
				}
			} else if c.AllowedMethods != nil || c.Application != "" || c.ClientIP != "" {
				t.Errorf("allowed_methods, application, client_ip = %q, %q, %q; want none", c.AllowedMethods, c.Application, c.ClientIP)
			}
		})
	}
}
