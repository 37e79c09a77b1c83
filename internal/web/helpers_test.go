package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/clocktest"
	"plateau/internal/db"
	"plateau/internal/ingest"
	"plateau/internal/vault"
)

// testPassword passes the policy: long, not common, no context word.
const testPassword = "violet-sunrise-harbour-917"

// stack is the whole foundation: database, vault, audit, auth and the web
// server, as cmd/plateau wires them.
type stack struct {
	srv    *Server
	db     *db.DB
	vault  *vault.Vault
	audit  *audit.Log
	auth   *auth.Service
	camp   *campaign.Service
	ingest *ingest.Service
	// clock is auth's: tests move it by whole TOTP steps so that each code
	// they generate is a new one (auth accepts a code once).
	clock *clocktest.Clock
	reg   *prometheus.Registry
}

func newStack(t testing.TB) *stack {
	t.Helper()
	return newStackOn(t, db.OpenTestSQLite(t))
}

func newStackOn(t testing.TB, d *db.DB) *stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	v, err := vault.New(ctx, d, vault.Options{KeyFile: filepath.Join(dir, "master.key")})
	if err != nil {
		t.Fatalf("vault: %v", err)
	}
	a, err := audit.New(d, v, audit.Options{
		CheckpointFile: filepath.Join(dir, "checkpoints.jsonl"),
		SigningKeyFile: filepath.Join(dir, "audit.key"),
	})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	clock := clocktest.New(time.Now().Truncate(30 * time.Second))
	svc := auth.NewService(d, v, a, auth.Options{
		Now:          clock.Now,
		Sleep:        func(context.Context, time.Duration) error { return nil },
		DelayUnit:    time.Millisecond,
		Argon2Memory: 1024, // cheap hashes: the policy is auth's to test, not ours
		Argon2Time:   1,
	})
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	camp := campaign.New(d, v, a, campaign.Options{Logger: logger})
	ing := ingest.NewService(d, v, a, camp, ingest.ServiceOptions{OutboxDir: filepath.Join(dir, "outbox"), Logger: logger})
	srv, err := New(ctx, Config{BaseURL: "http://127.0.0.1:8080/", Version: "test"}, Deps{
		DB:       d,
		Vault:    v,
		Audit:    a,
		Auth:     svc,
		Campaign: camp,
		Ingest:   ing,
		Metrics:  reg,
		Logger:   logger,
	})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	return &stack{srv: srv, db: d, vault: v, audit: a, auth: svc, camp: camp, ingest: ing, clock: clock, reg: reg}
}

// newStackAt is newStackOn whose campaign service and web server read a
// test clock (returned) set to t0. Auth keeps its own clock.
func newStackAt(t testing.TB, d *db.DB, t0 time.Time) (*stack, *clocktest.Clock) {
	t.Helper()
	s := newStackOn(t, d)
	clk := clocktest.New(t0)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.camp = campaign.New(s.db, s.vault, s.audit, campaign.Options{Now: clk.Now, Logger: logger})
	srv, err := New(context.Background(), Config{BaseURL: "http://127.0.0.1:8080/", Version: "test"}, Deps{
		DB: s.db, Vault: s.vault, Audit: s.audit, Auth: s.auth, Campaign: s.camp, Ingest: s.ingest,
		Metrics: s.reg, Logger: logger, Now: clk.Now,
	})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	s.srv = srv
	return s, clk
}

// ctx carries the actor auth wants for its audit rows.
func (s *stack) ctx() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Login: "test", Source: "local"})
}

// createUser creates a user straight through auth; a user whose roles need
// TOTP is enrolled, and its secret returned.
func (s *stack) createUser(t testing.TB, login string, roles ...auth.Role) (auth.User, string) {
	t.Helper()
	ctx := s.ctx()
	u, err := s.auth.CreateUser(ctx, auth.NewUser{Login: login, Name: "Test " + login, Roles: roles, Password: testPassword})
	if err != nil {
		t.Fatalf("create user %s: %v", login, err)
	}
	if !u.NeedsTOTP() {
		return u, ""
	}
	enr, err := s.auth.BeginTOTP(ctx, u.ID)
	if err != nil {
		t.Fatalf("begin TOTP for %s: %v", login, err)
	}
	if _, err := s.auth.ConfirmTOTP(ctx, u.ID, s.code(t, enr.Secret), ""); err != nil {
		t.Fatalf("confirm TOTP for %s: %v", login, err)
	}
	return u, enr.Secret
}

