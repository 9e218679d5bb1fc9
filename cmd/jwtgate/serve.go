package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/server"
)

func serve(ctx context.Context, args []string, e *env) error {
	fs, dbPath := newFlags(e, "serve")
	addr := fs.String("addr", e.envOr("JWTGATE_ADDR", "127.0.0.1:8080"), "listen address ($JWTGATE_ADDR)")
	issuer := fs.String("issuer", e.envOr("JWTGATE_ISSUER", core.DefaultIssuer), "iss claim of issued tokens ($JWTGATE_ISSUER)")
	lifetime := fs.String("max-lifetime", e.envOr("JWTGATE_MAX_LIFETIME", core.DefaultMaxLifetime.String()), "longest token lifetime accepted, e.g. 24h ($JWTGATE_MAX_LIFETIME)")
	alg := fs.String("alg", e.envOr("JWTGATE_ALG", core.AlgEdDSA), "signing algorithm: EdDSA, ES256, RS256 or HS256 ($JWTGATE_ALG)")
	bootstrap := fs.String("bootstrap", e.envOr("JWTGATE_BOOTSTRAP", "true"), "on an empty database, create user admin and print its password once ($JWTGATE_BOOTSTRAP)")
	proxies := fs.String("trusted-proxies", e.envOr("JWTGATE_TRUSTED_PROXIES", ""), "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed ($JWTGATE_TRUSTED_PROXIES)")
	publicURL := fs.String("public-url", e.envOr("JWTGATE_PUBLIC_URL", ""), "SOAP address announced in the WSDL, e.g. https://api.example.com/useradmin.asmx (default: the address the client used) ($JWTGATE_PUBLIC_URL)")
	hashConc := fs.String("hash-concurrency", e.envOr("JWTGATE_HASH_CONCURRENCY", "0"), "password hashes computed at once (0: one per core) ($JWTGATE_HASH_CONCURRENCY)")
	hashQueue := fs.String("hash-queue", e.envOr("JWTGATE_HASH_QUEUE", strconv.Itoa(core.DefaultHashQueue)), "logins that may wait for a hashing slot; more are answered busy ($JWTGATE_HASH_QUEUE)")
	logFormat := fs.String("log-format", e.envOr("JWTGATE_LOG_FORMAT", "text"), "log format: text or json ($JWTGATE_LOG_FORMAT)")
	validateResponses := fs.String("validate-responses", e.envOr("JWTGATE_VALIDATE_RESPONSES", "false"), "check every answer of the OpenAPI surface against openapi.yaml; one that breaks it is logged and answered 500 ($JWTGATE_VALIDATE_RESPONSES)")
	logLevel := fs.String("log-level", e.envOr("JWTGATE_LOG_LEVEL", "info"), "log level: debug, info, warn, error ($JWTGATE_LOG_LEVEL)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, pos)
	}

	log, err := newLogger(e.stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	maxLifetime, err := time.ParseDuration(*lifetime)
	if err != nil || maxLifetime <= 0 {
		return fmt.Errorf("%w: --max-lifetime %q: give a positive duration such as 24h", errUsage, *lifetime)
	}
	algName, err := core.ParseAlg(*alg)
	if err != nil {
		return fmt.Errorf("%w: --alg: %s", errUsage, message(err))
	}
	doBootstrap, err := strconv.ParseBool(*bootstrap)
	if err != nil {
		return fmt.Errorf("%w: --bootstrap %q: give true or false", errUsage, *bootstrap)
	}
	conc, err := strconv.Atoi(*hashConc)
	if err != nil || conc < 0 {
		return fmt.Errorf("%w: --hash-concurrency %q: give a whole number ≥ 0", errUsage, *hashConc)
	}
	queue, err := strconv.Atoi(*hashQueue)
	if err != nil || queue < 0 {
		return fmt.Errorf("%w: --hash-queue %q: give a whole number ≥ 0", errUsage, *hashQueue)
	}
	trusted, err := clientaddr.ParsePrefixes(*proxies)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
	}
	checkResponses, err := strconv.ParseBool(*validateResponses)
	if err != nil {
		return fmt.Errorf("%w: --validate-responses %q: give true or false", errUsage, *validateResponses)
	}
	spec, err := jsonapi.LoadSpec(ctx)
	if err != nil {
		return err
	}

	db, err := openStore(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := core.NewService(db)
	svc.Issuer, svc.MaxLifetime, svc.Alg, svc.Logger = *issuer, maxLifetime, algName, log
	svc.HashGate = core.NewHashGate(conc, queue, core.DefaultHashWait)
	key, err := svc.EnsureSigningKey(ctx)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if doBootstrap {
		password, err := svc.Bootstrap(ctx)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if password != "" {
			// Straight to the terminal, never to the log.
			fmt.Fprintf(e.stdout, "Created user %q (account %q, %d credits). Its password, shown only this once:\n\n    %s\n\nChange it with: jwtgate user passwd %s\n\n",
				core.BootstrapUser, core.BootstrapUser, core.BootstrapCredits, password, core.BootstrapUser)
		}
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("jwtgate listening", "addr", l.Addr().String(), "db", db.Path, "alg", key.Alg, "kid", key.Kid, "issuer", svc.Issuer, "max_lifetime", maxLifetime)
	h := server.New(server.Config{Service: svc, Logger: log, ClientAddr: clientaddr.Resolver{TrustedProxies: trusted}, Ping: db.Ping, PublicURL: *publicURL,
		OpenAPI: spec, ValidateResponses: checkResponses})
	if err := server.Serve(ctx, l, h, log, 10*time.Second); err != nil {
		return err
	}
	log.Info("jwtgate stopped")
	return nil
}
