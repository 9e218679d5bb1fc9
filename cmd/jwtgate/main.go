// Command jwtgate runs the token service (jwtgate serve) and administers its
// database (users, API keys, credits, signing keys, usage).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// env is the process environment, injected so that tests can run commands
// in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

const usage = `jwtgate — a token service for paid, metered web APIs.

Usage:
  jwtgate serve [flags]                         run the service
  jwtgate user add NAME [--credits N] [--account ACCOUNT]
                                                add a user (password from standard input)
  jwtgate user passwd NAME                      set a user's password (from standard input)
  jwtgate user disable NAME | user enable NAME  stop or allow a user's logins and API keys
  jwtgate user list
  jwtgate apikey create USER                    create an API key (printed once, last line)
  jwtgate apikey revoke ID                      revoke an API key (its id, or the whole key)
  jwtgate apikey list [USER]
  jwtgate servicekey create NAME               a key for your services' VerifyJWT/ChargeJWT calls (printed once)
  jwtgate servicekey revoke NAME|ID
  jwtgate servicekey list
  jwtgate credits add ACCOUNT N                 change a balance by N (may be negative)
  jwtgate credits show [ACCOUNT]
  jwtgate keys rotate [--alg ALG]               make a new signing key active
  jwtgate keys list
  jwtgate usage [--account A] [--from DAY] [--to DAY]
                                                usage by day, application and method
  jwtgate bench [-c N] [-t DURATION] [-run REGEXP] [-tokens N] [-smoke]
                                                measure jwtgate against its baselines (docs/PERFORMANCE.md)

Every command takes --db PATH (default $JWTGATE_DB or ./jwtgate.db).
Run 'jwtgate serve -h' for the service's flags and environment variables.
`

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], e)
	case "bench":
		err = bench(ctx, args[1:], e)
	case "bench-bare": // the bench's baseline server, started by bench itself
		err = benchBare(ctx, e)
	case "user", "apikey", "servicekey", "credits", "keys", "usage":
		err = admin(ctx, args[0], args[1:], e)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "jwtgate: %v\n\n%s", strings.TrimPrefix(err.Error(), "usage: "), usage)
		return 2
	default:
		fmt.Fprintf(e.stderr, "jwtgate: %s\n", message(err))
		return 1
	}
}

// message is what the operator sees: a core message, or the error text.
func message(err error) string {
	var ce *core.Error
	if errors.As(err, &ce) && ce.Code != core.EINTERNAL {
		return ce.Message
	}
	return err.Error()
}

// envOr returns the environment variable name, or def when it is unset.
func (e *env) envOr(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if len(args) > 0 && negativeNumber.MatchString(args[0]) {
			pos, args = append(pos, args[0]), args[1:] // "credits add A -5" is not a flag
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

var negativeNumber = regexp.MustCompile(`^-[0-9]+$`)

func newFlags(e *env, name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("jwtgate "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	db := fs.String("db", e.envOr("JWTGATE_DB", "./jwtgate.db"), "SQLite database file ($JWTGATE_DB)")
	return fs, db
}

func openStore(ctx context.Context, path string) (*sqlite.DB, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	return db, nil
}

// readPassword reads a password: twice with a hidden prompt from a terminal,
// else the first line of standard input. It is never taken from a flag.
func readPassword(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, core.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (pipe it in, e.g. printf '%s\\n' \"$PW\" | jwtgate user add NAME)")
	}
	return line, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: log level %q: use debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: log format %q: use text or json", errUsage, format)
}
