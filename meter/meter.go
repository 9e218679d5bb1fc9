// Package meter protects an operator's own net/http handlers with jwtgate
// tokens: each request must carry "Authorization: Bearer <jwt>", and is let
// through only after jwtgate has charged the route's cost to that token
// (ChargeJWT over jwtgate's JSON API). Refusals are answered with jwtgate's
// Status envelope and the matching HTTP status: 401 (no or bad token), 402
// (credits exhausted), 403 (method or client IP not allowed), 429 (retry
// later), 503 (jwtgate unreachable: requests are refused, never let through
// uncharged).
package meter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Meter talks to one jwtgate.
type Meter struct {
	// URL is jwtgate's base URL, e.g. "http://127.0.0.1:8080".
	URL string
	// ServiceKey authenticates this service to jwtgate (jwtgate servicekey create NAME).
	ServiceKey string
	// Client makes the calls; nil means a client with a 5 s timeout.
	Client *http.Client
	// ClientIP returns the address a request comes from, checked against a
	// token bound to an IP; nil means the TCP peer of the request.
	ClientIP func(*http.Request) string
	// Logger receives why jwtgate could not be asked; nil means slog.Default().
	Logger *slog.Logger
}

// Status is jwtgate's envelope.
type Status struct {
	Success          bool    `json:"Success"`
	ErrorMessage     *string `json:"ErrorMessage"`
	CreditsRemaining float64 `json:"CreditsRemaining"`
}

// Charge is what a successful charge reports to the protected handler.
type Charge struct {
	Method                string
	Credits               int64
	CreditsRemaining      float64 // the account's balance after the charge
	TokenCreditsRemaining *int64  // nil: the token has no limit of its own
	Replayed              bool    // the request repeated an earlier Idempotency-Key
}

type ctxKey struct{}

// FromContext returns the charge made for the request being served.
func FromContext(ctx context.Context) (*Charge, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Charge)
	return c, ok
}

// Protect returns a handler that charges cost credits for method
// (Service.Method) to the request's bearer token, then calls next.
//
// A client that retries a request may send the same Idempotency-Key (or
// X-Request-Id) header: jwtgate then charges it once.
func (m *Meter) Protect(method string, cost int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jwtgate"`)
			writeStatus(w, http.StatusUnauthorized, "an Authorization: Bearer <jwt> header is required")
			return
		}
		c, status, env := m.charge(r, token, method, cost)
		if status != http.StatusOK {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jwtgate", error="invalid_token"`)
			}
			if env.retryAfter != "" {
				w.Header().Set("Retry-After", env.retryAfter)
			}
			writeJSON(w, status, map[string]any{"Status": env.Status})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

type answer struct {
	Status                Status `json:"Status"`
	TokenCreditsRemaining *int64 `json:"TokenCreditsRemaining"`
	Replayed              bool   `json:"Replayed"`
	retryAfter            string
}

// charge asks jwtgate; it returns the HTTP status to answer with.
func (m *Meter) charge(r *http.Request, token, method string, cost int64) (*Charge, int, answer) {
	reqID := r.Header.Get("Idempotency-Key")
	if reqID == "" {
		reqID = r.Header.Get("X-Request-Id")
	}
	if reqID == "" {
		b := make([]byte, 16)
		rand.Read(b) //nolint:errcheck // crypto/rand does not fail
		reqID = hex.EncodeToString(b)
	}
	body, _ := json.Marshal(map[string]any{
		"serviceKey": m.ServiceKey, "jwt": token, "method": method, "credits": cost,
		"clientIp": m.clientIP(r), "requestId": reqID,
	})
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost,
		strings.TrimRight(m.URL, "/")+"/api/v1/UserAdmin/ChargeJWT", bytes.NewReader(body))
	if err != nil {
		return nil, http.StatusServiceUnavailable, m.unavailable(r, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client().Do(req)
	if err != nil {
		return nil, http.StatusServiceUnavailable, m.unavailable(r, err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return nil, http.StatusServiceUnavailable, m.unavailable(r, fmt.Errorf("HTTP %d with an unreadable body", resp.StatusCode))
	}
	a.retryAfter = resp.Header.Get("Retry-After")
	switch resp.StatusCode {
	case http.StatusOK:
		if !a.Status.Success {
			return nil, http.StatusServiceUnavailable, m.unavailable(r, fmt.Errorf("HTTP 200 without success"))
		}
		return &Charge{Method: method, Credits: cost, CreditsRemaining: a.Status.CreditsRemaining,
			TokenCreditsRemaining: a.TokenCreditsRemaining, Replayed: a.Replayed}, http.StatusOK, a
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden, http.StatusTooManyRequests:
		return nil, resp.StatusCode, a
	case http.StatusBadRequest:
		// The token or the request did not fit jwtgate's schema: to the
		// caller, that is a bad token.
		return nil, http.StatusUnauthorized, a
	}
	return nil, http.StatusServiceUnavailable, m.unavailable(r, fmt.Errorf("HTTP %d", resp.StatusCode))
}

// unavailable logs why jwtgate could not charge (for the operator) and
// answers the caller without the cause.
func (m *Meter) unavailable(r *http.Request, err error) answer {
	log := m.Logger
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(r.Context(), "jwtgate charge failed", "path", r.URL.Path, "err", err)
	msg := "metering is unavailable, retry later"
	return answer{Status: Status{ErrorMessage: &msg}, retryAfter: "1"}
}

func (m *Meter) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	return defaultClient
}

var defaultClient = &http.Client{Timeout: 5 * time.Second}

func (m *Meter) clientIP(r *http.Request) string {
	if m.ClientIP != nil {
		return m.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"Status": Status{ErrorMessage: &msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck
}
