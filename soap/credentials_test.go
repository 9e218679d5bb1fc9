package soap_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	gosoap "github.com/hooklift/gowsdl/soap"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/soap/useradminws"
)

// TestCredentials_EnvelopeOnly: SOAP takes an account's credentials from the
// envelope only (username and password, or apikey-KEY as the username). A
// ?key= in the address or an Authorization: Bearer header is not read, so
// the JSON surfaces' rule that ?key= excludes the other credentials
// (core's (*Op).Admit) never applies here: neither is refused, and
// neither authenticates.
func TestCredentials_EnvelopeOnly(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	key, _ := testenv.CreateAPIKey(t, e.svc, testUser)
	plain := useradminws.NewUserAdminSoap(gosoap.NewClient(e.srv.URL+asmxPath, gosoap.WithHTTPClient(e.srv.Client())))
	tok, err := plain.GetJWTContext(ctx, &useradminws.GetJWT{Username: testUser, Password: testPassword,
		ExpiresAt: gosoap.CreateXsdDateTime(e.expires(time.Hour), true)})
	if err != nil || !tok.GetJWTResult.Status.Success {
		t.Fatalf("GetJWT: %v %+v", err, tok)
	}
	bearer := tok.GetJWTResult.Jwt

	const required = "username and password are required"
	for _, tc := range []struct {
		name               string
		username, password string
		query              string // added to the address
		bearer             string
		want               string // "" for success, else the failure's message
	}{
		{"LoginWithKeyAndBearer", testUser, testPassword, "?key=" + url.QueryEscape(key), bearer, ""},
		{"KeyAsUsernameWithKey", core.APIKeyUserPrefix + key, "", "?key=" + url.QueryEscape(key), "", ""},
		{"KeyOnlyInQuery", "", "", "?key=" + url.QueryEscape(key), "", required},
		{"BearerOnlyInHeader", "", "", "", bearer, required},
	} {
		headers := map[string]string{}
		if tc.bearer != "" {
			headers["Authorization"] = "Bearer " + tc.bearer
		}
		client := useradminws.NewUserAdminSoap(gosoap.NewClient(e.srv.URL+asmxPath+tc.query,
			gosoap.WithHTTPClient(e.srv.Client()), gosoap.WithHTTPHeaders(headers)))
		for _, op := range []struct {
			name string
			call func() (*useradminws.Status, error)
		}{
			{"GetJWT", func() (*useradminws.Status, error) {
				r, err := client.GetJWTContext(ctx, &useradminws.GetJWT{Username: tc.username, Password: tc.password,
					ExpiresAt: gosoap.CreateXsdDateTime(e.expires(time.Hour), true)})
				if err != nil {
					return nil, err
				}
				return r.GetJWTResult.Status, nil
			}},
			{"GetCreditsRemaining", func() (*useradminws.Status, error) {
				r, err := client.GetCreditsRemainingContext(ctx, &useradminws.GetCreditsRemaining{Username: tc.username, Password: tc.password})
				if err != nil {
					return nil, err
				}
				return r.GetCreditsRemainingResult.Status, nil
			}},
			{"GetUsage", func() (*useradminws.Status, error) {
				r, err := client.GetUsageContext(ctx, &useradminws.GetUsage{Username: tc.username, Password: tc.password})
				if err != nil {
					return nil, err
				}
				return r.GetUsageResult.Status, nil
			}},
		} {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				st, err := op.call()
				if err != nil || st == nil {
					t.Fatalf("%v, Status %+v", err, st)
				}
				switch {
				case tc.want == "" && !st.Success:
					t.Errorf("failed: %q", st.ErrorMessage)
				case tc.want != "" && (st.Success || !strings.Contains(st.ErrorMessage, tc.want)):
					t.Errorf("Status %+v, want a failure saying %q", st, tc.want)
				}
			})
		}
	}
}
