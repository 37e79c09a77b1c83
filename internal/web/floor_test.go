package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

func TestFloorIsForAgentsOnly(t *testing.T) {
	s, _ := newFloorStackOn(t, db.OpenTestSQLite(t))
	s.floorMission(t, 26, "")
	_, itSecret := s.floorUser(t, "ines", []auth.Role{auth.RoleIT}, 26)
	it := s.client(t)
	s.signIn(t, it, "ines", itSecret)
	for _, target := range []string{"/floor", "/floor/callback-check?mission=26&contact=c0&at=2026-11-24T10:00"} {
		r := it.get(target)
		wantStatus(t, r, http.StatusForbidden, "GET "+target+" as it")
	}
	r := it.post("/account", "/floor/next", url.Values{"mission": {"26"}})
	wantStatus(t, r, http.StatusForbidden, "POST /floor/next as it")

	// An agent does not watch the live view, and only reaches the
	// missions they are assigned to.
	s.floorMission(t, 27, "")
	s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
	agent := s.client(t)
	s.signIn(t, agent, "alice", "")
	wantStatus(t, agent.get("/live"), http.StatusForbidden, "GET /live as agent")
	wantStatus(t, agent.get("/live/events?mission=26"), http.StatusForbidden, "GET /live/events as agent")
	wantStatus(t, agent.get("/floor"), http.StatusOK, "GET /floor as agent")
	wantStatus(t, agent.get("/floor?mission=27"), http.StatusNotFound, "GET /floor of a mission not assigned")
	r = agent.post("/floor", "/floor/presence", url.Values{"mission": {"27"}, "state": {"service"}})
	wantStatus(t, r, http.StatusForbidden, "presence on a mission not assigned")
}

func TestFloorQualifyWithoutLeaseShowsAnError(t *testing.T) {
	s, _ := newFloorStackOn(t, db.OpenTestSQLite(t))
	s.floorMission(t, 26, "")
	s.floorLoad(t, 26, 3)
	s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
	s.floorUser(t, "bob", []auth.Role{auth.RoleAgent}, 26)
	c := s.client(t)
	s.signIn(t, c, "alice", "")
	wantRedirect(t, c.post("/floor", "/floor/presence", url.Values{"mission": {"26"}, "state": {"service"}}),
		"/floor?mission=26&ok=floor_presence", "go in service")

	// Never claimed: refused, and no card is shown.
	r := c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"c1"}, "outcome": {"repondeur"}})
	wantStatus(t, r, http.StatusConflict, "qualify without a lease")
	s.floorWantText(t, r, "floor.error.not_leased")
	if strings.Contains(r.body, `id="card"`) {
		t.Fatal("a card is shown after a refused qualification of a contact not held")
	}

	// A callback outcome without a time on a contact someone else holds:
	// refused without showing that contact.
	ctx := s.ctx()
	bob, err := s.auth.UserByLogin(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.camp.SetPresence(ctx, campaign.PresenceChange{Mission: 26, Agent: bob.ID, State: campaign.PresenceService}); err != nil {
		t.Fatal(err)
	}
	held, err := s.camp.Claim(ctx, 26, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {held.Contact.ID}, "outcome": {"rappel"}})
	wantStatus(t, r, http.StatusConflict, "callback outcome on another agent's contact")
	if strings.Contains(r.body, "Durand") {
		t.Fatal("another agent's contact was shown")
	}
	if info, err := s.camp.Info(ctx, held.Contact.Ref); err != nil || info.LeaseOwner != bob.ID || info.Attempts != 0 {
		t.Fatalf("bob's contact after alice's attempt: %+v, %v", info, err)
	}
}

