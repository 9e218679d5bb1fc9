package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

// Path is where the service answers (matched case-insensitively).
const Path = "/useradmin.asmx"

// Handler serves SOAP requests and the WSDL.
type Handler struct {
	edge.Deps
	// PublicURL, when set, is the soap:address written into the WSDL;
	// otherwise the address the client used.
	PublicURL string
}

var _ edge.Surface = (*Handler)(nil)

// Mount registers the service's one address (matched case-insensitively).
func (h *Handler) Mount(r *mux.Router) error {
	if err := errors.Join(h.Deps.Check(), outcomes.Check()); err != nil {
		return fmt.Errorf("SOAP surface: %w", err)
	}
	for _, op := range core.Ops() {
		if operations[op] == nil {
			return fmt.Errorf("SOAP surface: operation %s has no handler", op.Name)
		}
	}
	r.MatcherFunc(edge.PathFold(Path)).Handler(h)
	return nil
}

// Action returns the SOAPAction of an operation.
func Action(op string) string { return Namespace + "/" + op }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.serveWSDL(w, r)
	case http.MethodPost:
		h.serveSOAP(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "use POST for SOAP requests or GET ?WSDL for the contract", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) serveWSDL(w http.ResponseWriter, r *http.Request) {
	wantWSDL := false
	for k := range r.URL.Query() {
		wantWSDL = wantWSDL || strings.EqualFold(k, "wsdl")
	}
	if !wantWSDL {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "jwtgate UserAdmin SOAP service (SOAP 1.1 and 1.2).\nWSDL: %s?WSDL\n", h.address(r))
		return
	}
	var addr bytes.Buffer
	xml.EscapeText(&addr, []byte(h.address(r))) //nolint:errcheck // a bytes.Buffer does not fail
	body := bytes.ReplaceAll(jwtgate.WSDL, []byte(jwtgate.WSDLPlaceholderURL), addr.Bytes())
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body) //nolint:errcheck
}

// address is the service URL clients should post to.
func (h *Handler) address(r *http.Request) string {
	if h.PublicURL != "" {
		return h.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// requestVersion reads the SOAP version and action from the Content-Type
// (SOAP 1.2: application/soap+xml; action=...) or the SOAPAction header (1.1).
func requestVersion(r *http.Request) (version, string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		return soap11, "", errors.New("missing or malformed Content-Type")
	case mt == "text/xml":
		return soap11, strings.Trim(strings.TrimSpace(r.Header.Get("SOAPAction")), `"`), nil
	case mt == "application/soap+xml":
		return soap12, strings.Trim(params["action"], `"`), nil
	}
	return soap11, "", fmt.Errorf("Content-Type %q is neither text/xml (SOAP 1.1) nor application/soap+xml (SOAP 1.2)", mt)
}

func (h *Handler) serveSOAP(w http.ResponseWriter, r *http.Request) {
	v, action, err := requestVersion(r)
	if err != nil {
		h.writeFault(w, r, v, http.StatusUnsupportedMediaType, clientFault("%v", err))
		return
	}
	body, err := edge.ReadBody(w, r)
	if errors.Is(err, edge.ErrTooLarge) {
		h.writeFault(w, r, v, http.StatusRequestEntityTooLarge, clientFault("%v", err))
		return
	} else if err != nil {
		h.writeFault(w, r, v, 0, clientFault("%v", err))
		return
	}
	env, err := readEnvelope(body, v)
	if err != nil {
		h.writeFault(w, r, v, 0, err)
		return
	}
	op := core.OpNamed(env.op.Name.Local)
	if op == nil || env.op.Name.Space != Namespace {
		h.writeFault(w, r, v, 0, clientFault("unknown operation {%s}%s", env.op.Name.Space, env.op.Name.Local))
		return
	}
	if action != "" && action != Action(env.op.Name.Local) {
		h.writeFault(w, r, v, 0, clientFault("SOAPAction %q does not match the operation %s (expected %q)", action, env.op.Name.Local, Action(env.op.Name.Local)))
		return
	}
	resp, err := operations[op](h, r, env)
	if err != nil {
		h.writeFault(w, r, v, 0, err)
		return
	}
	h.writeEnvelope(w, v, http.StatusOK, nil, resp)
}

// writeEnvelope wraps header blocks (may be nil) and a body element in an
// envelope of version v.
func (h *Handler) writeEnvelope(w http.ResponseWriter, v version, status int, header, body []byte) {
	var b bytes.Buffer
	b.Grow(len(body) + 300)
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + v.namespace() + `" xmlns:xsi="` + nsXSI + `" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`)
	if header != nil {
		b.WriteString(`<soap:Header>`)
		b.Write(header)
		b.WriteString(`</soap:Header>`)
	}
	b.WriteString(`<soap:Body>`)
	b.Write(body)
	b.WriteString(`</soap:Body></soap:Envelope>`)
	w.Header().Set("Content-Type", v.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes()) //nolint:errcheck
}

// writeFault answers err as a SOAP fault of version v. status 0 picks the
// HTTP status the SOAP binding prescribes.
func (h *Handler) writeFault(w http.ResponseWriter, r *http.Request, v version, status int, err error) {
	var f *faultError
	if !errors.As(err, &f) {
		// Only internal errors reach here: business failures are answered
		// with Success=false by the operation itself.
		h.Logger.ErrorContext(r.Context(), "SOAP request failed", "err", err)
		f = &faultError{code: "Server", message: core.ErrorMessage(err)}
	}
	if f.in != 0 {
		v = f.in
	}
	if status == 0 {
		status = http.StatusInternalServerError // SOAP 1.1, and 1.2 Receiver/VersionMismatch/MustUnderstand
		if v == soap12 && f.code == "Client" {
			status = http.StatusBadRequest // SOAP 1.2 HTTP binding: env:Sender
		}
	}
	var b bytes.Buffer
	if v == soap12 {
		code := map[string]string{"Client": "Sender", "Server": "Receiver"}[f.code]
		if code == "" {
			code = f.code
		}
		b.WriteString(`<soap:Fault><soap:Code><soap:Value>soap:` + code + `</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="en">`)
		xml.EscapeText(&b, []byte(f.message)) //nolint:errcheck
		b.WriteString(`</soap:Text></soap:Reason></soap:Fault>`)
	} else {
		b.WriteString(`<soap:Fault><faultcode>soap:` + f.code + `</faultcode><faultstring>`)
		xml.EscapeText(&b, []byte(f.message)) //nolint:errcheck
		b.WriteString(`</faultstring></soap:Fault>`)
	}
	var header []byte
	if f.code == "VersionMismatch" {
		header = []byte(upgrade) // SOAP 1.2 Part 1 §5.4.7: the envelopes understood
	}
	h.writeEnvelope(w, v, status, header, b.Bytes())
}

const upgrade = `<upg:Upgrade xmlns:upg="` + ns12 + `">` +
	`<upg:SupportedEnvelope qname="e12:Envelope" xmlns:e12="` + ns12 + `"/>` +
	`<upg:SupportedEnvelope qname="e11:Envelope" xmlns:e11="` + ns11 + `"/>` +
	`</upg:Upgrade>`
