package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

// FuzzDecodeObject feeds bodies (and a ?key= value) to the plain endpoints'
// decoder. Properties: no panic; a body is refused as not JSON exactly when
// it is not JSON, and as not an object exactly when it is another JSON
// value; a property named twice in any letter case is refused exactly when
// the reference below finds it; an accepted object keeps every property,
// in order, with its value unchanged; GetJWT's fields (and ?key=) come out
// as the request gave them, and core refuses a key given with a login.
// Seeds: f.Add below and testdata/fuzz/FuzzDecodeObject.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range [][2]string{
		{`{"username":"alice","password":"pw","expiresAt":"2030-01-01T00:00:00Z","allowedMethods":["Email"],"maxCredits":5,"options":{"ApplicationName":"x"}}`, ""},
		{`{"UserName":"a","USERNAME":"b"}`, ""},
		{`{"options":{"ApplicationName":"a","applicationname":"b"}}`, ""},
		{`{"options":[{"Name":"ApplicationName","Value":1.5e3}]}`, ""},
		{`{"maxCredits":"5"}`, ""}, {`{"maxCredits":1e400}`, ""}, {`{"maxCredits":-0}`, ""}, {`{"maxCredits":9007199254740993}`, ""},
		{`{"maxCredits":1.0}`, ""}, {`{"maxCredits":"  "}`, ""}, {`{"allowedMethods":[null]}`, ""},
		{"\xEF\xBB\xBF{\"expiresAt\":\"2030-01-01T00:00:00Z\"}", "jg_0123456789abcdef_secret"},
		{`{"username":"u","x":{"a":1,"a":2}}`, ""}, {`{"\u212a":1,"k":2}`, ""}, {`{"\u00df":1,"SS":2}`, ""},
		{`{"a\ud800":1,"a\udfff":2}`, ""}, {"{\"\xff\":1,\"\xfe\":2}", ""},
		{`[]`, ""}, {`null`, ""}, {` `, ""}, {`{"a":1}{}`, ""}, {`{"username":5}`, ""}, {`{"password":"x"}`, "k"},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		obj, err := decodeObject(body)
		ref := refDecode(body)
		var nj *notJSONError
		switch {
		case ref.notJSON:
			if !errors.As(err, &nj) {
				t.Fatalf("decodeObject(%q) = %v, want a not-JSON refusal", body, err)
			}
			return
		case errors.As(err, &nj):
			t.Fatalf("decodeObject(%q) refused JSON as not JSON: %v", body, err)
		case ref.notObject:
			if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "must be a JSON object") {
				t.Fatalf("decodeObject(%q) = %v, want 'must be a JSON object'", body, err)
			}
			return
		case ref.dup:
			if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "more than once") {
				t.Fatalf("decodeObject(%q) = %v; the reference finds a name given twice", body, err)
			}
			return
		case err != nil:
			t.Fatalf("decodeObject(%q): %v; the reference accepts it", body, err)
		}
		if fmt.Sprint(obj.names) != fmt.Sprint(ref.names) || len(obj.names) != len(ref.names) {
			t.Fatalf("decodeObject(%q): names %q, want %q", body, obj.names, ref.names)
		}
		for _, name := range ref.names {
			got, err := decodeAny(obj.get(name))
			if err != nil || !reflect.DeepEqual(got, ref.values[name]) {
				t.Fatalf("decodeObject(%q): %q = %#v (%v), want %#v", body, name, got, err, ref.values[name])
			}
			if swapped := swapASCIICase(name); !bytes.Equal(obj.get(swapped), obj.get(name)) {
				t.Fatalf("decodeObject(%q): %q and %q read differently", body, name, swapped)
			}
		}
		checkGetJWTRequest(t, body, obj, ref, key)
	})
}

