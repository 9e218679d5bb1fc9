package jsonapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/jwtgate/jwtgate/core"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// Handler serves the plain JSON endpoints.
type Handler struct {
	Service    *core.Service
	Logger     *slog.Logger
	ClientAddr func(*http.Request) string // the caller's address, for throttling and usage
}

// Routes returns the plain endpoints by path. The router matches the paths
// case-insensitively, as the reference platform does.
func (h *Handler) Routes() map[string]http.HandlerFunc {
	routes := map[string]http.HandlerFunc{}
	for _, op := range plainOps {
		routes["/UserAdmin/"+op.name+".json"] = h.serve(op)
	}
	return routes
}

// plainOp is one operation of the plain surface.
type plainOp struct {
	name string // the operation, as in /UserAdmin/<name>.json
	// usage, when set, is how a call refused for its body's shape appears in
	// the usage ledger. Operations that authenticate a service first record
	// nothing for unauthenticated callers.
	usage string
	// call maps a lenient body to a core call and returns the result.
	call func(h *Handler, r *http.Request, o object) (any, error)
}

var plainOps = []plainOp{
	{name: "GetJWT", usage: core.MethodGetJWT, call: (*Handler).getJWT},
	{name: "VerifyJWT", call: (*Handler).verifyJWT},
	{name: "ChargeJWT", call: (*Handler).chargeJWT},
	{name: "RevokeJWT", call: (*Handler).revokeJWT},
	{name: "GetCreditsRemaining", call: (*Handler).getCreditsRemaining},
	{name: "GetUsage", call: (*Handler).getUsage},
}

func (h *Handler) serve(op plainOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		obj, err := h.readBody(w, r, op.name)
		if errors.Is(err, errAnswered) {
			return
		}
		if err != nil && op.usage != "" {
			h.Service.RecordRefused(r.Context(), op.usage, h.ClientAddr(r), err)
		}
		var res any
		if err == nil {
			res, err = op.call(h, r, obj)
		}
		if err != nil {
			writeError(w, r, h.Logger, op.name, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// errAnswered means readBody has already answered the request.
var errAnswered = errors.New("answered")

// readBody reads a bounded JSON object. It answers 405, 413 and 400 (not JSON
// at all) itself and returns errAnswered; valid JSON of the wrong shape is
// returned as a business failure for the caller to answer.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, op string) (object, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, failureBody(op, "use POST with a JSON body"))
		return object{}, errAnswered
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, failureBody(op, "the request body is larger than 1 MiB"))
		return object{}, errAnswered
	case err != nil:
		writeJSON(w, http.StatusBadRequest, failureBody(op, "the request body could not be read"))
		return object{}, errAnswered
	}
	obj, err := decodeObject(body)
	var notJSON *notJSONError
	if errors.As(err, &notJSON) {
		writeJSON(w, http.StatusBadRequest, failureBody(op, notJSON.msg))
		return object{}, errAnswered
	}
	return obj, err
}

func (h *Handler) getJWT(r *http.Request, o object) (any, error) {
	addr := h.ClientAddr(r)
	req, err := getJWTRequest(o, queryFold(r.URL.Query(), "key"))
	if err == nil && bearerToken(r) != "" {
		err = core.Errorf(core.EUNAUTHORIZED, "GetJWT does not accept a bearer token (a token cannot mint tokens); send a username and password or an API key")
	}
	if err != nil {
		// Refused before core: still a GetJWT call for the usage ledger.
		h.Service.RecordRefused(r.Context(), core.MethodGetJWT, addr, err)
		return nil, err
	}
	req.ClientAddr = addr
	res, err := h.Service.GetJWT(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return GetJWTResponse{Status: success(res.CreditsRemaining), Jwt: &res.JWT}, nil
}

// queryFold returns the first value of a query parameter named name in any
// letter case.
func queryFold(q url.Values, name string) string {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// getJWTRequest maps the lenient body (and ?key=) to a core request.
func getJWTRequest(o object, key string) (*core.GetJWTRequest, error) {
	req := &core.GetJWTRequest{}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"username", &req.Username}, {"password", &req.Password}, {"clientIp", &req.ClientIP}, {"expiresAt", &req.ExpiresAt}} {
		if *f.dst, err = o.str(f.name); err != nil {
			return nil, err
		}
	}
	if req.AllowedMethods, err = o.strings("allowedMethods"); err != nil {
		return nil, err
	}
	if req.MaxCredits, err = o.int("maxCredits"); err != nil {
		return nil, err
	}
	if req.Options, err = o.options("options"); err != nil {
		return nil, err
	}
	req.APIKey = key
	// Core checks it again; here, so that it comes before the bearer check.
	if err := req.Credentials().Validate(); err != nil {
		return nil, err
	}
	return req, nil
}
