package jsonapi

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/jwtgate/jwtgate/core"
)

// violation turns a kin-openapi request validation error into a caller-safe
// EINVALID error whose message names the offending field first, e.g.
// "maxCredits: must be at least 1" or `unknown property "colour"`. kin's own
// messages embed the schema and are not meant for callers.
func violation(err error) *core.Error {
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) > 0 {
		return violation(me[0])
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		var se *openapi3.SchemaError
		switch {
		case errors.As(re.Err, &se):
			if re.Parameter != nil {
				return &core.Error{Code: core.EINVALID, Message: schemaMessage(se, re.Parameter.Name), Err: err}
			}
			return &core.Error{Code: core.EINVALID, Message: schemaMessage(se, ""), Err: err}
		case errors.Is(re.Err, openapi3filter.ErrInvalidRequired) && re.Parameter != nil:
			return &core.Error{Code: core.EINVALID, Message: re.Parameter.Name + ": is required", Err: err}
		case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
			return &core.Error{Code: core.EINVALID, Message: "the request body is required; send a JSON object", Err: err}
		case re.Parameter != nil:
			return &core.Error{Code: core.EINVALID, Message: re.Parameter.Name + ": is not valid", Err: err}
		case re.RequestBody != nil && strings.Contains(re.Reason, "Content-Type"):
			return &core.Error{Code: core.EINVALID, Message: "send the request body as Content-Type: application/json", Err: err}
		case re.RequestBody != nil:
			return &core.Error{Code: core.EINVALID, Message: "the request body is not valid JSON", Err: err}
		}
	}
	return &core.Error{Code: core.EINVALID, Message: "the request does not match the OpenAPI document (see /openapi.yaml)", Err: err}
}

// schemaMessage says what is wrong with the value at se's JSON pointer,
// below the root name (a parameter's name, or "" for the request body).
func schemaMessage(se *openapi3.SchemaError, root string) string {
	field := fieldName(root, se.JSONPointer())
	s := se.Schema
	if s == nil {
		s = &openapi3.Schema{}
	}
	switch se.SchemaField {
	case "properties", "additionalProperties":
		// The value is the object; name the first property the schema lacks.
		if obj, ok := se.Value.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(obj)) {
				if _, known := s.Properties[k]; !known {
					return fmt.Sprintf("unknown property %q", fieldName(root, append(se.JSONPointer(), k)))
				}
			}
		}
		return field + ": has an unknown property"
	case "required":
		return field + ": is required"
	case "nullable":
		return field + ": must not be null"
	case "type":
		what := "of another type"
		if s.Type != nil && len(s.Type.Slice()) == 1 {
			t := s.Type.Slice()[0]
			what = "a " + t
			if t == openapi3.TypeArray || t == openapi3.TypeObject || t == openapi3.TypeInteger {
				what = "an " + t
			}
		}
		if s.Nullable {
			what += " or null"
		}
		return field + ": must be " + what
	case "minimum":
		if s.Min != nil {
			return field + ": must be at least " + number(*s.Min)
		}
	case "maximum":
		if s.Max != nil {
			return field + ": must be at most " + number(*s.Max)
		}
	case "minLength":
		if s.MinLength == 1 {
			return field + ": must not be empty"
		}
		return fmt.Sprintf("%s: must be at least %d characters long", field, s.MinLength)
	case "maxLength":
		if s.MaxLength != nil {
			return fmt.Sprintf("%s: must be at most %d characters long", field, *s.MaxLength)
		}
	case "minItems":
		return fmt.Sprintf("%s: must have at least %d items", field, s.MinItems)
	case "maxItems":
		if s.MaxItems != nil {
			return fmt.Sprintf("%s: must have at most %d items", field, *s.MaxItems)
		}
	case "enum":
		return field + ": is not one of the allowed values"
	}
	switch {
	case s.Format == "date-time" && (se.SchemaField == "format" || se.SchemaField == "pattern"):
		return field + ": must be an RFC 3339 date-time with a zone and at most 7 fractional digits, e.g. 2030-01-31T12:00:00Z"
	case se.SchemaField == "pattern":
		return fmt.Sprintf("%s: must match the regular expression %s", field, s.Pattern)
	case se.SchemaField == "format":
		return fmt.Sprintf("%s: is not a valid %s", field, s.Format)
	}
	return fmt.Sprintf("%s: does not match the schema (%s)", field, se.SchemaField)
}

// fieldName renders a JSON pointer below root the way callers write it:
// options.ApplicationName, allowedMethods[2]. The root itself is "the
// request body".
func fieldName(root string, pointer []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, p := range pointer {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	if b.Len() == 0 {
		return "the request body"
	}
	return b.String()
}

// number writes a schema bound without an exponent (9007199254740991, not
// 9.007199254740991e+15).
func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
