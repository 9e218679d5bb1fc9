package server_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
)

// surfaceFunc is a surface made of its Mount.
type surfaceFunc func(*mux.Router) error

func (f surfaceFunc) Mount(r *mux.Router) error { return f(r) }

// probe is a surface that serves GET /probe.
var probe = surfaceFunc(func(r *mux.Router) error {
	r.HandleFunc("/probe", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "probe\n") })
	return nil
})

// TestNew: server.New mounts the surfaces it is given, and refuses to
// start, returning no handler, when one of them cannot mount, wherever it
// is in the list.
func TestNew(t *testing.T) {
	svc, db := testenv.New(t)
	log := slog.New(slog.DiscardHandler)
	d := edge.Deps{Service: svc, Logger: log, ClientAddr: clientaddr.Resolver{}.Addr}
	cfg := func(surfaces ...edge.Surface) server.Config {
		return server.Config{Keys: svc.KeyRing, Logger: log, Ping: db.Ping, Surfaces: surfaces}
	}

	t.Run("OK", func(t *testing.T) {
		h, err := server.New(cfg(&jsonapi.Plain{Deps: d}, probe))
		if err != nil || h == nil {
			t.Fatalf("server.New = %v, %v", h, err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		for path, want := range map[string]string{"/probe": "probe\n", "/healthz": "ok\n"} {
			resp, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != want {
				t.Errorf("GET %s: HTTP %d %q, want %q", path, resp.StatusCode, b, want)
			}
		}
	})

	errMount := errors.New("operation Frobnicate has no handler")
	failing := surfaceFunc(func(*mux.Router) error { return errMount })
	for name, surfaces := range map[string][]edge.Surface{
		"ErrMountAlone":  {failing},
		"ErrMountFirst":  {failing, &jsonapi.Plain{Deps: d}, probe},
		"ErrMountLast":   {&jsonapi.Plain{Deps: d}, &soap.Handler{Deps: d}, probe, failing},
		"ErrMountMiddle": {probe, failing, &soap.Handler{Deps: d}},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := server.New(cfg(surfaces...))
			if !errors.Is(err, errMount) || h != nil {
				t.Fatalf("server.New = %v, %v; want no handler and the surface's error", h, err)
			}
		})
	}

	// A real surface built without all it needs refuses to mount (at start,
	// not at its first request), and so the server refuses to start.
	t.Run("ErrDepsIncomplete", func(t *testing.T) {
		incomplete := d
		incomplete.ClientAddr = nil
		for _, s := range []edge.Surface{&jsonapi.Plain{Deps: incomplete}, &soap.Handler{Deps: incomplete}} {
			h, err := server.New(cfg(s))
			if err == nil || h != nil || !strings.Contains(err.Error(), "ClientAddr") {
				t.Errorf("server.New(%T without ClientAddr) = %v, %v; want no handler and an error naming what is missing", s, h, err)
			}
		}
	})
}