// TestFloorClaimQualifyNext is the agent's round on both engines: in
// service, the next contact's card, a qualification that releases it and
// shows the next one at once, and a callback the rules refuse.
func TestFloorClaimQualifyNext(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s, clk := newFloorStackOn(t, d)
		s.floorMission(t, 26, "Bonjour {{ name }}, vous habitez {{city}} ? {{unknown}}")
		s.floorLoad(t, 26, 3)
		alice, _ := s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
		c := s.client(t)
		s.signIn(t, c, "alice", "")

		r := c.get("/floor")
		wantStatus(t, r, http.StatusOK, "GET /floor")
		if !strings.Contains(r.body, `id="mission-26"`) || !strings.Contains(r.body, `id="btn-service"`) {
			t.Fatalf("the floor does not offer mission 26 and going in service:\n%s", r.body)
		}
		// Offline: no next contact.
		r = c.post("/floor", "/floor/next", url.Values{"mission": {"26"}})
		wantStatus(t, r, http.StatusOK, "next while offline")
		s.floorWantText(t, r, "floor.error.not_in_service")

		wantRedirect(t, c.post("/floor", "/floor/presence", url.Values{"mission": {"26"}, "state": {"service"}}),
			"/floor?mission=26&ok=floor_presence", "go in service")
		r = c.post("/floor?mission=26", "/floor/next", url.Values{"mission": {"26"}})
		wantStatus(t, r, http.StatusOK, "next")
		for _, want := range []string{`id="card-id">c0<`, `href="tel:&#43;33610026000"`, "<mark>Durand 0</mark>", "<mark>Lyon</mark>",
			`class="script-missing">{{unknown}}<`, `data-key="1"`, `name="outcome" value="rdv-pris"`, `data-renew="180"`} {
			if !strings.Contains(r.body, want) {
				t.Fatalf("the card lacks %s:\n%s", want, r.body)
			}
		}
		ctx := s.ctx()
		if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceCall {
			t.Fatalf("presence with a card open: %s, want call", got)
		}

		// The lease is renewed while the card is open.
		clk.Advance(4 * time.Minute)
		r = c.post("/floor?mission=26", "/floor/renew", url.Values{"mission": {"26"}, "contact": {"c0"}})
		wantStatus(t, r, http.StatusOK, "renew")
		var renewed struct {
			Renewed    bool   `json:"renewed"`
			LeaseUntil string `json:"lease_until"`
		}
		if err := json.Unmarshal([]byte(r.body), &renewed); err != nil || !renewed.Renewed ||
			renewed.LeaseUntil != clk.Now().Add(campaign.DefaultLease).UTC().Format(time.RFC3339) {
			t.Fatalf("renew answered %s (%v)", r.body, err)
		}
		wantStatus(t, c.post("/floor?mission=26", "/floor/renew", url.Values{"mission": {"26"}, "contact": {"c1"}}),
			http.StatusConflict, "renew a contact not held")

		// A callback on Saturday: outside the windows; the card stays, with
		// what was typed.
		r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"c0"}, "outcome": {"rappel"},
			"comment": {"rappeler samedi"}, "callback_at": {"2026-11-28T10:00"}, "callback_owner": {"me"}})
		wantStatus(t, r, http.StatusUnprocessableEntity, "callback on Saturday")
		s.floorWantText(t, r, "floor.rule.window")
		s.floorWantText(t, r, "floor.rule.next", "2026-11-30 09:00 CET")
		if !strings.Contains(r.body, `id="card-id">c0<`) || !strings.Contains(r.body, ">rappeler samedi</textarea>") ||
			!strings.Contains(r.body, `value="2026-11-28T10:00"`) {
			t.Fatalf("the card or the typed values are gone after the refusal:\n%s", r.body)
		}
		// A callback outcome needs a time.
		r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"c0"}, "outcome": {"rappel"}})
		wantStatus(t, r, http.StatusUnprocessableEntity, "callback without a time")
		s.floorWantText(t, r, "floor.error.callback_required")

		// Qualified: released, counted, and the next contact comes at once.
		r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"c0"}, "outcome": {"repondeur"},
			"comment": {"messagerie"}})
		wantStatus(t, r, http.StatusOK, "qualify")
		s.floorWantText(t, r, "floor.qualified", "Répondeur")
		if !strings.Contains(r.body, `id="card-id">c1<`) {
			t.Fatalf("the next contact is not offered:\n%s", r.body)
		}
		info, err := s.camp.Info(ctx, campaign.Ref{Mission: 26, ID: "c0"})
		if err != nil || info.Attempts != 1 || info.LeaseOwner != 0 || info.LastOutcome != "repondeur" {
			t.Fatalf("c0 after qualification: %+v, %v", info, err)
		}

		// A callback at an allowed time, then a closing outcome for c2.
		r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"c1"}, "outcome": {"rappel"},
			"callback_at": {"2026-11-24T11:00"}, "callback_owner": {"me"}})
		wantStatus(t, r, http.StatusOK, "callback tomorrow")
		if !strings.Contains(r.body, `id="card-id">c2<`) {
			t.Fatalf("the next contact after a callback is not c2:\n%s", r.body)
		}
		info, err = s.camp.Info(ctx, campaign.Ref{Mission: 26, ID: "c1"})
		want := time.Date(2026, 11, 24, 11, 0, 0, 0, floorT0.Location())
		if err != nil || !info.CallbackAt.Equal(want) || info.CallbackOwner != alice.ID {
			t.Fatalf("c1's callback: %+v, %v", info, err)
		}
		r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"c2"}, "outcome": {"rdv-pris"}})
		wantStatus(t, r, http.StatusOK, "close c2")
		s.floorWantText(t, r, "floor.nothing")
		if strings.Contains(r.body, `id="card"`) {
			t.Fatalf("a card is shown although nothing is due:\n%s", r.body)
		}
		if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceService {
			t.Fatalf("presence with nothing to call: %s, want S", got)
		}

		// The next day c0 comes back with its history and comment.
		clk.Advance(time.Date(2026, 11, 24, 10, 0, 0, 0, floorT0.Location()).Sub(clk.Now()))
		r = c.post("/floor?mission=26", "/floor/next", url.Values{"mission": {"26"}})
		wantStatus(t, r, http.StatusOK, "next the day after")
		if !strings.Contains(r.body, `id="card-id">c0<`) || !strings.Contains(r.body, "messagerie") || !strings.Contains(r.body, "Test alice") {
			t.Fatalf("c0 comes back without its history:\n%s", r.body)
		}

		// Pause and offline.
		wantRedirect(t, c.post("/floor?mission=26", "/floor/presence", url.Values{"mission": {"26"}, "state": {"pause"}, "pause_code": {"formation"}}),
			"/floor?mission=26&ok=floor_presence", "pause")
		if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresencePause {
			t.Fatalf("presence after pause: %s", got)
		}
		r = c.post("/floor?mission=26", "/floor/presence", url.Values{"mission": {"26"}, "state": {"pause"}, "pause_code": {"nope"}})
		wantStatus(t, r, http.StatusUnprocessableEntity, "unknown pause code")
		wantRedirect(t, c.post("/floor", "/floor/offline", nil), "/floor?ok=floor_offline", "offline")
		if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceOffline {
			t.Fatalf("presence after going offline: %s", got)
		}
		if info, err := s.camp.Info(ctx, campaign.Ref{Mission: 26, ID: "c0"}); err != nil || info.LeaseOwner != 0 {
			t.Fatalf("c0 still leased after going offline: %+v, %v", info, err)
		}

		// Every card shown was an audited read.
		reads, err := s.audit.List(ctx, audit.Filter{Action: "contact.read", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(reads) < 5 {
			t.Fatalf("%d contact.read audit events, want at least one per card shown (5)", len(reads))
		}
	})
}

