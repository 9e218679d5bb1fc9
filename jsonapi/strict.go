package jsonapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate/core"
)

// strictStatus maps each core code to the HTTP status of the strict OpenAPI
// surface, where the status says what happened (DESIGN.md). The body is the
// same Status envelope as everywhere.
var strictStatus = map[core.Code]int{
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

// StrictStatus returns the HTTP status the strict surface answers code with.
func StrictStatus(code core.Code) int {
	if s, ok := strictStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// API serves the strict OpenAPI surface under APIBase. Every request is
// validated against the document by kin-openapi's openapi3filter before it
// reaches core; a request that breaks it gets 400 naming the field.
type API struct {
	Spec       *Spec
	Service    *core.Service
	Logger     *slog.Logger
	ClientAddr func(*http.Request) string
	// ValidateResponses checks every answer against the document as well.
	// One that breaks it is logged and replaced by a 500: the contract is
	// never broken silently.
	ValidateResponses bool
}

// operation is what the strict surface does for one operationId of the
// document. ParseSpec refuses a document whose operations and this table
// differ.
type operation struct {
	// usage, when set, is how a call the document refuses appears in the
	// usage ledger. Only GetJWT records such refusals: the enforcement
	// operations authenticate a service or an account first, and core
	// decides what they record.
	usage string
	// call decodes a body the document has vouched for, calls core and
	// returns the result to encode.
	call func(a *API, r *http.Request, body []byte) (any, error)
}

// Every operation answers with its own result type, success or failure
// (failureBody).
var operations = map[string]operation{
	"GetJWT":              {usage: core.MethodGetJWT, call: (*API).getJWT},
	"VerifyJWT":           {call: (*API).verifyJWT},
	"ChargeJWT":           {call: (*API).chargeJWT},
	"RevokeJWT":           {call: (*API).revokeJWT},
	"GetCreditsRemaining": {call: (*API).getCreditsRemaining},
	"GetUsage":            {call: (*API).getUsage},
}

// Mount registers the surface on r: one route per path of the document,
// and JSON answers for other paths and methods under APIBase. Paths are
// matched exactly (unlike the plain endpoints): generated clients send them
// as the document spells them.
func (a *API) Mount(r *mux.Router) {
	sub := r.PathPrefix(APIBase).Subrouter()
	// Each path's route picks the operation by method itself: gorilla/mux
	// v1.8.1 forgets a method mismatch when a later route of the subrouter
	// matches the prefix, and would answer 404 where 405 is right.
	byPath := map[string]map[string]http.Handler{}
	for _, rt := range a.Spec.routes {
		if byPath[rt.Path] == nil {
			byPath[rt.Path] = map[string]http.Handler{}
		}
		byPath[rt.Path][rt.Method] = a.handler(rt)
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
		a.answer(w, r, nil, http.StatusNotFound, failureBody("", "no such operation; the operations are described in /openapi.yaml"))
	})
}

// methodNotAllowed answers a path of the document called with another
// method, with the result type of the path's operation.
func (a *API) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	op := ""
	for _, rt := range a.Spec.routes {
		if APIBase+rt.Path == r.URL.Path {
			allow = append(allow, rt.Method)
			op = rt.Operation.OperationID
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	a.answer(w, r, nil, http.StatusMethodNotAllowed, failureBody(op, "use "+strings.Join(allow, " or ")+" for this operation"))
}

func (a *API) handler(rt *routers.Route) http.Handler {
	op := operations[rt.Operation.OperationID]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, status, msg := readStrictBody(w, r)
		if status != 0 {
			a.answer(w, r, rt, status, failureBody(rt.Operation.OperationID, msg))
			return
		}
		if err := a.validateRequest(r, rt, body); err != nil {
			if op.usage != "" {
				// Refused before core: still a call for the usage ledger, as
				// on the plain endpoint.
				a.Service.RecordRefused(r.Context(), op.usage, a.ClientAddr(r), err)
			}
			a.fail(w, r, rt, err)
			return
		}
		res, err := op.call(a, r, body)
		if err != nil {
			a.fail(w, r, rt, err)
			return
		}
		a.answer(w, r, rt, http.StatusOK, res)
	})
}

