package jsonapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/jsonapi/swaggerui"
)

// OpenAPI serves the strict surface under APIBase, the contract document
// itself (/openapi.yaml, /openapi.json, /swagger/UserAdmin/swagger.json) and
// its Swagger UI page (/docs). Every request is validated against the
// document by kin-openapi's openapi3filter before it reaches core; a request
// that breaks it gets 400 naming the field.
type OpenAPI struct {
	edge.Deps
	Spec *Spec
	// ValidateResponses checks every answer against the document as well.
	// One that breaks it is logged and replaced by a 500: the contract is
	// never broken silently.
	ValidateResponses bool
}

var _ edge.Surface = (*OpenAPI)(nil)

// openapiStatuses maps each core code to the HTTP status of the strict
// surface, where the status says what happened (DESIGN.md). The body is the
// same Status envelope as everywhere.
var openapiStatuses = edge.Codes[int]{
	core.EINVALID:      http.StatusBadRequest,
	core.EUNAUTHORIZED: http.StatusUnauthorized,
	core.ENOCREDITS:    http.StatusPaymentRequired,
	core.EFORBIDDEN:    http.StatusForbidden,
	core.ENOTFOUND:     http.StatusNotFound,
	core.ECONFLICT:     http.StatusConflict,
	core.ETHROTTLED:    http.StatusTooManyRequests,
	core.EBUSY:         http.StatusTooManyRequests,
	core.EINTERNAL:     http.StatusInternalServerError,
}

// OpenAPIStatuses returns (a copy of) the strict surface's code table.
func OpenAPIStatuses() edge.Codes[int] { return maps.Clone(openapiStatuses) }

// openapiCall decodes a body the document has vouched for, calls core and
// returns the result. A body the document refuses reaches only GetJWT's
// (violation set), which passes it to core to be recorded.
type openapiCall func(a *OpenAPI, r *http.Request, body []byte, violation error) (any, error)

var openapiOps = map[*core.Op]openapiCall{
	core.OpGetJWT:              (*OpenAPI).getJWT,
	core.OpVerifyJWT:           (*OpenAPI).verifyJWT,
	core.OpChargeJWT:           (*OpenAPI).chargeJWT,
	core.OpRevokeJWT:           (*OpenAPI).revokeJWT,
	core.OpGetCreditsRemaining: (*OpenAPI).getCreditsRemaining,
	core.OpGetUsage:            (*OpenAPI).getUsage,
}

// Mount registers the surface on r: one route per path of the document,
// JSON answers for other paths and methods under APIBase, the document and
// its page. Paths are matched exactly (unlike the plain endpoints):
// generated clients send them as the document spells them.
func (a *OpenAPI) Mount(r *mux.Router) error {
	if a.Spec == nil {
		return errors.New("OpenAPI surface: no Spec (jsonapi.LoadSpec)")
	}
	if err := errors.Join(a.Deps.Check(), openapiStatuses.Check()); err != nil {
		return fmt.Errorf("OpenAPI surface: %w", err)
	}
	sub := r.PathPrefix(APIBase).Subrouter()
	// Each path's route picks the operation by method itself: gorilla/mux
	// v1.8.1 forgets a method mismatch when a later route of the subrouter
	// matches the prefix, and would answer 404 where 405 is right.
	byPath := map[string]map[string]http.Handler{}
	for _, rt := range a.Spec.routes {
		op := core.OpNamed(rt.Operation.OperationID)
		if byPath[rt.Path] == nil {
			byPath[rt.Path] = map[string]http.Handler{}
		}
		byPath[rt.Path][rt.Method] = a.handler(rt, op, openapiOps[op])
	}
	for path, ops := range byPath {
		sub.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := ops[r.Method]; ok {
				h.ServeHTTP(w, r)
				return
			}
			a.methodNotAllowed(w, r)
		}))
	}
	// Outside the operations there is no result type: the answer is the
	// bare envelope.
	sub.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, nil, nil, http.StatusNotFound, failure(nil, "no such operation; the operations are described in /openapi.yaml"))
	})
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/openapi.yaml", a.Spec.ServeYAML).Methods(get...)
	r.HandleFunc("/openapi.json", a.Spec.ServeJSON).Methods(get...)
	r.MatcherFunc(edge.PathFold("/swagger/UserAdmin/swagger.json")).HandlerFunc(a.Spec.ServeJSON).Methods(get...)
	docs := swaggerui.New()
	r.Handle(swaggerui.Path, docs)
	r.PathPrefix(swaggerui.Path + "/").Handler(docs)
	return nil
}

