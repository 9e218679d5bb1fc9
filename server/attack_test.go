package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jwtgate/jwtgate/core"
)

// baseCalls returns one valid call of each operation, with the fields
// whose values the attacks replace. tok is a token for VerifyJWT and
// ChargeJWT, victim one for RevokeJWT.
func (e *attackEnv) baseCalls(tok, victim string) []call {
	day := func(d time.Duration) string { return e.clock().Add(d).UTC().Format(time.DateOnly) }
	return []call{
		{op: "GetJWT", fields: []field{
			{"username", testUser}, {"password", testPassword}, {"clientIp", ""},
			{"expiresAt", e.expires(time.Hour).Format(time.RFC3339)}, {"allowedMethods", []string{"Email"}},
			{"options", map[string]string{"ApplicationName": "attack"}},
		}},
		{op: "VerifyJWT", fields: []field{{"serviceKey", e.serviceKey}, {"jwt", tok}, {"method", "Email.IsValid"}, {"clientIp", ""}}},
		{op: "ChargeJWT", fields: []field{
			{"serviceKey", e.serviceKey}, {"jwt", tok}, {"method", "Email.IsValid"}, {"credits", json.Number("1")},
			{"clientIp", ""}, {"requestId", ""}, // no requestId: a replay would answer before any check
		}},
		{op: "RevokeJWT", fields: []field{{"username", testUser}, {"password", testPassword}, {"jwt", victim}, {"jti", jtiOf(e.t, victim)}}},
		{op: "GetCreditsRemaining", fields: []field{{"username", testUser}, {"password", testPassword}}},
		{op: "GetUsage", fields: []field{{"username", testUser}, {"password", testPassword}, {"from", day(-24 * time.Hour)}, {"to", day(0)}}},
	}
}

// Values an attacker puts in a string field: SQL metacharacters, comment
// and placeholder syntax, LIKE wildcards, control characters, terminal
// escapes, line breaks (log injection), bidi overrides, markup.
var hostileValues = []string{
	`'`, `"`, `' OR '1'='1`, `' OR 1=1 --`, `alice' --`, `'); DROP TABLE users; --`, `"; DELETE FROM usage; --`,
	`%`, `_lice`, `a%`, `\`, `?1`, `:name`, "\x00", "alice\x00", "\x1b[31mred\x1b[0m", "line1\r\nline2", "\t",
	"\u0085", "\u202e", `<script>alert(1)</script>`, `]]>`,
}

// paths are the string fields of each operation, as call.with names them.
var stringPaths = map[string][]string{
	"GetJWT":              {"username", "password", "clientIp", "expiresAt", "allowedMethods[0]", "options.ApplicationName"},
	"VerifyJWT":           {"serviceKey", "jwt", "method", "clientIp"},
	"ChargeJWT":           {"serviceKey", "jwt", "method", "clientIp", "requestId"},
	"RevokeJWT":           {"username", "password", "jwt", "jti"},
	"GetCreditsRemaining": {"username", "password"},
	"GetUsage":            {"username", "password", "from", "to"},
}

// TestAttack_HostileStrings puts each hostile value in every string field of
// every operation on every surface (SOAP alternating between 1.1 and 1.2).
// Each is either refused, with a message that names the field (or, on
// SOAP, a Client fault for a character XML cannot carry), or, for the two
// fields that keep free text (ApplicationName, requestId) and for values
// that are only white space, accepted and stored exactly as sent. Never a
// server error, never an injection: afterwards the store is intact
// (assertIntact), holds the same users, and the balance is the initial one
// minus the charges in the ledger.
func TestAttack_HostileStrings(t *testing.T) {
	e := newAttackEnv(t, func(c *core.Config) { // not about lockouts
		c.Throttle = core.NewThrottle()
		c.Throttle.PerUser.Free, c.Throttle.PerClient.Free = math.MaxInt32, math.MaxInt32
	})
	tok, victim := e.issue(nil), e.issue(nil)
	calls := e.baseCalls(tok, victim)

	// Every base call succeeds on every surface: an attack changes one field.
	for _, c := range calls {
		for _, s := range surfaces {
			if o := e.send(s, c); !o.success {
				t.Fatalf("%s, unchanged: %v", c.op, o)
			}
		}
	}

	names := map[string][]string{ // what a refusal's message mentions, per field
		"jwt": {"jwt", "token"}, "allowedMethods[0]": {"allowedMethods"}, "options.ApplicationName": {"ApplicationName"},
	}
	freeText := map[string]bool{"options.ApplicationName": true, "requestId": true}
	methodName := regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$`) // "_lice" is a fine service name
	for _, c := range calls {
		for _, path := range stringPaths[c.op] {
			for i, v := range hostileValues {
				soap := soap11
				if i%2 == 1 {
					soap = soap12
				}
				for _, s := range []surface{plain, strict, soap} {
					what := fmt.Sprintf("%s %s=%q on %s", c.op, path, v, s)
					o := e.send(s, c.with(path, v))
					assertNotServerFault(t, o, what)
					switch {
					case o.success && (freeText[path] || strings.TrimSpace(v) == "" || path == "allowedMethods[0]" && methodName.MatchString(v)):
						e.assertStoredLiterally(t, s, c.with(path, v), path, v, o)
					case o.success:
						t.Errorf("%s: accepted: %v", what, o)
					case o.fault != "":
						if !hasXMLIllegal(v) {
							t.Errorf("%s: a fault, but XML can carry this value: %v", what, o)
						}
					default:
						want := names[path]
						if want == nil {
							want = []string{path}
						}
						if !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(o.message, w) }) {
							t.Errorf("%s: refused with %q, which does not name the field", what, o.message)
						}
					}
				}
			}
		}
	}
	e.assertIntact(t)
}

