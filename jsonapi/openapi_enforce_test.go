package jsonapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/jsonapi/apiclient"
)

// The enforcement operations on the strict surface, driven by the generated
// client. Every answer goes through the env's validating transport, so each
// status and body is also checked against openapi.yaml.

// balance is an account's balance, read through core.
func (e *env) balance(account string) int64 {
	e.t.Helper()
	a, err := e.svc.Admin.Account(e.ctx, account)
	if err != nil {
		e.t.Fatalf("AccountByName(%s): %v", account, err)
	}
	return a.Credits
}

// usage sums the rows of the operator's usage report for which keep is true.
func (e *env) usage(keep func(*core.UsageRow) bool) (calls, failures, credits int64) {
	e.t.Helper()
	rows, err := e.svc.Admin.UsageReport(e.ctx, core.UsageQuery{})
	if err != nil {
		e.t.Fatalf("UsageReport: %v", err)
	}
	for _, r := range rows {
		if keep(r) {
			calls, failures, credits = calls+r.Calls, failures+r.Failures, credits+r.Credits
		}
	}
	return calls, failures, credits
}

// sdkBearer and sdkKeyQuery give the generated client the credentials that
// the document's bearerAuth and ApiKeyQuery schemes describe.
func sdkBearer(tok string) apiclient.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

func sdkKeyQuery(key string) apiclient.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		q := r.URL.Query()
		q.Set("key", key)
		r.URL.RawQuery = q.Encode()
		return nil
	}
}

// wantFailure checks a failure: the documented status, decoded by the
// generated client as that status's result (got non-nil), with
// Success=false, CreditsRemaining 0 and a message containing msg.
func wantFailure(t *testing.T, status int, body []byte, wantStatus int, got *apiclient.Status, msg string) {
	t.Helper()
	if status != wantStatus || got == nil {
		t.Fatalf("HTTP %d %s, want %d", status, body, wantStatus)
	}
	if got.Success || got.CreditsRemaining != 0 || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, msg) {
		t.Fatalf("HTTP %d %s, want a failure saying %q", status, body, msg)
	}
}

// statusOf returns the Status of a generated result, or nil.
func statusOf[T any](r *T, st func(*T) apiclient.Status) *apiclient.Status {
	if r == nil {
		return nil
	}
	s := st(r)
	return &s
}

func chargeStatus(r *apiclient.ChargeJWTResult) apiclient.Status { return r.Status }
func verifyStatus(r *apiclient.VerifyJWTResult) apiclient.Status { return r.Status }
func revokeStatus(r *apiclient.RevokeJWTResult) apiclient.Status { return r.Status }
func creditsStatus(r *apiclient.StatusResult) apiclient.Status   { return r.Status }
func usageStatus(r *apiclient.GetUsageResult) apiclient.Status   { return r.Status }

