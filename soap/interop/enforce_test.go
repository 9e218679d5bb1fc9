package interop_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// zeep runs ChargeJWT (and the other enforcement operations) from the WSDL
// served by jwtgate.
func TestEnforcement_Zeep(t *testing.T) {
	py := requireZeep(t)
	srv := newServer(t)
	const user = "zeep-enforce"
	srv.createUser(t, user)
	serviceKey := testenv.CreateServiceKey(t, srv.svc, "zeep-billing")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("clients", "zeep_enforce.py"),
		srv.URL+"/useradmin.asmx?WSDL", user, password, serviceKey)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("zeep_enforce.py: %v\n%s", err, raw)
	}
	var got struct {
		Results map[string]map[string]any `json:"results"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("output: %v\n%s", err, raw)
	}
	r := got.Results
	status := func(step string) map[string]any {
		if _, flat := r[step]["Success"]; flat {
			return r[step] // zeep returns a result whose only child is Status as that Status
		}
		s, _ := r[step]["Status"].(map[string]any)
		if s == nil {
			t.Fatalf("%s: no Status in %v", step, r[step])
		}
		return s
	}
	ok := func(step string) bool { return status(step)["Success"] == true }
	msg := func(step string) string { m, _ := status(step)["ErrorMessage"].(string); return m }
	num := func(step, field string) float64 { f, _ := r[step][field].(float64); return f }

	switch {
	case !ok("getJWT"):
		t.Fatalf("GetJWT: %v", r["getJWT"])
	case !ok("charge1") || num("charge1", "TokenCreditsRemaining") != 1 || r["charge1"]["Replayed"] != false:
		t.Errorf("first charge: %v", r["charge1"])
	case !ok("charge1Retry") || num("charge1Retry", "TokenCreditsRemaining") != 1 || r["charge1Retry"]["Replayed"] != true:
		t.Errorf("retried requestId must replay the first outcome: %v", r["charge1Retry"])
	case !ok("charge2") || num("charge2", "TokenCreditsRemaining") != 0:
		t.Errorf("second charge (SOAP 1.2): %v", r["charge2"])
	case ok("charge3") || !strings.Contains(msg("charge3"), "token credit limit reached"):
		t.Errorf("third charge must hit the token limit: %v", r["charge3"])
	case ok("wrongIP") || !strings.Contains(msg("wrongIP"), "198.51.100.1 is not allowed"):
		t.Errorf("wrong client IP: %v", r["wrongIP"])
	case !ok("verify") || r["verify"]["Application"] != "zeep-shop" || r["verify"]["TokenCreditsRemaining"] != 0.0:
		t.Errorf("VerifyJWT: %v", r["verify"])
	case !ok("balance") || status("balance")["CreditsRemaining"] != float64(credits-2):
		t.Errorf("GetCreditsRemaining: %v (want %d)", r["balance"], credits-2)
	case !ok("usage"):
		t.Errorf("GetUsage: %v", r["usage"])
	case !ok("revoke") || r["revoke"]["Jti"] == "":
		t.Errorf("RevokeJWT: %v", r["revoke"])
	case ok("afterRevoke") || msg("afterRevoke") != "token has been revoked":
		t.Errorf("charge after revoke: %v", r["afterRevoke"])
	}
	// Two charges, whatever the retries: the account and the ledger agree.
	a, err := srv.svc.Admin.Account(t.Context(), user)
	if err != nil || a.Credits != credits-2 {
		t.Fatalf("balance = %v, %v; want %d", a, err, credits-2)
	}
	// The ledger: charge1 and charge2 (2 credits), and three refusals
	// (limit, wrong IP, revoked); the replayed retry is not a new call.
	rows, err := srv.svc.Admin.UsageReport(t.Context(), core.UsageQuery{Account: user})
	if err != nil {
		t.Fatal(err)
	}
	var calls, failures, charged int64
	for _, row := range rows {
		if row.Account == user && row.Application == "zeep-shop" && row.Method == "Email.IsValid" {
			calls, failures, charged = calls+row.Calls, failures+row.Failures, charged+row.Credits
		}
	}
	if calls != 5 || failures != 3 || charged != 2 {
		t.Errorf("ledger for Email.IsValid by zeep-shop: %d calls, %d failures, %d credits; want 5, 3, 2", calls, failures, charged)
	}
}
