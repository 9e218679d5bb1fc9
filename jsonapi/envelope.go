// Package jsonapi serves jwtgate over JSON: the lenient plain endpoints
// (/UserAdmin/<Method>.json) that answer business failures with HTTP 200.
package jsonapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/jwtgate/jwtgate/core"
)

// Status is the envelope every result carries.
type Status struct {
	Success          bool    `json:"Success"`
	ErrorMessage     *string `json:"ErrorMessage"`
	CreditsRemaining float64 `json:"CreditsRemaining"`
}

// GetJWTResponse is the body of a GetJWT answer: Status then Jwt.
type GetJWTResponse struct {
	Status Status  `json:"Status"`
	Jwt    *string `json:"Jwt"`
}

// plainStatus maps each core code to the HTTP status of the plain endpoints:
// business failures are 200 with Success=false; only server faults are not.
var plainStatus = map[core.Code]int{
	core.EINVALID:      http.StatusOK,
	core.EUNAUTHORIZED: http.StatusOK,
	core.EFORBIDDEN:    http.StatusOK,
	core.ENOCREDITS:    http.StatusOK,
	core.ETHROTTLED:    http.StatusOK,
	core.EBUSY:         http.StatusOK,
	core.ENOTFOUND:     http.StatusOK,
	core.ECONFLICT:     http.StatusOK,
	core.EINTERNAL:     http.StatusInternalServerError,
}

// PlainStatus returns the HTTP status a plain endpoint answers code with.
func PlainStatus(code core.Code) int {
	if s, ok := plainStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func failure(msg string) Status {
	return Status{Success: false, ErrorMessage: &msg}
}

// writeError answers err in the envelope, logging the cause of internal errors.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, op string, err error) {
	code := core.ErrorCode(err)
	if code == core.EINTERNAL {
		log.ErrorContext(r.Context(), "request failed", "op", op, "err", err)
	}
	if d := core.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())))
	}
	writeJSON(w, PlainStatus(code), failureBody(op, core.ErrorMessage(err)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n')) //nolint:errcheck // the client went away
}
