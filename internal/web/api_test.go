package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

func TestAPIAuthenticatesAndAuthorises(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		agent := e.apiUser("agent1", auth.RoleAgent)
		other := e.apiUser("agent2", auth.RoleAgent)
		sup := e.apiUser("sup1", auth.RoleSupervisor)
		e.apiMission(31, "acme", campaign.RegimeB2B, "", "agent1")

		r := e.call(http.MethodGet, "/api/v1/missions", "", nil)
		r.wantError(t, http.StatusUnauthorized, "unauthorized", "no token")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate: %v", r.header)
		}
		e.call(http.MethodPost, "/api/v1/missions/31/next", "", nil).wantError(t, http.StatusUnauthorized, "unauthorized", "claim without token")
		e.call(http.MethodGet, "/api/v1/missions", "plt_not-a-token", nil).wantError(t, http.StatusUnauthorized, "unauthorized", "unknown token")

		// Roles.
		e.call(http.MethodPatch, "/api/v1/missions/31", agent, map[string]any{"max_attempts": 3}).
			wantError(t, http.StatusForbidden, "forbidden", "agent changes a mission")
		e.call(http.MethodGet, "/api/v1/missions/31/stats", agent, nil).wantError(t, http.StatusForbidden, "forbidden", "agent reads stats")
		e.call(http.MethodPost, "/api/v1/missions/31/next", sup, nil).wantError(t, http.StatusForbidden, "forbidden", "supervisor without the agent role claims")
		e.call(http.MethodPost, "/api/v1/missions/31/contacts", sup, []any{apiLeadItem(1, nil)}).
			wantError(t, http.StatusForbidden, "forbidden", "supervisor loads contacts")
		e.call(http.MethodPost, "/api/v1/clients/acme/opposition", agent, "0612345678\n").
			wantError(t, http.StatusForbidden, "forbidden", "agent loads an opposition list")

		// Missions an agent is not assigned to do not exist for them.
		var list struct {
			Missions []campaign.Mission `json:"missions"`
		}
		e.call(http.MethodGet, "/api/v1/missions", other, nil).want(t, http.StatusOK, "missions of agent2", &list)
		if len(list.Missions) != 0 {
			t.Errorf("agent2 sees %d missions, want none", len(list.Missions))
		}
		e.call(http.MethodGet, "/api/v1/missions/31", other, nil).wantError(t, http.StatusForbidden, "not_member", "agent2 reads mission 31")
		e.call(http.MethodPost, "/api/v1/missions/31/presence", other, map[string]string{"state": "S"}).
			wantError(t, http.StatusForbidden, "not_member", "agent2 goes in service")
		e.call(http.MethodPost, "/api/v1/missions/31/next", other, nil).wantError(t, http.StatusForbidden, "not_member", "agent2 claims")
		e.call(http.MethodGet, "/api/v1/missions", agent, nil).want(t, http.StatusOK, "missions of agent1", &list)
		if len(list.Missions) != 1 || list.Missions[0].Number != 31 {
			t.Errorf("agent1 sees %+v, want mission 31", list.Missions)
		}

		// Malformed requests and unknown endpoints answer in JSON.
		e.call(http.MethodGet, "/api/v1/nothing", agent, nil).wantError(t, http.StatusNotFound, "not_found", "unknown endpoint")
		e.call(http.MethodGet, "/api/v1/missions/abc", agent, nil).wantError(t, http.StatusNotFound, "not_found", "malformed number")
		e.call(http.MethodPost, "/api/v1/missions/31/presence", agent, `{"state": "S", "mood": "good"}`).
			wantError(t, http.StatusBadRequest, "bad_request", "unknown member")
		e.call(http.MethodPost, "/api/v1/missions/31/presence", agent, `{"state": `).wantError(t, http.StatusBadRequest, "bad_request", "broken JSON")
		e.call(http.MethodPost, "/api/v1/missions/31/next", agent, nil).wantError(t, http.StatusConflict, "not_in_service", "claim while offline")
		big := `{"state": "S", "site": "` + strings.Repeat("x", apiJSONLimit) + `"}`
		e.call(http.MethodPost, "/api/v1/missions/31/presence", agent, big).wantError(t, http.StatusRequestEntityTooLarge, "too_large", "huge body")

		// A revoked token is refused.
		toks, err := e.auth.Tokens(e.ctx(), e.users["agent2"].ID)
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens of agent2: %v %v", toks, err)
		}
		if err := e.auth.RevokeToken(e.ctx(), toks[0].ID); err != nil {
			t.Fatal(err)
		}
		// The API trusts a token it authenticated for apiTokenTTL.
		e.call(http.MethodGet, "/api/v1/missions", other, nil).want(t, http.StatusOK, "revoked token within the TTL", nil)
		e.clock.Advance(apiTokenTTL)
		e.call(http.MethodGet, "/api/v1/missions", other, nil).wantError(t, http.StatusUnauthorized, "unauthorized", "revoked token")
	})
}