// readStrictBody reads a bounded application/json body that is valid JSON.
// Otherwise it returns the status (415, 413, 400) and the message to answer
// with; those requests never reach core and are not recorded, as on the
// plain endpoint.
func readStrictBody(w http.ResponseWriter, r *http.Request) (body []byte, status int, msg string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if cs, ok := params["charset"]; err != nil || mt != "application/json" || ok && !strings.EqualFold(cs, "utf-8") {
		return nil, http.StatusUnsupportedMediaType, "send the request body as Content-Type: application/json"
	}
	body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, "the request body is larger than 1 MiB"
	case err != nil:
		return nil, http.StatusBadRequest, "the request body could not be read"
	case len(bytes.TrimSpace(body)) == 0:
		return nil, http.StatusBadRequest, "the request body is empty; send a JSON object"
	case !json.Valid(body):
		return nil, http.StatusBadRequest, "the request body is not valid JSON"
	}
	return body, 0, ""
}

// validateRequest checks r (whose body has been read) against its operation.
func (a *API) validateRequest(r *http.Request, rt *routers.Route, body []byte) error {
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
// for a failure.
func (a *API) fail(w http.ResponseWriter, r *http.Request, rt *routers.Route, err error) {
	code := core.ErrorCode(err)
	if code == core.EINTERNAL {
		a.Logger.ErrorContext(r.Context(), "request failed", "op", rt.Operation.OperationID, "err", err)
	}
	if d := core.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())))
	}
	a.answer(w, r, rt, StrictStatus(code), failureBody(rt.Operation.OperationID, core.ErrorMessage(err)))
}

// answer writes one answer; rt is nil outside the document's operations.
func (a *API) answer(w http.ResponseWriter, r *http.Request, rt *routers.Route, status int, v any) {
	op := ""
	if rt != nil {
		op = rt.Operation.OperationID
	}
	body, err := json.Marshal(v)
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "encoding an answer failed", "op", op, "err", err)
		status = http.StatusInternalServerError
		body, _ = json.Marshal(failureBody(op, "internal error")) // plain structs: cannot fail
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.ValidateResponses && rt != nil {
		if err := a.Spec.ValidateResponse(r.Context(), rt, r, status, h, body); err != nil {
			a.Logger.ErrorContext(r.Context(), "answer breaks openapi.yaml; sending 500 instead", "err", err)
			h.Del("Retry-After")
			status = http.StatusInternalServerError
			body, _ = json.Marshal(failureBody(op, "internal error"))
			body = append(body, '\n')
		}
	}
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away
}

// strictGetJWTRequest is components/schemas/GetJWTRequest. It is decoded
// only after the document has vouched for the body.
type strictGetJWTRequest struct {
	Username       string       `json:"username"`
	Password       string       `json:"password"`
	ClientIP       *string      `json:"clientIp"`
	ExpiresAt      string       `json:"expiresAt"`
	AllowedMethods []string     `json:"allowedMethods"`
	MaxCredits     *json.Number `json:"maxCredits"`
	Options        *struct {
		ApplicationName *string `json:"ApplicationName"`
	} `json:"options"`
}

