package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/server"
	"github.com/jwtgate/jwtgate/soap"
	"github.com/jwtgate/jwtgate/token"
)

func serve(ctx context.Context, name string, args []string, e *env) error {
	cfg := DefaultConfig()
	pos, err := loadConfig(&cfg, serveSettings(), newFlags(e, name), args, e.getenv)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, pos)
	}
	return runServer(ctx, cfg, e)
}

// runServer runs jwtgate as cfg says until ctx ends.
func runServer(ctx context.Context, cfg Config, e *env) error {
	log := newLogger(e.stderr, cfg)
	spec, err := jsonapi.LoadSpec(ctx)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()

	c := core.DefaultConfig()
	c.Store, c.Tokens, c.Logger = db, token.Strategy{}, log
	c.Issuer, c.MaxLifetime, c.Alg = cfg.Issuer, cfg.MaxLifetime, cfg.Alg
	c.HashGate = core.NewHashGate(cfg.HashConcurrency, cfg.HashQueue, core.DefaultHashWait)
	if shared, ok := db.(core.ThrottleStore); ok {
		// A store every instance shares keeps the failed-login counters,
		// so that all instances throttle a guesser alike.
		c.Throttle.Shared = shared
	}
	svc := core.New(c)
	key, err := svc.KeyRing.Ensure(ctx)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if cfg.Bootstrap {
		password, err := svc.Admin.Bootstrap(ctx)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if password != "" {
			// Straight to the terminal, never to the log.
			fmt.Fprintf(e.stdout, "Created user %q (account %q, %d credits). Its password, shown only this once:\n\n    %s\n\nChange it with: jwtgate user passwd %s\n\n",
				core.BootstrapUser, core.BootstrapUser, core.BootstrapCredits, password, core.BootstrapUser)
		}
	}

	// The surfaces: each a package, each one line.
	deps := edge.Deps{Service: svc, Logger: log, ClientAddr: clientaddr.Resolver{TrustedProxies: cfg.TrustedProxies}.Addr}
	h, err := server.New(server.Config{Keys: svc.KeyRing, Logger: log, Ping: db.Ping, Surfaces: []edge.Surface{
		&jsonapi.Plain{Deps: deps},
		&soap.Handler{Deps: deps, PublicURL: cfg.PublicURL},
		&jsonapi.OpenAPI{Deps: deps, Spec: spec, ValidateResponses: cfg.ValidateResponses},
	}})
	if err != nil {
		return err
	}

	l, err := listen(cfg.Addr, e.getenv)
	if err != nil {
		return err
	}
	log.Info("jwtgate listening", "addr", l.Addr().String(), "db", redact(cfg.DB), "alg", key.Alg, "kid", key.Kid,
		"issuer", cfg.Issuer, "max_lifetime", cfg.MaxLifetime)
	if err := server.Serve(ctx, l, h, log, 10*time.Second); err != nil {
		return err
	}
	log.Info("jwtgate stopped")
	return nil
}

// listen returns the listening socket passed by the parent the systemd way
// (LISTEN_FDS=1: file descriptor 3; LISTEN_PID, when set, must be this
// process), or listens on addr.
func listen(addr string, getenv func(string) string) (net.Listener, error) {
	if getenv("LISTEN_FDS") != "1" {
		return net.Listen("tcp", addr)
	}
	if pid := getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return net.Listen("tcp", addr)
	}
	f := os.NewFile(3, "LISTEN_FDS")
	l, err := net.FileListener(f)
	f.Close() // FileListener keeps its own descriptor
	if err != nil {
		return nil, fmt.Errorf("LISTEN_FDS=1, but file descriptor 3 is no listening socket: %w", err)
	}
	return l, nil
}