// methodNotAllowed answers a path of the document called with another
// method, with the result type of the path's operation.
func (a *OpenAPI) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	var op *core.Op
	for _, rt := range a.Spec.routes {
		if APIBase+rt.Path == r.URL.Path {
			allow = append(allow, rt.Method)
			op = core.OpNamed(rt.Operation.OperationID)
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	a.answer(w, r, nil, op, http.StatusMethodNotAllowed, failure(op, "use "+strings.Join(allow, " or ")+" for this operation"))
}

func (a *OpenAPI) handler(rt *routers.Route, op *core.Op, call openapiCall) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, status, msg := readStrictBody(w, r)
		if status != 0 {
			// Not a JSON body at all: never reaches core, as on the plain
			// endpoints.
			a.answer(w, r, rt, op, status, failure(op, msg))
			return
		}
		violation := a.validateRequest(r, rt, body)
		if violation != nil && op != core.OpGetJWT {
			a.fail(w, r, rt, op, violation)
			return
		}
		res, err := call(a, r, body, violation)
		if err != nil {
			a.fail(w, r, rt, op, err)
			return
		}
		a.answer(w, r, rt, op, http.StatusOK, res)
	})
}

// readStrictBody reads a bounded application/json body that is valid JSON.
// Otherwise it returns the status (415, 413, 400) and the message to answer
// with.
func readStrictBody(w http.ResponseWriter, r *http.Request) (body []byte, status int, msg string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if cs, ok := params["charset"]; err != nil || mt != "application/json" || ok && !strings.EqualFold(cs, "utf-8") {
		return nil, http.StatusUnsupportedMediaType, "send the request body as Content-Type: application/json"
	}
	body, err = edge.ReadBody(w, r)
	switch {
	case errors.Is(err, edge.ErrTooLarge):
		return nil, http.StatusRequestEntityTooLarge, err.Error()
	case err != nil:
		return nil, http.StatusBadRequest, err.Error()
	case len(bytes.TrimSpace(body)) == 0:
		return nil, http.StatusBadRequest, "the request body is empty; send a JSON object"
	case !json.Valid(body):
		return nil, http.StatusBadRequest, "the request body is not valid JSON"
	}
	return body, 0, ""
}

// validateRequest checks r (whose body has been read) against its operation.
func (a *OpenAPI) validateRequest(r *http.Request, rt *routers.Route, body []byte) error {
	if p := duplicateProperty(body); p != "" {
		// Valid JSON, but a decoder would silently keep one of the values.
		return core.Errorf(core.EINVALID, "%s: is given more than once", p)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r,
		Route:   rt,
		Options: &openapi3filter.Options{
			// Credentials are core's business; the security schemes only
			// describe where they may be given.
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults: true,
		},
	})
	if err != nil {
		return violation(err)
	}
	return nil
}

// ValidateResponse checks an answer of the strict surface against the
// document: its status must be documented for the operation, and its
// headers and body must match. The error names the field, never the value
// (a body may hold a token).
func (s *Spec) ValidateResponse(ctx context.Context, rt *routers.Route, r *http.Request, status int, header http.Header, body []byte) error {
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, Route: rt, Options: opts},
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	err := openapi3filter.ValidateResponse(ctx, in)
	if err == nil {
		return nil
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return fmt.Errorf("%s %s%s: response %d: %s", rt.Method, APIBase, rt.Path, status, schemaMessage(se, "body"))
	}
	var re *openapi3filter.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s %s%s: response %d: %s", rt.Method, APIBase, rt.Path, status, re.Reason)
	}
	return fmt.Errorf("%s %s%s: response %d does not match the document", rt.Method, APIBase, rt.Path, status)
}

// fail answers err with the status of its code and the operation's result
// for a failure. A refusal about the API key given as ?key= names the
// parameter first, as a refusal of a field does.
func (a *OpenAPI) fail(w http.ResponseWriter, r *http.Request, rt *routers.Route, op *core.Op, err error) {
	edge.LogFailure(a.Logger, r, op.Name, err)
	edge.RetryAfter(w, err)
	msg := core.ErrorMessage(err)
	var ce *core.Error
	if errors.As(err, &ce) && ce.Field == core.FieldAPIKey {
		msg = "key: " + msg
	}
	a.answer(w, r, rt, op, openapiStatuses.Of(core.ErrorCode(err)), failure(op, msg))
}

// answer writes one answer; rt is nil outside the document's operations.
func (a *OpenAPI) answer(w http.ResponseWriter, r *http.Request, rt *routers.Route, op *core.Op, status int, v any) {
	body, err := encode(v)
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "encoding an answer failed", "err", err)
		status = http.StatusInternalServerError
		body, _ = encode(failure(op, "internal error")) // plain structs: cannot fail
	}
	h := w.Header()
	setHeaders(h)
	if a.ValidateResponses && rt != nil {
		if err := a.Spec.ValidateResponse(r.Context(), rt, r, status, h, body); err != nil {
			a.Logger.ErrorContext(r.Context(), "answer breaks openapi.yaml; sending 500 instead", "err", err)
			h.Del("Retry-After")
			status = http.StatusInternalServerError
			body, _ = encode(failure(op, "internal error"))
		}
	}
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away
}
