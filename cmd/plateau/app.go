package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/config"
	"plateau/internal/db"
	"plateau/internal/ingest"
	"plateau/internal/notify"
	"plateau/internal/vault"
)

// newFlagSet returns a flag set whose --help prints the synopsis, the
// description and the flags to io.err.
func newFlagSet(name, synopsis, description string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintf(io.err, "Usage: plateau %s %s\n\n%s\n", name, synopsis, description)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(io.err, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args, turning a flag error into errUsage (the flag package
// already printed it) and refusing stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// parseArgs parses args like parse but keeps the positional arguments,
// which may come before, between or after the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// subcommand is one verb of a command group, as in "plateau user add".
type subcommand struct {
	name string
	run  func(ctx context.Context, args []string, io stdio) error
}

// runGroup runs the subcommand args[0] of group, or prints the group's usage
// (for --help, a missing or an unknown verb).
func runGroup(ctx context.Context, group string, subs []subcommand, args []string, io stdio) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		if len(args) > 0 && args[0] == s.name {
			return s.run(ctx, args[1:], io)
		}
		names[i] = s.name
	}
	fmt.Fprintf(io.err, "Usage: plateau %s %s [flags]\nRun 'plateau %s %s --help' for its flags.\n",
		group, strings.Join(names, "|"), group, names[0])
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return flag.ErrHelp
	}
	return errUsage
}

// storeFlags are the flags of every command that opens the database.
type storeFlags struct {
	config, data, db string
	// adjust, when set, applies a command's own flags (serve's --addr)
	// before the values derived from them are computed.
	adjust func(c *config.Config)
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "configuration file (YAML); PLATEAU_* variables override it")
	fs.StringVar(&f.data, "data", "", "data folder (default ./plateau-data, or PLATEAU_DATA)")
	fs.StringVar(&f.db, "db", "", "database: sqlite:PATH or postgres://... (default SQLite in the data folder, or PLATEAU_DB)")
}

// load returns the finished configuration: file, environment, then flags.
func (f *storeFlags) load(io stdio) (config.Config, error) {
	path := f.config
	if path == "" {
		path = lookupEnv(io.env, "PLATEAU_CONFIG")
	}
	c, err := config.Load(path, io.env)
	if err != nil {
		return c, err
	}
	if f.data != "" {
		c.DataDir = f.data
		if f.db == "" && lookupEnv(io.env, "PLATEAU_DB") == "" && !strings.HasPrefix(c.DB, "postgres") {
			c.DB = "" // derive it from the new data folder
		}
	}
	if f.db != "" {
		c.DB = f.db
	}
	if f.adjust != nil {
		f.adjust(&c)
	}
	return c, c.Finish()
}

func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// app is what a command needs: the configuration and the open services.
type app struct {
	cfg   config.Config
	log   *slog.Logger
	db    *db.DB
	vault *vault.Vault
	audit *audit.Log
	auth  *auth.Service
	// outbox and alerts queue the e-mail alerts; nil until enableNotify,
	// and then only when mail is configured.
	outbox *notify.Outbox
	alerts *notify.Alerts
	// env is the process environment (the SQL sinks read their DSNs in it);
	// sink delivers batches to the profiles' SQL sinks, closed with the app.
	env  []string
	sink *ingest.SQLSink
}

// enableNotify prepares the e-mail alerts when mail is configured: they are
// queued in the database's outbox, and sent by sender (nil in a command
// that only queues: the server sends them). It does nothing otherwise.
func (a *app) enableNotify(sender notify.Sender) error {
	if !a.cfg.Notify.Enabled() {
		return nil
	}
	a.outbox = notify.NewOutbox(a.db, sender, notify.OutboxOptions{
		Logger:      a.log,
		GiveUpAfter: a.cfg.Notify.Outbox.GiveUpAfter,
		KeepSent:    a.cfg.Notify.Outbox.KeepSent,
	})
	alerts, err := notify.NewAlerts(a.cfg.Notify, a.outbox)
	if err != nil {
		return err
	}
	a.alerts = alerts
	return nil
}

// openMode says whether a command may create a new database.
type openMode int

const (
	mayCreate openMode = iota // serve, migrate
	mustExist                 // everything else: a typo in --data must not create an empty database
)

// open opens the database (migrating it) and the services.
func open(ctx context.Context, cfg config.Config, mode openMode, logOut io.Writer, env []string) (*app, error) {
	log := newLogger(cfg, logOut)
	if mode == mustExist {
		if path, ok := strings.CutPrefix(cfg.DB, "sqlite:"); ok {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("no database at %s (run 'plateau migrate' or 'plateau serve' first, or pass --data/--db)", path)
			}
		}
	}
	d, err := db.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	if err := d.Migrate(ctx); err != nil {
		return nil, err
	}
	v, err := vault.New(ctx, d, vault.Options{KeyFile: cfg.MasterKeyFile, MasterKey: lookupEnv(env, vault.MasterKeyEnv)})
	if err != nil {
		return nil, err
	}
	a, err := audit.New(d, v, audit.Options{
		CheckpointFile: cfg.Audit.CheckpointFile,
		SigningKeyFile: cfg.Audit.SigningKeyFile,
		Interval:       time.Duration(cfg.Audit.Interval),
	})
	if err != nil {
		return nil, err
	}
	words := []string{}
	if cfg.Company != "" {
		words = append(words, cfg.Company)
	}
	s := auth.NewService(d, v, a, auth.Options{
		IdleTimeout:     time.Duration(cfg.Session.Idle),
		AbsoluteTimeout: time.Duration(cfg.Session.Absolute),
		ContextWords:    words,
	})
	ok = true
	return &app{cfg: cfg, log: log, db: d, vault: v, audit: a, auth: s, env: env}, nil
}

// close writes a last audit checkpoint and closes the database.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.audit.Checkpoint(ctx); err != nil {
		a.log.Error("final audit checkpoint", "err", err)
	}
	if a.sink != nil {
		if err := a.sink.Close(); err != nil {
			a.log.Error("close the SQL sinks", "err", err)
		}
	}
	a.db.Close()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// cliActor is the audit actor of a command-line action: the operating
// system user running it.
func cliActor(ctx context.Context, cmd string) context.Context {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return audit.WithActor(ctx, audit.Actor{Login: "cli:" + name, Source: "local", Agent: "plateau " + cmd + " on " + host})
}
