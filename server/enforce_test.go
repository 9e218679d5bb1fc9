package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// call posts a JSON body to a plain endpoint, with optional headers
// (name, value pairs), and decodes the answer into a generic map.
func (e *env) call(op string, body any, header ...string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/UserAdmin/"+op+".json", bytes.NewReader(mustJSON(e.t, body)))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s: answer is not JSON: %q", op, raw)
	}
	if _, ok := out["Status"]; !ok || !bytes.HasPrefix(raw, []byte(`{"Status":`)) {
		e.t.Fatalf("%s: answer does not start with Status: %s", op, raw)
	}
	return resp.StatusCode, out
}

func status(m map[string]any) (ok bool, msg string, credits float64) {
	s := m["Status"].(map[string]any)
	msg, _ = s["ErrorMessage"].(string)
	return s["Success"] == true, msg, s["CreditsRemaining"].(float64)
}

// token gets a token through the plain GetJWT endpoint.
func (e *env) token(extra map[string]any) string {
	e.t.Helper()
	body := e.minimal()
	for k, v := range extra {
		body[k] = v
	}
	code, m := e.call("GetJWT", body)
	if ok, msg, _ := status(m); code != 200 || !ok {
		e.t.Fatalf("GetJWT: %d %s", code, msg)
	}
	return m["Jwt"].(string)
}

func TestPlainEnforcement(t *testing.T) {
	e := newEnv(t)
	sk := testenv.CreateServiceKey(t, e.svc, "billing")
	tok := e.token(map[string]any{"maxCredits": 2, "allowedMethods": []string{"Email"}, "clientIp": "192.0.2.0/24",
		"options": map[string]any{"ApplicationName": "Shop"}})
	charge := func(requestID string, extra ...string) (int, map[string]any) {
		body := map[string]any{"serviceKey": sk, "jwt": tok, "method": "Email.IsValid", "credits": 1, "clientIp": "192.0.2.7", "requestId": requestID}
		for i := 0; i+1 < len(extra); i += 2 {
			body[extra[i]] = extra[i+1]
		}
		return e.call("ChargeJWT", body)
	}

	t.Run("VerifyJWT", func(t *testing.T) {
		code, m := e.call("VerifyJWT", map[string]any{"SERVICEKEY": sk, "jwt": tok, "method": "email.Send", "clientIp": "192.0.2.9"})
		if ok, msg, credits := status(m); code != 200 || !ok || credits != testCredits {
			t.Fatalf("VerifyJWT: %d %v %s", code, m, msg)
		}
		if m["Username"] != testUser || m["Application"] != "Shop" || m["TokenCreditsRemaining"] != 2.0 ||
			m["ExpiresAt"] != e.expires(time.Hour).UTC().Format(time.RFC3339) {
			t.Fatalf("VerifyJWT = %v", m)
		}
	})
	t.Run("ChargeJWT", func(t *testing.T) {
		code, m := charge("r1")
		if ok, msg, credits := status(m); code != 200 || !ok || credits != testCredits-1 || m["TokenCreditsRemaining"] != 1.0 || m["Replayed"] != false {
			t.Fatalf("first charge: %d %v %s", code, m, msg)
		}
		lines := e.countUsage()
		_, m = charge("r1")
		if ok, _, credits := status(m); !ok || credits != testCredits-1 || m["Replayed"] != true {
			t.Fatalf("retry: %v", m)
		}
		if n := e.countUsage(); n != lines {
			t.Fatalf("a replay wrote %d ledger lines, want none", n-lines)
		}
		// The same requestId for another charge is refused as a conflict,
		// and that refusal is in the ledger, under the token's account.
		_, m = charge("r1", "method", "Email.Send")
		if ok, msg, _ := status(m); ok || msg != `requestId "r1" was already used for a charge of 1 credits for Email.IsValid` || m["Replayed"] != false {
			t.Fatalf("requestId reused for another charge: %v", m)
		}
		u := e.usage()
		if len(u) != lines+1 {
			t.Fatalf("a conflicting requestId wrote %d ledger lines, want 1", len(u)-lines)
		}
		if ev := u[len(u)-1]; ev.Outcome != core.Outcome(core.ECONFLICT) || ev.Method != "Email.Send" || ev.Credits != 0 ||
			ev.AccountID == nil || *ev.AccountID != e.accountID(testUser) || ev.JTI == "" || ev.Application != "Shop" {
			t.Fatalf("ledger line of the conflict = %+v", ev)
		}
		charge("r2")
		code, m = charge("r3")
		if ok, msg, _ := status(m); code != 200 || ok || !strings.HasPrefix(msg, "token credit limit reached: 2 of 2 spent") ||
			m["TokenCreditsRemaining"] != nil || m["Replayed"] != false {
			t.Fatalf("over the limit must be a business failure (HTTP 200): %d %v", code, m)
		}
		_, m = charge("r4", "method", "Phone.IsValid")
		if _, msg, _ := status(m); !strings.Contains(msg, "does not allow method Phone.IsValid") {
			t.Fatalf("wrong method: %v", m)
		}
		_, m = charge("r5", "serviceKey", "jgs_nope")
		if _, msg, _ := status(m); !strings.Contains(msg, "serviceKey") {
			t.Fatalf("bad service key: %v", m)
		}
		_, m = charge("r6", "credits", "lots")
		if _, msg, _ := status(m); !strings.Contains(msg, "credits must be a whole number") {
			t.Fatalf("bad credits: %v", m)
		}
	})
	t.Run("AccountOperations", func(t *testing.T) {
		code, m := e.call("GetCreditsRemaining", map[string]any{"username": testUser, "password": testPassword})
		if ok, _, credits := status(m); code != 200 || !ok || credits != testCredits-2 {
			t.Fatalf("GetCreditsRemaining: %v", m)
		}
		_, m = e.call("GetCreditsRemaining", map[string]any{}, "X-Dummy", "1")
		if ok, _, _ := status(m); ok {
			t.Fatalf("no credentials accepted: %v", m)
		}
		reader := e.token(map[string]any{"allowedMethods": []string{"UserAdmin"}})
		_, m = e.call("GetUsage", map[string]any{}, "Authorization", "Bearer "+reader)
		if ok, msg, _ := status(m); !ok {
			t.Fatalf("GetUsage with a bearer token: %s", msg)
		}
		var charged float64
		for _, row := range m["Usage"].([]any) {
			r := row.(map[string]any)
			if r["Method"] == "Email.IsValid" && r["Application"] == "Shop" {
				charged += r["Credits"].(float64)
			}
		}
		if charged != 2 {
			t.Fatalf("GetUsage shows %v credits charged by Shop for Email.IsValid, want 2: %v", charged, m["Usage"])
		}
		// The Email-only token may not read the account.
		_, m = e.call("GetUsage", map[string]any{}, "Authorization", "Bearer "+tok)
		if _, msg, _ := status(m); !strings.Contains(msg, "does not allow method UserAdmin.GetUsage") {
			t.Fatalf("GetUsage with a token limited to Email: %v", m)
		}
		// GetJWT never takes a bearer token.
		_, m = e.call("GetJWT", e.minimal(), "Authorization", "Bearer "+reader)
		if ok, msg, _ := status(m); ok || !strings.Contains(msg, "cannot mint tokens") || m["Jwt"] != nil {
			t.Fatalf("GetJWT with a bearer token: %v", m)
		}
	})
	t.Run("RevokeJWT", func(t *testing.T) {
		code, m := e.call("RevokeJWT", map[string]any{"jwt": tok})
		if ok, _, _ := status(m); code != 200 || !ok || m["Jti"] == nil {
			t.Fatalf("RevokeJWT: %v", m)
		}
		_, m = charge("r7")
		if _, msg, _ := status(m); msg != "token has been revoked" {
			t.Fatalf("charge after revoke: %v", m)
		}
		_, m = e.call("RevokeJWT", map[string]any{"jwt": tok})
		if ok, _, _ := status(m); !ok {
			t.Fatalf("revoking twice: %v", m)
		}
	})
	t.Run("FailureShape", func(t *testing.T) {
		// Failures keep each operation's own fields, as null.
		for op, fields := range map[string][]string{
			"VerifyJWT": {"Username", "Account", "Application", "ExpiresAt", "AllowedMethods", "TokenCreditsRemaining"},
			"ChargeJWT": {"TokenCreditsRemaining", "Replayed"},
			"RevokeJWT": {"Jti"},
			"GetUsage":  {"Usage"},
		} {
			code, m := e.call(op, map[string]any{})
			if ok, _, _ := status(m); code != 200 || ok {
				t.Errorf("%s with nothing: %d %v", op, code, m)
			}
			for _, f := range fields {
				if _, present := m[f]; !present {
					t.Errorf("%s failure lacks %s: %v", op, f, m)
				}
			}
		}
		r := e.do(http.MethodGet, "/UserAdmin/ChargeJWT.json", "", nil)
		if r.status != http.StatusMethodNotAllowed || !strings.Contains(string(r.body), `"Replayed":false`) {
			t.Errorf("GET ChargeJWT.json = %v", r)
		}
	})
}