// checkGetJWTRequest checks the mapping of an accepted object (and ?key=)
// to GetJWT's request, as the plain surface reads it (its credentials, then
// the other fields), against the reference reading; and that core refuses
// a key given with a username or password.
func checkGetJWTRequest(t *testing.T, body []byte, obj object, ref refObject, key string) {
	t.Helper()
	c, err := testPlain.credentials(plainRequest("?key="+url.QueryEscape(key), ""), obj)
	req := &core.GetJWTRequest{Credentials: c}
	if err == nil {
		err = getJWTFields(obj, req)
	}
	field := func(name string) (any, bool) {
		for _, n := range ref.names {
			if strings.ToLower(n) == strings.ToLower(name) {
				return ref.values[n], true
			}
		}
		return nil, false
	}
	want := map[string]string{}
	for _, name := range []string{"username", "password", "clientIp", "expiresAt"} {
		switch v, _ := field(name); v := v.(type) {
		case nil:
			want[name] = ""
		case string:
			want[name] = v
		default:
			if err == nil {
				t.Fatalf("plain GetJWT(%q) accepts %s = %#v, which is not a string", body, name, v)
			}
			return
		}
	}
	if err != nil {
		if core.ErrorCode(err) != core.EINVALID {
			t.Fatalf("plain GetJWT(%q): %v, want EINVALID", body, err)
		}
		return
	}
	if key != "" && (want["username"] != "" || want["password"] != "") {
		if aerr := core.OpGetJWT.Admit(req.Credentials); core.ErrorCode(aerr) != core.EINVALID {
			t.Fatalf("plain GetJWT(%q, key %q): core admits a username or password with ?key= (%v)", body, key, aerr)
		}
	}
	want["apiKey"] = key
	got := map[string]string{"username": req.Username, "password": req.Password, "apiKey": req.APIKey, "clientIp": req.ClientIP, "expiresAt": req.ExpiresAt}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plain GetJWT(%q, %q) = %q, want %q", body, key, got, want)
	}
	if v, ok := field("allowedMethods"); ok && v != nil {
		items, isArray := v.([]any)
		if !isArray || len(items) != len(req.AllowedMethods) {
			t.Fatalf("plain GetJWT(%q): allowedMethods %q from %#v", body, req.AllowedMethods, v)
		}
		for i, it := range items {
			if s, ok := it.(string); !ok || s != req.AllowedMethods[i] {
				t.Fatalf("plain GetJWT(%q): allowedMethods[%d] = %q from %#v", body, i, req.AllowedMethods[i], it)
			}
		}
	} else if req.AllowedMethods != nil {
		t.Fatalf("plain GetJWT(%q): allowedMethods %q from nothing", body, req.AllowedMethods)
	}
	switch v, _ := field("maxCredits"); v := v.(type) {
	case nil:
		if req.MaxCredits != nil {
			t.Fatalf("plain GetJWT(%q): maxCredits %d from nothing", body, *req.MaxCredits)
		}
	case string:
		if strings.TrimSpace(v) == "" {
			if req.MaxCredits != nil {
				t.Fatalf("plain GetJWT(%q): maxCredits %d from %q", body, *req.MaxCredits, v)
			}
			return
		}
		checkWhole(t, body, req.MaxCredits, json.Number(strings.TrimSpace(v)))
	case json.Number:
		checkWhole(t, body, req.MaxCredits, v)
	default:
		t.Fatalf("plain GetJWT(%q) accepts maxCredits %#v", body, v)
	}
}

// checkWhole checks that an accepted number is the whole number written.
func checkWhole(t *testing.T, body []byte, got *int64, n json.Number) {
	t.Helper()
	if got == nil {
		t.Fatalf("plain GetJWT(%q): maxCredits %q read as none", body, n)
	}
	if i, err := n.Int64(); err == nil {
		if *got != i {
			t.Fatalf("plain GetJWT(%q): maxCredits %q read as %d", body, n, *got)
		}
		return
	}
	f, err := n.Float64()
	if err != nil || f != float64(*got) || f > core.MaxCreditsLimit || f < -core.MaxCreditsLimit {
		t.Fatalf("plain GetJWT(%q): maxCredits %q read as %d", body, n, *got)
	}
}

// refObject is the reference reading of a plain body.
type refObject struct {
	notJSON, notObject bool
	dup                bool // a top-level name is given twice, in any letter case
	names              []string
	values             map[string]any
}

// refDecode reads body as the plain endpoints promise to: a UTF-8 BOM is
// ignored, property names are compared by their lower-case forms (as in
// "username" and "UserName"), values are kept as written.
func refDecode(body []byte) refObject {
	b := bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	if !json.Valid(b) {
		return refObject{notJSON: true}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return refObject{notJSON: true}
	}
	if _, ok := top.(map[string]any); !ok {
		return refObject{notObject: true}
	}
	// The names in order, with their values, read again as tokens.
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.Token() //nolint:errcheck // the '{' just seen
	ref := refObject{values: map[string]any{}}
	for dec.More() {
		tok, _ := dec.Token()
		name := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			panic(err) // json.Valid vouched for it
		}
		for _, n := range ref.names {
			if strings.ToLower(n) == strings.ToLower(name) {
				ref.dup = true
			}
		}
		ref.names = append(ref.names, name)
		ref.values[name] = v
	}
	return ref
}

func decodeAny(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func swapASCIICase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

// FuzzDuplicateProperty: the strict surface's duplicate check (exact names,
// at any depth, on a body that is valid JSON) finds a duplicate exactly when
// a recursive reference does.
func FuzzDuplicateProperty(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":2}`, `{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"x":[{"a":1},{"b":1,"b":2}]}`, `[{"a":1},{"a":1,"a":1}]`,
		`{"x":{},"x":[]}`, `"s"`, `{"o":{"p":{"q":{"r":1,"r":2}}}}`, `{"a\u0062":1,"ab":2}`, `{"o":{"":1,"":2}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return // the strict surface refuses it before looking for duplicates
		}
		got := duplicateProperty(body)
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		want, err := refExactDup(dec)
		if err != nil {
			t.Fatalf("reference on %q: %v", body, err)
		}
		if (got != "") != want {
			t.Fatalf("duplicateProperty(%q) = %q; the reference finds a duplicate: %v", body, got, want)
		}
	})
}

// refExactDup walks one JSON value recursively and reports whether some
// object in it names a property twice.
func refExactDup(dec *json.Decoder) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return false, nil
	}
	dup := false
	seen := map[string]bool{}
	for dec.More() {
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return false, err
			}
			name := k.(string)
			dup = dup || seen[name]
			seen[name] = true
		}
		inner, err := refExactDup(dec)
		if err != nil {
			return false, err
		}
		dup = dup || inner
	}
	_, err = dec.Token() // the closing delimiter
	return dup, err
}
