package jsonapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/jsonapi/apiclient"
)

// The refusals of credentials given more than one way (core's Op.Admit).
const (
	msgKeyAndLogin    = "give either a username and password or an API key, not both"
	msgKeyAndBearer   = "give either a bearer token or an API key, not both"
	msgBearerAndLogin = "give either a bearer token or a username and password, not both"
	msgGetJWTBearer   = "GetJWT does not accept a bearer token (a token cannot mint tokens); send a username and password or an API key"
)

// TestSurfaces_CredentialsOneWay: on both JSON surfaces, for every operation
// that takes an account's credentials, an API key given as ?key= excludes a
// username, a password and a bearer token. The refusal is core's, in the
// same words on both (the strict surface names the key parameter first, as
// it names a field, when core says it is about the key), comes before any
// credential is looked up and, for GetJWT, is one line of the usage ledger
// attributed to no account: credentials given more than one way name
// nobody. Each refused combination joins genuine credentials: any one of
// them alone would succeed.
func TestSurfaces_CredentialsOneWay(t *testing.T) {
	e := newEnv(t)
	bearer := e.token(apiclient.GetJWTRequest{AllowedMethods: &[]string{"UserAdmin"}})

	type creds struct {
		username, password string
		key, keyParam      string // keyParam: the query parameter's spelling, "key" unless set
		bearer             string
	}
	type want struct {
		code  core.Code // "" for success
		msg   string
		named bool // the strict surface prefixes "key: "
	}
	cases := []struct {
		name   string
		creds  creds
		getJWT want // GetJWT refuses any bearer token itself
		others want
		plain  bool // the plain surface only: it matches ?key= in any letter case
	}{
		{name: "OK/Key", creds: creds{key: e.apiKey}},
		{name: "OK/Password", creds: creds{username: alice, password: alicePassword}},
		{name: "KeyAndUsername", creds: creds{key: e.apiKey, username: alice},
			getJWT: want{core.EINVALID, msgKeyAndLogin, true}, others: want{core.EINVALID, msgKeyAndLogin, true}},
		{name: "KeyAndPassword", creds: creds{key: e.apiKey, password: alicePassword},
			getJWT: want{core.EINVALID, msgKeyAndLogin, true}, others: want{core.EINVALID, msgKeyAndLogin, true}},
		{name: "KeyAndLogin", creds: creds{key: e.apiKey, username: alice, password: alicePassword},
			getJWT: want{core.EINVALID, msgKeyAndLogin, true}, others: want{core.EINVALID, msgKeyAndLogin, true}},
		{name: "KeyAndKeyAsUsername", creds: creds{key: e.apiKey, username: core.APIKeyUserPrefix + e.apiKey},
			getJWT: want{core.EINVALID, msgKeyAndLogin, true}, others: want{core.EINVALID, msgKeyAndLogin, true}},
		{name: "KeyAndBearer", creds: creds{key: e.apiKey, bearer: bearer},
			getJWT: want{core.EUNAUTHORIZED, msgGetJWTBearer, false}, others: want{core.EINVALID, msgKeyAndBearer, true}},
		{name: "KeyLoginAndBearer", creds: creds{key: e.apiKey, username: alice, password: alicePassword, bearer: bearer},
			getJWT: want{core.EINVALID, msgKeyAndLogin, true}, others: want{core.EINVALID, msgKeyAndLogin, true}},
		{name: "BearerAndLogin", creds: creds{username: alice, password: alicePassword, bearer: bearer},
			getJWT: want{core.EUNAUTHORIZED, msgGetJWTBearer, false}, others: want{core.EINVALID, msgBearerAndLogin, false}},
		{name: "KeyAnyCaseAndLogin", plain: true, creds: creds{key: e.apiKey, keyParam: "KEY", username: alice, password: alicePassword},
			getJWT: want{core.EINVALID, msgKeyAndLogin, true}, others: want{core.EINVALID, msgKeyAndLogin, true}},
	}
	ops := []string{"GetJWT", "GetCreditsRemaining", "GetUsage", "RevokeJWT"}

	for _, surface := range []string{"plain", "strict"} {
		for _, op := range ops {
			for _, tc := range cases {
				if tc.plain && surface != "plain" {
					continue
				}
				t.Run(surface+"/"+op+"/"+tc.name, func(t *testing.T) {
					w := tc.others
					if op == "GetJWT" {
						w = tc.getJWT
					}
					body := map[string]any{}
					if tc.creds.username != "" {
						body["username"] = tc.creds.username
					}
					if tc.creds.password != "" {
						body["password"] = tc.creds.password
					}
					switch op {
					case "GetJWT":
						body["expiresAt"] = e.expiresAt(time.Hour)
					case "RevokeJWT":
						// A fresh token of alice's: revoked only when the call succeeds.
						body["jti"] = e.jti(e.token(apiclient.GetJWTRequest{}))
					}
					query := ""
					if tc.creds.key != "" {
						param := tc.creds.keyParam
						if param == "" {
							param = "key"
						}
						query = "?" + param + "=" + url.QueryEscape(tc.creds.key)
					}
					header := http.Header{}
					if tc.creds.bearer != "" {
						header.Set("Authorization", "Bearer "+tc.creds.bearer)
					}
					lookups, before := e.store.lookups.Load(), len(e.lines())

					status, st := e.callSurface(surface, op, body, query, header)

					wantStatus, wantMsg := http.StatusOK, w.msg
					if w.code != "" && surface == "strict" {
						wantStatus = jsonapi.OpenAPIStatuses().Of(w.code)
						if w.named {
							wantMsg = "key: " + wantMsg
						}
					}
					if status != wantStatus {
						t.Errorf("HTTP %d, want %d (%+v)", status, wantStatus, st)
					}
					if w.code == "" {
						if !st.Success {
							t.Fatalf("failed: %s", derefOr(st.ErrorMessage))
						}
						return
					}
					if st.Success || st.ErrorMessage == nil || *st.ErrorMessage != wantMsg {
						t.Fatalf("Status %+v saying %s, want a failure saying %q", st, derefOr(st.ErrorMessage), wantMsg)
					}
					if n := e.store.lookups.Load() - lookups; n != 0 {
						t.Errorf("core looked up %d credentials", n)
					}
					lines := e.lines()[before:]
					if op != "GetJWT" {
						if len(lines) != 0 {
							t.Errorf("usage ledger gained %d lines, want none: %+v", len(lines), lines)
						}
						return
					}
					if len(lines) != 1 {
						t.Fatalf("usage ledger gained %d lines, want 1: %+v", len(lines), lines)
					}
					if l := lines[0]; l.Method != core.OpGetJWT.Method || l.Outcome != core.Outcome(w.code) || l.AccountID != nil || l.UserID != nil || l.JTI != "" {
						t.Errorf("ledger line %+v, want a %s refusal (%s) under no account", *l, core.OpGetJWT.Method, w.code)
					}
				})
			}
		}
	}
}

// callSurface posts body to operation op of the plain or the strict surface
// and returns the status and the answer's Status envelope.
func (e *env) callSurface(surface, op string, body map[string]any, query string, header http.Header) (int, edge.Status) {
	e.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.callSurfaceRaw(surface, op, string(data), query, header)
}

// callSurfaceRaw is callSurface with the body as it is sent.
func (e *env) callSurfaceRaw(surface, op, body, query string, header http.Header) (int, edge.Status) {
	e.t.Helper()
	var a *answer
	switch surface {
	case "strict":
		a = e.postOp(op, "application/json", body, query, header)
	case "plain":
		req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.URL+jsonapi.PlainPath(core.OpNamed(op))+query, strings.NewReader(body))
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("Content-Type", "application/json")
		a = e.do(e.srv.Client(), req)
		var st struct{ Status edge.Status }
		if err := json.Unmarshal(a.body, &st); err != nil {
			e.t.Fatalf("plain %s: %v\n%s", op, err, a.body)
		}
		a.env = st.Status
	default:
		panic(fmt.Sprintf("no surface %q", surface))
	}
	return a.status, a.env
}