func TestAPIBrowserSessionNeedsTheCSRFHeader(t *testing.T) {
	e := newAPIEnv(t, db.OpenTestSQLite(t))
	e.apiUser("agent1", auth.RoleAgent)
	e.apiMission(32, "acme", campaign.RegimeB2B, "", "agent1")
	c := e.client(t)
	e.signIn(t, c, "agent1", "")
	cookie := http.Header{"Cookie": {sessionCookie + "=" + c.cookies[sessionCookie]}}

	r := apiDo(t, e.srv, http.MethodGet, "/api/v1/missions/32", "", nil, cookie)
	r.want(t, http.StatusOK, "read with the session", nil)
	r = apiDo(t, e.srv, http.MethodPost, "/api/v1/missions/32/presence", "", `{"state": "S"}`, cookie)
	r.wantError(t, http.StatusForbidden, "csrf", "POST without the CSRF header")
	token := csrfOf(c.get("/account").body)
	if token == "" {
		t.Fatal("no CSRF token on the account page")
	}
	withToken := http.Header{"Cookie": cookie["Cookie"]}
	withToken.Set(apiCSRFHeader, token)
	r = apiDo(t, e.srv, http.MethodPost, "/api/v1/missions/32/presence", "", `{"state": "S"}`, withToken)
	r.want(t, http.StatusOK, "POST with the CSRF header", nil)
}

