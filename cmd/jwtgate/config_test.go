package main

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
)

// loadServe loads serve's Config from args and an environment, without a
// process: what a test (or another main) needs to build a server.
func loadServe(t *testing.T, vars map[string]string, args ...string) (Config, error) {
	t.Helper()
	cfg := DefaultConfig()
	fs := newFlags(&env{stderr: io.Discard}, "serve")
	_, err := loadConfig(&cfg, serveSettings(), fs, args, func(k string) string { return vars[k] })
	return cfg, err
}

func TestLoadConfig(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		cfg, err := loadServe(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg, DefaultConfig()) {
			t.Errorf("no flags, no environment: %+v, want the defaults %+v", cfg, DefaultConfig())
		}
		if cfg.DB != "./jwtgate.db" || cfg.Addr != "127.0.0.1:8080" || !cfg.Bootstrap || cfg.Alg != core.AlgEdDSA || cfg.MaxLifetime != 24*time.Hour {
			t.Errorf("defaults changed: %+v", cfg)
		}
	})
	t.Run("EnvThenFlags", func(t *testing.T) {
		env := map[string]string{
			"JWTGATE_DB": "env.db", "JWTGATE_ADDR": "127.0.0.1:1", "JWTGATE_ALG": "es256", "JWTGATE_MAX_LIFETIME": "2h",
			"JWTGATE_BOOTSTRAP": "false", "JWTGATE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "JWTGATE_HASH_QUEUE": "3",
			"JWTGATE_LOG_LEVEL": "debug", "JWTGATE_LOG_FORMAT": "JSON", "JWTGATE_VALIDATE_RESPONSES": "true",
			"JWTGATE_ISSUER": "https://env", "JWTGATE_PUBLIC_URL": "https://env/useradmin.asmx", "JWTGATE_HASH_CONCURRENCY": "2",
		}
		cfg, err := loadServe(t, env, "--db", "flag.db", "--max-lifetime", "30m", "--log-level=warn")
		if err != nil {
			t.Fatal(err)
		}
		want := Config{
			DB: "flag.db", Addr: "127.0.0.1:1", Issuer: "https://env", MaxLifetime: 30 * time.Minute, Alg: core.AlgES256,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")},
			PublicURL:      "https://env/useradmin.asmx", HashConcurrency: 2, HashQueue: 3, LogFormat: "json", LogLevel: slog.LevelWarn,
			ValidateResponses: true,
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got  %+v\nwant %+v", cfg, want)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"FlagLifetime", nil, []string{"--max-lifetime", "forever"}, `--max-lifetime "forever": give a positive duration`},
		{"FlagNegativeLifetime", nil, []string{"--max-lifetime=-1h"}, `--max-lifetime "-1h"`},
		{"EnvLifetime", map[string]string{"JWTGATE_MAX_LIFETIME": "0s"}, nil, `$JWTGATE_MAX_LIFETIME "0s"`},
		{"Alg", nil, []string{"--alg", "none"}, "unknown signing algorithm"},
		{"Bool", map[string]string{"JWTGATE_BOOTSTRAP": "maybe"}, nil, "$JWTGATE_BOOTSTRAP"},
		{"Count", nil, []string{"--hash-queue", "-1"}, "--hash-queue"},
		{"Proxies", nil, []string{"--trusted-proxies", "not-an-ip"}, "--trusted-proxies"},
		{"LogLevel", nil, []string{"--log-level", "loud"}, "log level"},
		{"LogFormat", nil, []string{"--log-format", "xml"}, "log format"},
		{"UnknownFlag", nil, []string{"--bogus"}, "flag provided but not defined"},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			_, err := loadServe(t, tc.env, tc.args...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a usage error saying %q", err, tc.want)
			}
		})
	}
}

func TestOpenStore(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{filepath.Join(dir, "bare.db"), "sqlite:" + filepath.Join(dir, "url.db"), "SQLite:" + filepath.Join(dir, "case.db")} {
		s, err := openStore(t.Context(), dsn)
		if err != nil {
			t.Fatalf("openStore(%q): %v", dsn, err)
		}
		if _, ok := s.(*sqlite.DB); !ok {
			t.Errorf("openStore(%q) = %T, want the SQLite store", dsn, s)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		s.Close()
	}
	_, err := openStore(t.Context(), "mystery://u:hunter2@db.example/jwtgate")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `unknown store "mystery"`) || !strings.Contains(err.Error(), "sqlite:") {
		t.Errorf("unknown scheme: %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the store's password: %v", err)
	}
}

func TestCommandHelp(t *testing.T) {
	c := newCLI(t)
	code, _, errs := c.run(t, "", "keys", "rotate", "--help")
	if code != 0 {
		t.Fatalf("keys rotate --help: exit %d", code)
	}
	for _, want := range []string{"-alg", "-db"} {
		if !strings.Contains(errs, want) {
			t.Errorf("keys rotate --help lacks %s:\n%s", want, errs)
		}
	}
	for _, other := range []string{"-credits", "-account", "-from", "-max-lifetime", "-addr"} {
		if strings.Contains(errs, other) {
			t.Errorf("keys rotate --help lists another command's flag %s:\n%s", other, errs)
		}
	}
	if code, _, errs := c.run(t, "", "keys", "rotate", "--credits", "5"); code != 2 || !strings.Contains(errs, "flag provided but not defined") {
		t.Errorf("keys rotate --credits: exit %d %s", code, errs)
	}
	if code, _, errs := c.run(t, "", "serve", "--help"); code != 0 || !strings.Contains(errs, "-max-lifetime") || !strings.Contains(errs, "$JWTGATE_MAX_LIFETIME") {
		t.Errorf("serve --help: exit %d\n%s", code, errs)
	}
}
