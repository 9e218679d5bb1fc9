package soap_test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/soap"
)

// wantOutcomes is this test's own copy of how SOAP answers each core code:
// every refusal is a normal response saying Success=false, which a
// WSDL-generated client reads; only an internal error is a fault. A new core
// code fails TestOutcomes until it is decided here and in soap.Outcomes.
var wantOutcomes = map[core.Code]soap.Outcome{
	core.EINVALID:      soap.BusinessFailure,
	core.EUNAUTHORIZED: soap.BusinessFailure,
	core.EFORBIDDEN:    soap.BusinessFailure,
	core.ENOCREDITS:    soap.BusinessFailure,
	core.ETHROTTLED:    soap.BusinessFailure,
	core.EBUSY:         soap.BusinessFailure,
	core.ENOTFOUND:     soap.BusinessFailure,
	core.ECONFLICT:     soap.BusinessFailure,
	core.EINTERNAL:     soap.ServerFault,
}

// TestOutcomes proves that soap.Outcomes maps every core code and no other
// (Check, which Mount runs too), each as wantOutcomes decides; a code the
// table does not know is answered as EINTERNAL is, with a Server fault.
func TestOutcomes(t *testing.T) {
	if err := soap.Outcomes().Check(); err != nil {
		t.Errorf("soap.Outcomes.Check: %v", err)
	}
	known := map[core.Code]bool{}
	for _, code := range core.Codes() {
		known[code] = true
		t.Run(string(code), func(t *testing.T) {
			want, ok := wantOutcomes[code]
			if !ok {
				t.Fatalf("core code %q is new: decide whether SOAP answers it with Success=false (BusinessFailure) "+
					"or a Server fault (ServerFault), in soap.Outcomes and in wantOutcomes", code)
			}
			if got, ok := soap.Outcomes()[code]; !ok || got != want {
				t.Errorf("soap.Outcomes()[%q] = %s (present: %v), want %s", code, outcomeName(got), ok, outcomeName(want))
			}
			if got := soap.Outcomes().Of(code); got != want {
				t.Errorf("soap.Outcomes().Of(%q) = %s, want %s", code, outcomeName(got), outcomeName(want))
			}
		})
	}
	for code := range wantOutcomes {
		if !known[code] {
			t.Errorf("wantOutcomes decides %q, which core.Codes() does not list", code)
		}
	}
	for _, code := range []core.Code{"no-such-code", core.ErrorCode(nil)} {
		if got := soap.Outcomes().Of(code); got != soap.ServerFault {
			t.Errorf("soap.Outcomes().Of(%q) = %s, want ServerFault", code, outcomeName(got))
		}
	}
}