func TestFloorCallbackCheck(t *testing.T) {
	s, _ := newFloorStackOn(t, db.OpenTestSQLite(t))
	s.floorMission(t, 26, "")
	s.floorLoad(t, 26, 1)
	s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
	c := s.client(t)
	s.signIn(t, c, "alice", "")
	for _, tc := range []struct {
		at       string
		callable bool
	}{
		{"2026-11-24T11:00", true},
		{"2026-11-28T11:00", false}, // Saturday
		{"2026-12-25T11:00", false}, // Christmas
		{"nonsense", false},
	} {
		r := c.get("/floor/callback-check?mission=26&contact=c0&at=" + url.QueryEscape(tc.at))
		wantStatus(t, r, http.StatusOK, "check "+tc.at)
		var v struct {
			Callable bool   `json:"callable"`
			Message  string `json:"message"`
		}
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatal(err)
		}
		if v.Callable != tc.callable || (!v.Callable && v.Message == "") {
			t.Errorf("check %s: %+v, want callable %v", tc.at, v, tc.callable)
		}
	}
}

func TestFillScript(t *testing.T) {
	values := map[string]string{"name": "Durand", "city": "Lyon <3"}
	get := func(n string) (string, bool) { v, ok := values[n]; return v, ok }
	for _, tc := range []struct {
		script string
		want   []floorScriptPart
	}{
		{"Bonjour", []floorScriptPart{{Text: "Bonjour"}}},
		{"Bonjour {{name}} de {{ city }}.", []floorScriptPart{{Text: "Bonjour "}, {Text: "Durand", Field: true},
			{Text: " de "}, {Text: "Lyon <3", Field: true}, {Text: "."}}},
		{"{{x}}{{name}}", []floorScriptPart{{Text: "{{x}}", Missing: true}, {Text: "Durand", Field: true}}},
		{"open {{name", []floorScriptPart{{Text: "open {{name"}}},
	} {
		got := floorFillScript(tc.script, get)
		if len(got) != len(tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.script, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: part %d %+v, want %+v", tc.script, i, got[i], tc.want[i])
			}
		}
	}
}

