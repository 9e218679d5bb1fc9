package jsonapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/sqlite"
)

func TestDuplicateProperty(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":1,"A":2}`, ""}, // not the same name; the schema refuses "A"
		{`{"options":{"ApplicationName":"x","ApplicationName":"y"}}`, "options.ApplicationName"},
		{`{"x":[{"a":1},{"b":1,"b":2}]}`, "x[1].b"},
		{`{"x":[[],[{"k":{}}],{"k":1,"k":2}]}`, "x[2].k"},
		{`{"x":{},"y":[],"z":{"a":{"b":{"c":1}}},"x2":1}`, ""},
		{`{"x":{},"x":[]}`, "x"},
		{`[{"a":1},{"a":1,"a":1}]`, "[1].a"},
		{`"s"`, ""},
		{`{}`, ""},
	} {
		if got := duplicateProperty([]byte(tc.body)); got != tc.want {
			t.Errorf("duplicateProperty(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestFieldName(t *testing.T) {
	for _, tc := range []struct {
		root    string
		pointer []string
		want    string
	}{
		{"", nil, "the request body"},
		{"", []string{"maxCredits"}, "maxCredits"},
		{"", []string{"allowedMethods", "2"}, "allowedMethods[2]"},
		{"", []string{"options", "ApplicationName"}, "options.ApplicationName"},
		{"key", nil, "key"},
		{"body", []string{"Status", "Success"}, "body.Status.Success"},
	} {
		if got := fieldName(tc.root, tc.pointer); got != tc.want {
			t.Errorf("fieldName(%q, %q) = %q, want %q", tc.root, tc.pointer, got, tc.want)
		}
	}
}

// strictFixture is the strict surface on a real service, with alice and an
// API key of hers; every caller comes from 192.0.2.7.
type strictFixture struct {
	a      *OpenAPI
	db     *sqlite.DB
	user   *core.User
	key    string
	keyRec *core.APIKey
}

func newStrictFixture(t *testing.T) *strictFixture {
	t.Helper()
	svc, db := testenv.New(t)
	f := &strictFixture{db: db, user: testenv.CreateUser(t, svc, "alice", "alice's password", 10)}
	f.key, f.keyRec = testenv.CreateAPIKey(t, svc, "alice")
	f.a = &OpenAPI{Deps: edge.Deps{Service: svc, Logger: slog.New(slog.DiscardHandler),
		ClientAddr: func(*http.Request) string { return "192.0.2.7" }}}
	return f
}

// call runs the strict surface's GetJWT as its handler does once the
// document has judged the body (violation is the document's refusal, nil
// when it vouched for the body). It returns the answer, the ledger line the
// call wrote (read through the store) and the error.
func (f *strictFixture) call(t *testing.T, query, body string, violation error) (any, *core.UsageEvent, error) {
	t.Helper()
	before := len(testenv.UsageLines(t, f.db))
	r := httptest.NewRequest(http.MethodPost, APIBase+"/UserAdmin/GetJWT"+query, nil)
	res, err := f.a.getJWT(r, []byte(body), violation)
	lines := testenv.UsageLines(t, f.db)[before:]
	if len(lines) != 1 {
		t.Fatalf("GetJWT left %d ledger lines, want 1", len(lines))
	}
	return res, lines[0], err
}

// TestOpenAPI_getJWT: a body the document vouched for becomes core's
// request field by field (the token's record shows each); one it refused
// reaches core as the request's Malformed, with the credentials and the
// application it still gives, to be recorded.
func TestOpenAPI_getJWT(t *testing.T) {
	f := newStrictFixture(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	expStr := exp.Format(time.RFC3339)
	issued := func(t *testing.T, res any, l *core.UsageEvent, err error) *core.IssuedToken {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		r, ok := res.(GetJWTResponse)
		if !ok || !r.Status.Success || r.Jwt == nil {
			t.Fatalf("result %#v", res)
		}
		if l.Outcome != core.OutcomeOK || l.ClientAddr != "192.0.2.7" || l.JTI == "" {
			t.Errorf("ledger line %+v", *l)
		}
		tok, err := f.db.TokenByJTI(t.Context(), l.JTI)
		if err != nil {
			t.Fatalf("the token of the ledger line: %v", err)
		}
		return tok
	}
	t.Run("OK", func(t *testing.T) {
		res, l, err := f.call(t, "", `{"username":"alice","password":"alice's password","clientIp":"192.0.2.1","expiresAt":"`+expStr+`",
			"allowedMethods":["A.B"],"maxCredits":1e2,"options":{"ApplicationName":"app"}}`, nil)
		tok := issued(t, res, l, err)
		if tok.UserID != f.user.ID || tok.APIKeyID != "" || tok.ClientIP != "192.0.2.1" || !tok.ExpiresAt.Equal(exp) ||
			!slices.Equal(tok.AllowedMethods, []string{"A.B"}) || tok.MaxCredits == nil || *tok.MaxCredits != 100 || tok.Application != "app" {
			t.Errorf("token %+v", tok)
		}
	})
	t.Run("NullsAreAbsent", func(t *testing.T) {
		res, l, err := f.call(t, "", `{"username":"alice","password":"alice's password","expiresAt":"`+expStr+`","clientIp":null,"maxCredits":null,"options":{}}`, nil)
		tok := issued(t, res, l, err)
		if tok.ClientIP != "" || tok.MaxCredits != nil || tok.Application != "" || len(tok.AllowedMethods) != 0 {
			t.Errorf("token %+v", tok)
		}
	})
	t.Run("Key", func(t *testing.T) {
		res, l, err := f.call(t, "?key="+url.QueryEscape(f.key), `{"expiresAt":"`+expStr+`"}`, nil)
		if tok := issued(t, res, l, err); tok.APIKeyID != f.keyRec.ID || tok.UserID != f.user.ID {
			t.Errorf("token %+v, want one of API key %s", tok, f.keyRec.ID)
		}
	})
	t.Run("ErrKeyAndPassword", func(t *testing.T) {
		// Core refuses it, about the key: the surface names ?key= first.
		_, l, err := f.call(t, "?key="+url.QueryEscape(f.key), `{"password":"alice's password","expiresAt":"`+expStr+`"}`, nil)
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Code != core.EINVALID || ce.Field != core.FieldAPIKey {
			t.Fatalf("err = %#v, want EINVALID about the API key", err)
		}
		if l.Outcome != core.Outcome(core.EINVALID) || l.AccountID != nil {
			t.Errorf("ledger line %+v, want an invalid call under no account", *l)
		}
	})
	t.Run("ErrViolationRecorded", func(t *testing.T) {
		violation := core.Errorf(core.EINVALID, "maxCredits: must be an integer or null")
		_, l, err := f.call(t, "", `{"username":"alice","password":"wrong","expiresAt":"`+expStr+`","maxCredits":"abc","options":{"ApplicationName":"x"}}`, violation)
		if err != violation {
			t.Fatalf("err = %v, want the violation itself", err)
		}
		if l.Method != core.OpGetJWT.Method || l.Outcome != core.Outcome(core.EINVALID) || l.AccountID == nil || *l.AccountID != f.user.AccountID ||
			l.Application != "x" || l.ClientAddr != "192.0.2.7" {
			t.Errorf("ledger line %+v, want alice's invalid call from x", *l)
		}
	})
	t.Run("ErrBodyTheStructLacks", func(t *testing.T) {
		// The document vouched for a body the request struct cannot hold:
		// the struct and the schema disagree, which is the server's fault.
		r := httptest.NewRequest(http.MethodPost, APIBase+"/UserAdmin/GetJWT", nil)
		if _, err := f.a.getJWT(r, []byte(`{"colour":"red"}`), nil); core.ErrorCode(err) != core.EINTERNAL {
			t.Fatalf("err = %v, want EINTERNAL", err)
		}
	})
}

// TestReadable: what a GetJWT body the document refused still gives core:
// the username, the password and the ApplicationName where each is a
// string under its exact name, and the credentials from outside the body.
func TestReadable(t *testing.T) {
	outside := core.Credentials{APIKey: "jg_k", Bearer: "b", ClientAddr: "192.0.2.7"}
	app := func(name string) []core.Option { return []core.Option{{Name: core.OptionApplicationName, Value: name}} }
	for _, tc := range []struct {
		name, body         string
		username, password string
		options            []core.Option
	}{
		{"All", `{"username":"alice","password":"pw","maxCredits":"abc","options":{"ApplicationName":"x"}}`, "alice", "pw", app("x")},
		{"NotStrings", `{"username":5,"password":true,"options":{"ApplicationName":5}}`, "", "", nil},
		{"Nulls", `{"username":null,"password":null,"options":null}`, "", "", nil},
		{"ExactNamesOnly", `{"Username":"alice","PASSWORD":"pw","options":{"applicationName":"x"}}`, "", "", nil},
		{"EmptyApplicationName", `{"username":"alice","options":{"ApplicationName":""}}`, "alice", "", nil},
		{"OptionsNotObject", `{"username":"alice","options":"ApplicationName=x"}`, "alice", "", nil},
		{"LastOfDuplicates", `{"username":"a","username":"b"}`, "b", "", nil},
		{"NotAnObject", `["alice"]`, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, opts := readable([]byte(tc.body), outside)
			want := outside
			want.Username, want.Password = tc.username, tc.password
			if c != want {
				t.Errorf("credentials %+v, want %+v", c, want)
			}
			if !slices.Equal(opts, tc.options) {
				t.Errorf("options %+v, want %+v", opts, tc.options)
			}
		})
	}
}

func TestWholeNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"5", 5}, {"5.0", 5}, {"1e2", 100}, {"9007199254740991", 1<<53 - 1}} {
		if got, err := wholeNumber("credits", json.Number(tc.in)); err != nil || got != tc.want {
			t.Errorf("wholeNumber(%s) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	if _, err := wholeNumber("credits", "x"); core.ErrorCode(err) != core.EINTERNAL {
		t.Errorf("wholeNumber(x): %v, want EINTERNAL (the document let it through)", err)
	}
}
