package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/token"
)

// adminCommands are the operator's commands: each parses its own flags
// (and --db), opens the store and calls core's Admin.
func adminCommands() []command {
	return []command{
		admin("user add", "NAME [--credits N] [--account ACCOUNT]", "add a user (password from standard input)", 1, 1, userAdd),
		admin("user passwd", "NAME", "set a user's password (from standard input)", 1, 1, noFlags(userPasswd)),
		admin("user disable", "NAME", "stop a user's logins and API keys", 1, 1, noFlags(userDisabled(true))),
		admin("user enable", "NAME", "allow them again", 1, 1, noFlags(userDisabled(false))),
		admin("user list", "", "list users", 0, 0, noFlags(userList)),
		admin("apikey create", "USER", "create an API key (printed once, last line)", 1, 1, noFlags(apikeyCreate)),
		admin("apikey revoke", "ID", "revoke an API key (its id, or the whole key)", 1, 1, noFlags(apikeyRevoke)),
		admin("apikey list", "[USER]", "list API keys", 0, 1, noFlags(apikeyList)),
		admin("servicekey create", "NAME", "a key for your services' VerifyJWT/ChargeJWT calls (printed once)", 1, 1, noFlags(servicekeyCreate)),
		admin("servicekey revoke", "NAME|ID", "revoke a service key", 1, 1, noFlags(servicekeyRevoke)),
		admin("servicekey list", "", "list service keys", 0, 0, noFlags(servicekeyList)),
		admin("credits add", "ACCOUNT N", "change a balance by N (may be negative)", 2, 2, noFlags(creditsAdd)),
		admin("credits show", "[ACCOUNT]", "show balances", 0, 1, noFlags(creditsShow)),
		admin("keys rotate", "[--alg ALG] [--now]", "add a signing key, published at once, signing after "+core.DefaultPublishAhead.String()+" (or --now)", 0, 0, keysRotate),
		admin("keys list", "", "list signing keys", 0, 0, noFlags(keysList)),
		admin("tokens list", "[--account A] [--live]", "list issued tokens, newest first", 0, 0, tokensList),
		admin("usage", "[--account A] [--from DAY] [--to DAY]", "usage by day, application and method", 0, 0, usageReport),
	}
}

// adminCall is what an admin command runs with.
type adminCall struct {
	ctx   context.Context
	admin *core.Admin
	out   io.Writer
	e     *env
	args  []string
}

// adminRun is an admin command's work, set up by its flags.
type adminRun func(a *adminCall) error

// admin makes a command that registers its flags (setup returns its run),
// checks its positional arguments, opens the store and runs.
func admin(name, args, about string, least, most int, setup func(fs *flag.FlagSet, e *env) adminRun) command {
	return command{name: name, args: args, about: about, run: func(ctx context.Context, name string, argv []string, e *env) error {
		fs := newFlags(e, name)
		cfg := DefaultConfig()
		runFn := setup(fs, e)
		pos, err := loadConfig(&cfg, []setting{dbSetting}, fs, argv, e.getenv)
		if err != nil {
			return err
		}
		if len(pos) < least || len(pos) > most {
			return fmt.Errorf("%w: %s takes %d to %d arguments, got %d", errUsage, name, least, most, len(pos))
		}
		db, err := openStore(ctx, cfg.DB)
		if err != nil {
			return err
		}
		defer db.Close()
		c := core.DefaultConfig()
		c.Store, c.Tokens, c.Logger = db, token.Strategy{}, newLogger(e.stderr, cfg)
		svc := core.New(c)
		return runFn(&adminCall{ctx: ctx, admin: svc.Admin, out: e.stdout, e: e, args: pos})
	}}
}

// noFlags is the setup of a command without flags of its own.
func noFlags(run adminRun) func(*flag.FlagSet, *env) adminRun {
	return func(*flag.FlagSet, *env) adminRun { return run }
}

