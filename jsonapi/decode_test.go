package jsonapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

// assertNotJSON checks that err is the one decoding failure answered with a 4xx.
func assertNotJSON(t *testing.T, err error, want string) {
	t.Helper()
	var nj *notJSONError
	if !errors.As(err, &nj) {
		t.Fatalf("err = %v (%T), want *notJSONError", err, err)
	}
	if !strings.Contains(nj.msg, want) {
		t.Errorf("message %q does not contain %q", nj.msg, want)
	}
}

// assertInvalid checks that err is a business failure (EINVALID, answered
// with 200) whose message holds every want substring.
func assertInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want EINVALID")
	}
	var nj *notJSONError
	if errors.As(err, &nj) {
		t.Fatalf("err = notJSONError(%q), want a business failure", nj.msg)
	}
	if code := core.ErrorCode(err); code != core.EINVALID {
		t.Fatalf("ErrorCode = %q, want %q (err: %v)", code, core.EINVALID, err)
	}
	msg := core.ErrorMessage(err)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
}

func mustDecode(t *testing.T, body string) object {
	t.Helper()
	o, err := decodeObject([]byte(body))
	if err != nil {
		t.Fatalf("decodeObject(%s): %v", body, err)
	}
	return o
}

func TestDecodeObject(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		o := mustDecode(t, ` { "UserName" : "alice", "x": {"nested": [1, {"a": null}]}, "n": 1 } `)
		if !slices.Equal(o.names, []string{"UserName", "x", "n"}) {
			t.Errorf("names = %q, want document order as written", o.names)
		}
		for _, name := range []string{"username", "USERNAME", "userName", "UserName"} {
			if got := string(o.get(name)); got != `"alice"` {
				t.Errorf("get(%q) = %s, want \"alice\"", name, got)
			}
		}
		if got := string(o.get("x")); got != `{"nested": [1, {"a": null}]}` {
			t.Errorf("get(x) = %s, want the raw nested value", got)
		}
		if o.get("missing") != nil {
			t.Errorf("get(missing) = %s, want nil", o.get("missing"))
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		o := mustDecode(t, "{}")
		if len(o.names) != 0 || len(o.values) != 0 {
			t.Errorf("decoded %+v from {}", o)
		}
	})

	t.Run("ErrNotJSON", func(t *testing.T) {
		for _, tc := range []struct{ name, body, want string }{
			{"Empty", "", "empty"},
			{"Whitespace", " \t\r\n ", "empty"},
			{"Invalid", `{"username": }`, "not valid JSON"},
			{"Truncated", `{"username": "alice"`, "not valid JSON"},
			{"TrailingGarbage", `{} x`, "not valid JSON"},
			{"TwoObjects", `{}{}`, "not valid JSON"},
			{"SingleQuotes", `{'username': 'alice'}`, "not valid JSON"},
			{"Form", `username=alice&password=x`, "not valid JSON"},
			{"XML", `<GetJWT><username>alice</username></GetJWT>`, "not valid JSON"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := decodeObject([]byte(tc.body))
				assertNotJSON(t, err, tc.want)
			})
		}
	})

	t.Run("ErrNotAnObject", func(t *testing.T) {
		// Valid JSON of the wrong shape is a business failure, not a 4xx.
		for _, body := range []string{`[]`, `[{"username":"alice"}]`, `"alice"`, `42`, `true`, `null`} {
			t.Run(body, func(t *testing.T) {
				_, err := decodeObject([]byte(body))
				assertInvalid(t, err, "must be a JSON object")
			})
		}
	})

	t.Run("ErrDuplicateKey", func(t *testing.T) {
		for _, tc := range []struct{ body, first, second string }{
			{`{"username":"a","UserName":"b"}`, "username", "UserName"},
			{`{"Password":"a","x":1,"PASSWORD":"b"}`, "Password", "PASSWORD"},
			{`{"maxCredits":1,"maxCredits":2}`, "maxCredits", "maxCredits"},
		} {
			t.Run(tc.second, func(t *testing.T) {
				_, err := decodeObject([]byte(tc.body))
				assertInvalid(t, err, "more than once", `"`+tc.first+`"`, `"`+tc.second+`"`)
			})
		}
	})

	t.Run("NestedDuplicateIsNotTopLevel", func(t *testing.T) {
		// Only the object being decoded is checked; a nested value is raw.
		o := mustDecode(t, `{"x":{"a":1,"A":2}}`)
		if o.get("x") == nil {
			t.Fatal("x missing")
		}
	})
}

