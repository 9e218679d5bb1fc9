package soap_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosoap "github.com/hooklift/gowsdl/soap"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/soap/useradminws"
)

// enforceEnv is a server, a service key and a token limited to 3 credits
// for Email methods from 192.0.2.0/24.
type enforceEnv struct {
	*env
	client     useradminws.UserAdminSoap
	serviceKey string
	jwt        string
}

func newEnforceEnv(t *testing.T) *enforceEnv {
	t.Helper()
	e := &enforceEnv{env: newEnv(t)}
	e.client = useradminws.NewUserAdminSoap(gosoap.NewClient(e.srv.URL+asmxPath, gosoap.WithHTTPClient(e.srv.Client())))
	e.serviceKey = testenv.CreateServiceKey(t, e.svc, "billing")
	maxCredits := int32(3)
	m := "Email"
	resp, err := e.client.GetJWTContext(t.Context(), &useradminws.GetJWT{
		Username: testUser, Password: testPassword, ClientIp: "192.0.2.0/24",
		ExpiresAt:      gosoap.CreateXsdDateTime(e.expires(time.Hour), true),
		AllowedMethods: &useradminws.ArrayOfString{Astring: []*string{&m}},
		MaxCredits:     &maxCredits,
		Options:        &useradminws.ArrayOfOption{Option: []*useradminws.Option{{Name: "ApplicationName", Value: "Shop"}}},
	})
	if err != nil || !resp.GetJWTResult.Status.Success {
		t.Fatalf("GetJWT: %v %+v", err, resp)
	}
	e.jwt = resp.GetJWTResult.Jwt
	return e
}

func (e *enforceEnv) charge(ctx context.Context, method, requestID string) *useradminws.ChargeJWTResult {
	e.t.Helper()
	resp, err := e.client.ChargeJWTContext(ctx, &useradminws.ChargeJWT{
		ServiceKey: e.serviceKey, Jwt: e.jwt, Method: method, Credits: 1, ClientIp: "192.0.2.7", RequestId: requestID})
	if err != nil {
		e.t.Errorf("ChargeJWT: %v", err)
		return nil
	}
	return resp.ChargeJWTResult
}