func userAdd(fs *flag.FlagSet, _ *env) adminRun {
	credits := fs.Int64("credits", 0, "initial credits of the new account")
	account := fs.String("account", "", "join this existing account instead of creating one")
	return func(a *adminCall) error {
		pw, err := readPassword(a.e)
		if err != nil {
			return err
		}
		u, err := a.admin.CreateUser(a.ctx, core.CreateUserRequest{Username: a.args[0], Password: pw, Account: *account, Credits: *credits})
		if err != nil {
			return err
		}
		acc := *account
		if acc == "" {
			acc = u.Username
		}
		got, err := a.admin.Account(a.ctx, acc)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "created user %s in account %s (%d credits)\n", u.Username, got.Name, got.Credits)
		return nil
	}
}

func userPasswd(a *adminCall) error {
	pw, err := readPassword(a.e)
	if err != nil {
		return err
	}
	if err := a.admin.SetPassword(a.ctx, a.args[0], pw); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "password of %s changed\n", a.args[0])
	return nil
}

func userDisabled(disabled bool) adminRun {
	return func(a *adminCall) error {
		if err := a.admin.SetUserDisabled(a.ctx, a.args[0], disabled); err != nil {
			return err
		}
		state := "enabled"
		if disabled {
			state = "disabled"
		}
		fmt.Fprintf(a.out, "%s %s\n", a.args[0], state)
		return nil
	}
}

func userList(a *adminCall) error {
	users, err := a.admin.UsersPage(a.ctx, core.Page{})
	if err != nil {
		return err
	}
	tw := table(a.out, "USERNAME", "ACCOUNT", "STATUS", "CREATED")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		row(tw, u.Username, u.Account, status, day(u.Created))
	}
	return tw.Flush()
}

func apikeyCreate(a *adminCall) error {
	key, k, err := a.admin.CreateAPIKey(a.ctx, a.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "created API key %s for user %s; it is shown only once:\n%s\n", k.ID, a.args[0], key)
	return nil
}

func apikeyRevoke(a *adminCall) error {
	if err := a.admin.RevokeAPIKey(a.ctx, a.args[0]); err != nil {
		return err
	}
	fmt.Fprintln(a.out, "API key revoked")
	return nil
}

func apikeyList(a *adminCall) error {
	user := ""
	if len(a.args) == 1 {
		user = a.args[0]
	}
	keys, err := a.admin.APIKeysPage(a.ctx, user, core.Page{})
	if err != nil {
		return err
	}
	tw := table(a.out, "ID", "USER", "CREATED", "REVOKED")
	for _, k := range keys {
		row(tw, k.ID, k.Username, stamp(&k.Created), stamp(k.Revoked))
	}
	return tw.Flush()
}

func servicekeyCreate(a *adminCall) error {
	key, k, err := a.admin.CreateServiceKey(a.ctx, a.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "created service key %s (%s) for VerifyJWT and ChargeJWT; it is shown only once:\n%s\n", k.ID, k.Name, key)
	return nil
}

func servicekeyRevoke(a *adminCall) error {
	if err := a.admin.RevokeServiceKey(a.ctx, a.args[0]); err != nil {
		return err
	}
	fmt.Fprintln(a.out, "service key revoked")
	return nil
}

func servicekeyList(a *adminCall) error {
	keys, err := a.admin.ServiceKeysPage(a.ctx, core.Page{})
	if err != nil {
		return err
	}
	tw := table(a.out, "ID", "NAME", "CREATED", "REVOKED")
	for _, k := range keys {
		row(tw, k.ID, k.Name, stamp(&k.Created), stamp(k.Revoked))
	}
	return tw.Flush()
}

func creditsAdd(a *adminCall) error {
	delta, err := strconv.ParseInt(a.args[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: credits add: N must be a whole number, got %q", errUsage, a.args[1])
	}
	bal, err := a.admin.AddCredits(a.ctx, a.args[0], delta)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "account %s now has %d credits\n", a.args[0], bal)
	return nil
}

func creditsShow(a *adminCall) error {
	var accounts []*core.Account
	if len(a.args) == 1 {
		acc, err := a.admin.Account(a.ctx, a.args[0])
		if err != nil {
			return err
		}
		accounts = []*core.Account{acc}
	} else {
		var err error
		if accounts, err = a.admin.AccountsPage(a.ctx, core.Page{}); err != nil {
			return err
		}
	}
	tw := table(a.out, "ACCOUNT", "CREDITS")
	for _, acc := range accounts {
		row(tw, acc.Name, strconv.FormatInt(acc.Credits, 10))
	}
	return tw.Flush()
}