// TestOpenAPI_ChargeJWT runs ChargeJWT end to end with the generated client:
// a charge, its retry, each refusal, and the ledger afterwards.
func TestOpenAPI_ChargeJWT(t *testing.T) {
	e := newEnv(t, validateResponses())
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), "answer breaks openapi.yaml") {
			t.Errorf("the server sent an answer that breaks the document:\n%s", e.logs.String())
		}
	})
	key := e.serviceKey("shop")
	tok := e.token(apiclient.GetJWTRequest{
		AllowedMethods: &[]string{"Email"}, MaxCredits: ptr(int64(5)), ClientIp: ptr("203.0.113.9"),
		Options: &apiclient.GetJWTOptions{ApplicationName: ptr("charge-app")},
	})
	req := func(credits int64, requestID string) apiclient.ChargeJWTRequest {
		return apiclient.ChargeJWTRequest{ServiceKey: key, Jwt: tok, Method: "Email.IsValid", Credits: credits,
			ClientIp: ptr("203.0.113.9"), RequestId: ptr(requestID)}
	}
	charge := func(t *testing.T, r apiclient.ChargeJWTRequest) *apiclient.ChargeJWTResponse {
		t.Helper()
		res, err := e.client.ChargeJWTWithResponse(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wantCharged := func(t *testing.T, res *apiclient.ChargeJWTResponse, balance, tokenLeft int64, replayed bool) {
		t.Helper()
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
		}
		r := res.JSON200
		if !r.Status.Success || r.Status.ErrorMessage != nil || r.Status.CreditsRemaining != float64(balance) ||
			r.TokenCreditsRemaining == nil || *r.TokenCreditsRemaining != tokenLeft || r.Replayed != replayed {
			t.Fatalf("%s, want balance %d, token %d, replayed %v", res.Body, balance, tokenLeft, replayed)
		}
	}

	t.Run("OK", func(t *testing.T) {
		wantCharged(t, charge(t, req(2, "req-1")), aliceCredits-2, 3, false)
	})
	t.Run("Replayed", func(t *testing.T) {
		wantCharged(t, charge(t, req(2, "req-1")), aliceCredits-2, 3, true)
		if b := e.balance(alice); b != aliceCredits-2 {
			t.Fatalf("balance %d after a retry, want %d", b, aliceCredits-2)
		}
	})
	t.Run("ErrRequestIDReused", func(t *testing.T) {
		// A requestId reused for another charge is refused, and the refusal
		// is a line of the ledger, every time.
		for range 2 {
			before := len(e.lines())
			res := charge(t, req(1, "req-1"))
			wantFailure(t, res.StatusCode(), res.Body, http.StatusConflict, statusOf(res.JSON409, chargeStatus), `requestId "req-1" was already used`)
			lines := e.lines()[before:]
			if len(lines) != 1 || lines[0].Outcome != core.Outcome(core.ECONFLICT) || lines[0].Credits != 0 ||
				accountOf(lines[0]) != e.alice.AccountID || lines[0].Application != "charge-app" {
				t.Fatalf("ledger lines %+v, want one conflict under alice's account, charging nothing", lines)
			}
		}
	})
	t.Run("ErrTokenLimit", func(t *testing.T) {
		res := charge(t, req(4, "req-2"))
		wantFailure(t, res.StatusCode(), res.Body, http.StatusPaymentRequired, statusOf(res.JSON402, chargeStatus),
			"token credit limit reached: 2 of 5 spent, 4 more requested")
		if res.JSON402.TokenCreditsRemaining != nil || res.JSON402.Replayed {
			t.Errorf("refusal %s", res.Body)
		}
	})
	t.Run("ErrWrongMethod", func(t *testing.T) {
		r := req(1, "req-3")
		r.Method = "AddressCapture.Find"
		res := charge(t, r)
		wantFailure(t, res.StatusCode(), res.Body, http.StatusForbidden, statusOf(res.JSON403, chargeStatus), "token does not allow method AddressCapture.Find")
	})
	t.Run("ErrWrongClientIP", func(t *testing.T) {
		r := req(1, "req-4")
		r.ClientIp = ptr("198.51.100.7")
		res := charge(t, r)
		wantFailure(t, res.StatusCode(), res.Body, http.StatusForbidden, statusOf(res.JSON403, chargeStatus), "token is bound to client IP 203.0.113.9; 198.51.100.7 is not allowed")
	})
	t.Run("ErrServiceKey", func(t *testing.T) {
		r := req(1, "req-5")
		r.ServiceKey = "jgs_0123456789abcdef_not-the-secret"
		res := charge(t, r)
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, chargeStatus), "a valid serviceKey is required")
	})
	t.Run("ErrRevokedToken", func(t *testing.T) {
		if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
			t.Fatal(err)
		}
		res := charge(t, req(1, "req-7"))
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, chargeStatus), "token has been revoked")
		// A retry of the first charge still answers what it did.
		wantCharged(t, charge(t, req(2, "req-1")), aliceCredits-2, 3, true)
	})

	if b := e.balance(alice); b != aliceCredits-2 {
		t.Errorf("balance %d, want %d", b, aliceCredits-2)
	}
	calls, failures, credits := e.usage(func(r *core.UsageRow) bool { return r.Application == "charge-app" })
	if credits != 2 || failures == 0 || calls <= failures {
		t.Errorf("ledger for charge-app: %d calls, %d failures, %d credits; want exactly 2 credits charged", calls, failures, credits)
	}
}

