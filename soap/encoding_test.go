package soap_test

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/jwtgate/jwtgate/internal/testenv"
)

// TestGetJWT_Encodings: XML in encodings other than plain UTF-8, each with
// its precise outcome. UTF-8 (with or without a byte-order mark), US-ASCII
// and ISO-8859-1 are read; UTF-16 and every other encoding are refused with
// a Client fault (Sender in SOAP 1.2) and nothing is done for the request.
// A user whose password has non-ASCII letters shows that ISO-8859-1 is
// decoded, not passed through.
func TestGetJWT_Encodings(t *testing.T) {
	const (
		user     = "jose"
		password = "contraseña-é" // ñ and é are single bytes in ISO-8859-1
	)
	e := newEnv(t)
	testenv.CreateUser(t, e.svc, user, password, 5)
	decl := `<?xml version="1.0" encoding="utf-8"?>`
	jose := strings.NewReplacer("{user}", user, "{pass}", password)
	doc11, doc12 := e.fill(jose.Replace(minimal11)), e.fill(jose.Replace(minimal12))
	declared := func(doc, enc string) string {
		return strings.Replace(doc, decl, `<?xml version="1.0" encoding="`+enc+`"?>`, 1)
	}
	latin1 := func(s string) string {
		var b []byte
		for _, r := range s {
			if r > 0xFF {
				t.Fatalf("%q is not ISO-8859-1", r)
			}
			b = append(b, byte(r))
		}
		return string(b)
	}
	utf16LE := func(s string, bom bool) string {
		var b []byte
		if bom {
			b = append(b, 0xFF, 0xFE)
		}
		for _, u := range utf16.Encode([]rune(s)) {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		return string(b)
	}
	utf16BE := func(s string) string {
		b := []byte{0xFE, 0xFF}
		for _, u := range utf16.Encode([]rune(s)) {
			b = binary.BigEndian.AppendUint16(b, u)
		}
		return string(b)
	}

	for _, tc := range []struct {
		name   string
		v12    bool
		body   string
		header []string // default: the version's Content-Type and action
		// One of: ok (a token), refused (Success=false with this message),
		// or a fault with this message.
		ok      bool
		refused string
		fault   string
	}{
		{name: "UTF8", body: doc11, ok: true},
		{name: "UTF8ByteOrderMark", body: "\uFEFF" + doc11, ok: true},
		{name: "12/UTF8ByteOrderMark", v12: true, body: "\uFEFF" + doc12, ok: true},
		{name: "UTF8NoDeclaration", body: strings.TrimPrefix(doc11, decl), ok: true},
		{name: "ISO88591Declared", body: latin1(declared(doc11, "ISO-8859-1")), ok: true},
		{name: "12/Latin1Declared", v12: true, body: latin1(declared(doc12, "latin1")), ok: true},
		// Mislabelled: UTF-8 bytes read as ISO-8859-1 are another password.
		{name: "ISO88591DeclaredUTF8Bytes", body: declared(doc11, "ISO-8859-1"), refused: "invalid username or password"},
		// US-ASCII is read as UTF-8, its superset.
		{name: "USASCIIDeclaredUTF8Bytes", body: declared(doc11, "US-ASCII"), ok: true},
		// The Content-Type's charset is not what decides: the document is.
		{name: "ContentTypeSaysUTF16", body: doc11, header: []string{"Content-Type", "text/xml; charset=utf-16", "SOAPAction", action}, ok: true},
		{name: "UTF16LEWithBOM", body: utf16LE(declared(doc11, "UTF-16"), true),
			fault: "malformed XML: XML syntax error on line 1: invalid UTF-8"},
		{name: "12/UTF16BEWithBOM", v12: true, body: utf16BE(declared(doc12, "UTF-16")),
			fault: "malformed XML: XML syntax error on line 1: invalid UTF-8"},
		{name: "UTF16LEWithBOMNoDeclaration", body: utf16LE(strings.TrimPrefix(doc11, decl), true),
			fault: "malformed XML: XML syntax error on line 2: invalid UTF-8"},
		{name: "UTF16LENoBOM", body: utf16LE(declared(doc11, "UTF-16"), false),
			fault: "malformed XML: XML syntax error on line 1: expected element name after <"},
		{name: "UTF16DeclaredUTF8Bytes", body: declared(doc11, "UTF-16"),
			fault: `xml: opening charset "UTF-16": refused: encoding "UTF-16" is not supported; send UTF-8`},
		{name: "Windows1252", body: declared(doc11, "windows-1252"),
			fault: `xml: opening charset "windows-1252": refused: encoding "windows-1252" is not supported; send UTF-8`},
		{name: "12/EBCDIC", v12: true, body: declared(doc12, "IBM037"),
			fault: `xml: opening charset "IBM037": refused: encoding "IBM037" is not supported; send UTF-8`},
		{name: "UTF16BOMBeforeUTF8", body: "\xFF\xFE" + doc11,
			fault: "malformed XML: XML syntax error on line 1: invalid UTF-8"},
		{name: "TwoUTF8ByteOrderMarks", body: "\uFEFF\uFEFF" + doc11,
			fault: "malformed XML: text outside the root element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, header := ns11, soap11(action)
			if tc.v12 {
				ns, header = ns12, soap12(action)
			}
			if tc.header != nil {
				header = tc.header
			}
			r := e.post(tc.body, header...)
			switch {
			case tc.ok:
				res := assertResult(t, r, ns)
				if !res.Success || res.Jwt == "" {
					t.Fatalf("got %+v, want a token: %s", res, r.body)
				}
				if sub := e.verify(res.Jwt).Subject; sub != user {
					t.Errorf("token for %q, want %q", sub, user)
				}
			case tc.refused != "":
				if msg := assertFailure(t, r, ns); msg != tc.refused {
					t.Errorf("ErrorMessage = %q, want %q", msg, tc.refused)
				}
			default:
				status, code := status11, "Client"
				if tc.v12 {
					status, code = status12Sender, "Sender"
				}
				if f := assertFault(t, r, ns, status, code); f.Message != tc.fault {
					t.Errorf("fault message = %q, want %q", f.Message, tc.fault)
				}
			}
		})
	}
}
