// Package edge is what every HTTP surface of jwtgate does alike: the
// Surface interface server.New mounts, the request body limit, the
// credentials a request carries outside its body, the Status envelope every
// UserAdmin result starts with, and the table from core's codes to what a
// surface answers, with the check that it maps every code.
package edge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate/core"
)

// Surface is one way of reaching jwtgate over HTTP (a protocol, a dialect):
// it registers its routes on the router it is given.
type Surface interface {
	Mount(r *mux.Router) error
}

// Deps are what every surface is built with.
type Deps struct {
	Service *core.Service
	Logger  *slog.Logger
	// ClientAddr returns the caller's address, for throttling and usage.
	ClientAddr func(*http.Request) string
}

// Check refuses Deps with a part missing, at mount rather than at the
// first request.
func (d Deps) Check() error {
	if d.Service == nil || d.Logger == nil || d.ClientAddr == nil {
		return errors.New("edge.Deps needs a Service, a Logger and a ClientAddr")
	}
	return nil
}

// MaxBodyBytes bounds a request body, on every surface.
const MaxBodyBytes = 1 << 20

// Body-reading failures.
var (
	ErrTooLarge   = fmt.Errorf("the request body is larger than %d MiB", MaxBodyBytes>>20)
	ErrUnreadable = errors.New("the request body could not be read")
)

// ReadBody reads a request body of at most MaxBodyBytes: ErrTooLarge
// beyond that, ErrUnreadable when the connection fails.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, ErrTooLarge
	case err != nil:
		return nil, ErrUnreadable
	}
	return body, nil
}

// BearerToken returns the token of an "Authorization: Bearer <jwt>" header.
func BearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Query returns the first value of the query parameter name; with anyCase,
// a parameter of that name in any letter case.
func Query(r *http.Request, name string, anyCase bool) string {
	if !anyCase {
		return r.URL.Query().Get(name)
	}
	return queryFold(r.URL.Query(), name)
}

func queryFold(q url.Values, name string) string {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// Status is the envelope every UserAdmin result starts with, on every
// surface: Success, ErrorMessage (null on success), CreditsRemaining (0 on
// failure).
type Status struct {
	Success          bool    `json:"Success"`
	ErrorMessage     *string `json:"ErrorMessage"`
	CreditsRemaining float64 `json:"CreditsRemaining"`
}

// Succeeded is the Status of a success with the account's balance.
func Succeeded(credits int64) Status {
	return Status{Success: true, CreditsRemaining: float64(credits)}
}

// Failed is the Status of a failure saying msg.
func Failed(msg string) Status { return Status{ErrorMessage: &msg} }

// Codes maps every core code to what a surface answers it with (an HTTP
// status, a SOAP outcome). A surface keeps one, checks it with Check when
// it mounts, and its tests prove every code is mapped.
type Codes[T any] map[core.Code]T

// Of returns what code is answered with: EINTERNAL's answer for a code the
// table lacks (Check refuses such a table).
func (c Codes[T]) Of(code core.Code) T {
	if v, ok := c[code]; ok {
		return v
	}
	return c[core.EINTERNAL]
}

// Check returns an error naming every core code the table does not map,
// and any it maps that core does not have.
func (c Codes[T]) Check() error {
	var missing, extra []string
	known := map[core.Code]bool{}
	for _, code := range core.Codes() {
		known[code] = true
		if _, ok := c[code]; !ok {
			missing = append(missing, string(code))
		}
	}
	for code := range c {
		if !known[code] {
			extra = append(extra, string(code))
		}
	}
	if len(missing)+len(extra) == 0 {
		return nil
	}
	return fmt.Errorf("code table: unmapped codes %v, unknown codes %v", missing, extra)
}

// LogFailure logs the cause of an internal error, the one kind whose
// message hides what happened; other errors are the caller's and are not
// logged.
func LogFailure(log *slog.Logger, r *http.Request, op string, err error) {
	if core.ErrorCode(err) == core.EINTERNAL {
		log.ErrorContext(r.Context(), "request failed", "op", op, "err", err)
	}
}

// RetryAfter sets the Retry-After header of a throttled or busy answer.
func RetryAfter(w http.ResponseWriter, err error) {
	if d := core.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())))
	}
}

// PathFold matches a request path case-insensitively (the reference
// platform runs on a case-insensitive server, and its clients rely on that).
func PathFold(path string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return strings.EqualFold(r.URL.Path, path) }
}
