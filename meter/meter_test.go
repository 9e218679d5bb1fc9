package meter_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/meter"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
)

const (
	user     = "alice"
	password = "correct horse battery"
)

// fixture is a real jwtgate, and an operator's service protected by meter.
type fixture struct {
	svc     *core.Service
	gate    *httptest.Server
	app     *httptest.Server
	served  int
	mu      sync.Mutex
	charges []*meter.Charge
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	svc, db := testenv.New(t)
	f := &fixture{svc: svc}
	testenv.CreateUser(t, svc, user, password, 100)
	spec, err := jsonapi.LoadSpec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// jwtgate as cmd/jwtgate assembles it, answers checked against its
	// OpenAPI document.
	log := slog.New(slog.DiscardHandler)
	d := edge.Deps{Service: svc, Logger: log, ClientAddr: clientaddr.Resolver{}.Addr}
	h, err := server.New(server.Config{Keys: svc.KeyRing, Logger: log, Ping: db.Ping, Surfaces: []edge.Surface{
		&jsonapi.Plain{Deps: d}, &soap.Handler{Deps: d}, &jsonapi.OpenAPI{Deps: d, Spec: spec, ValidateResponses: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.gate = httptest.NewServer(h)
	t.Cleanup(f.gate.Close)
	m := &meter.Meter{URL: f.gate.URL, ServiceKey: testenv.CreateServiceKey(t, svc, "app"), Logger: slog.New(slog.DiscardHandler)}
	f.app = httptest.NewServer(m.Protect("Email.IsValid", 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := meter.FromContext(r.Context())
		f.mu.Lock()
		f.served++
		f.charges = append(f.charges, c)
		f.mu.Unlock()
		io.WriteString(w, "validated\n")
	})))
	t.Cleanup(f.app.Close)
	return f
}

func (f *fixture) token(t *testing.T, methods []string, maxCredits int64, clientIP string) string {
	t.Helper()
	mc := maxCredits
	res, err := f.svc.Issuer.GetJWT(t.Context(), &core.GetJWTRequest{
		Credentials:    core.Credentials{Username: user, Password: password, ClientAddr: "127.0.0.1"},
		AllowedMethods: methods, MaxCredits: &mc, ClientIP: clientIP, ExpiresAt: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	return res.JWT
}

// get calls the protected service; it returns the status and the Status
// envelope's message (empty on success).
func (f *fixture) get(t *testing.T, token string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.app.URL, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	var env struct {
		Status struct {
			Success      bool
			ErrorMessage string
		}
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status.Success {
		t.Fatalf("HTTP %d with a body that is not a failed Status envelope: %q", resp.StatusCode, body)
	}
	return resp.StatusCode, env.Status.ErrorMessage
}

func (f *fixture) balance(t *testing.T) int64 {
	t.Helper()
	bal, err := f.svc.Admin.AddCredits(t.Context(), user, 0)
	if err != nil {
		t.Fatal(err)
	}
	return bal
}

func TestProtect(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, []string{"Email"}, 5, "")

	if code, msg := f.get(t, tok); code != 200 {
		t.Fatalf("first call: %d %s", code, msg)
	}
	if got := f.charges[0]; got.Credits != 2 || got.Method != "Email.IsValid" || got.TokenCreditsRemaining == nil || *got.TokenCreditsRemaining != 3 || got.CreditsRemaining != 98 {
		t.Fatalf("charge reported to the handler = %+v", got)
	}
	// A retried request with the same Idempotency-Key is served again but charged once.
	f.get(t, tok, "Idempotency-Key", "order-7")
	if code, _ := f.get(t, tok, "Idempotency-Key", "order-7"); code != 200 || !f.charges[2].Replayed {
		t.Fatalf("retry: %d, %+v", code, f.charges[2])
	}
	if bal := f.balance(t); bal != 96 {
		t.Fatalf("balance %d, want 96 (two charges of 2)", bal)
	}
	// One credit left on the token, the route costs 2.
	code, msg := f.get(t, tok)
	if code != http.StatusPaymentRequired || !strings.Contains(msg, "token credit limit reached") {
		t.Fatalf("over the limit: %d %q", code, msg)
	}
	if f.served != 3 {
		t.Fatalf("the handler ran %d times, want 3", f.served)
	}
}

func TestProtect_Refusals(t *testing.T) {
	f := newFixture(t)
	phoneOnly := f.token(t, []string{"Phone"}, 5, "")
	elsewhere := f.token(t, nil, 5, "192.0.2.1")
	revoked := f.token(t, nil, 5, "")
	if _, err := f.svc.Enforcer.RevokeJWT(t.Context(), &core.RevokeJWTRequest{JWT: revoked}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		want        int
		msg         string
	}{
		{"NoToken", "", http.StatusUnauthorized, "Authorization: Bearer"},
		{"Garbage", "not-a-token", http.StatusUnauthorized, "jwt"},
		{"Revoked", revoked, http.StatusUnauthorized, "token has been revoked"},
		{"WrongMethod", phoneOnly, http.StatusForbidden, "does not allow method Email.IsValid"},
		{"WrongClientIP", elsewhere, http.StatusForbidden, "token is bound to client IP 192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := f.get(t, tc.token)
			if code != tc.want || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %d %q, want %d and %q", code, msg, tc.want, tc.msg)
			}
		})
	}
	if f.served != 0 || f.balance(t) != 100 {
		t.Fatalf("refused requests were served (%d) or charged (balance %d)", f.served, f.balance(t))
	}
}

// jwtgate unreachable or answering oddly: refused with 503, never served free.
func TestProtect_Unavailable(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"ServerError": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
		"NotJSON":     func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") },
		"Throttled": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"Status":{"Success":false,"ErrorMessage":"busy, retry","CreditsRemaining":0}}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			fake := httptest.NewServer(h)
			defer fake.Close()
			served := false
			m := &meter.Meter{URL: fake.URL, ServiceKey: "jgs_x", Logger: slog.New(slog.DiscardHandler)}
			app := httptest.NewServer(m.Protect("A.B", 1, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true })))
			defer app.Close()
			req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
			req.Header.Set("Authorization", "Bearer x.y.z")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want, retry := http.StatusServiceUnavailable, "1"
			if name == "Throttled" {
				want, retry = http.StatusTooManyRequests, "7"
			}
			if resp.StatusCode != want || resp.Header.Get("Retry-After") != retry || served {
				t.Fatalf("got %d (Retry-After %q), served=%v; want %d, %q, not served", resp.StatusCode, resp.Header.Get("Retry-After"), served, want, retry)
			}
		})
	}
	// Nothing listening at all.
	m := &meter.Meter{URL: "http://127.0.0.1:1", ServiceKey: "jgs_x", Logger: slog.New(slog.DiscardHandler)}
	app := httptest.NewServer(m.Protect("A.B", 1, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("served") })))
	defer app.Close()
	req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
	req.Header.Set("Authorization", "Bearer x.y.z")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("jwtgate down: %v %v", resp, err)
	}
}
