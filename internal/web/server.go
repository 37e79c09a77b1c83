// Package web is Plateau's HTTP layer for people: the router, the middleware
// (security headers, request ids, logs, metrics, sessions, CSRF), the
// html/template views, the static files and the message catalogue. Handlers
// stay thin: decode, authorise, call one service method, render.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
	"plateau/internal/ingest"
	"plateau/internal/vault"
)

// Config is the web layer's configuration.
type Config struct {
	BaseURL           string // external URL, e.g. "http://127.0.0.1:8080" (used in the setup link)
	TLS               bool   // true when served over TLS: adds HSTS
	Version           string
	TrustProxyHeaders bool // take the client address from X-Forwarded-For (behind a reverse proxy)
	// WorkDir keeps the uploads waiting for their preview to be confirmed
	// (sealed) and the preview's outputs; the system's temporary folder
	// when empty.
	WorkDir string
}

// Deps are the services the pages call.
type Deps struct {
	DB    *db.DB
	Vault *vault.Vault
	Audit *audit.Log
	Auth  *auth.Service
	// Campaign runs the missions, the queue and the reports; Ingest turns
	// files into batches. Both are required.
	Campaign *campaign.Service
	Ingest   *ingest.Service
	Metrics  *prometheus.Registry // the HTTP metrics are registered on it
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
}

// Server serves Plateau's pages. It holds everything parsed at start
// (templates, catalogues, keys) so that no state lives at package level.
type Server struct {
	cfg     Config
	db      *db.DB
	vault   *vault.Vault
	audit   *audit.Log
	auth    *auth.Service
	camp    *campaign.Service
	ingest  *ingest.Service
	log     *slog.Logger
	now     func() time.Time
	metrics *prometheus.Registry

	csrfKey []byte
	cat     *catalogue
	views   *views
	static  *staticFiles
	loc     *time.Location // how times are shown and audit dates read

	// closing is closed by Close: long-lived streams (Server-Sent Events)
	// end at once instead of holding the shutdown.
	closing   chan struct{}
	closeOnce sync.Once

	httpMetrics *httpMetrics
	promHandler http.Handler
	handler     http.Handler
}

// New builds the server: it parses the embedded templates and catalogues,
// derives the CSRF key from the vault and registers the HTTP metrics.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	if deps.DB == nil || deps.Vault == nil || deps.Audit == nil || deps.Auth == nil || deps.Campaign == nil || deps.Ingest == nil {
		return nil, errors.New("web: the database, the vault, the audit log, the auth, campaign and ingest services are required")
	}
	s := &Server{
		cfg:     cfg,
		db:      deps.DB,
		vault:   deps.Vault,
		audit:   deps.Audit,
		auth:    deps.Auth,
		camp:    deps.Campaign,
		ingest:  deps.Ingest,
		log:     deps.Logger,
		now:     deps.Now,
		metrics: deps.Metrics,
		closing: make(chan struct{}),
	}
	s.cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		// Still count, so the handlers never check for nil; nobody scrapes it.
		s.metrics = prometheus.NewRegistry()
	}
	key, err := s.vault.DeriveKey(ctx, "csrf")
	if err != nil {
		return nil, fmt.Errorf("web: derive the CSRF key: %w", err)
	}
	s.csrfKey = key
	if s.cat, err = loadCatalogue(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if s.static, err = loadStatic(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if s.views, err = s.parseViews(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	// Call centres in France read French times; without the zone database
	// (a bare container) times are shown in UTC, labelled as such.
	if s.loc, err = time.LoadLocation("Europe/Paris"); err != nil {
		s.loc = time.UTC
	}
	if s.httpMetrics, err = newHTTPMetrics(s.metrics); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.promHandler = promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{})

	mux := http.NewServeMux()
	s.routes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateOf(r).pattern = "cross-origin-denied"
		s.fail(w, r, &httpError{status: http.StatusForbidden, key: "error.forbidden.csrf",
			err: errors.New("cross-origin request refused")})
	}))
	s.handler = s.observe(cop.Handler(mux))
	return s, nil
}

// Close ends the long-lived streams; call it when the HTTP server shuts down
// (http.Server.RegisterOnShutdown), since Shutdown waits for them.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// SetupURL returns the one-time setup link when no user exists yet ("" otherwise).
// Each call makes a new token, invalidating the previous link.
func (s *Server) SetupURL(ctx context.Context) (string, error) {
	if audit.ActorFrom(ctx) == (audit.Actor{}) {
		ctx = audit.WithActor(ctx, audit.Actor{Login: "system", Source: "local"})
	}
	needed, err := s.auth.SetupNeeded(ctx)
	if err != nil {
		return "", fmt.Errorf("web: setup link: %w", err)
	}
	if !needed {
		return "", nil
	}
	token, err := s.auth.NewSetupToken(ctx)
	if err != nil {
		if errors.Is(err, auth.ErrSetupDone) {
			return "", nil // a user appeared between the two calls
		}
		return "", fmt.Errorf("web: setup link: %w", err)
	}
	return s.cfg.BaseURL + "/setup/" + token, nil
}