// TestOpenAPI_ChargeJWTContract sends ChargeJWT the body that meter (and any
// hand-written caller) sends, and reads the fields it reads.
func TestOpenAPI_ChargeJWTContract(t *testing.T) {
	e := newEnv(t)
	key := e.serviceKey("meter")
	tok := e.token(apiclient.GetJWTRequest{MaxCredits: ptr(int64(1))})
	send := func(requestID string) (int, struct {
		Status                struct{ Success bool }
		TokenCreditsRemaining *int64
		Replayed              bool
	}) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"serviceKey": key, "jwt": tok, "method": "Pages.Render", "credits": 1,
			"clientIp": "192.0.2.1", "requestId": requestID})
		a := e.postOp("ChargeJWT", "application/json", string(body), "", nil)
		var out struct {
			Status                struct{ Success bool }
			TokenCreditsRemaining *int64
			Replayed              bool
		}
		if err := json.Unmarshal(a.body, &out); err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		return a.status, out
	}
	if st, out := send("a"); st != http.StatusOK || !out.Status.Success || out.TokenCreditsRemaining == nil || *out.TokenCreditsRemaining != 0 || out.Replayed {
		t.Fatalf("charge: HTTP %d %+v", st, out)
	}
	if st, out := send("a"); st != http.StatusOK || !out.Replayed {
		t.Fatalf("retry: HTTP %d %+v", st, out)
	}
	if st, out := send("b"); st != http.StatusPaymentRequired || out.Status.Success {
		t.Fatalf("over the limit: HTTP %d %+v", st, out)
	}
}

// TestOpenAPI_VerifyJWT describes tokens, charges nothing, and refuses.
func TestOpenAPI_VerifyJWT(t *testing.T) {
	e := newEnv(t)
	key := e.serviceKey("gateway")
	exp := expires()
	unlimited := e.token(apiclient.GetJWTRequest{
		ExpiresAt: exp, AllowedMethods: &[]string{"Email", "AddressCapture.Find"},
		Options: &apiclient.GetJWTOptions{ApplicationName: ptr("verify-app")},
	})
	limited := e.token(apiclient.GetJWTRequest{MaxCredits: ptr(int64(7)), ClientIp: ptr("2001:db8::/32")})
	verify := func(t *testing.T, r apiclient.VerifyJWTRequest) *apiclient.VerifyJWTResponse {
		t.Helper()
		res, err := e.client.VerifyJWTWithResponse(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("Unlimited", func(t *testing.T) {
		res := verify(t, apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: unlimited, Method: "email.isvalid"})
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
		}
		r := res.JSON200
		if !r.Status.Success || r.Status.ErrorMessage != nil || r.Status.CreditsRemaining != aliceCredits ||
			derefOr(r.Username) != alice || derefOr(r.Account) != alice || derefOr(r.Application) != "verify-app" ||
			r.ExpiresAt == nil || !r.ExpiresAt.Equal(exp) || r.AllowedMethods == nil ||
			!slices.Equal(*r.AllowedMethods, []string{"Email", "AddressCapture.Find"}) || r.TokenCreditsRemaining != nil {
			t.Fatalf("result %s", res.Body)
		}
		if !regexp.MustCompile(`"ExpiresAt":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"`).Match(res.Body) {
			t.Errorf("ExpiresAt is not RFC 3339 in UTC with whole seconds: %s", res.Body)
		}
		if !strings.Contains(string(res.Body), `"TokenCreditsRemaining":null`) {
			t.Errorf("an unlimited token's TokenCreditsRemaining must be null: %s", res.Body)
		}
	})
	t.Run("Limited", func(t *testing.T) {
		res := verify(t, apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: limited, Method: "Any.Thing", ClientIp: ptr("2001:db8::7")})
		if res.JSON200 == nil || res.JSON200.TokenCreditsRemaining == nil || *res.JSON200.TokenCreditsRemaining != 7 ||
			res.JSON200.AllowedMethods == nil || len(*res.JSON200.AllowedMethods) != 0 || derefOr(res.JSON200.Application) != "" {
			t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
		}
	})
	t.Run("ChargesNothing", func(t *testing.T) {
		if b := e.balance(alice); b != aliceCredits {
			t.Fatalf("balance %d", b)
		}
	})
	for _, tc := range []struct {
		name   string
		req    apiclient.VerifyJWTRequest
		status int
		msg    string
	}{
		{"ErrMethod", apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: unlimited, Method: "AddressCapture.Other"}, http.StatusForbidden, "token does not allow method AddressCapture.Other"},
		{"ErrClientIPRequired", apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: limited, Method: "A.B"}, http.StatusForbidden, "clientIp is required"},
		{"ErrClientIPOutside", apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: limited, Method: "A.B", ClientIp: ptr("203.0.113.9")}, http.StatusForbidden, "token is bound to client IP 2001:db8::/32"},
		{"ErrClientIPInvalid", apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: limited, Method: "A.B", ClientIp: ptr("not an address")}, http.StatusBadRequest, `clientIp "not an address" is not a valid IP address`},
		{"ErrServiceKey", apiclient.VerifyJWTRequest{ServiceKey: "nope", Jwt: unlimited, Method: "Email.IsValid"}, http.StatusUnauthorized, "a valid serviceKey is required"},
		{"ErrTampered", apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: tamper(t, unlimited), Method: "Email.IsValid"}, http.StatusUnauthorized, "token signature is invalid"},
		{"ErrNotAToken", apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: "not-a-token", Method: "Email.IsValid"}, http.StatusUnauthorized, "jwt is not a well-formed JSON Web Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := verify(t, tc.req)
			var got *apiclient.VerifyJWTResult
			switch tc.status {
			case http.StatusBadRequest:
				got = res.JSON400
			case http.StatusUnauthorized:
				got = res.JSON401
			case http.StatusForbidden:
				got = res.JSON403
			}
			wantFailure(t, res.StatusCode(), res.Body, tc.status, statusOf(got, verifyStatus), tc.msg)
			if got.Username != nil || got.ExpiresAt != nil || got.AllowedMethods != nil || got.TokenCreditsRemaining != nil {
				t.Errorf("a failure describes no token: %s", res.Body)
			}
		})
	}
}