// curl-style callers charging concurrently never overspend.
func TestPlainEnforcement_ConcurrentCharges(t *testing.T) {
	e := newEnv(t)
	sk := testenv.CreateServiceKey(t, e.svc, "billing")
	tok := e.token(map[string]any{"maxCredits": 5})
	var wg sync.WaitGroup
	var mu sync.Mutex
	successes := 0
	for range 40 {
		wg.Go(func() {
			_, m := e.call("ChargeJWT", map[string]any{"serviceKey": sk, "jwt": tok, "method": "A.B", "credits": 1})
			if ok, _, _ := status(m); ok {
				mu.Lock()
				successes++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	bal, err := e.svc.Admin.AddCredits(t.Context(), testUser, 0)
	if successes != 5 || err != nil || bal != testCredits-5 {
		t.Fatalf("%d successes, balance %d (%v); want 5 and %d", successes, bal, err, testCredits-5)
	}
	rows, err := e.svc.Admin.UsageReport(t.Context(), core.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if r.Method == "A.B" {
			found = true
			if r.Calls != 40 || r.Calls-r.Failures != 5 || r.Credits != 5 {
				t.Fatalf("ledger: %+v; want 40 calls, exactly 5 charges", *r)
			}
		}
	}
	if !found {
		t.Fatalf("no A.B line in the usage report: %v", rows)
	}
}
