package soap

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/edge"
)

// xmlw writes response elements by hand: the generated types put
// omitempty on required elements, and writing directly is also cheaper.
type xmlw struct{ bytes.Buffer }

func (w *xmlw) open(name string)  { w.WriteString("<" + name + ">") }
func (w *xmlw) close(name string) { w.WriteString("</" + name + ">") }

// text writes <name>escaped value</name>.
func (w *xmlw) text(name, value string) {
	w.open(name)
	xml.EscapeText(w, []byte(value)) //nolint:errcheck // a bytes.Buffer does not fail
	w.close(name)
}

// optText writes <name> only for a non-empty value (minOccurs=0).
func (w *xmlw) optText(name, value string) {
	if value != "" {
		w.text(name, value)
	}
}

func (w *xmlw) long(name string, v int64) { w.text(name, strconv.FormatInt(v, 10)) }

func (w *xmlw) boolean(name string, v bool) { w.text(name, strconv.FormatBool(v)) }

// nillableLong writes a nillable xsd:long: xsi:nil when v is nil.
func (w *xmlw) nillableLong(name string, v *int64) {
	if v == nil {
		w.WriteString("<" + name + ` xsi:nil="true"/>`)
		return
	}
	w.long(name, *v)
}

// nillableTime writes a nillable xsd:dateTime in UTC.
func (w *xmlw) nillableTime(name string, t time.Time) {
	if t.IsZero() {
		w.WriteString("<" + name + ` xsi:nil="true"/>`)
		return
	}
	w.text(name, t.UTC().Format(time.RFC3339))
}

// strings writes an ArrayOfString.
func (w *xmlw) strings(name string, items []string) {
	w.open(name)
	for _, s := range items {
		w.text("string", s)
	}
	w.close(name)
}

// status writes the Status element every result starts with.
// ErrorMessage is omitted (minOccurs=0) on success.
func (w *xmlw) status(st edge.Status) {
	w.open("Status")
	w.boolean("Success", st.Success)
	if st.ErrorMessage != nil {
		w.optText("ErrorMessage", *st.ErrorMessage)
	}
	w.long("CreditsRemaining", int64(st.CreditsRemaining))
	w.close("Status")
}

// result wraps a result element in its response element, in the service namespace.
func result(op string, fill func(w *xmlw)) []byte {
	var w xmlw
	w.WriteString(`<` + op + `Response xmlns="` + Namespace + `"><` + op + `Result>`)
	fill(&w)
	w.WriteString(`</` + op + `Result></` + op + `Response>`)
	return w.Bytes()
}

// xsdInteger decodes an integer element of the given bit size; xsi:nil,
// an absent or an empty element leave v nil, and text that is no such
// integer sets err.
type xsdInteger struct {
	v    *int64
	bits int
	err  *faultError // a value that is not an integer of that size
}

func (n *xsdInteger) decode(d *xml.Decoder, start xml.StartElement) error {
	var text string
	if err := d.DecodeElement(&text, &start); err != nil {
		return err
	}
	for _, a := range start.Attr {
		if a.Name.Space == nsXSI && a.Name.Local == "nil" && (a.Value == "true" || a.Value == "1") {
			n.v = nil
			return nil
		}
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	v, err := strconv.ParseInt(text, 10, n.bits)
	if err != nil {
		kind := "xsd:long"
		if n.bits == 32 {
			kind = "xsd:int"
		}
		// Kept, not returned: decoding goes on, so that the operation
		// still knows the rest of the request.
		n.err = clientFault("%s %q is not an %s", start.Name.Local, text, kind)
		return nil
	}
	n.v = &v
	return nil
}

// nillableInt is an xsd:int that may be nil; xsdLong an xsd:long.
type (
	nillableInt struct{ xsdInteger }
	xsdLong     struct{ xsdInteger }
)

func (n *nillableInt) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	n.bits = 32
	return n.decode(d, start)
}

func (n *xsdLong) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	n.bits = 64
	return n.decode(d, start)
}