// tamper changes one claim of a token and keeps its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["max_credits"] = 1_000_000
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// TestOpenAPI_RevokeJWT revokes by token and by jti, with each kind of
// credentials.
func TestOpenAPI_RevokeJWT(t *testing.T) {
	e := newEnv(t)
	key := e.serviceKey("gateway")
	revoke := func(t *testing.T, r apiclient.RevokeJWTRequest, editors ...apiclient.RequestEditorFn) *apiclient.RevokeJWTResponse {
		t.Helper()
		res, err := e.client.RevokeJWTWithResponse(e.ctx, r, editors...)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wantRevoked := func(t *testing.T, res *apiclient.RevokeJWTResponse, tok string) {
		t.Helper()
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil || !res.JSON200.Status.Success || derefOr(res.JSON200.Jti) != e.jti(tok) {
			t.Fatalf("HTTP %d %s, want jti %s", res.StatusCode(), res.Body, e.jti(tok))
		}
		v, err := e.client.VerifyJWTWithResponse(e.ctx, apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: tok, Method: "A.B"})
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, v.StatusCode(), v.Body, http.StatusUnauthorized, statusOf(v.JSON401, verifyStatus), "token has been revoked")
	}

	t.Run("ByToken", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{})
		wantRevoked(t, revoke(t, apiclient.RevokeJWTRequest{Jwt: &tok}), tok)
		// Twice is harmless.
		wantRevoked(t, revoke(t, apiclient.RevokeJWTRequest{Jwt: &tok}), tok)
	})
	t.Run("ByJTIWithPassword", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{})
		wantRevoked(t, revoke(t, apiclient.RevokeJWTRequest{Username: ptr(alice), Password: ptr(alicePassword), Jti: ptr(e.jti(tok))}), tok)
	})
	t.Run("ByJTIWithKey", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{})
		wantRevoked(t, revoke(t, apiclient.RevokeJWTRequest{Jti: ptr(e.jti(tok))}, sdkKeyQuery(e.apiKey)), tok)
	})
	t.Run("ByJTIWithBearer", func(t *testing.T) {
		admin := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin.RevokeJWT"}})
		tok := e.token(apiclient.GetJWTRequest{})
		wantRevoked(t, revoke(t, apiclient.RevokeJWTRequest{Jti: ptr(e.jti(tok))}, sdkBearer(admin)), tok)
	})
	t.Run("ErrOtherAccountsJTI", func(t *testing.T) {
		if _, err := e.svc.Admin.CreateUser(e.ctx, core.CreateUserRequest{Username: "dave", Password: "dave's long password", Credits: 5}); err != nil {
			t.Fatal(err)
		}
		theirs := e.token(apiclient.GetJWTRequest{Username: ptr("dave"), Password: ptr("dave's long password")})
		res := revoke(t, apiclient.RevokeJWTRequest{Username: ptr(alice), Password: ptr(alicePassword), Jti: ptr(e.jti(theirs))})
		wantFailure(t, res.StatusCode(), res.Body, http.StatusNotFound, statusOf(res.JSON404, revokeStatus), "no token with this jti in your account")
		if res.JSON404.Jti != nil {
			t.Errorf("failure %s", res.Body)
		}
		v, err := e.client.VerifyJWTWithResponse(e.ctx, apiclient.VerifyJWTRequest{ServiceKey: key, Jwt: theirs, Method: "A.B"})
		if err != nil || v.JSON200 == nil {
			t.Fatalf("dave's token after alice's attempt: HTTP %d %s %v", v.StatusCode(), v.Body, err)
		}
	})
	t.Run("ErrJTIWithoutCredentials", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{})
		res := revoke(t, apiclient.RevokeJWTRequest{Jti: ptr(e.jti(tok))})
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, revokeStatus), "authenticate as the token's account")
	})
	t.Run("ErrNothingNamed", func(t *testing.T) {
		res := revoke(t, apiclient.RevokeJWTRequest{Username: ptr(alice), Password: ptr(alicePassword)})
		wantFailure(t, res.StatusCode(), res.Body, http.StatusBadRequest, statusOf(res.JSON400, revokeStatus), "give the jwt to revoke or its jti")
	})
	t.Run("ErrBearerForOtherMethods", func(t *testing.T) {
		limited := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin.GetUsage"}})
		tok := e.token(apiclient.GetJWTRequest{})
		res := revoke(t, apiclient.RevokeJWTRequest{Jti: ptr(e.jti(tok))}, sdkBearer(limited))
		wantFailure(t, res.StatusCode(), res.Body, http.StatusForbidden, statusOf(res.JSON403, revokeStatus), "token does not allow method UserAdmin.RevokeJWT")
	})
}

