package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/postgres"
	"github.com/jwtgate/jwtgate/sqlite"
)

// store is an open store.
type store interface {
	core.Store
	Close() error
}

// stores opens a store by the scheme of its URL (--db): sqlite:PATH (or a
// bare path) for the embedded SQLite file, postgres://… for PostgreSQL.
var stores = map[string]func(ctx context.Context, u string) (store, error){
	"sqlite": func(ctx context.Context, u string) (store, error) {
		if len(u) > len("sqlite:") && strings.EqualFold(u[:len("sqlite:")], "sqlite:") {
			u = u[len("sqlite:"):]
		}
		return sqlite.Open(ctx, u)
	},
	"postgres":   openPostgres,
	"postgresql": openPostgres,
}

func openPostgres(ctx context.Context, u string) (store, error) { return postgres.Open(ctx, u) }

// schemeRE is a URL scheme as RFC 3986 spells it; one letter would be a
// Windows drive.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:`)

// openStore opens the store that dsn names.
func openStore(ctx context.Context, dsn string) (store, error) {
	scheme := "sqlite"
	if m := schemeRE.FindString(dsn); m != "" {
		scheme = strings.ToLower(strings.TrimSuffix(m, ":"))
	}
	open, ok := stores[scheme]
	if !ok {
		var known []string
		for s := range stores {
			known = append(known, s+":")
		}
		sort.Strings(known)
		return nil, fmt.Errorf("%w: --db %q: unknown store %q; use a file path or one of %s", errUsage, redact(dsn), scheme, strings.Join(known, ", "))
	}
	s, err := open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the store %s: %w", redact(dsn), err)
	}
	return s, nil
}

// redact hides the password of a store URL, for logs and messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
