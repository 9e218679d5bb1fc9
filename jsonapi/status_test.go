package jsonapi

import (
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

// TestPlainStatus proves that the plain endpoints map every core code
// explicitly: business failures are 200 with Success=false, server faults 500.
func TestPlainStatus(t *testing.T) {
	want := map[core.Code]int{
		core.EINVALID:      http.StatusOK,
		core.EUNAUTHORIZED: http.StatusOK,
		core.EFORBIDDEN:    http.StatusOK,
		core.ENOCREDITS:    http.StatusOK,
		core.ETHROTTLED:    http.StatusOK,
		core.EBUSY:         http.StatusOK,
		core.ENOTFOUND:     http.StatusOK,
		core.ECONFLICT:     http.StatusOK,
		core.EINTERNAL:     http.StatusInternalServerError,
	}
	for _, code := range core.Codes() {
		t.Run(string(code), func(t *testing.T) {
			got, ok := plainStatus[code]
			if !ok {
				t.Fatalf("plainStatus has no entry for %q", code)
			}
			w, ok := want[code]
			if !ok {
				t.Fatalf("core code %q is new: decide its plain HTTP status and add it to this table", code)
			}
			if got != w {
				t.Errorf("plainStatus[%q] = %d, want %d", code, got, w)
			}
			if s := PlainStatus(code); s != w {
				t.Errorf("PlainStatus(%q) = %d, want %d", code, s, w)
			}
		})
	}
	t.Run("NoStrayEntries", func(t *testing.T) {
		known := map[core.Code]bool{}
		for _, c := range core.Codes() {
			known[c] = true
		}
		for c := range plainStatus {
			if !known[c] {
				t.Errorf("plainStatus maps %q, which core.Codes() does not list", c)
			}
		}
	})
	t.Run("UnknownCodeIs500", func(t *testing.T) {
		if s := PlainStatus(core.Code("no-such-code")); s != http.StatusInternalServerError {
			t.Errorf("PlainStatus(unknown) = %d, want 500", s)
		}
		if s := PlainStatus(core.ErrorCode(nil)); s != http.StatusInternalServerError {
			t.Errorf("PlainStatus(\"\") = %d, want 500", s)
		}
	})
}

// TestStrictStatus proves that the strict OpenAPI surface maps every core
// code explicitly to the HTTP status DESIGN.md gives it.
func TestStrictStatus(t *testing.T) {
	want := map[core.Code]int{
		core.EINVALID:      http.StatusBadRequest,
		core.EUNAUTHORIZED: http.StatusUnauthorized,
		core.ENOCREDITS:    http.StatusPaymentRequired,
		core.EFORBIDDEN:    http.StatusForbidden,
		core.ENOTFOUND:     http.StatusNotFound,
		core.ECONFLICT:     http.StatusConflict,
		core.ETHROTTLED:    http.StatusTooManyRequests,
		core.EBUSY:         http.StatusTooManyRequests,
		core.EINTERNAL:     http.StatusInternalServerError,
	}
	for _, code := range core.Codes() {
		t.Run(string(code), func(t *testing.T) {
			got, ok := strictStatus[code]
			if !ok {
				t.Fatalf("strictStatus has no entry for %q", code)
			}
			w, ok := want[code]
			if !ok {
				t.Fatalf("core code %q is new: decide its strict HTTP status, add it to this table and document it in openapi.yaml", code)
			}
			if got != w {
				t.Errorf("strictStatus[%q] = %d, want %d", code, got, w)
			}
			if s := StrictStatus(code); s != w {
				t.Errorf("StrictStatus(%q) = %d, want %d", code, s, w)
			}
		})
	}
	t.Run("NoStrayEntries", func(t *testing.T) {
		known := map[core.Code]bool{}
		for _, c := range core.Codes() {
			known[c] = true
		}
		for c := range strictStatus {
			if !known[c] {
				t.Errorf("strictStatus maps %q, which core.Codes() does not list", c)
			}
		}
	})
	t.Run("UnknownCodeIs500", func(t *testing.T) {
		if s := StrictStatus(core.Code("no-such-code")); s != http.StatusInternalServerError {
			t.Errorf("StrictStatus(unknown) = %d, want 500", s)
		}
	})
}
