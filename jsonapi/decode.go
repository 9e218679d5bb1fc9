package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/jwtgate/jwtgate/core"
)

// notJSONError is a body that is not JSON at all: the only decoding failure
// that the plain endpoints answer with a 4xx.
type notJSONError struct{ msg string }

func (e *notJSONError) Error() string { return e.msg }

// object is a JSON object whose property names are matched
// case-insensitively, as the plain endpoints promise.
type object struct {
	names  []string                   // as written, in document order
	values map[string]json.RawMessage // by lower-case name
}

func (o object) get(name string) json.RawMessage { return o.values[strings.ToLower(name)] }

// decodeObject reads a JSON body. A body that does not parse is a *notJSONError;
// valid JSON of the wrong shape (an array, a repeated property) is a
// business failure (*core.Error).
func decodeObject(body []byte) (object, error) {
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF")) // sent by some .NET and PowerShell clients
	if len(bytes.TrimSpace(body)) == 0 {
		return object{}, &notJSONError{"the request body is empty; send a JSON object"}
	}
	if !json.Valid(body) {
		return object{}, &notJSONError{"the request body is not valid JSON"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, _ := dec.Token(); t != json.Delim('{') {
		return object{}, core.Errorf(core.EINVALID, "the request body must be a JSON object")
	}
	obj := object{values: map[string]json.RawMessage{}}
	first := map[string]string{}
	for dec.More() {
		// json.Valid vouched for the syntax: keys are strings, values decode.
		t, _ := dec.Token()
		name := t.(string)
		var v json.RawMessage
		dec.Decode(&v) //nolint:errcheck
		key := strings.ToLower(name)
		if was, dup := first[key]; dup {
			return object{}, core.Errorf(core.EINVALID, "property %q is given more than once (as %q and %q)", name, was, name)
		}
		first[key] = name
		obj.names = append(obj.names, name)
		obj.values[key] = v
	}
	return obj, nil
}

func isNull(v json.RawMessage) bool { return v == nil || string(v) == "null" }

// str reads an optional string property.
func (o object) str(name string) (string, error) {
	v := o.get(name)
	if isNull(v) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", core.Errorf(core.EINVALID, "%s must be a string", name)
	}
	return s, nil
}

// strings reads an optional array of strings.
func (o object) strings(name string) ([]string, error) {
	v := o.get(name)
	if isNull(v) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, core.Errorf(core.EINVALID, "%s must be an array of strings", name)
	}
	out := make([]string, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil || isNull(it) {
			return nil, core.Errorf(core.EINVALID, "%s[%d] must be a string", name, i)
		}
	}
	return out, nil
}

// int reads an optional whole number; a numeric string is accepted too.
func (o object) int(name string) (*int64, error) {
	v := o.get(name)
	if isNull(v) {
		return nil, nil
	}
	var num json.Number
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		// A number in a string is accepted when it is written as a JSON number.
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		if !json.Valid([]byte(s)) || !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') {
			return nil, core.Errorf(core.EINVALID, "%s must be a whole number or null", name)
		}
		num = json.Number(s)
	} else if err := json.Unmarshal(v, &num); err != nil {
		return nil, core.Errorf(core.EINVALID, "%s must be a whole number or null", name)
	}
	if n, err := num.Int64(); err == nil {
		return &n, nil
	}
	f, err := num.Float64()
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > core.MaxCreditsLimit {
		return nil, core.Errorf(core.EINVALID, "%s must be a whole number between 1 and %d, or null", name, int64(core.MaxCreditsLimit))
	}
	n := int64(f)
	return &n, nil
}

// options reads GetJWT's options: an object {"ApplicationName": "x"} whose
// values may be any JSON scalar, or the SOAP-shaped [{"Name":..,"Value":..}].
func (o object) options(name string) ([]core.Option, error) {
	v := o.get(name)
	if isNull(v) {
		return nil, nil
	}
	switch bytes.TrimSpace(v)[0] {
	case '{':
		inner, err := decodeObject(v)
		if err != nil {
			return nil, core.Errorf(core.EINVALID, "%s: %s", name, core.ErrorMessage(err))
		}
		var opts []core.Option
		for _, raw := range inner.names {
			val, err := scalar(inner.get(raw))
			if err != nil {
				return nil, core.Errorf(core.EINVALID, "%s.%s must be a string, number or boolean", name, raw)
			}
			opts = append(opts, core.Option{Name: raw, Value: val})
		}
		return opts, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, core.Errorf(core.EINVALID, "%s must be an object such as {\"ApplicationName\": \"MyApp\"}", name)
		}
		var opts []core.Option
		for i, raw := range items {
			it, err := decodeObject(raw)
			if err != nil {
				return nil, core.Errorf(core.EINVALID, "%s[%d] must be an object with Name and Value", name, i)
			}
			n, err := it.str("Name")
			if err != nil {
				return nil, core.Errorf(core.EINVALID, "%s[%d].Name must be a string", name, i)
			}
			val, err := scalar(it.get("Value"))
			if err != nil {
				return nil, core.Errorf(core.EINVALID, "%s[%d].Value must be a string, number or boolean", name, i)
			}
			opts = append(opts, core.Option{Name: n, Value: val})
		}
		return opts, nil
	}
	return nil, core.Errorf(core.EINVALID, "%s must be an object such as {\"ApplicationName\": \"MyApp\"}", name)
}

// scalar renders a JSON scalar as option text: strings as they are, numbers
// and booleans as written, null as empty.
func scalar(v json.RawMessage) (string, error) {
	if isNull(v) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	t := strings.TrimSpace(string(v))
	if t == "true" || t == "false" || json.Valid(v) && (t[0] == '-' || t[0] >= '0' && t[0] <= '9') {
		return t, nil
	}
	return "", errors.New("not a scalar")
}
