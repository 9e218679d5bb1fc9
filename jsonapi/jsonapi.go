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
	return map[string]http.HandlerFunc{
		"/UserAdmin/GetJWT.json": h.getJWT,
	}
}

// errAnswered means readBody has already answered the request.
var errAnswered = errors.New("answered")

// readBody reads a bounded JSON object. It answers 405, 413 and 400 (not JSON
// at all) itself and returns errAnswered; valid JSON of the wrong shape is
// returned as a business failure for the caller to answer.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (object, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, GetJWTResponse{Status: failure("use POST with a JSON body")})
		return object{}, errAnswered
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, GetJWTResponse{Status: failure("the request body is larger than 1 MiB")})
		return object{}, errAnswered
	case err != nil:
		writeJSON(w, http.StatusBadRequest, GetJWTResponse{Status: failure("the request body could not be read")})
		return object{}, errAnswered
	}
	obj, err := decodeObject(body)
	var notJSON *notJSONError
	if errors.As(err, &notJSON) {
		writeJSON(w, http.StatusBadRequest, GetJWTResponse{Status: failure(notJSON.msg)})
		return object{}, errAnswered
	}
	return obj, err
}

func (h *Handler) getJWT(w http.ResponseWriter, r *http.Request) {
	obj, err := h.readBody(w, r)
	if errors.Is(err, errAnswered) {
		return
	}
	addr := h.ClientAddr(r)
	var req *core.GetJWTRequest
	if err == nil {
		req, err = getJWTRequest(obj, queryFold(r.URL.Query(), "key"))
	}
	if err != nil {
		// Refused before core: still a GetJWT call for the usage ledger.
		h.Service.RecordRefused(r.Context(), core.MethodGetJWT, addr, err)
		writeError(w, r, h.Logger, "GetJWT", err)
		return
	}
	req.ClientAddr = addr
	res, err := h.Service.GetJWT(r.Context(), req)
	if err != nil {
		writeError(w, r, h.Logger, "GetJWT", err)
		return
	}
	writeJSON(w, http.StatusOK, GetJWTResponse{
		Status: Status{Success: true, CreditsRemaining: float64(res.CreditsRemaining)},
		Jwt:    &res.JWT,
	})
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
	if key != "" {
		if req.Username != "" || req.Password != "" {
			return nil, core.Errorf(core.EINVALID, "give either username and password or ?key=, not both")
		}
		req.Username = core.APIKeyUserPrefix + key
	}
	return req, nil
}
