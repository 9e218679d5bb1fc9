package soap

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// SOAP versions and their envelope namespaces.
type version int

const (
	soap11 version = 11
	soap12 version = 12
)

const (
	ns11      = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12      = "http://www.w3.org/2003/05/soap-envelope"
	nsXSI     = "http://www.w3.org/2001/XMLSchema-instance"
	Namespace = "http://www.data-8.co.uk/integr8" // the service's target namespace
)

func (v version) namespace() string {
	if v == soap12 {
		return ns12
	}
	return ns11
}

func (v version) contentType() string {
	if v == soap12 {
		return "application/soap+xml; charset=utf-8"
	}
	return "text/xml; charset=utf-8"
}

// MaxDepth limits the nesting of a request document (its size is
// edge.MaxBodyBytes).
const MaxDepth = 32

// guard feeds raw tokens to an xml.Decoder, refusing what a SOAP message
// never needs and an attacker likes: DTDs (entity expansion), processing
// instructions other than the XML declaration, and deep nesting.
type guard struct {
	raw    *xml.Decoder
	depth  int
	seen   bool // a token other than the declaration has been read
	closed bool // the root element has ended
}

var errHostile = errors.New("refused")

func (g *guard) Token() (xml.Token, error) {
	t, err := g.raw.RawToken()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case xml.StartElement:
		if g.closed {
			return nil, errors.New("content after the root element")
		}
		if g.depth++; g.depth > MaxDepth {
			return nil, fmt.Errorf("%w: elements are nested deeper than %d", errHostile, MaxDepth)
		}
	case xml.EndElement:
		if g.depth--; g.depth == 0 {
			g.closed = true
		}
	case xml.CharData:
		if g.depth == 0 && len(bytes.TrimSpace(t)) > 0 {
			return nil, errors.New("text outside the root element")
		}
	case xml.Directive:
		return nil, fmt.Errorf("%w: DOCTYPE and other declarations are not allowed", errHostile)
	case xml.ProcInst:
		if t.Target != "xml" || g.seen {
			return nil, fmt.Errorf("%w: processing instructions are not allowed", errHostile)
		}
	}
	g.seen = true
	return t, nil
}

// envelope is a request read as far as its operation element.
type envelope struct {
	dec     *xml.Decoder
	version version // of the envelope's namespace
	op      xml.StartElement
}

// faultError is a request the handler answers with a SOAP fault.
type faultError struct {
	code    string // VersionMismatch, MustUnderstand, Client or Server (1.1 names)
	message string
	in      version // the version to answer in; 0: the request's
}

func (f *faultError) Error() string { return f.code + ": " + f.message }

func clientFault(format string, args ...any) *faultError {
	return &faultError{code: "Client", message: fmt.Sprintf(format, args...)}
}

