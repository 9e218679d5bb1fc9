package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/clientaddr"
	"github.com/jwtgate/jwtgate/core"
)

// Config is how jwtgate serve runs. DefaultConfig holds the defaults;
// loadConfig applies JWTGATE_* environment variables over them, then flags.
type Config struct {
	DB                string // the store's URL (stores.go)
	Addr              string
	Issuer            string
	MaxLifetime       time.Duration
	Alg               string
	Bootstrap         bool
	TrustedProxies    []netip.Prefix
	PublicURL         string
	HashConcurrency   int // 0: one per core
	HashQueue         int
	LogFormat         string // text or json
	LogLevel          slog.Level
	ValidateResponses bool
}

// DefaultConfig returns the defaults: the embedded SQLite store in the
// working directory, on loopback.
func DefaultConfig() Config {
	return Config{
		DB:          "./jwtgate.db",
		Addr:        "127.0.0.1:8080",
		Issuer:      core.DefaultIssuer,
		MaxLifetime: core.DefaultMaxLifetime,
		Alg:         core.AlgEdDSA,
		Bootstrap:   true,
		HashQueue:   core.DefaultHashQueue,
		LogFormat:   "text",
		LogLevel:    slog.LevelInfo,
	}
}

// setting is one configurable value: a flag --name, the environment
// variable JWTGATE_NAME, how it reads and how its current value shows.
type setting struct {
	name, usage string
	get         func(c *Config) string
	set         func(c *Config, v string) error
	boolean     bool // --name alone means true, as a Go boolean flag
}

func (s setting) env() string {
	return "JWTGATE_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// dbSetting is the store, the one setting every command takes.
var dbSetting = strSetting("db", "the `store`: a SQLite file (a path, or sqlite:PATH), or postgres://user:password@host:port/db?sslmode=…", func(c *Config) *string { return &c.DB })

// Kinds of settings, each bound to a field of Config.

func strSetting(name, usage string, dst func(*Config) *string) setting {
	return setting{name: name, usage: usage, get: func(c *Config) string { return *dst(c) },
		set: func(c *Config, v string) error { *dst(c) = v; return nil }}
}

func boolSetting(name, usage string, dst func(*Config) *bool) setting {
	return setting{name, usage, func(c *Config) string { return strconv.FormatBool(*dst(c)) },
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("give true or false")
			}
			*dst(c) = b
			return nil
		}, true}
}

func countSetting(name, usage string, dst func(*Config) *int) setting {
	return setting{name: name, usage: usage, get: func(c *Config) string { return strconv.Itoa(*dst(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("give a whole number ≥ 0")
			}
			*dst(c) = n
			return nil
		}}
}

// serveSettings are jwtgate serve's settings, in the order -h lists them.
func serveSettings() []setting {
	return []setting{
		dbSetting,
		strSetting("addr", "listen `address` (unused when the parent passes a listening socket the systemd way, LISTEN_FDS=1)",
			func(c *Config) *string { return &c.Addr }),
		strSetting("issuer", "`iss` claim of issued tokens", func(c *Config) *string { return &c.Issuer }),
		{name: "max-lifetime", usage: "longest token lifetime accepted, a `duration` such as 24h",
			get: func(c *Config) string { return c.MaxLifetime.String() },
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return errors.New("give a positive duration such as 24h")
				}
				c.MaxLifetime = d
				return nil
			}},
		{name: "alg", usage: "signing `algorithm`: " + strings.Join(core.Algorithms(), ", "),
			get: func(c *Config) string { return c.Alg },
			set: func(c *Config, v string) error {
				alg, err := core.ParseAlg(v)
				if err != nil {
					return errors.New(message(err))
				}
				c.Alg = alg
				return nil
			}},
		boolSetting("bootstrap", "on an empty database, create user admin and print its password once",
			func(c *Config) *bool { return &c.Bootstrap }),
		{name: "trusted-proxies", usage: "comma-separated proxy `addresses` or CIDRs whose X-Forwarded-For is believed",
			get: func(c *Config) string {
				var out []string
				for _, p := range c.TrustedProxies {
					out = append(out, p.String())
				}
				return strings.Join(out, ",")
			},
			set: func(c *Config, v string) (err error) {
				c.TrustedProxies, err = clientaddr.ParsePrefixes(v)
				return err
			}},
		strSetting("public-url", "SOAP `URL` announced in the WSDL, e.g. https://api.example.com/useradmin.asmx (empty: the address the client used)",
			func(c *Config) *string { return &c.PublicURL }),
		countSetting("hash-concurrency", "password `hashes` computed at once (0: one per core)", func(c *Config) *int { return &c.HashConcurrency }),
		countSetting("hash-queue", "`logins` that may wait for a hashing slot; more are answered busy", func(c *Config) *int { return &c.HashQueue }),
		{name: "log-format", usage: "log `format`: text or json",
			get: func(c *Config) string { return c.LogFormat },
			set: func(c *Config, v string) error {
				if v = strings.ToLower(v); v != "text" && v != "json" {
					return errors.New("log format: use text or json")
				}
				c.LogFormat = v
				return nil
			}},
		{name: "log-level", usage: "log `level`: debug, info, warn, error",
			get: func(c *Config) string { return strings.ToLower(c.LogLevel.String()) },
			set: func(c *Config, v string) error {
				if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
					return errors.New("log level: use debug, info, warn or error")
				}
				return nil
			}},
		boolSetting("validate-responses", "check every answer of the OpenAPI surface against openapi.yaml; one that breaks it is logged and answered 500",
			func(c *Config) *bool { return &c.ValidateResponses }),
	}
}

// loadConfig reads settings into cfg: each from its environment variable
// when set, then from its flag when given. It registers the flags on fs
// and returns the positional arguments.
func loadConfig(cfg *Config, settings []setting, fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	for _, s := range settings {
		if v := getenv(s.env()); v != "" {
			if err := s.set(cfg, v); err != nil {
				return nil, fmt.Errorf("%w: $%s %q: %v", errUsage, s.env(), v, err)
			}
		}
	}
	var bad error // the flag package words its own errors; keep ours
	for _, s := range settings {
		usage := fmt.Sprintf("%s (default %q, $%s)", s.usage, s.get(cfg), s.env())
		set := func(v string) error {
			if err := s.set(cfg, v); err != nil {
				bad = fmt.Errorf("%w: --%s %q: %v", errUsage, s.name, v, err)
				return err
			}
			return nil
		}
		if s.boolean {
			fs.BoolFunc(s.name, usage, set)
		} else {
			fs.Func(s.name, usage, set)
		}
	}
	pos, err := parse(fs, args)
	if bad != nil {
		return nil, bad
	}
	return pos, err
}

// newLogger returns the logger cfg asks for, writing to w.
func newLogger(w io.Writer, cfg Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
