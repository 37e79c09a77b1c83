package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestPostWithoutValidCSRFTokenIsRefused(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	anon := s.client(t)
	anon.get("/login") // has the pre-session cookie now

	signed := s.client(t)
	s.signIn(t, signed, "agent1", "")
	otherSession := s.client(t)
	s.signIn(t, otherSession, "agent1", "")
	foreign := csrfOf(otherSession.get("/account").body)

	cases := []struct {
		name   string
		c      *client
		target string
		form   url.Values
	}{
		{"login without token", anon, "/login", url.Values{"login": {"agent1"}, "password": {testPassword}}},
		{"login with a wrong token", anon, "/login", url.Values{"login": {"agent1"}, "password": {testPassword}, "csrf": {"AAAA"}}},
		{"login without the pre-session cookie", s.client(t), "/login", url.Values{"login": {"agent1"}, "password": {testPassword},
			"csrf": {csrfOf(anon.get("/login").body)}}},
		{"signed-in POST without token", signed, "/account/language", url.Values{"locale": {"en"}}},
		{"signed-in POST with a wrong token", signed, "/account/language", url.Values{"locale": {"en"}, "csrf": {"not-the-token"}}},
		{"signed-in POST with another session's token", signed, "/account/language", url.Values{"locale": {"en"}, "csrf": {foreign}}},
		{"signed-in POST with the anonymous token", signed, "/logout", url.Values{"csrf": {csrfOf(anon.get("/login").body)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do(http.MethodPost, tc.target, tc.form)
			wantStatus(t, r, http.StatusForbidden, tc.name)
			if !strings.Contains(r.body, s.srv.cat.text("fr", "error.forbidden.csrf")) {
				t.Errorf("the 403 page does not explain the refusal")
			}
		})
	}
	// The refused requests changed nothing: the session still works.
	wantStatus(t, signed.get("/"), http.StatusOK, "home after refused POSTs")

	// An API token does not excuse a page's POST from the CSRF check: only
	// the routes that authenticate by token (none that change state yet) do.
	agent1, err := s.auth.UserByLogin(s.ctx(), "agent1")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.auth.CreateToken(s.ctx(), agent1.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	bearer := s.client(t)
	bearer.header.Set("Authorization", "Bearer "+tok)
	wantStatus(t, bearer.do(http.MethodPost, "/account/language", url.Values{"locale": {"en"}}), http.StatusUnauthorized, "bearer POST to a page")
	signed.header.Set("Authorization", "Bearer "+tok)
	wantStatus(t, signed.do(http.MethodPost, "/account/language", url.Values{"locale": {"en"}}), http.StatusForbidden, "bearer and cookie POST without token")
	signed.header.Del("Authorization")

	// A cross-site browser request is refused before any handler, even with
	// a valid token (defence in depth).
	form := url.Values{"locale": {"en"}, "csrf": {csrfOf(signed.get("/account").body)}}
	signed.header.Set("Sec-Fetch-Site", "cross-site")
	r := signed.do(http.MethodPost, "/account/language", form)
	wantStatus(t, r, http.StatusForbidden, "cross-site POST")
	signed.header.Del("Sec-Fetch-Site")
	wantRedirect(t, signed.do(http.MethodPost, "/account/language", form), "/account?ok=language_changed", "same-site POST")
}

// TestLogoutWithoutSession: logging out of a session that already ended
// changes nothing, so it needs no form token and just forgets the cookie.
func TestLogoutWithoutSession(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	c := s.client(t)
	s.signIn(t, c, "agent1", "")
	token := c.cookies[sessionCookie]
	if err := s.auth.Logout(s.ctx(), token); err != nil {
		t.Fatal(err)
	}
	r := c.do(http.MethodPost, "/logout", url.Values{})
	wantRedirect(t, r, "/login?ok=logged_out", "logout of an ended session")
	if _, ok := c.cookies[sessionCookie]; ok {
		t.Error("the dead session's cookie is kept")
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	c := s.client(t)
	s.signIn(t, c, "agent1", "")
	anon := s.client(t)

	check := func(t *testing.T, r result, what string) {
		t.Helper()
		want := map[string]string{
			"Content-Security-Policy": contentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"X-Frame-Options":         "DENY",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got, v)
			}
		}
		if r.Header.Get("Permissions-Policy") == "" {
			t.Errorf("%s: no Permissions-Policy", what)
		}
		if id := r.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
			t.Errorf("%s: X-Request-Id %q, want 16 hex digits", what, id)
		}
	}
	noStore := []struct {
		c    *client
		path string
	}{
		{c, "/"}, {c, "/account"}, {c, "/tokens"}, {anon, "/login"}, {anon, "/nowhere"}, {c, "/nowhere"},
	}
	for _, p := range noStore {
		r := p.c.get(p.path)
		check(t, r, "GET "+p.path)
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", p.path, got)
		}
		if r.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("GET %s: HSTS without TLS", p.path)
		}
	}
	wantStatus(t, anon.get("/nowhere"), http.StatusNotFound, "unknown path")

	css := anon.get(s.srv.funcs("fr")["static"].(func(string) string)("plateau.css"))
	wantStatus(t, css, http.StatusOK, "stylesheet")
	check(t, css, "stylesheet")
	if got := css.Header.Get("Cache-Control"); !strings.Contains(got, "max-age=31536000") {
		t.Errorf("stylesheet: Cache-Control %q, want a long max-age", got)
	}
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet: Content-Type %q", ct)
	}
	wantStatus(t, anon.get("/static/"), http.StatusNotFound, "static folder listing")
	wantStatus(t, anon.get("/static/..%2Ftemplates%2Flayout.html"), http.StatusNotFound, "static path escape")
	check(t, anon.get("/healthz"), "healthz")

	s.srv.cfg.TLS = true
	if got := anon.get("/login").Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Errorf("with TLS: Strict-Transport-Security %q", got)
	}
}