func keysRotate(fs *flag.FlagSet, e *env) adminRun {
	alg := fs.String("alg", e.getenv("JWTGATE_ALG"), "algorithm of the new key: "+strings.Join(core.Algorithms(), ", ")+
		" (default: the newest key's; $JWTGATE_ALG)")
	now := fs.Bool("now", false, "sign with the new key at once, not after it has been published for "+core.DefaultPublishAhead.String()+
		" (a compromised key's emergency: verifiers that have not re-read the key set refuse the new tokens meanwhile)")
	return func(a *adminCall) error {
		if *alg != "" {
			if _, err := core.ParseAlg(*alg); err != nil {
				return fmt.Errorf("%w: --alg: %s", errUsage, message(err))
			}
		}
		k, err := a.admin.RotateSigningKey(a.ctx, *alg, *now)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "new signing key %s (%s), published now, signing from %s; earlier keys stay published while their tokens live\n",
			k.Kid, k.Alg, k.Activates.UTC().Format(time.RFC3339Nano))
		return nil
	}
}

func keysList(a *adminCall) error {
	keys, err := a.admin.SigningKeys(a.ctx)
	if err != nil {
		return err
	}
	tw := table(a.out, "KID", "ALG", "CREATED", "SIGNS FROM", "RETIRED")
	for _, k := range keys {
		retired := stamp(k.Retired)
		if k.Retired == nil {
			retired = "active"
		}
		row(tw, k.Kid, k.Alg, stamp(&k.Created), stamp(&k.Activates), retired)
	}
	return tw.Flush()
}

func tokensList(fs *flag.FlagSet, _ *env) adminRun {
	account := fs.String("account", "", "only this account's tokens")
	live := fs.Bool("live", false, "only tokens neither expired nor revoked")
	return func(a *adminCall) error {
		toks, err := a.admin.TokensPage(a.ctx, core.TokenQuery{Account: *account, Live: *live}, core.Page{})
		if err != nil {
			return err
		}
		tw := table(a.out, "JTI", "APPLICATION", "METHODS", "LIMIT", "SPENT", "EXPIRES", "REVOKED")
		for _, t := range toks {
			limit := "-"
			if t.MaxCredits != nil {
				limit = strconv.FormatInt(*t.MaxCredits, 10)
			}
			row(tw, t.JTI, dash(t.Application), dash(strings.Join(t.AllowedMethods, ",")), limit,
				strconv.FormatInt(t.CreditsSpent, 10), stamp(&t.ExpiresAt), stamp(t.Revoked))
		}
		return tw.Flush()
	}
}

func usageReport(fs *flag.FlagSet, _ *env) adminRun {
	account := fs.String("account", "", "only this account")
	from := fs.String("from", "", "first day, YYYY-MM-DD (UTC)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (UTC), inclusive")
	return func(a *adminCall) error {
		q := core.UsageQuery{Account: *account}
		for _, d := range []struct {
			flag, val string
			dst       *time.Time
			add       int
		}{{"--from", *from, &q.From, 0}, {"--to", *to, &q.To, 1}} {
			if d.val == "" {
				continue
			}
			t, err := time.Parse(time.DateOnly, d.val)
			if err != nil {
				return fmt.Errorf("%w: %s %q: give a day as YYYY-MM-DD", errUsage, d.flag, d.val)
			}
			*d.dst = t.AddDate(0, 0, d.add)
		}
		rows, err := a.admin.UsageReport(a.ctx, q)
		if err != nil {
			return err
		}
		tw := table(a.out, "DAY", "ACCOUNT", "APPLICATION", "METHOD", "CALLS", "FAILED", "CREDITS")
		for _, r := range rows {
			row(tw, r.Day, dash(r.Account), dash(r.Application), r.Method,
				strconv.FormatInt(r.Calls, 10), strconv.FormatInt(r.Failures, 10), strconv.FormatInt(r.Credits, 10))
		}
		return tw.Flush()
	}
}

func table(w io.Writer, header ...string) *tabwriter.Writer {
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
