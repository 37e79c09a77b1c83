package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
)

func TestAdministratorManagesUsers(t *testing.T) {
	s := newStack(t)
	adminUser, secret := s.createUser(t, "admin1", "admin")
	c := s.client(t)
	s.signIn(t, c, "admin1", secret)
	msg := func(key string) string { return s.srv.cat.text("fr", key) }

	newUser := func(login, password, confirm string, roles ...string) result {
		return c.post("/users/new", "/users", url.Values{"login": {login}, "name": {"Nina Petit"},
			"roles": roles, "password": {password}, "confirm": {confirm}})
	}
	failures := []struct {
		name string
		r    result
		key  string
	}{
		{"short password", newUser("nina", "short", "short", "agent"), "password.error.too_short"},
		{"mismatch", newUser("nina", testPassword, testPassword+"x", "agent"), "password.error.mismatch"},
		{"bad login", newUser("Nina Petit!", testPassword, testPassword, "agent"), "user.error.login_invalid"},
		{"no role", newUser("nina", testPassword, testPassword), "user.error.no_role"},
		{"unknown role", newUser("nina", testPassword, testPassword, "king"), "user.error.role_invalid"},
		{"login taken", newUser("admin1", testPassword, testPassword, "agent"), "user.error.login_taken"},
	}
	for _, f := range failures {
		if f.r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(f.r.body, msg(f.key)) {
			t.Errorf("%s: status %d, want 422 with %q", f.name, f.r.StatusCode, msg(f.key))
		}
		if strings.Contains(f.r.body, testPassword) {
			t.Errorf("%s: the password is written back into the page", f.name)
		}
	}

	r := newUser("nina", testPassword, testPassword, "agent", "supervisor")
	if r.StatusCode != http.StatusSeeOther || !strings.HasSuffix(r.Header.Get("Location"), "?ok=user_created") {
		t.Fatalf("create user: %d %s\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	nina, err := s.auth.UserByLogin(s.ctx(), "nina")
	if err != nil {
		t.Fatal(err)
	}
	edit := fmt.Sprintf("/users/%d", nina.ID)
	list := c.get("/users")
	if !strings.Contains(list.body, `href="`+edit+`"`) {
		t.Errorf("the users list does not link to nina")
	}
	page := c.get(edit + "?ok=user_created")
	if !strings.Contains(page.body, msg("notice.user_created")) {
		t.Error("no confirmation after creating a user")
	}

	act := func(path string, form url.Values) result { return c.post(edit, edit+path, form) }
	wantRedirect(t, act("/name", url.Values{"name": {"Nina Grand"}}), edit+"?ok=name_changed", "rename")
	wantRedirect(t, act("/roles", url.Values{"roles": {"agent"}}), edit+"?ok=roles_changed", "set roles")
	wantRedirect(t, act("/disable", nil), edit+"?ok=user_disabled", "disable")
	wantRedirect(t, act("/enable", nil), edit+"?ok=user_enabled", "enable")
	wantRedirect(t, act("/password", url.Values{"password": {"another-long-passphrase-42"}, "confirm": {"another-long-passphrase-42"}}),
		edit+"?ok=password_reset", "reset password")
	wantRedirect(t, act("/sessions/end", nil), edit+"?ok=sessions_ended", "end sessions")
	r = act("/password", url.Values{"password": {"tiny"}, "confirm": {"tiny"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, msg("password.error.too_short")) {
		t.Errorf("reset to a short password: %d", r.StatusCode)
	}
	nina, err = s.auth.User(s.ctx(), nina.ID)
	if err != nil {
		t.Fatal(err)
	}
	if nina.Name != "Nina Grand" || len(nina.Roles) != 1 || nina.Roles[0] != auth.RoleAgent || nina.Disabled {
		t.Errorf("after the changes: %+v", nina)
	}

	// Locked after failures, unlocked by the administrator.
	ninaC := s.client(t)
	for range 12 {
		ninaC.post("/login", "/login", url.Values{"login": {"nina"}, "password": {"wrong-password-again"}})
	}
	r = ninaC.post("/login", "/login", url.Values{"login": {"nina"}, "password": {"another-long-passphrase-42"}})
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, msg("login.error.locked")) {
		t.Errorf("locked account: status %d, want 403 with the lockout message", r.StatusCode)
	}
	wantRedirect(t, act("/unlock", nil), edit+"?ok=user_unlocked", "unlock")
	r = ninaC.post("/login", "/login", url.Values{"login": {"nina"}, "password": {"another-long-passphrase-42"}})
	wantRedirect(t, r, "/", "login after unlock")

	// The last administrator keeps the role.
	self := fmt.Sprintf("/users/%d", adminUser.ID)
	r = c.post(self, self+"/roles", url.Values{"roles": {"agent"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, msg("user.error.last_admin")) {
		t.Errorf("last admin loses the role: status %d", r.StatusCode)
	}
	r = c.post(self, self+"/disable", nil)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, msg("user.error.last_admin")) {
		t.Errorf("last admin disabled: status %d", r.StatusCode)
	}
	wantStatus(t, c.get("/users/999999"), http.StatusNotFound, "unknown user")
	wantStatus(t, c.get("/users/abc"), http.StatusNotFound, "malformed user id")

	// TOTP reset: the user enrols again at the next login.
	sup, _ := s.createUser(t, "sup1", "supervisor")
	supEdit := fmt.Sprintf("/users/%d", sup.ID)
	wantRedirect(t, c.post(supEdit, supEdit+"/totp/reset", nil), supEdit+"?ok=totp_reset", "reset TOTP")
	supC := s.client(t)
	r = supC.post("/login", "/login", url.Values{"login": {"sup1"}, "password": {testPassword}})
	wantRedirect(t, r, "/account/totp", "login after TOTP reset")
}

func TestAccountPasswordChange(t *testing.T) {
	s := newStack(t)
	s.createUser(t, "agent1", "agent")
	c, other := s.client(t), s.client(t)
	s.signIn(t, c, "agent1", "")
	s.signIn(t, other, "agent1", "")
	const next = "brand-new-passphrase-77"
	r := c.post("/account", "/account/password", url.Values{"current": {"not-my-password"}, "password": {next}, "confirm": {next}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, s.srv.cat.text("fr", "account.error.wrong_password")) {
		t.Errorf("wrong current password: status %d", r.StatusCode)
	}
	r = c.post("/account", "/account/password", url.Values{"current": {testPassword}, "password": {next}, "confirm": {next}})
	wantRedirect(t, r, "/account?ok=password_changed", "change password")
	wantStatus(t, c.get("/"), http.StatusOK, "this session goes on")
	wantRedirect(t, other.get("/"), "/login", "the other session ended")
	r = s.client(t).post("/login", "/login", url.Values{"login": {"agent1"}, "password": {next}})
	wantRedirect(t, r, "/", "login with the new password")
}

var tokenShownRE = regexp.MustCompile(`<code class="secret">([^<]+)</code>`)

func TestTokensPage(t *testing.T) {
	s := newStack(t)
	agentUser, _ := s.createUser(t, "agent1", "agent")
	adminUser, adminSecret := s.createUser(t, "admin1", "admin")
	_, adminTok, err := s.auth.CreateToken(s.ctx(), adminUser.ID, "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	agent := s.client(t)
	s.signIn(t, agent, "agent1", "")

	r := agent.post("/tokens", "/tokens", url.Values{"name": {"  "}})
	wantStatus(t, r, http.StatusUnprocessableEntity, "token without a name")
	r = agent.post("/tokens", "/tokens", url.Values{"name": {"my script"}})
	wantStatus(t, r, http.StatusOK, "create token")
	m := tokenShownRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("the new token is not shown:\n%s", r.body)
	}
	if u, err := s.auth.AuthenticateToken(s.ctx(), m[1]); err != nil || u.ID != agentUser.ID {
		t.Errorf("the token shown does not authenticate the agent: %v", err)
	}
	list := agent.get("/tokens")
	if strings.Contains(list.body, m[1]) {
		t.Error("the token is shown again on the list")
	}
	if !strings.Contains(list.body, "my script") || strings.Contains(list.body, "prometheus") {
		t.Error("the agent's list is not exactly their own tokens")
	}
	// Someone else's token: as if it did not exist.
	r = agent.post("/tokens", fmt.Sprintf("/tokens/%d/revoke", adminTok.ID), nil)
	wantStatus(t, r, http.StatusNotFound, "agent revokes the admin's token")
	own, _ := s.auth.Tokens(s.ctx(), agentUser.ID)
	wantRedirect(t, agent.post("/tokens", fmt.Sprintf("/tokens/%d/revoke", own[0].ID), nil), "/tokens?ok=token_revoked", "revoke own")
	if _, err := s.auth.AuthenticateToken(s.ctx(), m[1]); err == nil {
		t.Error("a revoked token still authenticates")
	}

	admin := s.client(t)
	s.signIn(t, admin, "admin1", adminSecret)
	all := admin.get("/tokens")
	for _, want := range []string{"my script", "prometheus", "agent1"} {
		if !strings.Contains(all.body, want) {
			t.Errorf("the administrator's list lacks %q", want)
		}
	}
	wantRedirect(t, admin.post("/tokens", fmt.Sprintf("/tokens/%d/revoke", adminTok.ID), nil), "/tokens?ok=token_revoked", "admin revokes")
}

func TestAuditViewerFiltersAndPages(t *testing.T) {
	s := newStack(t)
	_, secret := s.createUser(t, "dpo1", "dpo")
	for i := range 70 {
		if err := s.audit.Append(s.ctx(), audit.Event{Action: "test.event", ObjectType: "thing", ObjectID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := s.client(t)
	s.signIn(t, c, "dpo1", secret)

	r := c.get("/audit?action=test.")
	wantStatus(t, r, http.StatusOK, "audit, first page")
	if n := strings.Count(r.body, "<code>test.event</code>"); n != auditPageSize {
		t.Errorf("first page shows %d events, want %d", n, auditPageSize)
	}
	older := regexp.MustCompile(`href="(/audit\?[^"]+)">` + regexp.QuoteMeta(s.srv.cat.text("fr", "audit.older"))).FindStringSubmatch(r.body)
	if older == nil {
		t.Fatal("no link to the older page")
	}
	r = c.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	if n := strings.Count(r.body, "<code>test.event</code>"); n != 70-auditPageSize {
		t.Errorf("second page shows %d events, want %d", n, 70-auditPageSize)
	}
	if strings.Contains(r.body, s.srv.cat.text("fr", "audit.older")+"</a>") {
		t.Error("the last page links to an older one")
	}

	r = c.get("/audit?action=auth.&actor=test")
	if strings.Contains(r.body, "test.event") || !strings.Contains(r.body, "auth.") {
		t.Error("the action prefix filter does not filter")
	}
	r = c.get("/audit?type=thing&id=7")
	if n := strings.Count(r.body, "<code>test.event</code>"); n != 1 {
		t.Errorf("object filter: %d events, want 1", n)
	}
	today := time.Now().In(s.srv.loc).Format("2006-01-02")
	r = c.get("/audit?action=test.&from=2000-01-01&to=2000-01-02")
	if strings.Contains(r.body, "<code>test.event</code>") {
		t.Error("date filter: events outside the range are shown")
	}
	r = c.get("/audit?action=test.&from=2000-01-01&to=" + today)
	if !strings.Contains(r.body, "<code>test.event</code>") {
		t.Error("date filter: today's events are missing with to=today")
	}
	wantStatus(t, c.get("/audit?from=yesterday"), http.StatusUnprocessableEntity, "bad date")
	wantStatus(t, c.get("/audit?before=x"), http.StatusBadRequest, "bad page")
}