func TestObject_Str(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"String", `{"username":"alice"}`, "alice"},
		{"Empty", `{"username":""}`, ""},
		{"Null", `{"username":null}`, ""},
		{"Absent", `{}`, ""},
		{"Escapes", `{"username":"a\u00e9\"b"}`, `aé"b`},
		{"KeptAsWritten", `{"username":"  Alice "}`, "  Alice "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustDecode(t, tc.body).str("username")
			if err != nil {
				t.Fatalf("str: %v", err)
			}
			if got != tc.want {
				t.Errorf("str = %q, want %q", got, tc.want)
			}
		})
	}
	for _, body := range []string{`{"username":1}`, `{"username":true}`, `{"username":["a"]}`, `{"username":{"a":"b"}}`} {
		t.Run("Err/"+body, func(t *testing.T) {
			_, err := mustDecode(t, body).str("username")
			assertInvalid(t, err, "username must be a string")
		})
	}
}

func TestObject_Strings(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"Items", `{"allowedMethods":["AddressCapture","Email.IsValid"]}`, []string{"AddressCapture", "Email.IsValid"}},
		{"Empty", `{"allowedMethods":[]}`, []string{}},
		{"Null", `{"allowedMethods":null}`, nil},
		{"Absent", `{}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustDecode(t, tc.body).strings("allowedMethods")
			if err != nil {
				t.Fatalf("strings: %v", err)
			}
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("strings = %#v, want %#v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, body, want string }{
		{"NumberItem", `{"allowedMethods":["A",5]}`, "allowedMethods[1] must be a string"},
		{"NullItem", `{"allowedMethods":[null]}`, "allowedMethods[0] must be a string"},
		{"ObjectItem", `{"allowedMethods":["A","B",{"x":"C"}]}`, "allowedMethods[2] must be a string"},
		{"NotArray", `{"allowedMethods":"AddressCapture"}`, "allowedMethods must be an array of strings"},
		{"Object", `{"allowedMethods":{"0":"A"}}`, "allowedMethods must be an array of strings"},
	} {
		t.Run("Err/"+tc.name, func(t *testing.T) {
			_, err := mustDecode(t, tc.body).strings("allowedMethods")
			assertInvalid(t, err, tc.want)
		})
	}
}

func TestObject_Int(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        int64
	}{
		{"Integer", `5`, 5},
		{"WholeFloat", `5.0`, 5},
		{"Exponent", `5e2`, 500},
		{"String", `"5"`, 5},
		{"StringSpaces", `" 5 "`, 5},
		{"StringWholeFloat", `"5.0"`, 5},
		{"Zero", `0`, 0},       // range is core's rule, not the decoder's
		{"Negative", `-3`, -3}, // likewise
		{"Large", `9007199254740991`, 9007199254740991},
		{"Int64BeyondLimit", `9007199254740993`, 9007199254740993}, // exact; core refuses it
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustDecode(t, `{"maxCredits":`+tc.value+`}`).int("maxCredits")
			if err != nil {
				t.Fatalf("int(%s): %v", tc.value, err)
			}
			if got == nil || *got != tc.want {
				t.Errorf("int(%s) = %v, want %d", tc.value, got, tc.want)
			}
		})
	}
	for _, body := range []string{`{"maxCredits":null}`, `{}`, `{"maxCredits":""}`, `{"maxCredits":"  "}`} {
		t.Run("Absent/"+body, func(t *testing.T) {
			got, err := mustDecode(t, body).int("maxCredits")
			if err != nil || got != nil {
				t.Errorf("int = %v, %v; want nil, nil (no limit)", got, err)
			}
		})
	}
	for _, tc := range []struct{ name, value, want string }{
		{"Fraction", `5.5`, "whole number"},
		{"StringFraction", `"5.5"`, "whole number"},
		{"NotNumber", `"abc"`, "whole number"},
		{"HexFloatString", `"0x1p4"`, "whole number"},
		{"UnderscoreString", `"1_000"`, "whole number"},
		{"PlusString", `"+5"`, "whole number"},
		{"LeadingDotString", `".5e1"`, "whole number"},
		{"Huge", `1e300`, "whole number"},
		{"HugeNegative", `-1e300`, "whole number"},
		{"HugeString", `"1e300"`, "whole number"},
		{"BeyondInt64", `92233720368547758070`, "whole number"},
		{"Inf", `"Inf"`, "whole number"},
		{"NaN", `"NaN"`, "whole number"},
		{"Bool", `true`, "whole number or null"},
		{"Array", `[5]`, "whole number or null"},
		{"Object", `{"v":5}`, "whole number or null"},
	} {
		t.Run("Err/"+tc.name, func(t *testing.T) {
			got, err := mustDecode(t, `{"maxCredits":`+tc.value+`}`).int("maxCredits")
			if err == nil {
				t.Fatalf("int(%s) = %d, want an error", tc.value, *got)
			}
			assertInvalid(t, err, "maxCredits", tc.want)
		})
	}
}

func TestObject_Options(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        []core.Option
	}{
		{"Object", `{"ApplicationName":"x"}`, []core.Option{{Name: "ApplicationName", Value: "x"}}},
		{"NameAsWritten", `{"applicationname":"x"}`, []core.Option{{Name: "applicationname", Value: "x"}}},
		{"Number", `{"applicationname":123}`, []core.Option{{Name: "applicationname", Value: "123"}}},
		{"NegativeFloat", `{"ApplicationName":-1.50}`, []core.Option{{Name: "ApplicationName", Value: "-1.50"}}},
		{"True", `{"ApplicationName":true}`, []core.Option{{Name: "ApplicationName", Value: "true"}}},
		{"False", `{"ApplicationName":false}`, []core.Option{{Name: "ApplicationName", Value: "false"}}},
		{"NullValue", `{"ApplicationName":null}`, []core.Option{{Name: "ApplicationName", Value: ""}}},
		{"DocumentOrder", `{"b":"2","a":"1"}`, []core.Option{{Name: "b", Value: "2"}, {Name: "a", Value: "1"}}},
		{"EmptyObject", `{}`, nil},
		{"Pairs", `[{"Name":"ApplicationName","Value":"x"}]`, []core.Option{{Name: "ApplicationName", Value: "x"}}},
		{"PairsAnyCase", `[{"name":"ApplicationName","VALUE":7}]`, []core.Option{{Name: "ApplicationName", Value: "7"}}},
		{"PairsNullValue", `[{"Name":"ApplicationName","Value":null}]`, []core.Option{{Name: "ApplicationName", Value: ""}}},
		{"PairsTwo", `[{"Name":"a","Value":"1"},{"Name":"b","Value":true}]`, []core.Option{{Name: "a", Value: "1"}, {Name: "b", Value: "true"}}},
		{"EmptyPairs", `[]`, nil},
		{"Null", `null`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustDecode(t, `{"options":`+tc.value+`}`).options("options")
			if err != nil {
				t.Fatalf("options(%s): %v", tc.value, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("options(%s) = %#v, want %#v", tc.value, got, tc.want)
			}
		})
	}
	t.Run("Absent", func(t *testing.T) {
		got, err := mustDecode(t, `{}`).options("options")
		if err != nil || got != nil {
			t.Errorf("options = %#v, %v; want nil, nil", got, err)
		}
	})
	for _, tc := range []struct{ name, value, want string }{
		{"NestedObject", `{"ApplicationName":{"x":1}}`, "options.ApplicationName must be a string, number or boolean"},
		{"NestedArray", `{"ApplicationName":["x"]}`, "options.ApplicationName must be a string, number or boolean"},
		{"DuplicateName", `{"ApplicationName":"a","applicationName":"b"}`, "more than once"},
		{"String", `"ApplicationName=x"`, "options must be an object"},
		{"Number", `5`, "options must be an object"},
		{"Bool", `true`, "options must be an object"},
		{"PairNotObject", `["ApplicationName"]`, "options[0] must be an object with Name and Value"},
		{"PairNull", `[{"Name":"a","Value":"1"},null]`, "options[1] must be an object with Name and Value"},
		{"PairNameNotString", `[{"Name":5,"Value":"x"}]`, "options[0].Name must be a string"},
		{"PairValueObject", `[{"Name":"ApplicationName","Value":{"x":1}}]`, "options[0].Value must be a string, number or boolean"},
	} {
		t.Run("Err/"+tc.name, func(t *testing.T) {
			_, err := mustDecode(t, `{"options":`+tc.value+`}`).options("options")
			assertInvalid(t, err, tc.want)
		})
	}
}

// plainRequest is a request to the plain GetJWT with query (as written)
// and, when given, an Authorization header.
func plainRequest(query, authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, PlainPath(core.OpGetJWT)+query, nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

// testPlain is a plain surface whose callers all come from 203.0.113.9.
var testPlain = &Plain{Deps: edge.Deps{ClientAddr: func(*http.Request) string { return "203.0.113.9" }}}

// TestPlain_Credentials: the plain surface reads an account's credentials
// from wherever the request gives them (the body's username and password
// in any letter case, ?key= in any letter case, a bearer token) and passes
// them all to core, whose rules say which are accepted.
func TestPlain_Credentials(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, err := testPlain.credentials(plainRequest("", ""), mustDecode(t, `{"USERNAME":"alice","Password":"pw","unknown":[1,2,{"x":null}]}`))
		if want := (core.Credentials{Username: "alice", Password: "pw", ClientAddr: "203.0.113.9"}); err != nil || c != want {
			t.Errorf("credentials = %+v, %v; want %+v", c, err, want)
		}
	})
	t.Run("Key", func(t *testing.T) {
		c, err := testPlain.credentials(plainRequest("?key=jg_0123456789abcdef_secret", ""), mustDecode(t, `{"expiresAt":"2030-01-01T00:00:00Z","password":null}`))
		if err != nil || c.APIKey != "jg_0123456789abcdef_secret" || c.Username != "" || c.Password != "" {
			t.Errorf("credentials = %+v, %v", c, err)
		}
	})
	t.Run("KeyInAnyCase", func(t *testing.T) {
		for query, want := range map[string]string{"?Key=k1&other=x": "k1", "?KEY=k1": "k1", "?other=x": "", "": ""} {
			if c, _ := testPlain.credentials(plainRequest(query, ""), mustDecode(t, `{}`)); c.APIKey != want {
				t.Errorf("%s: APIKey = %q, want %q", query, c.APIKey, want)
			}
		}
	})
	t.Run("Bearer", func(t *testing.T) {
		if c, _ := testPlain.credentials(plainRequest("", "bearer  tok "), mustDecode(t, `{}`)); c.Bearer != "tok" {
			t.Errorf("Bearer = %q, want tok", c.Bearer)
		}
	})
	for _, tc := range []struct{ name, body string }{
		{"KeyAndUsername", `{"username":"alice"}`},
		{"KeyAndPassword", `{"password":"pw"}`},
	} {
		t.Run("CoreRefuses/"+tc.name, func(t *testing.T) {
			// Both reach core, which refuses them about the key.
			c, err := testPlain.credentials(plainRequest("?key=k", ""), mustDecode(t, tc.body))
			if err != nil || c.APIKey != "k" || c.Username+c.Password == "" {
				t.Fatalf("credentials = %+v, %v; want the key and the login", c, err)
			}
			err = core.OpGetJWT.Admit(c)
			assertInvalid(t, err, "not both")
			if ce := (*core.Error)(nil); !errors.As(err, &ce) || ce.Field != core.FieldAPIKey {
				t.Errorf("err = %#v, want it about the API key", err)
			}
		})
	}
	for _, tc := range []struct{ name, body, want string }{
		{"UsernameNotString", `{"username":5}`, "username must be a string"},
		{"PasswordNotString", `{"password":true}`, "password must be a string"},
	} {
		t.Run("Err/"+tc.name, func(t *testing.T) {
			_, err := testPlain.credentials(plainRequest("", ""), mustDecode(t, tc.body))
			assertInvalid(t, err, tc.want)
		})
	}
}

// TestGetJWTFields: GetJWT's other fields, read as leniently as the
// credentials; the options are read even when another field is refused,
// so that the refusal is recorded with its application.
func TestGetJWTFields(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		req := &core.GetJWTRequest{}
		err := getJWTFields(mustDecode(t, `{"USERNAME":"alice","clientip":"203.0.113.9","ExpiresAt":"2030-01-01T00:00:00Z",
			"allowedmethods":["A.B"],"MAXCREDITS":"7","Options":{"ApplicationName":"app"},"unknown":[1,2,{"x":null}]}`), req)
		if err != nil {
			t.Fatalf("getJWTFields: %v", err)
		}
		if req.ClientIP != "203.0.113.9" || req.ExpiresAt != "2030-01-01T00:00:00Z" ||
			!slices.Equal(req.AllowedMethods, []string{"A.B"}) || req.MaxCredits == nil || *req.MaxCredits != 7 ||
			!slices.Equal(req.Options, []core.Option{{Name: "ApplicationName", Value: "app"}}) || req.Credentials != (core.Credentials{}) || req.Malformed != nil {
			t.Errorf("request = %+v", req)
		}
	})
	for _, tc := range []struct{ name, body, want string }{
		{"ClientIPNotString", `{"clientIp":[1]}`, "clientIp must be a string"},
		{"ExpiresAtNotString", `{"expiresAt":1893456000}`, "expiresAt must be a string"},
		{"MethodItem", `{"allowedMethods":["A",1]}`, "allowedMethods[1]"},
		{"MaxCredits", `{"maxCredits":5.5}`, "maxCredits"},
		{"MaxCreditsNotNumber", `{"maxCredits":"abc"}`, "maxCredits must be a whole number"},
		{"Options", `{"options":{"ApplicationName":{}}}`, "options.ApplicationName"},
	} {
		t.Run("Err/"+tc.name, func(t *testing.T) {
			err := getJWTFields(mustDecode(t, tc.body), &core.GetJWTRequest{})
			assertInvalid(t, err, tc.want)
		})
	}
	t.Run("OptionsDespiteAnotherError", func(t *testing.T) {
		for _, body := range []string{
			`{"maxCredits":"abc","options":{"ApplicationName":"x"}}`,
			`{"clientIp":5,"options":{"ApplicationName":"x"}}`,
			`{"allowedMethods":"A","options":{"ApplicationName":"x"}}`,
		} {
			req := &core.GetJWTRequest{}
			assertInvalid(t, getJWTFields(mustDecode(t, body), req))
			if !slices.Equal(req.Options, []core.Option{{Name: "ApplicationName", Value: "x"}}) {
				t.Errorf("%s: options %+v, want ApplicationName x", body, req.Options)
			}
		}
	})
}

func TestDecodeObject_ByteOrderMark(t *testing.T) {
	obj, err := decodeObject([]byte("\xEF\xBB\xBF{\"username\":\"alice\"}"))
	if err != nil {
		t.Fatalf("a UTF-8 BOM before the object: %v", err)
	}
	if got, _ := obj.str("username"); got != "alice" {
		t.Fatalf("username = %q", got)
	}
}
