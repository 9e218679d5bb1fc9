package jsonapi_test

import (
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/jsonapi"
)

// checkStatuses proves that a surface's table maps every core code and no
// other (Check, which Mount runs too), each to the status that want, this
// test's own copy of the decision, gives it: a new core code fails here
// until someone decides, in both places, what the surface answers it with.
// A code the table does not know (none, or one core lacks) is answered as
// EINTERNAL is, 500.
func checkStatuses(t *testing.T, name string, table edge.Codes[int], want map[core.Code]int, decide string) {
	t.Helper()
	if err := table.Check(); err != nil {
		t.Errorf("%s.Check: %v", name, err)
	}
	known := map[core.Code]bool{}
	for _, code := range core.Codes() {
		known[code] = true
		t.Run(string(code), func(t *testing.T) {
			w, ok := want[code]
			if !ok {
				t.Fatalf("core code %q is new: %s", code, decide)
			}
			if got, ok := table[code]; !ok || got != w {
				t.Errorf("%s[%q] = %d (present: %v), want %d", name, code, got, ok, w)
			}
			if got := table.Of(code); got != w {
				t.Errorf("%s.Of(%q) = %d, want %d", name, code, got, w)
			}
		})
	}
	for code := range want {
		if !known[code] {
			t.Errorf("this test decides a status for %q, which core.Codes() does not list", code)
		}
	}
	t.Run("UnknownCodeIs500", func(t *testing.T) {
		if s := table.Of(core.Code("no-such-code")); s != http.StatusInternalServerError {
			t.Errorf("%s.Of(unknown) = %d, want 500", name, s)
		}
		if s := table.Of(core.ErrorCode(nil)); s != http.StatusInternalServerError {
			t.Errorf("%s.Of(\"\") = %d, want 500", name, s)
		}
	})
}

// TestPlainStatuses: the plain endpoints answer business failures with 200
// and Success=false, server faults with 500.
func TestPlainStatuses(t *testing.T) {
	checkStatuses(t, "PlainStatuses", jsonapi.PlainStatuses(), map[core.Code]int{
		core.EINVALID:      http.StatusOK,
		core.EUNAUTHORIZED: http.StatusOK,
		core.EFORBIDDEN:    http.StatusOK,
		core.ENOCREDITS:    http.StatusOK,
		core.ETHROTTLED:    http.StatusOK,
		core.EBUSY:         http.StatusOK,
		core.ENOTFOUND:     http.StatusOK,
		core.ECONFLICT:     http.StatusOK,
		core.EINTERNAL:     http.StatusInternalServerError,
	}, "decide its plain HTTP status, in PlainStatuses and in this test")
}

// TestOpenAPIStatuses: the strict surface answers each code with the HTTP
// status DESIGN.md gives it.
func TestOpenAPIStatuses(t *testing.T) {
	checkStatuses(t, "OpenAPIStatuses", jsonapi.OpenAPIStatuses(), map[core.Code]int{
		core.EINVALID:      http.StatusBadRequest,
		core.EUNAUTHORIZED: http.StatusUnauthorized,
		core.ENOCREDITS:    http.StatusPaymentRequired,
		core.EFORBIDDEN:    http.StatusForbidden,
		core.ENOTFOUND:     http.StatusNotFound,
		core.ECONFLICT:     http.StatusConflict,
		core.ETHROTTLED:    http.StatusTooManyRequests,
		core.EBUSY:         http.StatusTooManyRequests,
		core.EINTERNAL:     http.StatusInternalServerError,
	}, "decide its strict HTTP status, in OpenAPIStatuses and in this test, and document it in openapi.yaml")
}

// TestOpenAPIStatuses_Documented: for every code an operation may answer
// (core's operation table), openapi.yaml documents the status the strict
// surface answers it with, so that a generated client knows that answer.
func TestOpenAPIStatuses_Documented(t *testing.T) {
	spec, err := jsonapi.LoadSpec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range spec.Routes() {
		op := core.OpNamed(rt.Operation.OperationID)
		if op == nil {
			t.Fatalf("operation %s of the document is not in core's table", rt.Operation.OperationID)
		}
		for _, code := range op.Codes {
			status := jsonapi.OpenAPIStatuses().Of(code)
			if rt.Operation.Responses.Status(status) == nil {
				t.Errorf("%s %s: openapi.yaml does not document %d, the answer to %s", rt.Method, rt.Path, status, code)
			}
		}
	}
}
