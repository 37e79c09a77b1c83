package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"plateau/internal/db"
)

// TestSetupEnrolLogoutLogin walks the first start: the setup link creates
// the administrator, who must enrol TOTP before anything else, logs out,
// and logs in again with password and a new code. On both engines.
func TestSetupEnrolLogoutLogin(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s := newStackOn(t, d)
		link, err := s.srv.SetupURL(context.Background())
		if err != nil {
			t.Fatalf("SetupURL: %v", err)
		}
		const prefix = "http://127.0.0.1:8080/setup/"
		if !strings.HasPrefix(link, prefix) || len(link) == len(prefix) {
			t.Fatalf("setup link %q, want %s<token>", link, prefix)
		}
		path := strings.TrimPrefix(link, "http://127.0.0.1:8080")

		c := s.client(t)
		form := url.Values{"login": {"alice"}, "name": {"Alice Martin"}, "password": {testPassword}, "confirm": {testPassword}}

		// A mismatched confirmation shows the form again; the link still works.
		bad := url.Values{"login": {"alice"}, "name": {"Alice Martin"}, "password": {testPassword}, "confirm": {"something-else-entirely"}}
		r := c.post(path, path, bad)
		wantStatus(t, r, http.StatusUnprocessableEntity, "setup with mismatched passwords")
		if !strings.Contains(r.body, s.srv.cat.text("fr", "password.error.mismatch")) {
			t.Errorf("mismatch message missing from the setup page")
		}

		r = c.post(path, path, form)
		wantRedirect(t, r, "/account/totp", "setup")
		if c.cookies[sessionCookie] == "" {
			t.Fatal("no session cookie after setup")
		}

		// Second use of the link: refused, both to look at and to post.
		other := s.client(t)
		r = other.get(path)
		wantStatus(t, r, http.StatusGone, "second GET of the setup link")
		pre := other.get("/login") // any anonymous form gives the pre-session cookie
		form.Set(csrfField, csrfOf(pre.body))
		form.Set("login", "mallory")
		r = other.do(http.MethodPost, path, form)
		wantStatus(t, r, http.StatusGone, "second POST of the setup link")
		if link, err := s.srv.SetupURL(context.Background()); err != nil || link != "" {
			t.Errorf("SetupURL after setup = %q, %v; want \"\", nil", link, err)
		}

		// At the enrolment stage every other page leads back to enrolment.
		for _, p := range []string{"/", "/users", "/account", "/audit"} {
			wantRedirect(t, c.get(p), "/account/totp", "GET "+p+" before enrolment")
		}
		page := c.get("/account/totp")
		wantStatus(t, page, http.StatusOK, "enrolment page")
		secret := secretOf(t, page.body)
		qr := c.get("/account/totp/qr.png")
		wantStatus(t, qr, http.StatusOK, "QR code")
		if ct := qr.Header.Get("Content-Type"); ct != "image/png" || !strings.HasPrefix(qr.body, "\x89PNG") {
			t.Errorf("QR code: Content-Type %q, body starts %q", ct, qr.body[:min(8, len(qr.body))])
		}

		// A wrong code shows the same secret again.
		r = c.do(http.MethodPost, "/account/totp", url.Values{csrfField: {csrfOf(page.body)}, "code": {"000000"}})
		wantStatus(t, r, http.StatusUnprocessableEntity, "wrong enrolment code")
		if got := secretOf(t, r.body); got != secret {
			t.Errorf("after a wrong code the secret changed: %s, then %s", secret, got)
		}
		oldToken := c.cookies[sessionCookie]
		r = c.do(http.MethodPost, "/account/totp", url.Values{csrfField: {csrfOf(r.body)}, "code": {s.code(t, secret)}})
		wantRedirect(t, r, "/?ok=totp_enabled", "enrolment")
		if c.cookies[sessionCookie] == oldToken {
			t.Error("the session token did not change when the session became full")
		}
		if _, ok := c.cookies[totpCookie]; ok {
			t.Error("the enrolment cookie outlived the enrolment")
		}
		home := c.get("/")
		wantStatus(t, home, http.StatusOK, "home after enrolment")
		if !strings.Contains(home.body, `id="home-admin"`) {
			t.Errorf("admin home without its section:\n%s", home.body)
		}

		r = c.post("/", "/logout", nil)
		wantRedirect(t, r, "/login?ok=logged_out", "logout")
		if _, ok := c.cookies[sessionCookie]; ok {
			t.Error("session cookie kept after logout")
		}
		wantRedirect(t, c.get("/"), "/login", "home after logout")

		// Log in again: password, then a new code.
		r = c.post("/login", "/login", url.Values{"login": {"alice"}, "password": {"wrong-password-for-sure"}})
		wantStatus(t, r, http.StatusUnauthorized, "wrong password")
		if !strings.Contains(r.body, s.srv.cat.text("fr", "login.error.invalid")) {
			t.Error("wrong password: message missing")
		}
		r = c.post("/login", "/login", url.Values{"login": {"alice"}, "password": {testPassword}})
		wantRedirect(t, r, "/login/totp", "password step")
		wantRedirect(t, c.get("/"), "/login/totp", "home between password and code")
		r = c.post("/login/totp", "/login/totp", url.Values{"code": {"000000"}})
		wantStatus(t, r, http.StatusUnprocessableEntity, "wrong TOTP code")
		r = c.post("/login/totp", "/login/totp", url.Values{"code": {s.code(t, secret)}})
		wantRedirect(t, r, "/", "TOTP step")
		home = c.get("/")
		wantStatus(t, home, http.StatusOK, "home after login")
		if !strings.Contains(home.body, "Alice Martin") {
			t.Error("the header does not show the user's name")
		}
	})
}

// TestLoginNextStaysOnSite: the page asked before login is where the user
// lands, but only when it is a path of this site.
func TestLoginNextStaysOnSite(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	c := s.client(t)
	wantRedirect(t, c.get("/tokens?x=1"), "/login?next=%2Ftokens%3Fx%3D1", "anonymous GET")
	for next, want := range map[string]string{
		"/tokens":              "/tokens",
		"//evil.example":       "/",
		"https://evil.example": "/",
		"/\\evil.example":      "/",
	} {
		c := s.client(t)
		r := c.post("/login?next="+url.QueryEscape(next), "/login", url.Values{
			"login": {"agent1"}, "password": {testPassword}, "next": {next}})
		wantRedirect(t, r, want, "login with next="+next)
	}
}
