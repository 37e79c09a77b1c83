package web

import (
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/clocktest"
	"plateau/internal/db"
)

// floorT0 is Monday 23 November 2026, 10:30 in Paris: inside the default
// calling windows, not a holiday. The floor tests run the campaign service
// on a clock of their own set there, so that the calling rules never
// depend on when the tests run.
var floorT0 = time.Date(2026, 11, 23, 10, 30, 0, 0, mustParisZone())

func mustParisZone() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return loc
}

// newFloorStackOn is newStackOn whose campaign service and web server read
// a test clock (returned), set to floorT0. Auth keeps its own clock.
func newFloorStackOn(t testing.TB, d *db.DB) (*stack, *clocktest.Clock) {
	t.Helper()
	return newStackAt(t, d, floorT0)
}

// floorMission creates a b2b mission with the default windows and outcomes.
func (s *stack) floorMission(t testing.TB, number int, script string) campaign.Mission {
	t.Helper()
	m, err := s.camp.CreateMission(s.ctx(), campaign.NewMission{Number: number, Name: fmt.Sprintf("Mission %d", number),
		Client: "acme", Regime: campaign.RegimeB2B, Script: script})
	if err != nil {
		t.Fatalf("CreateMission(%d): %v", number, err)
	}
	return m
}

// floorLoad adds contacts c0..c(n-1) to a mission, each with a distinct
// number and two fields; c0 is the first the queue serves.
func (s *stack) floorLoad(t testing.TB, mission, n int) {
	t.Helper()
	s.floorLoadAs(t, mission, n, "c", campaign.RoutingQueue)
}

// floorLoadAs adds contacts <prefix>0..<prefix>(n-1) with a routing.
func (s *stack) floorLoadAs(t testing.TB, mission, n int, prefix string, routing campaign.Routing) {
	t.Helper()
	offset := 0
	if routing == campaign.RoutingManual {
		offset = 500
	}
	ctx := s.ctx()
	l, err := s.camp.Loader(ctx, mission)
	if err != nil {
		t.Fatalf("Loader: %v", err)
	}
	cs := make([]campaign.NewContact, n)
	for i := range cs {
		cs[i] = campaign.NewContact{
			ContactID: fmt.Sprintf("%s%d", prefix, i),
			Phone:     fmt.Sprintf("+3361%07d", mission*1000+offset+i),
			Routing:   routing,
			PhoneType: "mobile",
			Fields:    map[string]string{"name": fmt.Sprintf("Durand %d", i), "city": "Lyon"},
			Personal:  []string{"name"},
		}
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		got, err := l.Add(ctx, tx, cs)
		if err == nil && got != n {
			err = fmt.Errorf("inserted %d contacts, want %d", got, n)
		}
		return err
	})
	if err != nil {
		t.Fatalf("load contacts: %v", err)
	}
}

// floorUser creates a user assigned to the missions; it returns the user
// and its TOTP secret ("" for an agent).
func (s *stack) floorUser(t testing.TB, login string, roles []auth.Role, missions ...int) (auth.User, string) {
	t.Helper()
	u, secret := s.createUser(t, login, roles...)
	for _, m := range missions {
		if err := s.camp.Assign(s.ctx(), m, u.ID); err != nil {
			t.Fatalf("Assign(%d, %s): %v", m, login, err)
		}
	}
	return u, secret
}

// floorWantText fails unless the page shows the catalogue text of key (French,
// the default language), as html/template escapes it.
func (s *stack) floorWantText(t testing.TB, r result, key string, args ...any) {
	t.Helper()
	want := html.EscapeString(s.srv.cat.text("fr", key, args...))
	if !strings.Contains(r.body, want) {
		t.Fatalf("the page (status %d) lacks %q (%s); body:\n%s", r.StatusCode, want, key, r.body)
	}
}
