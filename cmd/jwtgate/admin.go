package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// admin runs the administrative subcommands on the database directly.
func admin(ctx context.Context, group string, args []string, e *env) error {
	fs, dbPath := newFlags(e, group)
	credits := fs.Int64("credits", 0, "initial credits of the new account (user add)")
	account := fs.String("account", "", "user add: join this existing account; usage: only this account")
	alg := fs.String("alg", e.envOr("JWTGATE_ALG", core.AlgEdDSA), "keys rotate: algorithm of the new key ($JWTGATE_ALG)")
	from := fs.String("from", "", "usage: first day, YYYY-MM-DD (UTC)")
	to := fs.String("to", "", "usage: last day, YYYY-MM-DD (UTC), inclusive")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	cmd := group
	if group != "usage" {
		if len(pos) == 0 {
			return fmt.Errorf("%w: %s needs a subcommand", errUsage, group)
		}
		cmd, pos = group+" "+pos[0], pos[1:]
	}
	nargs := map[string][2]int{ // least and most positional arguments
		"user add": {1, 1}, "user passwd": {1, 1}, "user disable": {1, 1}, "user enable": {1, 1}, "user list": {0, 0},
		"apikey create": {1, 1}, "apikey revoke": {1, 1}, "apikey list": {0, 1},
		"credits add": {2, 2}, "credits show": {0, 1}, "keys rotate": {0, 0}, "keys list": {0, 0}, "usage": {0, 0},
		"servicekey create": {1, 1}, "servicekey revoke": {1, 1}, "servicekey list": {0, 0},
	}
	n, ok := nargs[cmd]
	if !ok {
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if len(pos) < n[0] || len(pos) > n[1] {
		return fmt.Errorf("%w: %s takes %d to %d arguments, got %d", errUsage, cmd, n[0], n[1], len(pos))
	}

	db, err := openStore(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := core.NewService(db)
	out := e.stdout

	switch cmd {
	case "user add":
		pw, err := readPassword(e)
		if err != nil {
			return err
		}
		u, err := svc.CreateUser(ctx, core.CreateUserRequest{Username: pos[0], Password: pw, Account: *account, Credits: *credits})
		if err != nil {
			return err
		}
		a, err := db.AccountByID(ctx, u.AccountID)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created user %s in account %s (%d credits)\n", u.Username, a.Name, a.Credits)
	case "user passwd":
		pw, err := readPassword(e)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, pos[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(out, "password of %s changed\n", pos[0])
	case "user disable", "user enable":
		if err := svc.SetUserDisabled(ctx, pos[0], cmd == "user disable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %sd\n", pos[0], strings.TrimPrefix(cmd, "user "))
	case "user list":
		users, err := db.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := table(out, "USERNAME", "ACCOUNT", "STATUS", "CREATED")
		for _, u := range users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			row(tw, u.Username, u.Account, status, day(u.Created))
		}
		return tw.Flush()
	case "apikey create":
		key, k, err := svc.CreateAPIKey(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created API key %s for user %s; it is shown only once:\n%s\n", k.ID, pos[0], key)
	case "apikey revoke":
		if err := svc.RevokeAPIKey(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintln(out, "API key revoked")
	case "apikey list":
		var uid *int64
		if len(pos) == 1 {
			u, err := db.UserByName(ctx, pos[0])
			if err != nil {
				return err
			}
			uid = &u.ID
		}
		keys, err := db.ListAPIKeys(ctx, uid)
		if err != nil {
			return err
		}
		users := map[int64]string{}
		tw := table(out, "ID", "USER", "CREATED", "REVOKED")
		for _, k := range keys {
			if _, ok := users[k.UserID]; !ok {
				u, err := db.UserByID(ctx, k.UserID)
				if err != nil {
					return err
				}
				users[k.UserID] = u.Username
			}
			row(tw, k.ID, users[k.UserID], stamp(&k.Created), stamp(k.Revoked))
		}
		return tw.Flush()
	case "servicekey create":
		key, k, err := svc.CreateServiceKey(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created service key %s (%s) for VerifyJWT and ChargeJWT; it is shown only once:\n%s\n", k.ID, k.Name, key)
	case "servicekey revoke":
		if err := svc.RevokeServiceKey(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintln(out, "service key revoked")
	case "servicekey list":
		keys, err := db.ListServiceKeys(ctx)
		if err != nil {
			return err
		}
		tw := table(out, "ID", "NAME", "CREATED", "REVOKED")
		for _, k := range keys {
			row(tw, k.ID, k.Name, stamp(&k.Created), stamp(k.Revoked))
		}
		return tw.Flush()
	case "credits add":
		delta, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: credits add: N must be a whole number, got %q", errUsage, pos[1])
		}
		bal, err := svc.AddCredits(ctx, pos[0], delta)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "account %s now has %d credits\n", pos[0], bal)
	case "credits show":
		var accounts []*core.Account
		if len(pos) == 1 {
			a, err := db.AccountByName(ctx, pos[0])
			if err != nil {
				return err
			}
			accounts = []*core.Account{a}
		} else if accounts, err = db.ListAccounts(ctx); err != nil {
			return err
		}
		tw := table(out, "ACCOUNT", "CREDITS")
		for _, a := range accounts {
			row(tw, a.Name, strconv.FormatInt(a.Credits, 10))
		}
		return tw.Flush()
	case "keys rotate":
		if svc.Alg, err = core.ParseAlg(*alg); err != nil {
			return fmt.Errorf("%w: --alg: %s", errUsage, message(err))
		}
		k, err := svc.RotateSigningKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "new active signing key %s (%s); earlier keys stay published while their tokens live\n", k.Kid, k.Alg)
	case "keys list":
		keys, err := db.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		tw := table(out, "KID", "ALG", "CREATED", "RETIRED")
		for _, k := range keys {
			retired := stamp(k.Retired)
			if k.Retired == nil {
				retired = "active"
			}
			row(tw, k.Kid, k.Alg, stamp(&k.Created), retired)
		}
		return tw.Flush()
	case "usage":
		f, err := usageFilter(ctx, svc, *account, *from, *to)
		if err != nil {
			return err
		}
		rows, err := svc.Usage(ctx, f)
		if err != nil {
			return err
		}
		tw := table(out, "DAY", "ACCOUNT", "APPLICATION", "METHOD", "CALLS", "FAILED", "CREDITS")
		for _, r := range rows {
			row(tw, r.Day, dash(r.Account), dash(r.Application), r.Method,
				strconv.FormatInt(r.Calls, 10), strconv.FormatInt(r.Failures, 10), strconv.FormatInt(r.Credits, 10))
		}
		return tw.Flush()
	}
	return nil
}

func usageFilter(ctx context.Context, svc *core.Service, account, from, to string) (core.UsageFilter, error) {
	var f core.UsageFilter
	if account != "" {
		a, err := svc.Store.AccountByName(ctx, account)
		if err != nil {
			return f, err
		}
		f.AccountID = &a.ID
	}
	for _, d := range []struct {
		flag, val string
		dst       *time.Time
		add       int
	}{{"--from", from, &f.From, 0}, {"--to", to, &f.To, 1}} {
		if d.val == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.val)
		if err != nil {
			return f, fmt.Errorf("%w: %s %q: give a day as YYYY-MM-DD", errUsage, d.flag, d.val)
		}
		*d.dst = t.AddDate(0, 0, d.add)
	}
	return f, nil
}

func table(w interface{ Write([]byte) (int, error) }, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row(tw, header...)
	return tw
}

func row(tw *tabwriter.Writer, cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