// TestOpenAPI_AccountOperations runs GetCreditsRemaining and GetUsage with
// each kind of credentials the document describes.
func TestOpenAPI_AccountOperations(t *testing.T) {
	e := newEnv(t)
	key := e.serviceKey("shop")
	metered := e.token(apiclient.GetJWTRequest{Options: &apiclient.GetJWTOptions{ApplicationName: ptr("usage-app")}})
	res, err := e.client.ChargeJWTWithResponse(e.ctx, apiclient.ChargeJWTRequest{ServiceKey: key, Jwt: metered, Method: "Email.IsValid", Credits: 3})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("ChargeJWT: %v %s", err, res.Body)
	}
	const balance = aliceCredits - 3
	today := time.Now().UTC().Format(time.DateOnly)

	for _, cred := range []struct {
		name    string
		user    apiclient.AccountCredentials
		editors []apiclient.RequestEditorFn
	}{
		{"Password", apiclient.AccountCredentials{Username: ptr(alice), Password: ptr(alicePassword)}, nil},
		{"APIKeyAsUsername", apiclient.AccountCredentials{Username: ptr(core.APIKeyUserPrefix + e.apiKey)}, nil},
		{"KeyQuery", apiclient.AccountCredentials{}, []apiclient.RequestEditorFn{sdkKeyQuery(e.apiKey)}},
		{"BearerUserAdmin", apiclient.AccountCredentials{}, []apiclient.RequestEditorFn{sdkBearer(e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin"}}))}},
	} {
		t.Run(cred.name+"/GetCreditsRemaining", func(t *testing.T) {
			res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, cred.user, cred.editors...)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusOK || res.JSON200 == nil || !res.JSON200.Status.Success || res.JSON200.Status.CreditsRemaining != balance {
				t.Fatalf("HTTP %d %s, want %d credits", res.StatusCode(), res.Body, balance)
			}
		})
		t.Run(cred.name+"/GetUsage", func(t *testing.T) {
			res, err := e.client.GetUsageWithResponse(e.ctx, apiclient.GetUsageRequest{Username: cred.user.Username, Password: cred.user.Password, From: ptr(today)}, cred.editors...)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusOK || res.JSON200 == nil || !res.JSON200.Status.Success || res.JSON200.Status.CreditsRemaining != balance || res.JSON200.Usage == nil {
				t.Fatalf("HTTP %d %s", res.StatusCode(), res.Body)
			}
			var found bool
			for _, row := range *res.JSON200.Usage {
				if row.Application == "usage-app" && row.Method == "Email.IsValid" {
					found = true
					if row.Day.Format(time.DateOnly) != today || row.Calls != 1 || row.Failures != 0 || row.Credits != 3 {
						t.Errorf("row %+v", row)
					}
				}
			}
			if !found {
				t.Errorf("no row for usage-app's charge: %s", res.Body)
			}
		})
	}

	t.Run("BearerForThisOperationOnly", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin.GetCreditsRemaining"}})
		if res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, apiclient.AccountCredentials{}, sdkBearer(tok)); err != nil || res.JSON200 == nil {
			t.Fatalf("GetCreditsRemaining: %v HTTP %d %s", err, res.StatusCode(), res.Body)
		}
		res, err := e.client.GetUsageWithResponse(e.ctx, apiclient.GetUsageRequest{}, sdkBearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusForbidden, statusOf(res.JSON403, usageStatus), "token does not allow method UserAdmin.GetUsage")
	})
	t.Run("ErrBearerForOtherMethods", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"Email", "AddressCapture.Find"}})
		res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, apiclient.AccountCredentials{}, sdkBearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusForbidden, statusOf(res.JSON403, creditsStatus), "token does not allow method UserAdmin.GetCreditsRemaining")
		u, err := e.client.GetUsageWithResponse(e.ctx, apiclient.GetUsageRequest{}, sdkBearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, u.StatusCode(), u.Body, http.StatusForbidden, statusOf(u.JSON403, usageStatus), "token does not allow method UserAdmin.GetUsage")
		if u.JSON403.Usage != nil {
			t.Errorf("failure %s", u.Body)
		}
	})
	t.Run("ErrRevokedBearer", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin"}})
		if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: tok}); err != nil {
			t.Fatal(err)
		}
		res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, apiclient.AccountCredentials{}, sdkBearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, creditsStatus), "token has been revoked")
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, apiclient.AccountCredentials{Username: ptr(alice), Password: ptr("not the password")})
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, creditsStatus), "invalid username or password")
	})
	t.Run("ErrNoCredentials", func(t *testing.T) {
		res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, apiclient.AccountCredentials{})
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, creditsStatus), "username and password are required")
	})
	t.Run("ErrKeyAndPassword", func(t *testing.T) {
		res, err := e.client.GetCreditsRemainingWithResponse(e.ctx, apiclient.AccountCredentials{Username: ptr(alice), Password: ptr(alicePassword)}, sdkKeyQuery(e.apiKey))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusBadRequest, statusOf(res.JSON400, creditsStatus), "key: give either a username and password or an API key, not both")
	})
	t.Run("ErrBearerAndPassword", func(t *testing.T) {
		tok := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin"}})
		res, err := e.client.GetUsageWithResponse(e.ctx, apiclient.GetUsageRequest{Username: ptr(alice), Password: ptr(alicePassword)}, sdkBearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusBadRequest, statusOf(res.JSON400, usageStatus), "give either a bearer token or a username and password")
	})
	t.Run("ErrUsageRange", func(t *testing.T) {
		res, err := e.client.GetUsageWithResponse(e.ctx, apiclient.GetUsageRequest{Username: ptr(alice), Password: ptr(alicePassword), From: ptr("2030-02-01"), To: ptr("2030-01-01")})
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusBadRequest, statusOf(res.JSON400, usageStatus), "from must be before to")
	})
	t.Run("ErrGetJWTWithBearer", func(t *testing.T) {
		// The document lists no bearer scheme for GetJWT: a token cannot mint tokens.
		tok := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin"}})
		res, err := e.client.GetJWTWithResponse(e.ctx, apiclient.GetJWTRequest{Username: ptr(alice), Password: ptr(alicePassword), ExpiresAt: expires()}, sdkBearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		wantFailure(t, res.StatusCode(), res.Body, http.StatusUnauthorized, statusOf(res.JSON401, func(r *apiclient.GetJWTResult) apiclient.Status { return r.Status }), "GetJWT does not accept a bearer token")
	})
}