func TestEnforcement_GeneratedClient(t *testing.T) {
	e := newEnforceEnv(t)
	ctx := t.Context()

	v, err := e.client.VerifyJWTContext(ctx, &useradminws.VerifyJWT{ServiceKey: e.serviceKey, Jwt: e.jwt, Method: "email.IsValid", ClientIp: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	vr := v.VerifyJWTResult
	if !vr.Status.Success || vr.Username != testUser || vr.Application != "Shop" || vr.TokenCreditsRemaining == nil ||
		*vr.TokenCreditsRemaining != 3 || vr.Status.CreditsRemaining != testCredits || vr.AllowedMethods == nil || len(vr.AllowedMethods.Astring) != 1 {
		t.Fatalf("VerifyJWT = %+v", vr)
	}

	if r := e.charge(ctx, "Email.IsValid", "req-1"); !r.Status.Success || *r.TokenCreditsRemaining != 2 || r.Status.CreditsRemaining != testCredits-1 || r.Replayed {
		t.Fatalf("first charge = %+v", r)
	}
	if r := e.charge(ctx, "Email.IsValid", "req-1"); !r.Status.Success || *r.TokenCreditsRemaining != 2 || !r.Replayed {
		t.Fatalf("replayed charge = %+v", r)
	}
	if r := e.charge(ctx, "Phone.IsValid", ""); r.Status.Success || !strings.Contains(r.Status.ErrorMessage, "does not allow method Phone.IsValid") {
		t.Fatalf("wrong method = %+v", r)
	}

	bal, err := e.client.GetCreditsRemainingContext(ctx, &useradminws.GetCreditsRemaining{Username: testUser, Password: testPassword})
	if err != nil || !bal.GetCreditsRemainingResult.Status.Success || bal.GetCreditsRemainingResult.Status.CreditsRemaining != testCredits-1 {
		t.Fatalf("GetCreditsRemaining = %+v, %v", bal, err)
	}

	u, err := e.client.GetUsageContext(ctx, &useradminws.GetUsage{Username: testUser, Password: testPassword})
	if err != nil || !u.GetUsageResult.Status.Success || u.GetUsageResult.Usage == nil {
		t.Fatalf("GetUsage = %+v, %v", u, err)
	}
	var found bool
	for _, row := range u.GetUsageResult.Usage.UsageRow {
		if row.Method == "Email.IsValid" && row.Application == "Shop" && row.Calls == 1 && row.Credits == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("GetUsage lacks the Email.IsValid charge by Shop: %+v", u.GetUsageResult.Usage.UsageRow)
	}

	rv, err := e.client.RevokeJWTContext(ctx, &useradminws.RevokeJWT{Jwt: e.jwt})
	if err != nil || !rv.RevokeJWTResult.Status.Success || rv.RevokeJWTResult.Jti == "" {
		t.Fatalf("RevokeJWT = %+v, %v", rv, err)
	}
	if r := e.charge(ctx, "Email.IsValid", ""); r.Status.Success || r.Status.ErrorMessage != "token has been revoked" {
		t.Fatalf("charge after revoke = %+v", r)
	}
}

// Refusals are Success=false responses, never faults, and carry nil where
// the WSDL says nillable.
func TestEnforcement_RefusalShape(t *testing.T) {
	e := newEnforceEnv(t)
	body := `<ChargeJWT xmlns="` + tns + `"><serviceKey>jgs_wrong</serviceKey><jwt>` + e.jwt + `</jwt><method>Email.IsValid</method><credits>1</credits></ChargeJWT>`
	r := e.post(envelope11(body), soap11(tns+"/ChargeJWT")...)
	if r.status != 200 || !strings.Contains(string(r.body), `<Success>false</Success><ErrorMessage>a valid serviceKey is required`) ||
		!strings.Contains(string(r.body), `<TokenCreditsRemaining xsi:nil="true"/><Replayed>false</Replayed>`) {
		t.Fatalf("got %s", r)
	}
	bad := `<ChargeJWT xmlns="` + tns + `"><serviceKey>x</serviceKey><credits>many</credits></ChargeJWT>`
	f := assertFault(t, e.post(envelope11(bad), soap11(tns+"/ChargeJWT")...), ns11, 500, "Client")
	if !strings.Contains(f.Message, "credits") {
		t.Fatalf("fault %q does not name credits", f.Message)
	}
	// An unlimited token reports a nil TokenCreditsRemaining.
	res, err := e.svc.Issuer.GetJWT(t.Context(), &core.GetJWTRequest{
		Credentials: core.Credentials{Username: testUser, Password: testPassword, ClientAddr: "192.0.2.1"},
		ExpiresAt:   e.expires(time.Hour).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	body = `<VerifyJWT xmlns="` + tns + `"><serviceKey>` + e.serviceKey + `</serviceKey><jwt>` + res.JWT + `</jwt><method>A.B</method></VerifyJWT>`
	r = e.post(envelope12(body), soap12(tns+"/VerifyJWT")...)
	if r.status != 200 || !strings.Contains(string(r.body), `<TokenCreditsRemaining xsi:nil="true"/>`) || !strings.Contains(string(r.body), ns12) {
		t.Fatalf("got %s", r)
	}
}

// Concurrent SOAP charges never overspend the token's limit.
func TestEnforcement_ConcurrentCharges(t *testing.T) {
	e := newEnforceEnv(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok []int64
	for range 30 {
		wg.Go(func() {
			if r := e.charge(t.Context(), "Email.Send", ""); r != nil && r.Status.Success {
				mu.Lock()
				ok = append(ok, *r.TokenCreditsRemaining)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(ok)
	if !slices.Equal(ok, []int64{0, 1, 2}) {
		t.Fatalf("successful charges left %v, want exactly [0 1 2]", ok)
	}
}
