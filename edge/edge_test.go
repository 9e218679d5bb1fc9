package edge_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

func TestCodes_Check(t *testing.T) {
	full := edge.Codes[int]{}
	for i, c := range core.Codes() {
		full[c] = i + 1
	}
	if err := full.Check(); err != nil {
		t.Errorf("a table of every code: %v", err)
	}
	missing := edge.Codes[int]{}
	for c, v := range full {
		missing[c] = v
	}
	delete(missing, core.ECONFLICT)
	if err := missing.Check(); err == nil || !strings.Contains(err.Error(), string(core.ECONFLICT)) {
		t.Errorf("a table without %s: %v", core.ECONFLICT, err)
	}
	stray := edge.Codes[int]{"no-such-code": 1}
	for c, v := range full {
		stray[c] = v
	}
	if err := stray.Check(); err == nil || !strings.Contains(err.Error(), "no-such-code") {
		t.Errorf("a table with a stray code: %v", err)
	}
	if got := full.Of("no-such-code"); got != full[core.EINTERNAL] {
		t.Errorf("Of(unknown) = %d, want EINTERNAL's %d", got, full[core.EINTERNAL])
	}
}

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		size int
		err  error
	}{{0, nil}, {edge.MaxBodyBytes, nil}, {edge.MaxBodyBytes + 1, edge.ErrTooLarge}} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", tc.size)))
		body, err := edge.ReadBody(httptest.NewRecorder(), r)
		if !errors.Is(err, tc.err) || (err == nil && len(body) != tc.size) {
			t.Errorf("a body of %d bytes: %d bytes, %v; want %v", tc.size, len(body), err, tc.err)
		}
	}
	if edge.ErrTooLarge.Error() != "the request body is larger than 1 MiB" {
		t.Errorf("ErrTooLarge says %q", edge.ErrTooLarge)
	}
}

func TestCredentialsFromRequest(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/?KEY=upper&other=1", nil)
	for _, tc := range []struct{ header, want string }{
		{"Bearer abc", "abc"}, {"bearer  abc ", "abc"}, {"Basic abc", ""}, {"Bearer", ""}, {"", ""},
	} {
		r.Header.Set("Authorization", tc.header)
		if got := edge.BearerToken(r); got != tc.want {
			t.Errorf("BearerToken(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
	if got := edge.Query(r, "key", true); got != "upper" {
		t.Errorf("Query(key, any case) = %q", got)
	}
	if got := edge.Query(r, "key", false); got != "" {
		t.Errorf("Query(key, exact) = %q, want nothing for ?KEY=", got)
	}
}

func TestDeps_Check(t *testing.T) {
	ok := edge.Deps{Service: &core.Service{}, Logger: slog.New(slog.DiscardHandler), ClientAddr: func(*http.Request) string { return "" }}
	if err := ok.Check(); err != nil {
		t.Errorf("complete Deps: %v", err)
	}
	for name, d := range map[string]edge.Deps{
		"Service": {Logger: ok.Logger, ClientAddr: ok.ClientAddr}, "Logger": {Service: ok.Service, ClientAddr: ok.ClientAddr},
		"ClientAddr": {Service: ok.Service, Logger: ok.Logger},
	} {
		if err := d.Check(); err == nil {
			t.Errorf("Deps without %s: no error", name)
		}
	}
}
