// Command jwtgate runs the token service (jwtgate serve) and administers its
// store (users, API keys, credits, signing keys, usage).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/jwtgate/jwtgate/core"
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

// command is one subcommand: "serve", "user add", ...
type command struct {
	name  string // its words
	args  string // its positional arguments, for the usage text
	about string
	// run runs it on the arguments after its name; nil for a group
	// heading's hidden helpers.
	run    func(ctx context.Context, name string, args []string, e *env) error
	hidden bool
}

// commands lists every subcommand; admin.go has the administrative ones.
func commands() []command {
	return append([]command{
		{name: "serve", args: "[flags]", about: "run the service", run: serve},
		{name: "bench", args: "[-c N] [-t DURATION] [-run REGEXP] [-tokens N] [-smoke]",
			about: "measure jwtgate against its baselines (docs/PERFORMANCE.md)", run: bench},
		{name: "bench-bare", hidden: true, run: benchBare}, // the bench's baseline server, started by bench itself
		{name: "db copy", args: "--from STORE --to STORE", about: "copy every row into a new, empty store (e.g. SQLite to PostgreSQL)", run: dbCopy},
	}, adminCommands()...)
}

func usage() string {
	var b strings.Builder
	b.WriteString("jwtgate — a token service for paid, metered web APIs.\n\nUsage:\n")
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		line := "  jwtgate " + c.name
		if c.args != "" {
			line += " " + c.args
		}
		if len(line) > 46 {
			fmt.Fprintf(&b, "%s\n  %-46s%s\n", line, "", c.about)
		} else {
			fmt.Fprintf(&b, "%-48s%s\n", line, c.about)
		}
	}
	b.WriteString("\nEvery command takes --db (default $JWTGATE_DB or ./jwtgate.db) and -h for its own flags.\n")
	return b.String()
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage())
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	err := dispatch(ctx, args, e)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "jwtgate: %v\n\n%s", strings.TrimPrefix(err.Error(), "usage: "), usage())
		return 2
	default:
		fmt.Fprintf(e.stderr, "jwtgate: %s\n", message(err))
		return 1
	}
}

// dispatch finds the command args name, by its longest matching words.
func dispatch(ctx context.Context, args []string, e *env) error {
	var group bool
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, c.name, args[len(words):], e)
		}
		group = group || len(words) > 1 && words[0] == args[0]
	}
	switch {
	case group && len(args) == 1:
		return fmt.Errorf("%w: %s needs a subcommand", errUsage, args[0])
	case group:
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0]+" "+args[1])
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// message is what the operator sees: a core message, or the error text.
func message(err error) string {
	var ce *core.Error
	if errors.As(err, &ce) && ce.Code != core.EINTERNAL {
		return ce.Message
	}
	return err.Error()
}

// newFlags returns the flag set of command name, writing to e's stderr.
func newFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("jwtgate "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
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
