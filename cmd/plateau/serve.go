package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"plateau/internal/campaign"
	"plateau/internal/config"
	"plateau/internal/notify"
	"plateau/internal/web"
)

func runServe(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("serve", "[--addr HOST:PORT] [--data DIR] [--db DSN] [--config FILE] [--demo]",
		"Start Plateau's web server. With no configuration it listens on 127.0.0.1:8080 and keeps\n"+
			"everything (SQLite database, keys, audit checkpoints) in ./plateau-data. On an empty\n"+
			"database it prints a one-time link to create the first administrator.\n\n"+
			"At start it finishes the batches a crash interrupted, then polls the configured inboxes\n"+
			"(SFTP, watched folders); with mail configured it sends the alerts (batch summaries,\n"+
			"files waiting in an inbox). See docs/configuration.md.\n\n"+
			"--demo fills a new data folder with a demo mission of generated contacts, callable at\n"+
			"any time, and demo accounts whose passwords are printed once; run again, it adds nothing.", io)
	var sf storeFlags
	sf.register(fs)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080, or PLATEAU_ADDR)")
	demo := fs.Bool("demo", false, "create a demo mission, contacts and accounts (once)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sf.adjust = func(c *config.Config) {
		if *addr != "" {
			c.Addr = *addr
		}
	}
	cfg, err := sf.load(io)
	if err != nil {
		return err
	}
	a, err := open(ctx, cfg, mayCreate, io.err, io.env)
	if err != nil {
		return err
	}
	defer a.close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	// With port 0 (tests), the derived base URL names the port actually bound.
	if strings.HasSuffix(cfg.BaseURL, ":0") {
		cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, ":0") + ":" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	a.cfg.BaseURL = cfg.BaseURL // links in mails name the port bound

	var sender notify.Sender
	if cfg.Notify.Enabled() {
		m, err := notify.NewMailer(cfg.Notify.SMTP)
		if err != nil {
			return err
		}
		sender = m
	}
	if err := a.enableNotify(sender); err != nil {
		return err
	}
	camp, ing := newServices(a)
	if *demo {
		if err := setUpDemo(ctx, a, camp, ing, io.out); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	site, err := web.New(ctx, web.Config{
		BaseURL:           cfg.BaseURL,
		TLS:               cfg.TLSEnabled(),
		Version:           versionString(),
		TrustProxyHeaders: cfg.TrustProxyHeaders,
		WorkDir:           cfg.DataDir,
	}, web.Deps{DB: a.db, Vault: a.vault, Audit: a.audit, Auth: a.auth, Campaign: camp, Ingest: ing, Metrics: reg, Logger: a.log})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           site,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// WriteTimeout stays 0: live views stream with Server-Sent Events;
		// handlers bound their own work with the request context.
	}
	srv.RegisterOnShutdown(site.Close)

	jobs, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { a.audit.Run(jobs) })
	wg.Go(func() { purgeSessions(jobs, a, camp) })
	release, err := startJobs(jobs, &wg, a, ing)
	if err != nil {
		stopJobs()
		wg.Wait()
		return err
	}
	defer release()

	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLSEnabled() {
			serveErr <- srv.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	a.log.Info("plateau started", "addr", ln.Addr().String(), "url", cfg.BaseURL, "version", versionString(), "db", string(a.db.Engine()))

	if link, err := site.SetupURL(ctx); err != nil {
		a.log.Error("setup link", "err", err)
	} else if link != "" {
		// Printed on standard output, never logged: the link is a credential.
		fmt.Fprintf(io.out, "\nPlateau has no account yet. Open this link once to create the first administrator\n"+
			"(valid 24 hours; restarting the server makes a new one):\n\n    %s\n\n", link)
	}

	select {
	case err := <-serveErr:
		stopJobs()
		wg.Wait()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopJobs()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// purgeSessions deletes expired sessions every ten minutes.
func purgeSessions(ctx context.Context, a *app, camp *campaign.Service) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			purgeSessionsOnce(ctx, a, camp)
		}
	}
}

// purgeSessionsOnce deletes the expired sessions; an agent whose last
// session expired goes offline and their leases return to the queue.
func purgeSessionsOnce(ctx context.Context, a *app, camp *campaign.Service) {
	p, err := a.auth.PurgeSessions(ctx)
	if err != nil {
		a.log.Error("purge sessions", "err", err)
		return
	}
	if p.Sessions > 0 {
		a.log.Info("expired sessions purged", "count", p.Sessions)
	}
	for _, id := range p.SignedOut {
		if err := camp.GoOffline(ctx, id); err != nil {
			a.log.Error("put an agent whose session expired offline", "user", id, "err", err)
		}
	}
}

func runMigrate(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("migrate", "[--data DIR] [--db DSN] [--config FILE]",
		"Apply the database migrations (also done by serve at start) and print the schema version.", io)
	var sf storeFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.load(io)
	if err != nil {
		return err
	}
	a, err := open(ctx, cfg, mayCreate, io.err, io.env)
	if err != nil {
		return err
	}
	defer a.close()
	v, err := a.db.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "database migrated: %s schema version %d\n", a.db.Engine(), v)
	return nil
}