func (a *API) getJWT(r *http.Request, body []byte) (any, error) {
	addr := a.ClientAddr(r)
	req, err := strictGetJWT(body, r.URL.Query().Get("key"))
	if err == nil && bearerToken(r) != "" {
		// As on the plain endpoint: the document lists no bearer scheme for
		// GetJWT, and a token ignored would look accepted.
		err = core.Errorf(core.EUNAUTHORIZED, "GetJWT does not accept a bearer token (a token cannot mint tokens); send a username and password or an API key")
	}
	if err != nil {
		a.Service.RecordRefused(r.Context(), core.MethodGetJWT, addr, err)
		return nil, err
	}
	req.ClientAddr = addr
	res, err := a.Service.GetJWT(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return GetJWTResponse{Status: success(res.CreditsRemaining), Jwt: &res.JWT}, nil
}

// decodeBody decodes a body the document has vouched for into v, the
// operation's request struct. A failure is the server's, not the caller's:
// the struct and the schema disagree.
func decodeBody(op string, body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.Internal(fmt.Errorf("decoding a %s body the document accepted: %w", op, err))
	}
	return nil
}

// wholeNumber converts an integer the document has vouched for: a whole
// number up to 2^53-1, which JSON may also spell 5.0 or 1e2, so that it
// converts exactly.
func wholeNumber(name string, n json.Number) (int64, error) {
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return 0, core.Internal(fmt.Errorf("%s %q the document accepted: %w", name, n, err))
	}
	return int64(f), nil
}

// strictGetJWT maps a validated body (and ?key=) to a core request. Core
// checks every rule again.
func strictGetJWT(body []byte, key string) (*core.GetJWTRequest, error) {
	var in strictGetJWTRequest
	if err := decodeBody("GetJWT", body, &in); err != nil {
		return nil, err
	}
	req := &core.GetJWTRequest{
		Username: in.Username, Password: in.Password, ExpiresAt: in.ExpiresAt, AllowedMethods: in.AllowedMethods,
	}
	if in.ClientIP != nil {
		req.ClientIP = *in.ClientIP
	}
	if in.MaxCredits != nil {
		n, err := wholeNumber("maxCredits", *in.MaxCredits)
		if err != nil {
			return nil, err
		}
		req.MaxCredits = &n
	}
	if in.Options != nil && in.Options.ApplicationName != nil {
		req.Options = []core.Option{{Name: core.OptionApplicationName, Value: *in.Options.ApplicationName}}
	}
	req.APIKey = key
	if err := validateCredentials(req.Credentials()); err != nil {
		return nil, err
	}
	return req, nil
}

// validateCredentials applies core's rule that credentials are given one way
// only (core checks it again), before the checks that follow it here. A
// refusal that involves ?key= names the parameter, as violation does.
func validateCredentials(c core.Credentials) error {
	err := c.Validate()
	if err != nil && c.APIKey != "" {
		return fieldError("key", err)
	}
	return err
}

// fieldError prefixes the message of a core error with the field it is
// about; the code and the cause stay.
func fieldError(field string, err error) error {
	var e *core.Error
	if !errors.As(err, &e) {
		return err
	}
	named := *e
	named.Message = field + ": " + e.Message
	return &named
}

// duplicateProperty returns the first property, at any depth, that a JSON
// value gives twice (as a field name such as options.ApplicationName), or "".
// It streams: data is valid JSON, so its depth is bounded by the decoder.
func duplicateProperty(data []byte) string {
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]bool
		name    string // this container's field name
		member  string // the current member's field name
		index   int
	}
	var stack []*frame
	join := func(base, key string) string {
		if key == "" {
			key = `""` // an empty name must still name something: "" means no duplicate
		}
		if base == "" {
			return key
		}
		return base + "." + key
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if d, ok := t.(json.Delim); !ok || d != '}' {
				k, _ := t.(string)
				if top.keys[k] {
					return join(top.name, k)
				}
				top.keys[k] = true
				top.member, top.wantKey = join(top.name, k), false
				continue
			}
		}
		// A value, or the end of a container.
		name := ""
		if top != nil {
			if top.obj {
				name = top.member
			} else {
				name = top.name + "[" + strconv.Itoa(top.index) + "]"
			}
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]bool{}, name: name})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{name: name})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			top = stack[len(stack)-1]
		}
		// top has just been given one complete value.
		if top == nil {
			return ""
		}
		if top.obj {
			top.wantKey = true
		} else {
			top.index++
		}
	}
}