func outcomeName(o soap.Outcome) string {
	switch o {
	case soap.BusinessFailure:
		return "BusinessFailure"
	case soap.ServerFault:
		return "ServerFault"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Users of codeEnv besides testUser.
const (
	brokeUser     = "bob" // an account without credits
	brokePassword = "bob's long password"
	disabledUser  = "carol"
	disabledPass  = "carol's long password"
	wrongPassword = "not the password"
)

// codeEnv is a server holding what a refusal of each code needs: testUser,
// a user without credits, a disabled user, a service key, and (on demand) a
// token of testUser's for Email methods only and 1 credit.
type codeEnv struct {
	*env
	serviceKey string
	jwt        string
}

func newCodeEnv(t *testing.T, opts ...envOption) *codeEnv {
	t.Helper()
	e := &codeEnv{env: newEnv(t, opts...)}
	testenv.CreateUser(t, e.svc, brokeUser, brokePassword, 0)
	testenv.CreateUser(t, e.svc, disabledUser, disabledPass, 10)
	if err := e.svc.Admin.SetUserDisabled(t.Context(), disabledUser, true); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	e.serviceKey = testenv.CreateServiceKey(t, e.svc, "billing")
	return e
}

// token issues the limited token once, through core.
func (e *codeEnv) token(t *testing.T) string {
	t.Helper()
	if e.jwt == "" {
		res, err := e.svc.Issuer.GetJWT(t.Context(), &core.GetJWTRequest{
			Credentials:    core.Credentials{Username: testUser, Password: testPassword, ClientAddr: "192.0.2.1"},
			ExpiresAt:      e.expires(time.Hour).Format(time.RFC3339),
			AllowedMethods: []string{"Email"},
			MaxCredits:     ptr[int64](1),
		})
		if err != nil {
			t.Fatalf("GetJWT: %v", err)
		}
		e.jwt = res.JWT
	}
	return e.jwt
}

// element is an operation element of the service namespace with the given
// (name, text) children, in order.
func element(op string, children ...string) string {
	var b strings.Builder
	b.WriteString(`<` + op + ` xmlns="` + tns + `">`)
	for i := 0; i+1 < len(children); i += 2 {
		b.WriteString("<" + children[i] + ">" + escape(children[i+1]) + "</" + children[i] + ">")
	}
	b.WriteString(`</` + op + `>`)
	return b.String()
}

// codeCase is a request that core refuses with one code.
type codeCase struct {
	opts []envOption
	// body arranges the state the refusal needs and returns the operation
	// element to post.
	body func(t *testing.T, e *codeEnv) string
	msg  string // a substring of the refusal's ErrorMessage (core's wording of the code)
	// ledger is how many lines each such request writes in the usage
	// ledger, each with the code as its outcome.
	ledger int
}

// strictThrottle throttles a username and an address after one failure.
func strictThrottle() envOption {
	p := core.ThrottlePolicy{Free: 0, Base: time.Hour, Max: time.Hour, Forget: time.Hour}
	return withCore(func(c *core.Config) { c.Throttle = &core.Throttle{PerUser: p, PerClient: p, MaxKeys: 1000} })
}

// noHashing gives the hash gate no slot and no queue: every password or
// API key check is answered EBUSY.
func noHashing() envOption {
	return withCore(func(c *core.Config) { c.HashGate = &core.HashGate{} })
}

// throttled makes testUser throttled from this client, with one failed
// login over SOAP.
func throttled(t *testing.T, e *codeEnv) {
	t.Helper()
	r := e.post(envelope11(element("GetCreditsRemaining", "username", testUser, "password", wrongPassword)),
		soap11(soap.Action("GetCreditsRemaining"))...)
	if !bytes.Contains(r.body, []byte("<Success>false</Success>")) {
		t.Fatalf("a wrong password was not refused: %v", r)
	}
}

// accountCases are the refusals of an operation that takes an account's
// credentials; call builds its element from a username and password, the
// rest of the request valid.
func accountCases(call func(t *testing.T, e *codeEnv, username, password string) string, ledger int) map[core.Code]codeCase {
	return map[core.Code]codeCase{
		core.EUNAUTHORIZED: {msg: "invalid username or password", ledger: ledger,
			body: func(t *testing.T, e *codeEnv) string { return call(t, e, testUser, wrongPassword) }},
		core.EFORBIDDEN: {msg: "user is disabled", ledger: ledger,
			body: func(t *testing.T, e *codeEnv) string { return call(t, e, disabledUser, disabledPass) }},
		core.ETHROTTLED: {opts: []envOption{strictThrottle()}, msg: "too many failed attempts", ledger: ledger,
			body: func(t *testing.T, e *codeEnv) string {
				throttled(t, e)
				return call(t, e, testUser, testPassword)
			}},
		core.EBUSY: {opts: []envOption{noHashing()}, msg: "server busy", ledger: ledger,
			body: func(t *testing.T, e *codeEnv) string { return call(t, e, testUser, testPassword) }},
		core.EINTERNAL: {
			body: func(t *testing.T, e *codeEnv) string { return call(t, e, testUser, testPassword) }},
	}
}

// codeCases has, for each operation, a request refused with each code the
// operation may answer (core's operation table), the rest of the request
// valid.
func codeCases() map[*core.Op]map[core.Code]codeCase {
	getJWT := func(_ *testing.T, e *codeEnv, user, pass string) string {
		return element("GetJWT", "username", user, "password", pass, "expiresAt", e.expires(time.Hour).Format(time.RFC3339))
	}
	revoke := func(_ *testing.T, _ *codeEnv, user, pass string) string {
		return element("RevokeJWT", "username", user, "password", pass, "jti", "0123456789abcdef")
	}
	credits := func(_ *testing.T, _ *codeEnv, user, pass string) string {
		return element("GetCreditsRemaining", "username", user, "password", pass)
	}
	usage := func(_ *testing.T, _ *codeEnv, user, pass string) string {
		return element("GetUsage", "username", user, "password", pass)
	}
	verify := func(t *testing.T, e *codeEnv, key, method string) string {
		return element("VerifyJWT", "serviceKey", key, "jwt", e.token(t), "method", method, "clientIp", "192.0.2.7")
	}
	charge := func(t *testing.T, e *codeEnv, key, method string, credits int64, requestID string) string {
		return element("ChargeJWT", "serviceKey", key, "jwt", e.token(t), "method", method,
			"credits", strconv.FormatInt(credits, 10), "clientIp", "192.0.2.7", "requestId", requestID)
	}

	cases := map[*core.Op]map[core.Code]codeCase{
		core.OpGetJWT:              accountCases(getJWT, 1),
		core.OpRevokeJWT:           accountCases(revoke, 0),
		core.OpGetCreditsRemaining: accountCases(credits, 0),
		core.OpGetUsage:            accountCases(usage, 0),
		core.OpVerifyJWT: {
			core.EINVALID: {msg: "is not Service.Method",
				body: func(t *testing.T, e *codeEnv) string { return verify(t, e, e.serviceKey, "not a method") }},
			core.EUNAUTHORIZED: {msg: "a valid serviceKey is required",
				body: func(t *testing.T, e *codeEnv) string {
					return verify(t, e, "jgs_0123456789abcdef_wrong", "Email.IsValid")
				}},
			core.EFORBIDDEN: {msg: "does not allow method Phone.IsValid",
				body: func(t *testing.T, e *codeEnv) string { return verify(t, e, e.serviceKey, "Phone.IsValid") }},
			core.EINTERNAL: {
				body: func(t *testing.T, e *codeEnv) string { return verify(t, e, e.serviceKey, "Email.IsValid") }},
		},
		core.OpChargeJWT: {
			core.EINVALID: {msg: "credits must be at least 1", ledger: 1,
				body: func(t *testing.T, e *codeEnv) string { return charge(t, e, e.serviceKey, "Email.IsValid", 0, "") }},
			// An unknown service is not in the ledger.
			core.EUNAUTHORIZED: {msg: "a valid serviceKey is required",
				body: func(t *testing.T, e *codeEnv) string {
					return charge(t, e, "jgs_0123456789abcdef_wrong", "Email.IsValid", 1, "")
				}},
			core.EFORBIDDEN: {msg: "does not allow method Phone.IsValid", ledger: 1,
				body: func(t *testing.T, e *codeEnv) string { return charge(t, e, e.serviceKey, "Phone.IsValid", 1, "") }},
			core.ENOCREDITS: {msg: "token credit limit reached", ledger: 1,
				body: func(t *testing.T, e *codeEnv) string { return charge(t, e, e.serviceKey, "Email.IsValid", 2, "") }},
			// A requestId reused for a different charge: every such call
			// is a line of its own.
			core.ECONFLICT: {msg: `requestId "r-1" was already used`, ledger: 1,
				body: func(t *testing.T, e *codeEnv) string {
					if _, err := e.svc.Enforcer.ChargeJWT(t.Context(), &core.ChargeJWTRequest{ServiceKey: e.serviceKey,
						JWT: e.token(t), Method: "Email.IsValid", Credits: 1, ClientIP: "192.0.2.7", RequestID: "r-1"}); err != nil {
						t.Fatalf("first charge: %v", err)
					}
					return charge(t, e, e.serviceKey, "Email.Send", 1, "r-1")
				}},
			core.EINTERNAL: {
				body: func(t *testing.T, e *codeEnv) string { return charge(t, e, e.serviceKey, "Email.IsValid", 1, "") }},
		},
	}
	cases[core.OpGetJWT][core.EINVALID] = codeCase{msg: "expiresAt is required", ledger: 1,
		body: func(t *testing.T, e *codeEnv) string {
			return element("GetJWT", "username", testUser, "password", testPassword)
		}}
	cases[core.OpGetJWT][core.ENOCREDITS] = codeCase{msg: "account has no credits remaining", ledger: 1,
		body: func(t *testing.T, e *codeEnv) string { return getJWT(t, e, brokeUser, brokePassword) }}
	cases[core.OpRevokeJWT][core.EINVALID] = codeCase{msg: "give the jwt to revoke or its jti",
		body: func(t *testing.T, e *codeEnv) string {
			return element("RevokeJWT", "username", testUser, "password", testPassword)
		}}
	cases[core.OpRevokeJWT][core.ENOTFOUND] = codeCase{msg: "no token with this jti in your account",
		body: func(t *testing.T, e *codeEnv) string { return revoke(t, e, testUser, testPassword) }}
	cases[core.OpGetCreditsRemaining][core.EINVALID] = codeCase{msg: "password must be empty when the username is apikey-<KEY>",
		body: func(t *testing.T, e *codeEnv) string {
			return credits(t, e, core.APIKeyUserPrefix+"jg_0123456789abcdef_secret", "a password")
		}}
	cases[core.OpGetUsage][core.EINVALID] = codeCase{msg: `from "yesterday" is neither a day`,
		body: func(t *testing.T, e *codeEnv) string {
			return element("GetUsage", "username", testUser, "password", testPassword, "from", "yesterday")
		}}
	return cases
}

// TestOutcomes_Answers: for every operation and every code it may answer
// (core.Op.Codes), a request core refuses with that code is answered over
// SOAP 1.1 and 1.2 as wantOutcomes decides: a business failure is an HTTP
// 200 response of that operation saying Success=false with core's message,
// 0 credits and no token; an internal error is a Server (1.2: Receiver)
// fault of the request's version saying no more than "internal error". Each
// refusal leaves the ledger lines core writes for it, with its code.
func TestOutcomes_Answers(t *testing.T) {
	cases := codeCases()
	for op, byCode := range cases {
		for code := range byCode {
			if !op.AllowsCode(code) {
				t.Errorf("a case refuses %s with %s, a code core's operation table does not give it", op.Name, code)
			}
		}
	}
	for _, op := range core.Ops() {
		for _, code := range op.Codes {
			t.Run(op.Name+"/"+string(code), func(t *testing.T) {
				tc, ok := cases[op][code]
				if !ok {
					t.Fatalf("%s may answer %s: add a request refused so to codeCases", op.Name, code)
				}
				e := newCodeEnv(t, tc.opts...)
				body := tc.body(t, e)
				if code == core.EINTERNAL {
					e.db.Close() // every store call now fails
				}
				want := wantOutcomes[code]
				readLedger := code != core.EINTERNAL
				for _, v := range []struct {
					ns, fault string
					env       func(string) string
					header    []string
				}{
					{ns11, "Server", envelope11, soap11(soap.Action(op.Name))},
					{ns12, "Receiver", envelope12, soap12(soap.Action(op.Name))},
				} {
					var before int
					if readLedger {
						before = len(e.lines(t, 0))
					}
					r := e.post(v.env(body), v.header...)
					switch want {
					case soap.BusinessFailure:
						if msg := assertRefused(t, r, v.ns, op.Name); !strings.Contains(msg, tc.msg) {
							t.Errorf("SOAP %s: ErrorMessage %q does not say %q", v.ns, msg, tc.msg)
						}
						if !readLedger {
							break
						}
						lines := e.lines(t, before)
						bad := len(lines) != tc.ledger
						for _, l := range lines {
							bad = bad || l.Outcome != core.Outcome(code)
						}
						if bad {
							t.Errorf("SOAP %s: ledger lines %s; want %d with outcome %s", v.ns, fmtLines(lines), tc.ledger, code)
						}
					case soap.ServerFault:
						if readLedger {
							if lines := e.lines(t, before); len(lines) != tc.ledger {
								t.Errorf("SOAP %s: ledger lines %s; want %d", v.ns, fmtLines(lines), tc.ledger)
							}
						}
						if f := assertFault(t, r, v.ns, http.StatusInternalServerError, v.fault); f.Message != "internal error" {
							t.Errorf("SOAP %s: fault message %q, want \"internal error\" and nothing of the cause", v.ns, f.Message)
						}
					default:
						t.Fatalf("wantOutcomes has no outcome for %s", code)
					}
				}
				if want == soap.ServerFault && !strings.Contains(e.logs.String(), "SOAP request failed") {
					t.Errorf("the cause of the internal error was not logged:\n%s", e.logs)
				}
			})
		}
	}
}

// assertRefused checks that r is an HTTP 200 <op>Response of the version of
// ns whose <op>Result says Success=false with an ErrorMessage and 0 credits,
// and carries no token or jti; it returns the ErrorMessage.
func assertRefused(t *testing.T, r *response, ns, op string) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got %v, want HTTP 200", r)
	}
	a := parse(t, r, ns)
	if a.Body.Fault != nil {
		t.Fatalf("a business failure must not be a fault: %s", r.body)
	}
	var body struct {
		Body struct {
			Response struct {
				XMLName xml.Name
				Result  struct {
					XMLName xml.Name
					Status  *struct {
						Success          *string `xml:"http://www.data-8.co.uk/integr8 Success"`
						ErrorMessage     *string `xml:"http://www.data-8.co.uk/integr8 ErrorMessage"`
						CreditsRemaining *string `xml:"http://www.data-8.co.uk/integr8 CreditsRemaining"`
					} `xml:"http://www.data-8.co.uk/integr8 Status"`
					Jwt *string `xml:"http://www.data-8.co.uk/integr8 Jwt"`
					Jti *string `xml:"http://www.data-8.co.uk/integr8 Jti"`
				} `xml:",any"`
			} `xml:",any"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	resp := body.Body.Response
	switch {
	case resp.XMLName != xml.Name{Space: tns, Local: op + "Response"}:
		t.Fatalf("Body holds {%s}%s, want {%s}%sResponse: %s", resp.XMLName.Space, resp.XMLName.Local, tns, op, r.body)
	case resp.Result.XMLName != xml.Name{Space: tns, Local: op + "Result"}:
		t.Fatalf("response holds {%s}%s, want {%s}%sResult: %s", resp.Result.XMLName.Space, resp.Result.XMLName.Local, tns, op, r.body)
	case resp.Result.Status == nil:
		t.Fatalf("%sResult has no Status: %s", op, r.body)
	}
	st := resp.Result.Status
	if st.Success == nil || *st.Success != "false" || st.ErrorMessage == nil || *st.ErrorMessage == "" ||
		st.CreditsRemaining == nil || *st.CreditsRemaining != "0" {
		t.Fatalf("Status = Success %v, ErrorMessage %v, CreditsRemaining %v; want false, a message, 0: %s",
			deref(st.Success), deref(st.ErrorMessage), deref(st.CreditsRemaining), r.body)
	}
	if resp.Result.Jwt != nil || resp.Result.Jti != nil {
		t.Errorf("a refusal carries a token or jti: %s", r.body)
	}
	return *st.ErrorMessage
}
