package web

import (
	"net/http"
	"net/url"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// TestLogoutPutsTheAgentOffline: an agent who signs out with a contact on
// screen leaves the mission, and the contact goes back to the queue at once.
func TestLogoutPutsTheAgentOffline(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s, _ := newFloorStackOn(t, d)
		s.floorMission(t, 26, "")
		s.floorLoad(t, 26, 1)
		alice, _ := s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
		c := s.client(t)
		s.signIn(t, c, "alice", "")
		wantRedirect(t, c.post("/floor", "/floor/presence", url.Values{"mission": {"26"}, "state": {"service"}}),
			"/floor?mission=26&ok=floor_presence", "go in service")
		wantStatus(t, c.post("/floor?mission=26", "/floor/next", url.Values{"mission": {"26"}}), http.StatusOK, "next")
		if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceCall {
			t.Fatalf("presence with a card open: %s, want call", got)
		}

		wantRedirect(t, c.post("/floor", "/logout", url.Values{}), "/login?ok=logged_out", "logout")

		if got := s.floorPresenceOf(t, 26, alice.ID); got != campaign.PresenceOffline {
			t.Fatalf("presence after logout: %s, want offline", got)
		}
		bob, _ := s.floorUser(t, "bob", []auth.Role{auth.RoleAgent}, 26)
		if err := s.camp.SetPresence(s.ctx(), campaign.PresenceChange{Mission: 26, Agent: bob.ID, State: campaign.PresenceService}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.camp.Claim(s.ctx(), 26, bob.ID); err != nil {
			t.Fatalf("the contact alice held is not back in the queue: %v", err)
		}
	})
}
