package jsonapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

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

// readBody reads a bounded body, answering 405/413/400 itself when it cannot.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (object, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, GetJWTResponse{Status: failure("use POST with a JSON body")})
		return object{}, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, GetJWTResponse{Status: failure("the request body is larger than 1 MiB")})
		return object{}, false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, GetJWTResponse{Status: failure("the request body could not be read")})
		return object{}, false
	}
	obj, err := decodeObject(body)
	var notJSON *notJSONError
	switch {
	case errors.As(err, &notJSON):
		writeJSON(w, http.StatusBadRequest, GetJWTResponse{Status: failure(notJSON.msg)})
		return object{}, false
	case err != nil:
		writeError(w, r, h.Logger, "decode", err)
		return object{}, false
	}
	return obj, true
}

func (h *Handler) getJWT(w http.ResponseWriter, r *http.Request) {
	obj, ok := h.readBody(w, r)
	if !ok {
		return
	}
	req, err := getJWTRequest(obj, r.URL.Query().Get("key"))
	if err != nil {
		writeError(w, r, h.Logger, "GetJWT", err)
		return
	}
	req.ClientAddr = h.ClientAddr(r)
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