// TestOpenAPI_EnforcementSchemaViolations breaks each field of each
// enforcement request schema: every request gets 400 with the operation's
// own result, whose message names the field; core never looks up a key, a
// token or a user, and nothing lands in the usage ledger.
func TestOpenAPI_EnforcementSchemaViolations(t *testing.T) {
	e := newEnv(t)
	key := e.serviceKey("violations")
	tok := e.token(apiclient.GetJWTRequest{})
	bodies := map[string]func() map[string]any{
		"VerifyJWT": func() map[string]any {
			return map[string]any{"serviceKey": key, "jwt": tok, "method": "Email.IsValid", "clientIp": "203.0.113.9"}
		},
		"ChargeJWT": func() map[string]any {
			return map[string]any{"serviceKey": key, "jwt": tok, "method": "Email.IsValid", "credits": 1, "clientIp": "203.0.113.9", "requestId": "r-1"}
		},
		"RevokeJWT": func() map[string]any {
			return map[string]any{"username": alice, "password": alicePassword, "jwt": tok, "jti": e.jti(tok)}
		},
		"GetCreditsRemaining": func() map[string]any { return map[string]any{"username": alice, "password": alicePassword} },
		"GetUsage": func() map[string]any {
			return map[string]any{"username": alice, "password": alicePassword, "from": "2030-01-01", "to": "2030-01-31"}
		},
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	const (
		methodRE = `^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$`
		dayRE    = `^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(Z|[+-][0-9]{2}:[0-9]{2}))?$`
	)
	for _, tc := range []struct {
		op, field string
		value     any
		drop      bool
		want      string
	}{
		{"VerifyJWT", "serviceKey", nil, true, "serviceKey: is required"},
		{"VerifyJWT", "jwt", long(8193), false, "jwt: must be at most 8192 characters long"},
		{"VerifyJWT", "method", "Email", false, "method: must match the regular expression " + methodRE},
		{"VerifyJWT", "clientIp", 5, false, "clientIp: must be a string or null"},
		{"VerifyJWT", "credits", 1, false, `unknown property "credits"`},

		{"ChargeJWT", "serviceKey", "", false, "serviceKey: must not be empty"},
		{"ChargeJWT", "jwt", nil, false, "jwt: must not be null"},
		{"ChargeJWT", "method", "A." + long(127), false, "method: must be at most 128 characters long"},
		{"ChargeJWT", "method", "Email.IsValid.Now", false, "method: must match the regular expression " + methodRE},
		{"ChargeJWT", "credits", nil, true, "credits: is required"},
		{"ChargeJWT", "credits", 0, false, "credits: must be at least 1"},
		{"ChargeJWT", "credits", int64(1) << 53, false, "credits: must be at most 9007199254740991"},
		{"ChargeJWT", "credits", 1.5, false, "credits: must be an integer"},
		{"ChargeJWT", "credits", "1", false, "credits: must be an integer"},
		{"ChargeJWT", "clientIp", long(65), false, "clientIp: must be at most 64 characters long"},
		{"ChargeJWT", "requestId", long(129), false, "requestId: must be at most 128 characters long"},
		{"ChargeJWT", "requestId", "r\n1", false, `requestId: must match the regular expression ^[^\x00-\x1F\x7F-\x9F]*$`},
		{"ChargeJWT", "ServiceKey", key, false, `unknown property "ServiceKey"`},

		{"RevokeJWT", "username", 42, false, "username: must be a string"},
		{"RevokeJWT", "password", long(1025), false, "password: must be at most 1024 characters long"},
		{"RevokeJWT", "jwt", long(8193), false, "jwt: must be at most 8192 characters long"},
		{"RevokeJWT", "jti", long(65), false, "jti: must be at most 64 characters long"},
		{"RevokeJWT", "token", tok, false, `unknown property "token"`},

		{"GetCreditsRemaining", "username", long(257), false, "username: must be at most 256 characters long"},
		{"GetCreditsRemaining", "password", nil, false, "password: must not be null"},
		{"GetCreditsRemaining", "key", e.apiKey, false, `unknown property "key"`},

		{"GetUsage", "username", []string{alice}, false, "username: must be a string"},
		{"GetUsage", "password", 5, false, "password: must be a string"},
		{"GetUsage", "from", "2030-01-01T00:00:00", false, "from: must match the regular expression " + dayRE},
		{"GetUsage", "to", 20300131, false, "to: must be a string"},
		{"GetUsage", "until", "2030-01-31", false, `unknown property "until"`},
	} {
		t.Run(tc.op+"/"+tc.field, func(t *testing.T) {
			body := bodies[tc.op]()
			if tc.drop {
				delete(body, tc.field)
			} else {
				body[tc.field] = tc.value
			}
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			e.wantRefused(t, tc.op, string(b), tc.want)
		})
	}
	t.Run("GetUsage/NotAnObject", func(t *testing.T) {
		e.wantRefused(t, "GetUsage", `["2030-01-01"]`, "the request body: must be an object")
	})
	t.Run("ChargeJWT/Duplicate", func(t *testing.T) {
		e.wantRefused(t, "ChargeJWT", `{"serviceKey":"a","serviceKey":"b","jwt":"x","method":"A.B","credits":1}`, "serviceKey: is given more than once")
	})
}

// wantRefused posts body to op and expects a 400 that the document's check
// answered, before core.
func (e *env) wantRefused(t *testing.T, op, body, want string) {
	t.Helper()
	lookups, before := e.store.lookups.Load(), len(e.lines())
	a := e.postOp(op, "application/json", body, "", nil)
	if a.status != http.StatusBadRequest || a.env.Success || a.env.ErrorMessage == nil || *a.env.ErrorMessage != want {
		t.Fatalf("%s %s: %v, want 400 saying %q", op, body, a, want)
	}
	if a.out == nil {
		t.Errorf("the answer is not %s's result: %s", op, a.body)
	}
	if n := e.store.lookups.Load() - lookups; n != 0 {
		t.Errorf("core looked up %d keys, tokens or users for a request the document refuses", n)
	}
	if n := len(e.lines()) - before; n != 0 {
		t.Errorf("the usage ledger gained %d lines", n)
	}
}

// TestOpenAPI_EnforcementRefusals: what the strict surface refuses before
// any schema check is answered with the operation's own result too.
func TestOpenAPI_EnforcementRefusals(t *testing.T) {
	e := newEnv(t)
	for _, op := range []string{"VerifyJWT", "ChargeJWT", "RevokeJWT", "GetCreditsRemaining", "GetUsage"} {
		for _, tc := range []struct {
			name, contentType, body string
			status                  int
			want                    string
		}{
			{"TextPlain", "text/plain", "{}", http.StatusUnsupportedMediaType, "Content-Type: application/json"},
			{"TooLarge", "application/json", `{"jwt":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, "larger than 1 MiB"},
			{"Empty", "application/json", "", http.StatusBadRequest, "the request body is empty"},
			{"NotJSON", "application/json", "{", http.StatusBadRequest, "the request body is not valid JSON"},
		} {
			t.Run(op+"/"+tc.name, func(t *testing.T) {
				a := e.postOp(op, tc.contentType, tc.body, "", nil)
				if a.status != tc.status || a.env.Success || a.env.ErrorMessage == nil || !strings.Contains(*a.env.ErrorMessage, tc.want) || a.out == nil {
					t.Fatalf("%v, want %d saying %q in %s's result", a, tc.status, tc.want, op)
				}
			})
		}
		t.Run(op+"/MethodNotAllowed", func(t *testing.T) {
			a := e.raw(http.MethodGet, "/api/v1/UserAdmin/"+op, "", "")
			if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != http.MethodPost || a.out == nil || a.env.Success {
				t.Fatalf("%v, want 405 with %s's result", a, op)
			}
		})
	}
}
