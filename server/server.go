// Package server assembles jwtgate's HTTP surface: the protocol handlers,
// JWKS, health checks and the middleware around them.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/jsonapi/swaggerui"
	"github.com/jwtgate/jwtgate/soap"
)

// Config holds what the HTTP surface needs.
type Config struct {
	Service    *core.Service
	Logger     *slog.Logger
	ClientAddr clientaddr.Resolver
	// Ping checks the database for /readyz.
	Ping func(context.Context) error
	// PublicURL, when set, is the SOAP address the WSDL announces.
	PublicURL string
	// OpenAPI is the contract of the strict surface (jsonapi.LoadSpec, loaded
	// once at start-up). Nil serves no OpenAPI surface, document or /docs.
	OpenAPI *jsonapi.Spec
	// ValidateResponses checks every answer of the strict surface against
	// the document too (a broken one becomes a logged 500).
	ValidateResponses bool
}

// pathFold matches a request path case-insensitively (the reference platform
// runs on a case-insensitive server, and its clients rely on that).
func pathFold(path string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return strings.EqualFold(r.URL.Path, path) }
}

// New returns the jwtgate HTTP handler.
func New(cfg Config) http.Handler {
	r := mux.NewRouter()
	plain := &jsonapi.Handler{Service: cfg.Service, Logger: cfg.Logger, ClientAddr: cfg.ClientAddr.Addr}
	for path, h := range plain.Routes() {
		r.MatcherFunc(pathFold(path)).Handler(h)
	}
	r.MatcherFunc(pathFold(soap.Path)).Handler(&soap.Handler{
		Service: cfg.Service, Logger: cfg.Logger, ClientAddr: cfg.ClientAddr.Addr, PublicURL: cfg.PublicURL})
	if cfg.OpenAPI != nil {
		api := &jsonapi.API{Spec: cfg.OpenAPI, Service: cfg.Service, Logger: cfg.Logger, ClientAddr: cfg.ClientAddr.Addr, ValidateResponses: cfg.ValidateResponses}
		api.Mount(r)
		r.HandleFunc("/openapi.yaml", cfg.OpenAPI.ServeYAML).Methods(http.MethodGet, http.MethodHead)
		r.HandleFunc("/openapi.json", cfg.OpenAPI.ServeJSON).Methods(http.MethodGet, http.MethodHead)
		r.MatcherFunc(pathFold("/swagger/UserAdmin/swagger.json")).HandlerFunc(cfg.OpenAPI.ServeJSON).Methods(http.MethodGet, http.MethodHead)
		docs := swaggerui.New()
		r.Handle(swaggerui.Path, docs)
		r.PathPrefix(swaggerui.Path + "/").Handler(docs)
	}
	r.Handle("/.well-known/jwks.json", &jwksHandler{cfg: cfg}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", readyz(cfg)).Methods(http.MethodGet, http.MethodHead)
	return recoverer(cfg.Logger, accessLog(cfg.Logger, r))
}

func readyz(cfg Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := cfg.Ping(ctx)
		if err == nil {
			err = cfg.Service.Ready(ctx)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err != nil {
			cfg.Logger.WarnContext(r.Context(), "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs one line per request. It logs the path only: a query may
// carry an API key (?key=).
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "http",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int("bytes", sw.bytes),
			slog.Duration("took", time.Since(start)), slog.String("peer", r.RemoteAddr))
	})
}

// recoverer turns a handler panic into a 500 and a log line with the stack.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Serve serves h on l until ctx is done, then shuts down gracefully, letting
// requests in flight finish for up to grace.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
