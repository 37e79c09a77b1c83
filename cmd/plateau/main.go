// Command plateau is Plateau's server and command line: serve the web
// application, migrate the database, manage users, tokens and keys, verify
// the audit trail.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// stdio is where a command reads and writes, so tests can run commands
// in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	env      []string
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

func commands() []command {
	return []command{
		{"serve", "start the web server", runServe},
		{"migrate", "apply the database migrations and exit", runMigrate},
		{"ingest", "load or transform lead files with a mission profile", runIngest},
		{"mission", "missions: create, profile, assign, update", runMission},
		{"user", "manage users: add, unlock, list", runUser},
		{"token", "manage API tokens: create", runToken},
		{"audit", "audit trail: verify", runAudit},
		{"keys", "vault keys: rotate", runKeys},
		{"version", "print the version", runVersion},
	}
}

// errUsage marks a usage error (exit status 2); the usage was already printed.
var errUsage = errors.New("usage")

// exitError carries a specific exit status with a message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, env: os.Environ()})
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], io)
		var ee *exitError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, &ee):
			fmt.Fprintln(io.err, "plateau:", ee.msg)
			return ee.code
		default:
			fmt.Fprintf(io.err, "plateau %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(io.err, "plateau: unknown command %q\n\n", args[0])
	usage(io.err)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Plateau: back office for outbound call centers.")
	fmt.Fprintln(w, "\nUsage: plateau COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'plateau COMMAND --help' for a command's flags.")
}

// versionString is the build's version: the -ldflags value, else the module
// version or VCS revision recorded by the Go toolchain.
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}

func runVersion(_ context.Context, args []string, io stdio) error {
	fs := newFlagSet("version", "", "Print the version.", io)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(io.out, "plateau", versionString())
	return nil
}