func TestNoInlineScriptOrStyle(t *testing.T) {
	s := newStack(t)
	_, secret := s.createUser(t, "admin1", "admin", "dpo")
	c := s.client(t)
	s.signIn(t, c, "admin1", secret)
	inline := regexp.MustCompile(`(?i)<script[^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	for _, p := range []string{"/", "/account", "/users", "/users/new", "/users/1", "/tokens", "/audit", "/account/totp", "/nowhere"} {
		r := c.get(p)
		if m := inline.FindString(r.body); m != "" {
			t.Errorf("GET %s: inline script or style %q, which the CSP blocks", p, m)
		}
	}
}

func TestRolesGuardPages(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	_, dpoSecret := s.createUser(t, "dpo1", "dpo")
	_, adminSecret := s.createUser(t, "admin1", "admin")
	agent, dpo, admin := s.client(t), s.client(t), s.client(t)
	s.signIn(t, agent, "agent1", "")
	s.signIn(t, dpo, "dpo1", dpoSecret)
	s.signIn(t, admin, "admin1", adminSecret)

	cases := []struct {
		path                 string
		agent, dpo, adminSts int
	}{
		{"/", 200, 200, 200},
		{"/account", 200, 200, 200},
		{"/tokens", 200, 200, 200},
		{"/users", 403, 403, 200},
		{"/users/new", 403, 403, 200},
		{"/users/1", 403, 403, 200},
		{"/audit", 403, 200, 200},
	}
	for _, tc := range cases {
		for _, who := range []struct {
			name string
			c    *client
			want int
		}{{"agent", agent, tc.agent}, {"dpo", dpo, tc.dpo}, {"admin", admin, tc.adminSts}} {
			r := who.c.get(tc.path)
			if r.StatusCode != who.want {
				t.Errorf("%s GET %s: status %d, want %d", who.name, tc.path, r.StatusCode, who.want)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s GET %s: not no-store", who.name, tc.path)
			}
		}
	}
	// An agent's valid form token does not open an admin action.
	r := agent.post("/account", "/users", url.Values{"login": {"x1"}, "name": {"X"}, "roles": {"admin"},
		"password": {testPassword}, "confirm": {testPassword}})
	wantStatus(t, r, http.StatusForbidden, "agent POST /users")
	r = agent.post("/account", "/users/1/disable", nil)
	wantStatus(t, r, http.StatusForbidden, "agent POST /users/1/disable")

	// Anonymous: GET goes to login, anything else is 401.
	anon := s.client(t)
	wantRedirect(t, anon.get("/users"), "/login?next=%2Fusers", "anonymous GET /users")
	wantStatus(t, anon.do(http.MethodPost, "/users/1/disable", url.Values{}), http.StatusUnauthorized, "anonymous POST")

	// The navigation follows the roles.
	if body := agent.get("/").body; strings.Contains(body, `href="/users"`) || strings.Contains(body, `href="/audit"`) {
		t.Error("the agent's page links to pages the agent may not see")
	}
	if body := dpo.get("/").body; !strings.Contains(body, `href="/audit"`) || strings.Contains(body, `href="/users"`) {
		t.Error("the DPO's navigation is wrong")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	s := newStack(t)
	c := s.client(t)
	r := c.get("/healthz")
	wantStatus(t, r, http.StatusOK, "healthz")
	if strings.TrimSpace(r.body) != "ok" {
		t.Errorf("healthz body %q", r.body)
	}
	wantStatus(t, c.get("/readyz"), http.StatusOK, "readyz")
	s.db.Close()
	wantStatus(t, c.get("/readyz"), http.StatusServiceUnavailable, "readyz without database")
	wantStatus(t, c.get("/healthz"), http.StatusOK, "healthz without database")
}

func TestMetricsNeedAnAdministrator(t *testing.T) {
	s := newStack(t)
	agentUser, _ := s.createUser(t, "agent1", "agent")
	adminUser, adminSecret := s.createUser(t, "admin1", "admin")
	adminToken, _, err := s.auth.CreateToken(s.ctx(), adminUser.ID, "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	agentToken, _, err := s.auth.CreateToken(s.ctx(), agentUser.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	anon := s.client(t)
	anon.get("/login") // at least one request counted

	wantStatus(t, anon.get("/metrics"), http.StatusUnauthorized, "anonymous")
	bearer := func(token string) *client {
		c := s.client(t)
		c.header.Set("Authorization", "Bearer "+token)
		return c
	}
	wantStatus(t, bearer("not-a-token").get("/metrics"), http.StatusUnauthorized, "unknown token")
	wantStatus(t, bearer(agentToken).get("/metrics"), http.StatusForbidden, "agent token")
	agent := s.client(t)
	s.signIn(t, agent, "agent1", "")
	wantStatus(t, agent.get("/metrics"), http.StatusForbidden, "agent session")

	r := bearer(adminToken).get("/metrics")
	wantStatus(t, r, http.StatusOK, "admin token")
	for _, want := range []string{
		`plateau_http_requests_total{code="200",route="GET /login"}`,
		`plateau_http_request_duration_seconds_bucket{route="GET /login"`,
		`plateau_http_requests_total{code="401",route="GET /metrics"}`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(r.body, "/setup/") {
		t.Error("a raw path leaked into the metrics")
	}
	admin := s.client(t)
	s.signIn(t, admin, "admin1", adminSecret)
	wantStatus(t, admin.get("/metrics"), http.StatusOK, "admin session")
}

func TestLogsNameTheRouteNotThePath(t *testing.T) {
	s := newStack(t)
	var logs bytes.Buffer
	// At debug level, every request is logged: none may leak a secret.
	s.srv.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	link, err := s.srv.SetupURL(s.ctx())
	if err != nil {
		t.Fatal(err)
	}
	token := link[strings.LastIndexByte(link, '/')+1:]
	c := s.client(t)
	r := c.post(strings.TrimPrefix(link, s.srv.cfg.BaseURL), strings.TrimPrefix(link, s.srv.cfg.BaseURL), url.Values{
		"login": {"alice"}, "name": {"Alice"}, "password": {testPassword}, "confirm": {testPassword}})
	wantRedirect(t, r, "/account/totp", "setup")
	out := logs.String()
	for _, secret := range []string{token, testPassword, c.cookies[sessionCookie], "alice"} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain a secret or personal datum %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`"route":"GET /setup/{token}"`, `"route":"POST /setup/{token}"`, `"status":303`, `"request_id":"`, `"duration_ms":`} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %s:\n%s", want, out)
		}
	}
}