func TestAPIClaimQualifyAndLeases(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		a1 := e.apiUser("agent1", auth.RoleAgent)
		a2 := e.apiUser("agent2", auth.RoleAgent)
		it := e.apiUser("it1", auth.RoleIT)
		sup := e.apiUser("sup1", auth.RoleSupervisor)
		e.apiMission(33, "acme", campaign.RegimeB2B, "", "agent1", "agent2")
		ids := e.loadLeads(33, 2, it)
		e.inService(33, "agent1")
		e.inService(33, "agent2")

		// The mission, its settings and its outcome codes.
		var m map[string]any
		e.call(http.MethodGet, "/api/v1/missions/33", a1, nil).want(t, http.StatusOK, "mission", &m)
		outcomes, _ := m["outcomes"].([]any)
		if m["windows"] != "mon-sun 00:00-24:00" || len(outcomes) == 0 {
			t.Fatalf("mission %v", m)
		}
		first, _ := outcomes[0].(map[string]any)
		for _, k := range []string{"code", "label", "closes", "counts_attempt", "retry_after", "refusal", "callback"} {
			if _, ok := first[k]; !ok {
				t.Errorf("outcome %v lacks %q", first, k)
			}
		}

		var c1, c2 map[string]any
		e.call(http.MethodPost, "/api/v1/missions/33/next", a1, nil).want(t, http.StatusOK, "agent1 claims", &c1)
		e.call(http.MethodPost, "/api/v1/missions/33/next", a2, nil).want(t, http.StatusOK, "agent2 claims", &c2)
		if c1["id"] != ids[0] || c2["id"] != ids[1] {
			t.Fatalf("claimed %v and %v, want %v in order", c1["id"], c2["id"], ids)
		}
		fields, _ := c1["fields"].(map[string]any)
		if c1["mission"] != float64(33) || c1["phone"] != "+33145670001" || c1["attempts"] != float64(0) ||
			c1["state"] != "open" || fields["surname"] != "Durand 1" || c1["lease_until"] == nil || c1["history"] == nil {
			t.Fatalf("contact JSON %v", c1)
		}
		// Nothing else is callable: 204 for a third claim by a new agent.
		e.apiUser("agent3", auth.RoleAgent)
		if err := e.camp.Assign(e.ctx(), 33, e.users["agent3"].ID); err != nil {
			t.Fatal(err)
		}
		e.inService(33, "agent3")
		r := e.call(http.MethodPost, "/api/v1/missions/33/next", e.tokens["agent3"], nil)
		r.want(t, http.StatusNoContent, "claim with nothing left", nil)
		if len(r.body) != 0 {
			t.Errorf("204 with a body: %s", r.body)
		}

		// Only the holder qualifies.
		outcome := func(token, id string, body any) apiResult {
			return e.call(http.MethodPost, "/api/v1/contacts/"+id+"/outcome", token, body)
		}
		outcome(a2, ids[0], map[string]string{"code": "rdv-pris"}).wantError(t, http.StatusConflict, "not_leased", "agent2 qualifies agent1's contact")
		outcome(a1, ids[0], map[string]string{"code": "nope"}).wantError(t, http.StatusUnprocessableEntity, "unknown_outcome", "unknown code")
		outcome(a1, ids[0], map[string]string{"code": "rappel"}).wantError(t, http.StatusUnprocessableEntity, "callback_required", "callback without time")
		outcome(a1, "no-such-contact", map[string]string{"code": "rdv-pris"}).wantError(t, http.StatusNotFound, "not_found", "unknown contact")
		var q map[string]any
		outcome(a1, ids[0], map[string]string{"code": "rdv-pris", "comment": "RDV mardi"}).want(t, http.StatusOK, "agent1 qualifies", &q)
		if q["state"] != "closed" || q["attempts"] != float64(1) || q["close_reason"] != "outcome" {
			t.Fatalf("after a closing outcome: %v", q)
		}
		outcome(a1, ids[0], map[string]string{"code": "rdv-pris"}).wantError(t, http.StatusConflict, "closed", "qualify a closed file")
		var why apiWhy
		e.call(http.MethodGet, "/api/v1/contacts/"+ids[0]+"/why", sup, nil).want(t, http.StatusOK, "why closed", &why)
		if why.Callable || why.Rule != campaign.RuleClosed {
			t.Errorf("why of a closed file: %+v", why)
		}
		e.call(http.MethodPost, "/api/v1/missions/33/next", a1, nil).want(t, http.StatusNoContent, "the closed file is not served again", nil)

		// Leases: renew, release, and the contact goes to another agent.
		e.call(http.MethodPost, "/api/v1/contacts/"+ids[1]+"/renew", a1, nil).wantError(t, http.StatusConflict, "not_leased", "renew another's lease")
		var renewed map[string]any
		e.call(http.MethodPost, "/api/v1/contacts/"+ids[1]+"/renew?mission=33", a2, nil).want(t, http.StatusOK, "renew", &renewed)
		if renewed["lease_until"] == "" || renewed["lease_until"] == nil {
			t.Errorf("renew: %v", renewed)
		}
		e.call(http.MethodGet, "/api/v1/contacts/"+ids[1]+"/why", sup, nil).want(t, http.StatusOK, "why leased", &why)
		if why.Callable || why.Rule != campaign.RuleLeased {
			t.Errorf("why of a leased file: %+v", why)
		}
		e.call(http.MethodPost, "/api/v1/contacts/"+ids[1]+"/release", a2, nil).want(t, http.StatusNoContent, "release", nil)
		var c3 map[string]any
		e.call(http.MethodPost, "/api/v1/missions/33/next", a1, nil).want(t, http.StatusOK, "claim the released contact", &c3)
		if c3["id"] != ids[1] {
			t.Errorf("claimed %v after the release, want %s", c3["id"], ids[1])
		}

		// A callback at a forbidden time is refused with the rule.
		if _, err := e.camp.UpdateMission(e.ctx(), 33, campaign.MissionUpdate{Windows: ptr("mon-fri 09:00-20:00")}); err != nil {
			t.Fatal(err)
		}
		sunday := nextWeekday(time.Now(), time.Sunday).Add(12 * time.Hour)
		m2 := outcome(a1, ids[1], map[string]string{"code": "rappel", "callback_at": sunday.Format(time.RFC3339)}).
			wantError(t, http.StatusUnprocessableEntity, "rule", "callback on a Sunday")
		if m2["rule"] != string(campaign.RuleWindow) || m2["next"] == nil {
			t.Errorf("refused callback: %v", m2)
		}
		monday := sunday.Add(24 * time.Hour)
		outcome(a1, ids[1], map[string]string{"code": "rappel", "callback_at": monday.Format(time.RFC3339), "callback_owner": "me"}).
			want(t, http.StatusOK, "callback on a Monday", &q)
		if q["state"] != "open" || q["callback_at"] == nil {
			t.Errorf("after a callback: %v", q)
		}

		// Supervisors read the figures and change the settings.
		var st campaign.MissionStats
		e.call(http.MethodGet, "/api/v1/missions/33/stats", sup, nil).want(t, http.StatusOK, "stats", &st)
		if st.Total != 2 || st.Closed != 1 || st.ClosedByOutcome["rdv-pris"] != 1 || st.Open != 1 {
			t.Errorf("stats %+v", st)
		}
		var after campaign.Mission
		e.call(http.MethodPatch, "/api/v1/missions/33", sup, map[string]any{
			"windows": "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00", "holidays": "closed",
			"timezone": "Europe/Paris", "max_attempts": 3,
		}).want(t, http.StatusOK, "update the mission", &after)
		if after.MaxAttempts != 3 || after.HolidaysOpen || after.Windows.String() != "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00" {
			t.Errorf("after the update: %+v (windows %q)", after, after.Windows.String())
		}
		e.call(http.MethodPatch, "/api/v1/missions/33", sup, map[string]any{"windows": "someday"}).
			wantError(t, http.StatusUnprocessableEntity, "invalid", "bad windows")
		e.call(http.MethodPatch, "/api/v1/missions/33", sup, map[string]any{"max_attempts": 0}).
			wantError(t, http.StatusUnprocessableEntity, "invalid", "zero attempts")
		e.call(http.MethodPatch, "/api/v1/missions/999", sup, map[string]any{"max_attempts": 2}).
			wantError(t, http.StatusNotFound, "not_found", "unknown mission")

		// A mission that may not be served now answers 204 with the rule.
		paris, _ := time.LoadLocation("Europe/Paris")
		tomorrow := strings.ToLower(time.Now().In(paris).AddDate(0, 0, 1).Weekday().String()[:3])
		e.call(http.MethodPatch, "/api/v1/missions/33", sup, map[string]any{"windows": tomorrow + " 09:00-10:00"}).
			want(t, http.StatusOK, "windows of tomorrow only", nil)
		r = e.call(http.MethodPost, "/api/v1/missions/33/next", e.tokens["agent3"], nil)
		r.want(t, http.StatusNoContent, "claim outside the windows", nil)
		if r.header.Get("Plateau-Rule") != string(campaign.RuleWindow) || r.header.Get("Plateau-Next") == "" || r.header.Get("Retry-After") == "" {
			t.Errorf("204 outside the windows without the rule: %v", r.header)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// nextWeekday returns midnight UTC of the next day d strictly after t.
func nextWeekday(t time.Time, d time.Weekday) time.Time {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	for t.Weekday() != d {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

// isHoliday says whether the day of t (UTC) is a French public holiday.
func isHoliday(t time.Time) bool { return campaign.Holiday(t.Year(), t.Month(), t.Day()) != "" }

func TestAPIWhyGivesTheLegalRule(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		it := e.apiUser("it1", auth.RoleIT)
		sup := e.apiUser("sup1", auth.RoleSupervisor)
		e.apiMission(34, "conso", campaign.RegimeConsumer, "mon-sun 08:00-21:00")
		ids := e.loadLeads(34, 1, it)
		var res map[string]any
		e.call(http.MethodPost, "/api/v1/clients/conso/opposition", sup, "# nobody yet\n").want(t, http.StatusOK, "opposition check", &res)

		why := func(at string) apiWhy {
			t.Helper()
			var w apiWhy
			e.call(http.MethodGet, "/api/v1/contacts/"+ids[0]+"/why?at="+url.QueryEscape(at), sup, nil).want(t, http.StatusOK, "why at "+at, &w)
			return w
		}
		// A Monday that is a working day, the next one too.
		monday := nextWeekday(time.Now(), time.Monday)
		for isHoliday(monday) || isHoliday(monday.AddDate(0, 0, 7)) {
			monday = monday.AddDate(0, 0, 7)
		}
		// The last public holiday on a weekday, in the past (an opposition
		// list checked now was not stale then).
		holiday := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
		for !isHoliday(holiday) || holiday.Weekday() == time.Saturday || holiday.Weekday() == time.Sunday {
			holiday = holiday.AddDate(0, 0, -1)
		}
		consentAt := time.Now().AddDate(-2, 0, 0).UTC().Format(time.RFC3339)
		paris, _ := time.LoadLocation("Europe/Paris")
		at := func(day time.Time, hh, mm int) string {
			return time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, paris).Format(time.RFC3339)
		}
		if w := why(at(monday, 10, 30)); w.Callable || w.Rule != campaign.RuleConsent || w.Next != "" {
			t.Errorf("without consent: %+v", w)
		}
		e.call(http.MethodPost, "/api/v1/contacts/"+ids[0]+"/consent", sup, map[string]string{"at": consentAt}).
			wantError(t, http.StatusUnprocessableEntity, "invalid", "consent without source")
		e.call(http.MethodPost, "/api/v1/contacts/"+ids[0]+"/consent", it,
			map[string]string{"at": consentAt, "source": "web form", "text": "J'accepte d'être appelé."}).
			want(t, http.StatusOK, "consent", nil)
		if w := why(at(monday, 10, 30)); !w.Callable {
			t.Errorf("Monday 10:30 with consent: %+v", w)
		}
		cases := []struct {
			at   string
			rule campaign.Rule
			next string
		}{
			{at(monday, 9, 59), campaign.RuleLegalHours, at(monday, 10, 0)},
			{at(monday, 13, 30), campaign.RuleLegalHours, at(monday, 14, 0)},
			{at(monday.AddDate(0, 0, 5), 11, 0), campaign.RuleLegalHours, at(monday.AddDate(0, 0, 7), 10, 0)}, // Saturday
			// In the past: the contact was not loaded yet, so when it becomes
			// callable is not the day after; only the rule is checked.
			{at(holiday, 11, 0), campaign.RuleLegalHoliday, ""},
		}
		for _, c := range cases {
			w := why(c.at)
			next, _ := time.Parse(time.RFC3339, w.Next)
			want, _ := time.Parse(time.RFC3339, c.next)
			if w.Callable || w.Rule != c.rule || (c.next != "" && !next.Equal(want)) || w.Message == "" || w.Next == "" {
				t.Errorf("why at %s: %+v, want rule %s until %s", c.at, w, c.rule, c.next)
			}
		}
		e.call(http.MethodGet, "/api/v1/contacts/"+ids[0]+"/why?at=tomorrow", sup, nil).wantError(t, http.StatusBadRequest, "bad_request", "bad time")
	})
}

func TestAPIOppositionListedNumberIsNeverClaimed(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		agent := e.apiUser("agent1", auth.RoleAgent)
		it := e.apiUser("it1", auth.RoleIT)
		sup := e.apiUser("sup1", auth.RoleSupervisor)
		e.apiMission(35, "acme", campaign.RegimeB2B, "", "agent1")
		ids := e.loadLeads(35, 2, it)

		var res struct {
			Numbers  int                    `json:"numbers"`
			Added    int                    `json:"added"`
			Entries  int                    `json:"entries"`
			Problems []campaign.LineProblem `json:"problems"`
		}
		// The first lead's dialled number, as people write it, and a line
		// that is not a number.
		e.call(http.MethodPost, "/api/v1/clients/acme/opposition", sup, "01 45 67 00 01\nnot a number\n\n").
			want(t, http.StatusOK, "opposition list", &res)
		if res.Numbers != 1 || res.Added != 1 || res.Entries != 1 || len(res.Problems) != 1 || res.Problems[0].Line != 2 {
			t.Fatalf("opposition answer %+v", res)
		}
		e.call(http.MethodPost, "/api/v1/clients/Not-A-Client/opposition", sup, "0145670001\n").
			wantError(t, http.StatusUnprocessableEntity, "invalid", "bad client key")

		e.inService(35, "agent1")
		var c map[string]any
		e.call(http.MethodPost, "/api/v1/missions/35/next", agent, nil).want(t, http.StatusOK, "claim", &c)
		if c["id"] != ids[1] {
			t.Fatalf("claimed %v, want %s (the other is opposed)", c["id"], ids[1])
		}
		e.call(http.MethodPost, "/api/v1/contacts/"+ids[1]+"/outcome", agent, map[string]string{"code": "faux-numero"}).
			want(t, http.StatusOK, "qualify", nil)
		e.call(http.MethodPost, "/api/v1/missions/35/next", agent, nil).want(t, http.StatusNoContent, "only the opposed number is left", nil)
		var why apiWhy
		e.call(http.MethodGet, "/api/v1/contacts/"+ids[0]+"/why", sup, nil).want(t, http.StatusOK, "why", &why)
		if why.Callable || why.Rule != campaign.RuleOpposition {
			t.Errorf("why of the opposed number: %+v", why)
		}
	})
}