// hasXMLIllegal reports whether s holds a character XML 1.0 cannot carry.
func hasXMLIllegal(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' })
}

// assertStoredLiterally checks an accepted hostile value: an application
// name is in the token and its record exactly as sent (less surrounding
// white space); a request id identifies its charge (a retry replays it).
func (e *attackEnv) assertStoredLiterally(t *testing.T, s surface, c call, path, v string, o *outcome) {
	t.Helper()
	want := strings.TrimSpace(v)
	switch path {
	case "options.ApplicationName":
		tok := o.fields["Jwt"]
		var app string
		if raw, ok := segment(t, tok, 1)["application"]; ok {
			if err := json.Unmarshal(raw, &app); err != nil {
				t.Fatal(err)
			}
		}
		if app != want {
			t.Errorf("%s: application %q, token says %q", s, want, app)
		}
		if row := e.issued(jtiOf(t, tok)); row.Application != want {
			t.Errorf("%s: application %q, stored %q", s, want, row.Application)
		}
	case "requestId":
		if want == "" {
			return
		}
		if again := e.send(s, c); !again.success || again.fields["Replayed"] != "true" {
			t.Errorf("%s: requestId %q: the retry is %v, want a replay", s, v, again)
		}
	}
}

// assertIntact checks the state after the attacks, read through the store
// (SQLite's own integrity checks are the sqlite package's business): the
// users, accounts (listed by name), API key and service key it started
// with, unchanged;
// every token and every ledger line names an account, a user and a token
// that exist; no token spent beyond its limit; and every credit that left
// the account is both a charge in the ledger and a token's spend.
func (e *attackEnv) assertIntact(t *testing.T) {
	t.Helper()
	users, err := e.db.ListUsers(e.ctx, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	userIDs := map[int64]bool{}
	var names []string
	for _, u := range users {
		userIDs[u.ID] = true
		names = append(names, u.Username+"@"+u.Account)
		if u.Disabled {
			t.Errorf("user %s is disabled", u.Username)
		}
	}
	if want := []string{testUser + "@" + testUser, brokeUser + "@" + brokeUser}; !slices.Equal(names, want) {
		t.Errorf("users %q, want %q", names, want)
	}
	accounts, err := e.db.ListAccounts(e.ctx, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	accountIDs := map[int64]bool{}
	names = nil
	for _, a := range accounts {
		accountIDs[a.ID] = true
		names = append(names, a.Name)
	}
	if want := []string{testUser, brokeUser}; !slices.Equal(names, want) {
		t.Errorf("accounts %q, want %q", names, want)
	}
	if keys, err := e.db.ListAPIKeys(e.ctx, nil, core.Page{}); err != nil || len(keys) != 1 || keys[0].ID != e.keyRec.ID || keys[0].Revoked != nil {
		t.Errorf("API keys %+v (%v), want only %s, live", keys, err, e.keyRec.ID)
	}
	if keys, err := e.db.ListServiceKeys(e.ctx, core.Page{}); err != nil || len(keys) != 1 || keys[0].Name != "billing" || keys[0].Revoked != nil {
		t.Errorf("service keys %+v (%v), want only billing, live", keys, err)
	}

	jtis := map[string]bool{}
	var spent int64
	for _, tok := range e.tokens() {
		jtis[tok.JTI] = true
		spent += tok.CreditsSpent
		if !accountIDs[tok.AccountID] || !userIDs[tok.UserID] {
			t.Errorf("token %s names account %d, user %d: not both exist", tok.JTI, tok.AccountID, tok.UserID)
		}
		if tok.CreditsSpent < 0 {
			t.Errorf("token %s spent %d", tok.JTI, tok.CreditsSpent)
		}
		if tok.MaxCredits != nil && tok.CreditsSpent > *tok.MaxCredits {
			t.Errorf("token %s spent %d of its %d", tok.JTI, tok.CreditsSpent, *tok.MaxCredits)
		}
	}
	lines := e.usage()
	var charged int64
	for _, ev := range lines {
		switch {
		case ev.AccountID != nil && !accountIDs[*ev.AccountID], ev.UserID != nil && !userIDs[*ev.UserID], ev.JTI != "" && !jtis[ev.JTI]:
			t.Errorf("ledger line %+v names an account, user or token that does not exist", ev)
		case ev.Outcome != core.OutcomeOK && ev.Credits != 0:
			t.Errorf("ledger line %+v: a refusal with credits", ev)
		}
		if ev.Outcome == core.OutcomeOK {
			charged += ev.Credits
		}
	}
	if b := e.balance(); b != testCredits-charged {
		t.Errorf("balance %d, want %d - %d charged", b, testCredits, charged)
	}
	if spent != charged {
		t.Errorf("tokens spent %d credits, the ledger charged %d", spent, charged)
	}
	if broke, err := e.svc.Admin.Account(e.ctx, brokeUser); err != nil || broke.Credits != 0 {
		t.Errorf("%s's account: %+v, %v; want 0 credits", brokeUser, broke, err)
	}
	if charged == 0 || len(lines) == 0 {
		t.Errorf("the ledger is empty or holds no charge: the attacks did not reach the store")
	}
}

// TestAttack_DuplicateKeys: a property given twice is refused on both JSON
// surfaces, whichever of its values comes first, before anything is done:
// the plain surface compares names in any letter case (as it matches them),
// the strict one exactly and at any depth. No token is issued, nothing is
// charged or revoked.
func TestAttack_DuplicateKeys(t *testing.T) {
	e := newAttackEnv(t)
	tok, victim := e.issue(nil), e.issue(nil)
	exp := e.expires(time.Hour).Format(time.RFC3339)
	q := func(s string) string { return string(mustJSON(t, s)) }
	for _, tc := range []struct {
		op, body string
		plain    string // the plain surface's message ("" when only strict is tried)
		strict   string
	}{
		{"GetJWT", `{"username":"alice","password":"wrong password!","password":` + q(testPassword) + `,"expiresAt":"` + exp + `"}`,
			`property "password" is given more than once (as "password" and "password")`, "password: is given more than once"},
		{"GetJWT", `{"username":"alice","password":` + q(testPassword) + `,"Password":"wrong password!","expiresAt":"` + exp + `"}`,
			`property "Password" is given more than once (as "password" and "Password")`, ""},
		{"GetJWT", `{"username":"bob","USERNAME":"alice","password":` + q(testPassword) + `,"expiresAt":"` + exp + `"}`,
			`property "USERNAME" is given more than once (as "username" and "USERNAME")`, ""},
		{"GetJWT", `{"username":"alice","password":` + q(testPassword) + `,"expiresAt":"` + exp + `","maxCredits":1,"maxCredits":null}`,
			`property "maxCredits" is given more than once (as "maxCredits" and "maxCredits")`, "maxCredits: is given more than once"},
		{"GetJWT", `{"username":"alice","password":` + q(testPassword) + `,"expiresAt":"` + exp + `","allowedMethods":["Email"],"allowedMethods":[]}`,
			`property "allowedMethods" is given more than once (as "allowedMethods" and "allowedMethods")`, "allowedMethods: is given more than once"},
		{"GetJWT", `{"username":"alice","password":` + q(testPassword) + `,"expiresAt":"` + exp + `","clientIp":"192.0.2.1","clientIp":""}`,
			`property "clientIp" is given more than once (as "clientIp" and "clientIp")`, "clientIp: is given more than once"},
		{"GetJWT", `{"username":"alice","password":` + q(testPassword) + `,"expiresAt":"` + exp + `","options":{"ApplicationName":"a","applicationname":"b"}}`,
			`options: property "applicationname" is given more than once (as "ApplicationName" and "applicationname")`, ""},
		{"GetJWT", `{"username":"alice","password":` + q(testPassword) + `,"expiresAt":"` + exp + `","options":{"ApplicationName":"a","ApplicationName":"b"}}`,
			`options: property "ApplicationName" is given more than once (as "ApplicationName" and "ApplicationName")`, "options.ApplicationName: is given more than once"},
		{"VerifyJWT", `{"serviceKey":"jgs_0123456789abcdef_forged","serviceKey":` + q(e.serviceKey) + `,"jwt":` + q(tok) + `,"method":"Email.IsValid"}`,
			`property "serviceKey" is given more than once (as "serviceKey" and "serviceKey")`, "serviceKey: is given more than once"},
		{"VerifyJWT", `{"serviceKey":` + q(e.serviceKey) + `,"jwt":"forged","JWT":` + q(tok) + `,"method":"Email.IsValid"}`,
			`property "JWT" is given more than once (as "jwt" and "JWT")`, ""},
		{"ChargeJWT", `{"serviceKey":` + q(e.serviceKey) + `,"jwt":` + q(tok) + `,"method":"Email.IsValid","credits":1,"credits":1000}`,
			`property "credits" is given more than once (as "credits" and "credits")`, "credits: is given more than once"},
		{"ChargeJWT", `{"serviceKey":` + q(e.serviceKey) + `,"jwt":` + q(tok) + `,"method":"Email.IsValid","credits":1,"requestId":"a","requestId":"b"}`,
			`property "requestId" is given more than once (as "requestId" and "requestId")`, "requestId: is given more than once"},
		{"ChargeJWT", `{"serviceKey":` + q(e.serviceKey) + `,"jwt":` + q(tok) + `,"method":"Phone.Lookup","method":"Email.IsValid","credits":1}`,
			`property "method" is given more than once (as "method" and "method")`, "method: is given more than once"},
		{"RevokeJWT", `{"jwt":` + q(victim) + `,"jwt":` + q(tok) + `}`,
			`property "jwt" is given more than once (as "jwt" and "jwt")`, "jwt: is given more than once"},
		{"RevokeJWT", `{"username":"alice","password":` + q(testPassword) + `,"jti":"x","jti":` + q(jtiOf(t, victim)) + `}`,
			`property "jti" is given more than once (as "jti" and "jti")`, "jti: is given more than once"},
		{"GetCreditsRemaining", `{"username":"alice","password":"nope, wrong","password":` + q(testPassword) + `}`,
			`property "password" is given more than once (as "password" and "password")`, "password: is given more than once"},
		{"GetUsage", `{"username":"alice","password":` + q(testPassword) + `,"from":"2030-01-01","from":"2000-01-01"}`,
			`property "from" is given more than once (as "from" and "from")`, "from: is given more than once"},
	} {
		t.Run(tc.op, func(t *testing.T) {
			tokens, usage := e.countTokens(), e.countOK()
			for _, s := range []surface{plain, strict} {
				want, status, path := tc.plain, http.StatusOK, "/UserAdmin/"+tc.op+".json"
				if s == strict {
					want, status, path = tc.strict, http.StatusBadRequest, "/api/v1/UserAdmin/"+tc.op
				}
				if want == "" {
					continue
				}
				o := e.sendRaw(s, path, "application/json", []byte(tc.body), nil)
				if o.status != status || o.success || o.message != want {
					t.Errorf("%s %s: %v, want HTTP %d saying %q", s, tc.body, o, status, want)
				}
			}
			if e.countTokens() != tokens || e.countOK() != usage {
				t.Errorf("a refused request issued a token or succeeded in the ledger")
			}
		})
	}
	// Nothing above revoked the victim: a duplicate is refused before anything is done.
	if o := e.send(plain, call{op: "VerifyJWT", fields: []field{{"serviceKey", e.serviceKey}, {"jwt", victim}, {"method", "Email.IsValid"}}}); !o.success {
		t.Errorf("the victim token: %v", o)
	}
}

// TestAttack_NumbersOutOfRange: maxCredits (GetJWT) and credits (ChargeJWT)
// beyond what they allow, on every surface, each with its precise outcome
// and nothing issued or charged. SOAP's maxCredits is an xsd:int, credits an
// xsd:long, as the WSDL says.
func TestAttack_NumbersOutOfRange(t *testing.T) {
	e := newAttackEnv(t)
	tok := e.issue(nil)
	exp := e.expires(time.Hour).Format(time.RFC3339)
	getJWT := func(n string) call {
		return call{op: "GetJWT", fields: []field{{"username", testUser}, {"password", testPassword}, {"expiresAt", exp}, {"maxCredits", json.Number(n)}}}
	}
	charge := func(n string) call {
		return call{op: "ChargeJWT", fields: []field{{"serviceKey", e.serviceKey}, {"jwt", tok}, {"method", "Email.IsValid"}, {"credits", json.Number(n)}}}
	}
	const (
		plainMax  = "maxCredits must be a whole number between 1 and 9007199254740991, or null"
		coreMax   = "maxCredits must be at least 1 and at most 9007199254740991, or absent for no limit (got %s)"
		strictMax = "maxCredits: must be at most 9007199254740991"
		strictMin = "maxCredits: must be at least 1"
		plainCr   = "credits must be a whole number between 1 and 9007199254740991, or null"
		coreCr    = "credits must be at least 1 and at most 9007199254740991 (got %s)"
		beyond    = "account has 250 credits remaining, 9007199254740991 requested"
	)
	type want struct {
		ok      bool
		message string // Success=false (plain, SOAP) or 400 (strict) with this message
		fault   string // SOAP: a Client fault with this message
	}
	for _, tc := range []struct {
		name   string
		call   call
		plain  want
		strict want
		soap   want
	}{
		{"MaxCredits1e400", getJWT("1e400"), want{message: plainMax}, want{message: "maxCredits: must be an integer or null"},
			want{fault: `maxCredits "1e400" is not an xsd:int`}},
		{"MaxCreditsMinusZero", getJWT("-0"), want{message: fmt.Sprintf(coreMax, "0")}, want{message: strictMin},
			want{message: fmt.Sprintf(coreMax, "0")}},
		{"MaxCredits2^53", getJWT("9007199254740992"), want{message: fmt.Sprintf(coreMax, "9007199254740992")}, want{message: strictMax},
			want{fault: `maxCredits "9007199254740992" is not an xsd:int`}},
		{"MaxCredits2^64", getJWT("18446744073709551616"), want{message: plainMax}, want{message: "maxCredits: is not a valid int64"},
			want{fault: `maxCredits "18446744073709551616" is not an xsd:int`}},
		{"MaxCredits2^31", getJWT("2147483648"), want{ok: true}, want{ok: true},
			want{fault: `maxCredits "2147483648" is not an xsd:int`}},
		{"MaxCreditsNegative", getJWT("-9223372036854775808"), want{message: fmt.Sprintf(coreMax, "-9223372036854775808")}, want{message: strictMin},
			want{fault: `maxCredits "-9223372036854775808" is not an xsd:int`}},
		{"MaxCreditsFraction", getJWT("1.5"), want{message: plainMax}, want{message: "maxCredits: must be an integer or null"},
			want{fault: `maxCredits "1.5" is not an xsd:int`}},
		{"MaxCreditsExponent", getJWT("1e3"), want{ok: true}, want{ok: true}, want{fault: `maxCredits "1e3" is not an xsd:int`}},
		{"Credits1e400", charge("1e400"), want{message: plainCr}, want{message: "credits: must be an integer"},
			want{fault: `credits "1e400" is not an xsd:long`}},
		{"CreditsMinusZero", charge("-0"), want{message: fmt.Sprintf(coreCr, "0")}, want{message: "credits: must be at least 1"},
			want{message: fmt.Sprintf(coreCr, "0")}},
		{"Credits2^53", charge("9007199254740992"), want{message: fmt.Sprintf(coreCr, "9007199254740992")}, want{message: "credits: must be at most 9007199254740991"},
			want{message: fmt.Sprintf(coreCr, "9007199254740992")}},
		{"Credits2^63", charge("9223372036854775808"), want{message: plainCr}, want{message: "credits: must be at most 9007199254740991"},
			want{fault: `credits "9223372036854775808" is not an xsd:long`}},
		{"CreditsMaxInt64", charge("9223372036854775807"), want{message: fmt.Sprintf(coreCr, "9223372036854775807")}, want{message: "credits: must be at most 9007199254740991"},
			want{message: fmt.Sprintf(coreCr, "9223372036854775807")}},
		{"CreditsNegative", charge("-1"), want{message: fmt.Sprintf(coreCr, "-1")}, want{message: "credits: must be at least 1"},
			want{message: fmt.Sprintf(coreCr, "-1")}},
		{"CreditsBeyondBalance", charge("9007199254740991"), want{message: beyond}, want{message: beyond}, want{message: beyond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range surfaces {
				w := tc.soap
				switch s {
				case plain:
					w = tc.plain
				case strict:
					w = tc.strict
				}
				tokens, balance := e.countTokens(), e.balance()
				o := e.send(s, tc.call)
				assertNotServerFault(t, o, tc.name)
				switch {
				case w.ok:
					if !o.success {
						t.Errorf("%v, want success", o)
					}
					continue
				case w.fault != "":
					if o.fault == "" || o.message != w.fault {
						t.Errorf("%v, want a fault saying %q", o, w.fault)
					}
				default:
					if o.success || o.fault != "" || !strings.Contains(o.message, w.message) {
						t.Errorf("%v, want a refusal saying %q", o, w.message)
					}
				}
				if e.countTokens() != tokens || e.balance() != balance {
					t.Errorf("%s: a refused call issued a token or charged", s)
				}
			}
		})
	}
}

func (e *attackEnv) balance() int64 {
	e.t.Helper()
	a, err := e.svc.Admin.Account(e.ctx, testUser)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.Credits
}

// TestAttack_HugeAllowedMethods: 10 000 entries in allowedMethods are
// refused on every surface with the precise message, quickly, and issue
// nothing.
func TestAttack_HugeAllowedMethods(t *testing.T) {
	e := newAttackEnv(t)
	methods := make([]string, 10_000)
	for i := range methods {
		methods[i] = fmt.Sprintf("Service%d.Method%d", i, i)
	}
	c := call{op: "GetJWT", fields: []field{
		{"username", testUser}, {"password", testPassword},
		{"expiresAt", e.expires(time.Hour).Format(time.RFC3339)}, {"allowedMethods", methods},
	}}
	const coreMsg = "allowedMethods has 10000 entries; at most 100 are allowed"
	for _, s := range surfaces {
		start := time.Now()
		o := e.send(s, c)
		took := time.Since(start)
		want, status := coreMsg, http.StatusOK
		if s == strict {
			want, status = "allowedMethods: must have at most 100 items", http.StatusBadRequest
		}
		if o.success || o.status != status || o.message != want {
			t.Errorf("%v, want HTTP %d saying %q", o, status, want)
		}
		if took > 5*time.Second {
			t.Errorf("%s: refusing took %v", s, took)
		}
	}
	if n := e.countTokens(); n != 0 {
		t.Errorf("%d tokens issued", n)
	}
}

// TestAttack_IPv4MappedClientIP: on the JSON surfaces a token bound to an
// IPv4 address (or range) accepts that address written as IPv4-mapped IPv6,
// and refuses other addresses however they are written, naming them in
// IPv4 form; the same holds for a bearer token's caller, whose address a
// trusted proxy reports as IPv4-mapped.
func TestAttack_IPv4MappedClientIP(t *testing.T) {
	e := newAttackEnv(t)
	for _, b := range []struct{ binding, canonical string }{
		{"198.51.100.9", "198.51.100.9"},
		{"::ffff:198.51.100.9", "198.51.100.9"},
		{"::ffff:198.51.100.0/120", "198.51.100.0/24"},
	} {
		tok := e.issue(func(r *core.GetJWTRequest) {
			r.ClientIP, r.AllowedMethods = b.binding, []string{"Email", "UserAdmin.GetCreditsRemaining"}
		})
		for _, s := range []surface{plain, strict} {
			for _, tc := range []struct {
				clientIP string
				refused  string // the address the refusal names; "" when allowed
			}{
				{"198.51.100.9", ""},
				{"::ffff:198.51.100.9", ""},
				{"::FFFF:C633:6409", ""},
				{"0:0:0:0:0:ffff:198.51.100.9", ""},
				{"::ffff:198.51.101.9", "198.51.101.9"},
				{"::198.51.100.9", "::c633:6409"},               // IPv4-compatible, not mapped: another address
				{"64:ff9b::198.51.100.9", "64:ff9b::c633:6409"}, // NAT64, likewise
				{"2001:db8::9", "2001:db8::9"},
			} {
				for _, op := range []string{"VerifyJWT", "ChargeJWT"} {
					fields := []field{{"serviceKey", e.serviceKey}, {"jwt", tok}, {"method", "Email.IsValid"}, {"clientIp", tc.clientIP}}
					if op == "ChargeJWT" {
						fields = append(fields, field{"credits", json.Number("1")})
					}
					o := e.send(s, call{op: op, fields: fields})
					what := fmt.Sprintf("%s %s bound to %s, clientIp %s", s, op, b.binding, tc.clientIP)
					if tc.refused == "" {
						if !o.success {
							t.Errorf("%s: %v", what, o)
						}
						continue
					}
					want := "token is bound to client IP " + b.canonical + "; " + tc.refused + " is not allowed"
					if o.success || o.message != want {
						t.Errorf("%s: %v, want %q", what, o, want)
					}
				}
			}
			// A bearer token: the caller's address is what the trusted proxy reports.
			for _, tc := range []struct {
				xff string
				ok  bool
			}{{"::ffff:198.51.100.9", true}, {"198.51.100.9", true}, {"::ffff:203.0.113.9", false}} {
				o := e.send(s, call{op: "GetCreditsRemaining", bearer: tok, xff: tc.xff})
				if o.success != tc.ok {
					t.Errorf("%s bearer bound to %s from %s: %v, want success=%v", s, b.binding, tc.xff, o, tc.ok)
				}
				if !tc.ok && o.message != "token is bound to client IP "+b.canonical+"; 203.0.113.9 is not allowed" {
					t.Errorf("%s bearer from %s: %q", s, tc.xff, o.message)
				}
			}
		}
	}
}

// TestAttack_LogsHoldNoSecrets makes every operation on every surface with
// every kind of credential (password, API key as username and as ?key=,
// service key, bearer token), right and wrong, then once more with the
// database gone (so that internal errors log their causes), captures every
// log line at debug level, and searches them for each secret, each token
// and the distinctive parts of both.
func TestAttack_LogsHoldNoSecrets(t *testing.T) {
	e := newAttackEnv(t)
	wrongPassword := "Tr0ub4dor&3-wrong"
	_, keySecret, _ := strings.Cut(strings.TrimPrefix(e.apiKey, "jg_"), "_")
	wrongKey := e.apiKey[:len(e.apiKey)-6] + "zzzzzz"
	_, svcSecret, _ := strings.Cut(strings.TrimPrefix(e.serviceKey, "jgs_"), "_")
	wrongServiceKey := e.serviceKey[:len(e.serviceKey)-6] + "zzzzzz"
	exp := e.expires(time.Hour).Format(time.RFC3339)
	var tokens []string

	run := func(s surface, c call) *outcome {
		o := e.send(s, c)
		if jwt := o.fields["Jwt"]; jwt != "" {
			tokens = append(tokens, jwt)
		}
		return o
	}
	creds := func(user, pass string) []field { return []field{{"username", user}, {"password", pass}} }
	for _, s := range surfaces {
		jsonSurface := s == plain || s == strict
		// GetJWT with a password, an API key as username, ?key=, and wrong ones.
		full := append(creds(testUser, testPassword), field{"expiresAt", exp}, field{"allowedMethods", []string{"Email", "UserAdmin"}})
		if o := run(s, call{op: "GetJWT", fields: full}); !o.success {
			t.Fatalf("GetJWT: %v", o)
		}
		run(s, call{op: "GetJWT", fields: append(creds("apikey-"+e.apiKey, ""), field{"expiresAt", exp})})
		run(s, call{op: "GetJWT", fields: append(creds(testUser, wrongPassword), field{"expiresAt", exp})})
		run(s, call{op: "GetJWT", fields: append(creds("apikey-"+wrongKey, ""), field{"expiresAt", exp})})
		if jsonSurface {
			run(s, call{op: "GetJWT", fields: []field{{"expiresAt", exp}}, key: e.apiKey})
			run(s, call{op: "GetJWT", fields: []field{{"expiresAt", exp}}, key: wrongKey})
			run(s, call{op: "GetJWT", fields: []field{{"expiresAt", exp}}, bearer: tokens[len(tokens)-1]})
		}
		tok := tokens[len(tokens)-1]
		// The enforcement operations with the service key, right and wrong.
		for _, key := range []string{e.serviceKey, wrongServiceKey} {
			run(s, call{op: "VerifyJWT", fields: []field{{"serviceKey", key}, {"jwt", tok}, {"method", "Email.IsValid"}}})
			run(s, call{op: "ChargeJWT", fields: []field{{"serviceKey", key}, {"jwt", tok}, {"method", "Email.IsValid"}, {"credits", json.Number("1")}, {"requestId", "log-" + string(s)}}})
			run(s, call{op: "ChargeJWT", fields: []field{{"serviceKey", key}, {"jwt", tok + "x"}, {"method", "Email.IsValid"}, {"credits", json.Number("1")}}})
		}
		// The account operations with a password, an API key, ?key= and a bearer token.
		for _, op := range []string{"GetCreditsRemaining", "GetUsage"} {
			run(s, call{op: op, fields: creds(testUser, testPassword)})
			run(s, call{op: op, fields: creds(testUser, wrongPassword)})
			run(s, call{op: op, fields: creds("apikey-"+e.apiKey, "")})
			if jsonSurface {
				run(s, call{op: op, key: e.apiKey})
				run(s, call{op: op, bearer: tok})
			}
		}
		// Revocation: by the token itself, by jti with a password, with a bearer token.
		victim := e.issue(nil)
		tokens = append(tokens, victim)
		run(s, call{op: "RevokeJWT", fields: []field{{"jwt", victim}}})
		run(s, call{op: "RevokeJWT", fields: append(creds(testUser, testPassword), field{"jti", jtiOf(t, victim)})})
		run(s, call{op: "RevokeJWT", fields: append(creds(testUser, wrongPassword), field{"jwt", victim})})
		if jsonSurface {
			run(s, call{op: "RevokeJWT", fields: []field{{"jwt", victim}}, bearer: tok})
		}
		run(s, call{op: "VerifyJWT", fields: []field{{"serviceKey", e.serviceKey}, {"jwt", victim}, {"method", "Email.IsValid"}}})
	}
	// Internal errors log their causes: with the database closed, every call fails.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, s := range surfaces {
		for _, c := range []call{
			{op: "GetJWT", fields: append(creds(testUser, testPassword), field{"expiresAt", exp})},
			{op: "ChargeJWT", fields: []field{{"serviceKey", e.serviceKey}, {"jwt", tokens[0]}, {"method", "Email.IsValid"}, {"credits", json.Number("1")}}},
			{op: "GetUsage", fields: creds("apikey-"+e.apiKey, "")},
			{op: "RevokeJWT", fields: []field{{"jwt", tokens[1]}}},
		} {
			if o := e.send(s, c); o.status >= 500 {
				failed++
			}
		}
	}
	if failed == 0 {
		t.Errorf("no call failed with the database closed: the internal-error paths were not exercised")
	}

	e.srv.Close() // wait for every handler, so that the access log is complete
	logs := e.logs.String()
	if n := strings.Count(logs, "msg=http "); n != e.requests {
		t.Fatalf("the access log has %d lines for %d requests (is the log captured?)", n, e.requests)
	}
	if !strings.Contains(logs, "level=ERROR") {
		t.Errorf("no internal error was logged")
	}
	secrets := map[string]string{
		"password":                 testPassword,
		"password, JSON-escaped":   strings.Trim(string(mustJSON(t, testPassword)), `"`),
		"password, query-escaped":  url.QueryEscape(testPassword),
		"wrong password":           wrongPassword,
		"wrong password, escaped":  strings.ReplaceAll(wrongPassword, "&", "&amp;"),
		"API key":                  e.apiKey,
		"API key secret":           keySecret,
		"API key secret, escaped":  url.QueryEscape(keySecret),
		"wrong API key secret":     wrongKey[len(wrongKey)-len(keySecret):],
		"service key":              e.serviceKey,
		"service key secret":       svcSecret,
		"wrong service key secret": wrongServiceKey[len(wrongServiceKey)-len(svcSecret):],
	}
	for i, tok := range tokens {
		parts := strings.Split(tok, ".")
		secrets[fmt.Sprintf("token %d", i)] = tok
		secrets[fmt.Sprintf("token %d claims", i)] = parts[1]
		secrets[fmt.Sprintf("token %d signature", i)] = parts[2]
	}
	if len(tokens) < 10 {
		t.Fatalf("only %d tokens were issued", len(tokens))
	}
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the %s %q", what, s)
		}
	}
	// No log line can be forged by a value: each line is one record.
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !strings.HasPrefix(line, "time=") || strings.ContainsFunc(line, unicode.IsControl) {
			t.Errorf("a log line that slog did not write as one record: %q", line)
		}
	}
}