func TestBodySizeIsBounded(t *testing.T) {
	s := newStack(t)
	c := s.client(t)
	page := c.get("/login")
	big := url.Values{"csrf": {csrfOf(page.body)}, "login": {strings.Repeat("a", maxBodyBytes+1)}}
	r := c.do(http.MethodPost, "/login", big)
	wantStatus(t, r, http.StatusRequestEntityTooLarge, "oversized form")
}

func TestLanguageFollowsUserThenBrowser(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	fr, en := s.srv.cat.text("fr", "login.title"), s.srv.cat.text("en", "login.title")
	for header, want := range map[string]string{
		"":                         fr,
		"en-US,en;q=0.9":           en,
		"de-DE,de;q=0.9":           fr,
		"de-DE,en;q=0.8,fr;q=0.5":  en,
		"fr-CA,fr;q=0.9,en;q=0.8":  fr,
		"garbage;;;q=nonsense,,,,": fr,
	} {
		c := s.client(t)
		c.header.Set("Accept-Language", header)
		r := c.get("/login")
		if !strings.Contains(r.body, "<h1>"+want+"</h1>") {
			t.Errorf("Accept-Language %q: title is not %q", header, want)
		}
		wantLang := "fr"
		if want == en {
			wantLang = "en"
		}
		if !strings.Contains(r.body, `<html lang="`+wantLang+`">`) {
			t.Errorf("Accept-Language %q: html lang is not %s", header, wantLang)
		}
	}

	// The user's own choice wins over the browser's.
	c := s.client(t)
	c.header.Set("Accept-Language", "fr-FR")
	s.signIn(t, c, "agent1", "")
	r := c.post("/account", "/account/language", url.Values{"locale": {"en"}})
	wantRedirect(t, r, "/account?ok=language_changed", "choose English")
	if body := c.get("/account?ok=language_changed").body; !strings.Contains(body, s.srv.cat.text("en", "notice.language_changed")) ||
		!strings.Contains(body, `<html lang="en">`) {
		t.Error("the account page is not in English after choosing English")
	}
	r = c.post("/account", "/account/language", url.Values{"locale": {""}})
	wantRedirect(t, r, "/account?ok=language_changed", "back to the browser's language")
	if body := c.get("/account").body; !strings.Contains(body, `<html lang="fr">`) {
		t.Error("back to the browser's language: not French")
	}
	r = c.post("/account", "/account/language", url.Values{"locale": {"de"}})
	wantStatus(t, r, http.StatusBadRequest, "unknown locale")
}