// malformed turns a decoding error into a client fault.
func malformed(err error) *faultError {
	if errors.Is(err, errHostile) {
		return clientFault("%v", err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return clientFault("malformed XML: the document ends too early")
	}
	return clientFault("malformed XML: %v", strings.TrimPrefix(err.Error(), "xml: "))
}

// readEnvelope reads a request up to the first element inside Body and
// checks the envelope version against want (from the Content-Type).
func readEnvelope(body []byte, want version) (*envelope, error) {
	// XML 1.0 allows a byte-order mark before UTF-8; some stacks send one.
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	raw := xml.NewDecoder(bytes.NewReader(body))
	raw.Strict = true
	raw.CharsetReader = charsetReader
	dec := xml.NewTokenDecoder(&guard{raw: raw})

	root, err := nextStart(dec)
	if err != nil {
		return nil, malformed(err)
	}
	env := &envelope{dec: dec}
	switch {
	case root.Name.Local != "Envelope":
		return nil, clientFault("the document is not a SOAP envelope (root element %q)", root.Name.Local)
	case root.Name.Space == ns11:
		env.version = soap11
	case root.Name.Space == ns12:
		env.version = soap12
	default:
		return nil, &faultError{code: "VersionMismatch", message: fmt.Sprintf("unknown SOAP envelope namespace %q", root.Name.Space)}
	}
	if env.version != want {
		// SOAP 1.2 Part 1, appendix A: either way round, the fault is a
		// SOAP 1.1 message (a 1.1 node cannot read anything else).
		return nil, &faultError{code: "VersionMismatch", in: soap11, message: fmt.Sprintf(
			"a SOAP %s envelope was sent with the Content-Type of SOAP %s", env.version, want)}
	}
	for {
		el, err := nextStart(dec)
		if err != nil {
			return nil, malformed(err)
		}
		if el.Name.Space != env.version.namespace() {
			return nil, clientFault("unexpected element %q in the envelope", el.Name.Local)
		}
		switch el.Name.Local {
		case "Header":
			if err := checkHeader(dec, env.version); err != nil {
				return nil, err
			}
		case "Body":
			op, err := nextStart(dec)
			if errors.Is(err, errEnd) {
				return nil, clientFault("the SOAP Body holds no operation")
			} else if err != nil {
				return nil, malformed(err)
			}
			env.op = op
			return env, nil
		default:
			return nil, clientFault("unexpected element %q in the envelope", el.Name.Local)
		}
	}
}

// checkHeader skips the header blocks, faulting on one that must be
// understood: jwtgate understands none.
func checkHeader(dec *xml.Decoder, v version) error {
	for {
		t, err := dec.Token()
		if err != nil {
			return malformed(err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			for _, a := range t.Attr {
				if a.Name.Local == "mustUnderstand" && a.Name.Space == v.namespace() && (a.Value == "1" || a.Value == "true") {
					return &faultError{code: "MustUnderstand", message: fmt.Sprintf("header %q is not understood", t.Name.Local)}
				}
			}
			if err := dec.Skip(); err != nil {
				return malformed(err)
			}
		case xml.EndElement:
			return nil
		}
	}
}

// decode reads the operation element into v and checks the rest of the
// document; decoding errors become client faults.
func (env *envelope) decode(v any) error {
	if err := env.dec.DecodeElement(v, &env.op); err != nil {
		var f *faultError
		if errors.As(err, &f) {
			return f
		}
		return malformed(err)
	}
	return env.finish()
}

// finish checks that the operation element was the Body's only child and
// reads the rest of the document, so that a truncated or malformed message is
// refused before anything is done for it.
func (env *envelope) finish() error {
	for _, want := range []string{"Body", "Envelope"} {
		_, err := nextStart(env.dec)
		switch {
		case err == nil && want == "Body":
			return clientFault("the SOAP Body must hold exactly one operation element")
		case err == nil:
			return clientFault("unexpected element after the SOAP Body")
		case !errors.Is(err, errEnd):
			return malformed(err)
		}
	}
	// The guard refuses elements and text after the root: what is left may
	// only be comments and white space.
	for {
		if _, err := env.dec.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return malformed(err)
		}
	}
}

// errEnd is what nextStart returns at an end element.
var errEnd = errors.New("unexpected end element")

// nextStart returns the next start element, skipping comments and
// whitespace; it returns errEnd at an end element.
func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		t, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errEnd
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, errors.New("unexpected text between elements")
			}
		}
	}
}

// charsetReader accepts the encodings that are UTF-8 or trivially map to
// it; anything else (UTF-16 included) is refused with a plain message.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "latin1", "iso_8859-1":
		return latin1Reader{bufio.NewReader(in)}, nil
	}
	return nil, fmt.Errorf("%w: encoding %q is not supported; send UTF-8", errHostile, label)
}

// latin1Reader decodes ISO-8859-1: each byte is the rune of the same value.
type latin1Reader struct{ r *bufio.Reader }

func (l latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := l.r.ReadByte()
		if err != nil {
			return n, err
		}
		if n+utf8.RuneLen(rune(c)) > len(p) {
			l.r.UnreadByte() //nolint:errcheck // just read
			break
		}
		n += utf8.EncodeRune(p[n:], rune(c))
	}
	return n, nil
}

func (v version) String() string {
	if v == soap12 {
		return "1.2"
	}
	return "1.1"
}