// code moves auth's clock to the next TOTP step and returns that step's code.
func (s *stack) code(t testing.TB, secret string) string {
	t.Helper()
	s.clock.Advance(30 * time.Second)
	c, err := totp.GenerateCode(strings.ReplaceAll(secret, " ", ""), s.clock.Now())
	if err != nil {
		t.Fatalf("generate TOTP code: %v", err)
	}
	return c
}

// client is a browser stand-in: it keeps cookies, sends the CSRF field,
// and checks the attributes of every cookie the server sets.
type client struct {
	t       testing.TB
	h       http.Handler
	cookies map[string]string
	header  http.Header
}

func (s *stack) client(t testing.TB) *client {
	return &client{t: t, h: s.srv, cookies: map[string]string{}, header: http.Header{}}
}

// result is a finished response with its body read.
type result struct {
	*http.Response
	body string
}

func (c *client) do(method, target string, form url.Values) result {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for name, value := range c.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	for _, line := range res.Header.Values("Set-Cookie") {
		checkCookieLine(c.t, line)
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return result{Response: res, body: string(b)}
}

func (c *client) get(target string) result { return c.do(http.MethodGet, target, nil) }

// post sends form with the CSRF token of the page at from (fetched first).
func (c *client) post(from, target string, form url.Values) result {
	c.t.Helper()
	page := c.get(from)
	token := csrfOf(page.body)
	if token == "" {
		c.t.Fatalf("GET %s (%d): no CSRF field in the page", from, page.StatusCode)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set(csrfField, token)
	return c.do(http.MethodPost, target, form)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(body string) string {
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

var secretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)

func secretOf(t testing.TB, body string) string {
	t.Helper()
	m := secretRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no TOTP secret on the page:\n%s", body)
	}
	return strings.ReplaceAll(m[1], " ", "")
}

// checkCookieLine fails the test unless a Set-Cookie line carries Secure,
// HttpOnly and SameSite, with Path=/ and no Domain (the __Host- rules).
func checkCookieLine(t testing.TB, line string) {
	t.Helper()
	lower := strings.ToLower(line)
	for _, want := range []string{"; secure", "; httponly", "; samesite=", "; path=/"} {
		if !strings.Contains(lower, want) {
			t.Errorf("Set-Cookie %q lacks %q", line, strings.TrimPrefix(want, "; "))
		}
	}
	if strings.Contains(lower, "; domain=") {
		t.Errorf("Set-Cookie %q has a Domain", line)
	}
	if !strings.HasPrefix(line, "__Host-") {
		t.Errorf("Set-Cookie %q: cookie name without the __Host- prefix", line)
	}
}

// wantStatus fails unless r has the status.
func wantStatus(t testing.TB, r result, status int, what string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, r.StatusCode, status, r.body)
	}
}

// wantRedirect fails unless r is a redirect to target (path and query).
func wantRedirect(t testing.TB, r result, target, what string) {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s: status %d, want 303 to %s; body:\n%s", what, r.StatusCode, target, r.body)
	}
	if got := r.Header.Get("Location"); got != target {
		t.Fatalf("%s: redirect to %q, want %q", what, got, target)
	}
}

// signIn logs c in with the password, then the TOTP code when the account
// has one, and checks it lands on the home page.
func (s *stack) signIn(t testing.TB, c *client, login, secret string) {
	t.Helper()
	r := c.post("/login", "/login", url.Values{"login": {login}, "password": {testPassword}})
	if secret == "" {
		wantRedirect(t, r, "/", "login "+login)
		return
	}
	wantRedirect(t, r, "/login/totp", "login "+login)
	r = c.post("/login/totp", "/login/totp", url.Values{"code": {s.code(t, secret)}})
	wantRedirect(t, r, "/", "TOTP of "+login)
}
