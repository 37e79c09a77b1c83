package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"plateau/internal/audit"
)

func TestClientIP(t *testing.T) {
	cases := []struct {
		name  string
		trust bool
		xff   []string
		want  string
	}{
		{"direct", false, nil, "192.0.2.1"},
		{"header ignored without a proxy", false, []string{"203.0.113.9"}, "192.0.2.1"},
		{"behind the proxy", true, []string{"203.0.113.9"}, "203.0.113.9"},
		{"the proxy's entry, not the forged one", true, []string{"10.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"several headers: the last", true, []string{"10.6.6.6", "203.0.113.9"}, "203.0.113.9"},
		{"IPv6", true, []string{"2001:db8::1"}, "2001:db8::1"},
		{"garbage falls back to the peer", true, []string{"not-an-ip"}, "192.0.2.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustProxyHeaders: tc.trust}}
			r := httptest.NewRequest(http.MethodGet, "/", nil) // RemoteAddr 192.0.2.1:1234
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"":                  "/",
		"/":                 "/",
		"/users/3?ok=x":     "/users/3?ok=x",
		"//evil.example/x":  "/",
		"/\\evil.example":   "/",
		"https://evil.com/": "/",
		"javascript:alert":  "/",
		"users":             "/",
		"/a\r\nSet-Cookie:": "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestActorReachesTheAuditTrail: the client's address and agent recorded by
// auth come from the context the middleware prepares.
func TestActorReachesTheAuditTrail(t *testing.T) {
	s := newStack(t)
	s.srv.cfg.TrustProxyHeaders = true
	s.createUser(t, "agent1", "agent")
	c := s.client(t)
	c.header.Set("X-Forwarded-For", "203.0.113.77")
	c.header.Set("User-Agent", "PlateauTest/1.0")
	s.signIn(t, c, "agent1", "")
	entries, err := s.audit.List(s.ctx(), audit.Filter{Actor: "agent1"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Source == "203.0.113.77" && e.Agent == "PlateauTest/1.0")
	}
	if !found {
		t.Errorf("no audit entry of agent1 from 203.0.113.77 with the user agent: %+v", entries)
	}
}

func TestNoticeOnlyFromTheCatalogue(t *testing.T) {
	s := newStack(t)
	c := s.client(t)
	if body := c.get("/login?ok=logged_out").body; !strings.Contains(body, s.srv.cat.text("fr", "notice.logged_out")) {
		t.Error("a known notice is not shown")
	}
	if body := c.get("/login?ok=" + url.QueryEscape("../error.internal")).body; strings.Contains(body, "flash-ok") {
		t.Error("an unknown notice is shown")
	}
}

func TestAgentMayEnrolTOTP(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	c := s.client(t)
	s.signIn(t, c, "agent1", "")
	page := c.get("/account/totp")
	wantStatus(t, page, http.StatusOK, "enrolment page")
	secret := secretOf(t, page.body)
	token := c.cookies[sessionCookie]
	r := c.do(http.MethodPost, "/account/totp", url.Values{csrfField: {csrfOf(page.body)}, "code": {s.code(t, secret)}})
	wantRedirect(t, r, "/account?ok=totp_enabled", "voluntary enrolment")
	if c.cookies[sessionCookie] != token {
		t.Error("a full session changed token on a voluntary enrolment")
	}
	r = s.client(t).post("/login", "/login", url.Values{"login": {"agent1"}, "password": {testPassword}})
	wantRedirect(t, r, "/login/totp", "login now asks for a code")
}