func TestAPIContactsLoadAnswersPerItemOnce(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		it := e.apiUser("it1", auth.RoleIT)
		sup := e.apiUser("sup1", auth.RoleSupervisor)
		e.apiMission(36, "acme", campaign.RegimeB2B, "")
		items := []map[string]any{
			apiLeadItem(1, nil),
			apiLeadItem(2, map[string]any{"hcp_phone_number": "12"}), // invalid dialled number
			apiLeadItem(1, nil), // duplicate of item 0
			apiLeadItem(3, map[string]any{"hcp_phone_number": nil}),       // required and empty
			apiLeadItem(4, map[string]any{"hcp_erp_number": 12345}),       // a number is its JSON text
			apiLeadItem(5, map[string]any{"hcp_address": "1; rue \"A\""}), // needs quoting in the file
		}
		path := "/api/v1/missions/36/contacts"
		var ans apiLoadAnswer
		e.call(http.MethodPost, path, it, items).want(t, http.StatusCreated, "load", &ans)
		if ans.Batch == 0 || ans.AlreadyLoaded || ans.Received != 6 || ans.Loaded != 3 || ans.Quarantined != 3 || ans.Duplicates != 1 {
			t.Fatalf("answer %+v", ans)
		}
		want := []string{"loaded", "quarantined", "duplicate", "quarantined", "loaded", "loaded"}
		if len(ans.Items) != len(want) {
			t.Fatalf("items %+v", ans.Items)
		}
		for i, w := range want {
			got := ans.Items[i]
			if got.Index != i || got.Status != w || (w == "loaded") != (got.ID != "") || (w != "loaded") != (got.Reason != "") {
				t.Errorf("item %d: %+v, want %s", i, got, w)
			}
		}
		card, err := e.camp.Contact(e.ctx(), campaign.Ref{Mission: 36, ID: ans.Items[5].ID})
		if err != nil || card.Fields["hcp_address"] != `1; rue "A"` || card.Phone != "+33145670005" {
			t.Errorf("loaded item 5: %v %v", card.Fields, err)
		}
		card, err = e.camp.Contact(e.ctx(), campaign.Ref{Mission: 36, ID: ans.Items[4].ID})
		if err != nil || card.Fields["hcp_erp_number"] != "12345" {
			t.Errorf("loaded item 4: %v %v", card.Fields, err)
		}

		// The same array again loads nothing and says so.
		var again apiLoadAnswer
		e.call(http.MethodPost, path, it, items).want(t, http.StatusOK, "load again", &again)
		if !again.AlreadyLoaded || again.Batch != ans.Batch || !strings.Contains(again.Message, fmt.Sprint(ans.Batch)) ||
			len(again.Items) != 6 || again.Items[0].ID != ans.Items[0].ID {
			t.Fatalf("second load %+v", again)
		}
		var st campaign.MissionStats
		e.call(http.MethodGet, "/api/v1/missions/36/stats", sup, nil).want(t, http.StatusOK, "stats", &st)
		if st.Total != 3 {
			t.Errorf("%d contacts after loading twice, want 3", st.Total)
		}
		b, err := e.ingest.Batch(e.ctx(), ans.Batch)
		if err != nil || b.Source != "api" {
			t.Errorf("batch %+v %v", b, err)
		}

		// Whole-request refusals.
		m := e.call(http.MethodPost, path, it, []map[string]any{apiLeadItem(7, nil), apiLeadItem(8, map[string]any{"age": "3"})}).
			wantError(t, http.StatusUnprocessableEntity, "invalid_item", "unknown key")
		if m["index"] != float64(1) || m["key"] != "age" {
			t.Errorf("unknown key answer %v", m)
		}
		e.call(http.MethodPost, path, it, []map[string]any{apiLeadItem(7, map[string]any{"name": []string{"x"}})}).
			wantError(t, http.StatusUnprocessableEntity, "invalid_item", "array value")
		e.call(http.MethodPost, path, it, "[]").wantError(t, http.StatusUnprocessableEntity, "invalid", "empty array")
		e.call(http.MethodPost, path, it, `{"name": "x"}`).wantError(t, http.StatusBadRequest, "bad_request", "an object, not an array")
		e.call(http.MethodPost, "/api/v1/missions/999/contacts", it, items).wantError(t, http.StatusNotFound, "not_found", "unknown mission")
	})
}