// floorPresenceOf is an agent's state on a mission.
func (s *stack) floorPresenceOf(t testing.TB, mission int, agent int64) campaign.PresenceState {
	t.Helper()
	ps, err := s.camp.AgentPresences(s.ctx(), agent)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Mission == mission {
			return p.State
		}
	}
	return campaign.PresenceOffline
}

// TestFloorManualDiallingAndWrapUp: the manual-dialling list has its own
// button and stays on it after a qualification; "call ended" (the page's
// script) moves the agent to wrap-up and answers without a page.
func TestFloorManualDiallingAndWrapUp(t *testing.T) {
	s, _ := newFloorStackOn(t, db.OpenTestSQLite(t))
	s.floorMission(t, 26, "")
	s.floorLoad(t, 26, 1)
	s.floorLoadAs(t, 26, 2, "m", campaign.RoutingManual)
	alice, _ := s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
	c := s.client(t)
	s.signIn(t, c, "alice", "")
	wantRedirect(t, c.post("/floor", "/floor/presence", url.Values{"mission": {"26"}, "state": {"service"}}),
		"/floor?mission=26&ok=floor_presence", "go in service")

	r := c.post("/floor?mission=26", "/floor/next", url.Values{"mission": {"26"}, "manual": {"1"}})
	wantStatus(t, r, http.StatusOK, "next manual")
	if !strings.Contains(r.body, `id="card-id">m0<`) || !strings.Contains(r.body, `name="manual" value="1"`) {
		t.Fatalf("the manual card is not m0 or does not stay on the manual list:\n%s", r.body)
	}

	c.header.Set("Accept", "application/json")
	r = c.post("/floor?mission=26", "/floor/presence", url.Values{"mission": {"26"}, "state": {"wrapup"}})
	c.header.Del("Accept")
	wantStatus(t, r, http.StatusNoContent, "call ended")
	if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceWrapUp {
		t.Fatalf("presence after the call ended: %s, want wrapup", got)
	}

	r = c.post("/floor?mission=26", "/floor/qualify", url.Values{"mission": {"26"}, "contact": {"m0"}, "outcome": {"faux-numero"},
		"manual": {"1"}})
	wantStatus(t, r, http.StatusOK, "qualify manual")
	if !strings.Contains(r.body, `id="card-id">m1<`) {
		t.Fatalf("the next manual contact is not offered:\n%s", r.body)
	}
	if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceCall {
		t.Fatalf("presence with the next card: %s, want call", got)
	}
}
