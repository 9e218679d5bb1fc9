package soap_test

import (
	"slices"
	"testing"
	"time"

	gosoap "github.com/hooklift/gowsdl/soap"

	"github.com/jwtgate/jwtgate/soap/useradminws"
)

// The client gowsdl generates from the WSDL is the first third-party proof
// that the contract works.
func TestGetJWT_GeneratedClient(t *testing.T) {
	full := func(exp time.Time) *useradminws.GetJWT {
		maxCredits := int32(40)
		m1, m2 := "AddressCapture", "Email.IsValid"
		return &useradminws.GetJWT{
			Username:       testUser,
			Password:       testPassword,
			ClientIp:       "203.0.113.9",
			ExpiresAt:      gosoap.CreateXsdDateTime(exp, true),
			AllowedMethods: &useradminws.ArrayOfString{Astring: []*string{&m1, &m2}},
			MaxCredits:     &maxCredits,
			Options:        &useradminws.ArrayOfOption{Option: []*useradminws.Option{{Name: "ApplicationName", Value: "Checkout"}}},
		}
	}
	client := func(e *env) useradminws.UserAdminSoap {
		return useradminws.NewUserAdminSoap(gosoap.NewClient(e.srv.URL+asmxPath, gosoap.WithHTTPClient(e.srv.Client())))
	}

	for _, tc := range []struct {
		name string
		zone *time.Location
	}{
		{"OK", time.UTC},
		{"OffsetZone", time.FixedZone("", 5*3600+30*60)}, // +05:30: the instant counts, not the wall clock
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			exp := e.expires(2 * time.Hour)
			resp, err := client(e).GetJWTContext(t.Context(), full(exp.In(tc.zone)))
			if err != nil {
				t.Fatalf("GetJWT: %v", err)
			}
			res := resp.GetJWTResult
			if res == nil || res.Status == nil {
				t.Fatalf("response lacks GetJWTResult/Status: %+v", resp)
			}
			if !res.Status.Success || res.Status.CreditsRemaining != testCredits || res.Status.ErrorMessage != "" || res.Jwt == "" {
				t.Fatalf("Status = %+v, Jwt = %q; want Success with %d credits", res.Status, res.Jwt, testCredits)
			}

			c := e.verify(res.Jwt)
			iat := e.now.Truncate(time.Second)
			switch {
			case !c.ExpiresAt.Equal(exp):
				t.Errorf("exp = %v, want %v", c.ExpiresAt.Time, exp)
			case !c.IssuedAt.Equal(iat) || !c.NotBefore.Equal(iat):
				t.Errorf("iat, nbf = %v, %v; want %v", c.IssuedAt.Time, c.NotBefore.Time, iat)
			}
			if c.Subject != testUser || c.Account != testUser || c.Issuer != testIssuer {
				t.Errorf("sub, account, iss = %q, %q, %q", c.Subject, c.Account, c.Issuer)
			}
			if !slices.Equal(c.AllowedMethods, []string{"AddressCapture", "Email.IsValid"}) {
				t.Errorf("allowed_methods = %q", c.AllowedMethods)
			}
			if c.MaxCredits == nil || *c.MaxCredits != 40 {
				t.Errorf("max_credits = %v, want 40", c.MaxCredits)
			}
			if c.Application != "Checkout" || c.ClientIP != "203.0.113.9" {
				t.Errorf("application, client_ip = %q, %q", c.Application, c.ClientIP)
			}
		})
	}

	t.Run("WrongPassword", func(t *testing.T) {
		e := newEnv(t)
		req := full(e.expires(time.Hour))
		req.Password = "not the password"
		resp, err := client(e).GetJWTContext(t.Context(), req)
		if err != nil {
			t.Fatalf("a business failure must be a normal response, not %v", err)
		}
		if resp.GetJWTResult == nil || resp.GetJWTResult.Status == nil {
			t.Fatalf("response lacks GetJWTResult/Status: %+v", resp)
		}
		st := resp.GetJWTResult.Status
		if st.Success || st.ErrorMessage != "invalid username or password" || st.CreditsRemaining != 0 || resp.GetJWTResult.Jwt != "" {
			t.Errorf("Status = %+v, Jwt = %q; want Success=false, \"invalid username or password\", 0 credits, no Jwt",
				st, resp.GetJWTResult.Jwt)
		}
	})
}
