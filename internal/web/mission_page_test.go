package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

func TestMissionScreensCheckRoles(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	agent, _ := s.missionUser(t, "agent1", auth.RoleAgent)
	sup, _ := s.missionUser(t, "sup1", auth.RoleSupervisor)
	it, _ := s.missionUser(t, "tech1", auth.RoleIT)

	for _, path := range []string{"/missions", "/missions/26", "/batches", "/missions/26/profile"} {
		wantStatus(t, agent.get(path), http.StatusForbidden, "agent GET "+path)
	}
	wantStatus(t, sup.get("/missions"), http.StatusOK, "supervisor GET /missions")
	wantStatus(t, sup.get("/missions/26"), http.StatusOK, "supervisor GET /missions/26")
	wantStatus(t, sup.get("/missions/26/profile"), http.StatusForbidden, "supervisor GET the profile editor")
	wantStatus(t, sup.upload("26", "leads.csv", leadFile()), http.StatusForbidden, "supervisor upload")
	wantStatus(t, it.get("/missions/26/profile"), http.StatusOK, "IT GET the profile editor")
	r := it.post("/missions/26", "/missions/26/settings", url.Values{"windows": {"mon-sun 00:00-24:00"},
		"holidays": {"open"}, "timezone": {"Europe/Paris"}, "max_attempts": {"5"}})
	wantStatus(t, r, http.StatusForbidden, "IT changes the settings")
	wantStatus(t, s.client(t).get("/missions/26"), http.StatusSeeOther, "anonymous GET /missions/26")
	wantStatus(t, sup.get("/missions/27"), http.StatusNotFound, "a mission that does not exist")

	// The list shows the mission, its counts and no batch yet.
	list := sup.get("/missions")
	wantIn(t, list, "missions list", `href="/missions/26"`, shown("Mission Sortant J+3"), "phonak", shown(s.srv.cat.text("fr", "mission.no_batch")))
	// A supervisor sees no upload form nor profile link; IT does.
	page := sup.get("/missions/26")
	if r := it.get("/missions/26"); !strings.Contains(r.body, `action="/missions/26/uploads"`) || strings.Contains(page.body, `action="/missions/26/uploads"`) {
		t.Error("the upload form is for IT and administrators only")
	}
	inline := regexp.MustCompile(`(?i)<script[^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	for _, p := range []string{"/missions", "/missions/26", "/missions/26/profile", "/batches"} {
		if m := inline.FindString(it.get(p).body); m != "" {
			t.Errorf("GET %s: inline script or style %q, which the CSP blocks", p, m)
		}
	}
	wantIn(t, page, "mission page", `<td class="nowrap">24 h</td>`, "RDV pris", "repondeur", `action="/missions/26/settings"`, shown(s.srv.cat.text("fr", "mission.profile.version", 1)))
}

func TestMissionSettingsAndMembersForm(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s := newStackOn(t, d)
		s.mission26(t)
		sup, _ := s.missionUser(t, "sup1", auth.RoleSupervisor)
		agent, _ := s.createUser(t, "agent1", auth.RoleAgent)
		s.createUser(t, "tech1", auth.RoleIT)
		msg := func(key string) string { return shown(s.srv.cat.text("fr", key)) }

		settings := func(windows, holidays, tz, attempts string) result {
			return sup.post("/missions/26", "/missions/26/settings", url.Values{"windows": {windows},
				"holidays": {holidays}, "timezone": {tz}, "max_attempts": {attempts}})
		}
		refusals := []struct {
			name string
			r    result
			key  string
		}{
			{"windows", settings("lun-ven 9h-12h", "closed", "Europe/Paris", "5"), "mission.error.windows"},
			{"empty windows", settings("", "closed", "Europe/Paris", "5"), "mission.error.windows"},
			{"time zone", settings("mon-fri 09:00-20:00", "closed", "Europe/Lutece", "5"), "mission.error.timezone"},
			{"attempts", settings("mon-fri 09:00-20:00", "closed", "Europe/Paris", "0"), "mission.error.max_attempts"},
			{"holidays", settings("mon-fri 09:00-20:00", "maybe", "Europe/Paris", "5"), "mission.error.holidays"},
		}
		for _, f := range refusals {
			if f.r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(f.r.body, msg(f.key)) {
				t.Errorf("%s: status %d, want 422 with %q", f.name, f.r.StatusCode, msg(f.key))
			}
		}
		if m, _ := s.camp.Mission(context.Background(), 26); m.MaxAttempts != campaign.DefaultMaxAttempts || m.Windows.String() != campaign.DefaultWindows {
			t.Fatalf("a refused form changed the mission: %+v", m)
		}
		// The form comes back as typed.
		if r := refusals[0].r; !strings.Contains(r.body, `value="lun-ven 9h-12h"`) {
			t.Error("the refused windows are not shown again")
		}

		spec := "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00"
		wantRedirect(t, settings(spec, "open", "Europe/Brussels", "3"), "/missions/26?ok=mission_saved", "save settings")
		m, err := s.camp.Mission(context.Background(), 26)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Windows.Equal(campaign.MustParseWindows(spec)) || !m.HolidaysOpen || m.TimeZone != "Europe/Brussels" || m.MaxAttempts != 3 {
			t.Fatalf("settings not saved: windows %q, holidays open %v, zone %s, attempts %d", m.Windows, m.HolidaysOpen, m.TimeZone, m.MaxAttempts)
		}
		wantIn(t, sup.get("/missions/26?ok=mission_saved"), "after saving", msg("notice.mission_saved"), `value="Europe/Brussels"`)

		// Members: an agent is assigned by login and removed; an IT
		// technician or an unknown login is refused.
		wantRedirect(t, sup.post("/missions/26", "/missions/26/members", url.Values{"login": {"agent1"}}),
			"/missions/26?ok=mission_member_added#members", "assign agent1")
		if ids, _ := s.camp.Members(context.Background(), 26); !slices.Contains(ids, agent.ID) {
			t.Fatalf("members %v lack agent1", ids)
		}
		wantIn(t, sup.get("/missions/26"), "members", "(agent1)")
		for login, key := range map[string]string{"tech1": "mission.error.member_role", "nobody": "mission.error.member_unknown"} {
			r := sup.post("/missions/26", "/missions/26/members", url.Values{"login": {login}})
			if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, msg(key)) {
				t.Errorf("assign %s: status %d, want 422 with %q", login, r.StatusCode, msg(key))
			}
		}
		wantRedirect(t, sup.post("/missions/26", fmt.Sprintf("/missions/26/members/%d/remove", agent.ID), nil),
			"/missions/26?ok=mission_member_removed#members", "remove agent1")
		if ids, _ := s.camp.Members(context.Background(), 26); slices.Contains(ids, agent.ID) {
			t.Fatalf("agent1 still a member: %v", ids)
		}

		// CSRF: without the token, nothing changes.
		r := sup.do(http.MethodPost, "/missions/26/settings", url.Values{"windows": {"mon-sun 00:00-24:00"},
			"holidays": {"open"}, "timezone": {"Europe/Paris"}, "max_attempts": {"9"}})
		wantStatus(t, r, http.StatusForbidden, "settings without a CSRF token")
		if m, _ := s.camp.Mission(context.Background(), 26); m.MaxAttempts != 3 {
			t.Fatal("a form without a CSRF token changed the mission")
		}
	})
}

func TestMissionNewForm(t *testing.T) {
	s := newStack(t)
	c, _ := s.missionUser(t, "admin1", auth.RoleAdmin)
	sup, _ := s.missionUser(t, "sup1", auth.RoleSupervisor)
	msg := func(key string) string { return shown(s.srv.cat.text("fr", key)) }
	ref := string(referenceProfileYAML(t))
	create := func(number, name, client, regime, yaml string) result {
		return c.post("/missions/new", "/missions", url.Values{"number": {number}, "name": {name}, "client": {client},
			"regime": {regime}, "yaml": {yaml}})
	}
	wantStatus(t, sup.get("/missions/new"), http.StatusForbidden, "supervisor GET /missions/new")
	refusals := []struct {
		name string
		r    result
		key  string
	}{
		{"number", create("x", "Sortant", "phonak", "b2b", ""), "mission.error.number"},
		{"name", create("26", " ", "phonak", "b2b", ""), "mission.error.name"},
		{"regime", create("26", "Sortant", "phonak", "cold-calls", ""), "mission.error.regime"},
		{"client", create("26", "Sortant", "Phonak France", "b2b", ""), "mission.error.new_invalid"},
		{"the profile of another mission", create("30", "Sortant", "phonak", "b2b", ref), "mission.error.profile"},
	}
	for _, f := range refusals {
		if f.r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(f.r.body, msg(f.key)) {
			t.Errorf("%s: status %d, want 422 with %q", f.name, f.r.StatusCode, msg(f.key))
		}
	}
	wantIn(t, refusals[4].r, "profile for mission 26", shown("the profile is for mission 26, not mission 30"), `value="Sortant"`)
	if ms, _ := s.camp.Missions(context.Background(), campaign.MissionFilter{IncludeArchived: true}); len(ms) != 0 {
		t.Fatalf("refused forms created %d missions", len(ms))
	}

	wantRedirect(t, create("26", "Mission Sortant J+3", "phonak", "b2b", strings.ReplaceAll(ref, "\n", "\r\n")),
		"/missions/26?ok=mission_created", "create mission 26")
	sp, err := s.ingest.ActiveProfile(context.Background(), 26)
	if err != nil || sp.Version != 1 || sp.YAML != ref {
		t.Fatalf("profile of the new mission: %+v, %v", sp, err)
	}
	if r := create("26", "Again", "phonak", "b2b", ""); !strings.Contains(r.body, msg("mission.error.exists")) {
		t.Errorf("a second mission 26: status %d", r.StatusCode)
	}
	wantRedirect(t, create("31", "Enquête", "phonak", "survey", ""), "/missions/31?ok=mission_created", "mission without a profile")
	wantIn(t, c.get("/missions/31"), "mission without a profile", msg("mission.profile.none"))
}
