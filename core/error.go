package core

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error independently of any protocol. Each transport owns
// one table from Code to its own status (HTTP status, SOAP fault, exit code).
type Code string

const (
	EINVALID      Code = "invalid"      // the request breaks a rule; the message names the field
	EUNAUTHORIZED Code = "unauthorized" // bad or missing credentials
	EFORBIDDEN    Code = "forbidden"    // authenticated, but not allowed (disabled user, revoked key)
	ENOCREDITS    Code = "no_credits"   // the account has no credits left
	ETHROTTLED    Code = "throttled"    // too many failed attempts; see Error.RetryAfter
	EBUSY         Code = "busy"         // overloaded: retry after Error.RetryAfter
	ENOTFOUND     Code = "not_found"    // an admin operation named something that does not exist
	ECONFLICT     Code = "conflict"     // an admin operation would create a duplicate
	EINTERNAL     Code = "internal"     // anything else; the message is generic, the cause is logged
)

// Codes lists every code, so that each transport can prove it maps all of them.
func Codes() []Code {
	return []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOCREDITS, ETHROTTLED, EBUSY, ENOTFOUND, ECONFLICT, EINTERNAL}
}

// Error is the one error type of jwtgate. Message is safe to show to a
// caller; Err (the cause) is for logs only.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration // set with ETHROTTLED and EBUSY
	// Field is the request input the error is about, in core's names, when
	// the message alone does not say it; a surface that names its fields
	// in messages may put its own name first.
	Field string
	Err   error
}

// Inputs an Error may name in Field.
const FieldAPIKey = "APIKey" // an API key given on its own (the JSON surfaces' ?key=)

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, caller-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected cause; callers see only a generic message.
func Internal(err error) *Error {
	return &Error{Code: EINTERNAL, Message: "internal error", Err: err}
}

// ErrorCode returns the code of err, EINTERNAL for a foreign error and "" for nil.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

// RetryAfter returns how long a throttled caller should wait, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
