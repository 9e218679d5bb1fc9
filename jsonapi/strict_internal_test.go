package jsonapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
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

func TestStrictGetJWT(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		req, err := strictGetJWT([]byte(`{"username":"alice","password":"pw","clientIp":"192.0.2.1","expiresAt":"2030-01-01T00:00:00Z",
			"allowedMethods":["A.B"],"maxCredits":1e2,"options":{"ApplicationName":"app"}}`), "")
		if err != nil {
			t.Fatal(err)
		}
		if req.Username != "alice" || req.Password != "pw" || req.ClientIP != "192.0.2.1" || req.ExpiresAt != "2030-01-01T00:00:00Z" ||
			len(req.AllowedMethods) != 1 || req.MaxCredits == nil || *req.MaxCredits != 100 ||
			len(req.Options) != 1 || req.Options[0] != (core.Option{Name: core.OptionApplicationName, Value: "app"}) {
			t.Errorf("request = %+v", req)
		}
	})
	t.Run("NullsAreAbsent", func(t *testing.T) {
		req, err := strictGetJWT([]byte(`{"expiresAt":"2030-01-01T00:00:00Z","clientIp":null,"maxCredits":null,"options":{}}`), "")
		if err != nil {
			t.Fatal(err)
		}
		if req.ClientIP != "" || req.MaxCredits != nil || req.Options != nil {
			t.Errorf("request = %+v", req)
		}
	})
	t.Run("Key", func(t *testing.T) {
		req, err := strictGetJWT([]byte(`{"expiresAt":"2030-01-01T00:00:00Z"}`), "jg_k")
		if err != nil || req.APIKey != "jg_k" || req.Username != "" || req.Password != "" {
			t.Fatalf("request = %+v, %v", req, err)
		}
	})
	t.Run("ErrKeyAndPassword", func(t *testing.T) {
		_, err := strictGetJWT([]byte(`{"password":"pw","expiresAt":"2030-01-01T00:00:00Z"}`), "jg_k")
		if core.ErrorCode(err) != core.EINVALID || !strings.HasPrefix(core.ErrorMessage(err), "key: ") {
			t.Fatalf("err = %v, want EINVALID naming key", err)
		}
	})
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
