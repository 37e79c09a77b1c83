package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// liveTicks is a hub clock the test drives.
type liveTicks struct {
	c       chan time.Time
	stopped atomic.Int32
}

func (m *liveTicks) tick() (<-chan time.Time, func()) {
	return m.c, func() { m.stopped.Add(1) }
}

// liveReceive waits for a snapshot; the deadline only guards against a hang.
func liveReceive(t *testing.T, ch <-chan []byte, what string) []byte {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no snapshot", what)
		return nil
	}
}

// TestLiveHubComputesOncePerIntervalForAllViewers: whatever the number of
// viewers of a mission, each interval costs one computation, whose bytes
// every viewer receives; the hub stops with its last viewer.
func TestLiveHubComputesOncePerIntervalForAllViewers(t *testing.T) {
	var computed atomic.Int32
	compute := func(_ context.Context, mission int) ([]byte, error) {
		n := computed.Add(1)
		return []byte(`{"mission":` + string(rune('0'+mission)) + `,"n":` + string(rune('0'+n)) + `}`), nil
	}
	ticks := &liveTicks{c: make(chan time.Time)}
	hubs := newLiveHubs(compute, time.Hour, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	hubs.tick = ticks.tick

	const viewers = 50
	chans := make([]<-chan []byte, viewers)
	stops := make([]func(), viewers)
	for i := range viewers {
		chans[i], stops[i] = hubs.subscribe(7)
	}
	// sameBytes checks that every viewer got the one computation: the
	// same backing array, not merely equal text.
	sameBytes := func(round int, got [][]byte) {
		t.Helper()
		want := `"n":` + string(rune('0'+round))
		for i, b := range got {
			if !strings.Contains(string(b), want) {
				t.Fatalf("round %d: viewer %d got %s", round, i, b)
			}
			if &b[0] != &got[0][0] {
				t.Fatalf("round %d: viewer %d got a copy, not the shared snapshot", round, i)
			}
		}
	}
	got := make([][]byte, viewers)
	for i, ch := range chans {
		got[i] = liveReceive(t, ch, "first snapshot")
	}
	sameBytes(1, got)
	for round := 2; round <= 4; round++ {
		ticks.c <- time.Time{} // taken once the previous computation is over
		for i, ch := range chans {
			got[i] = liveReceive(t, ch, "snapshot after a tick")
		}
		sameBytes(round, got)
	}
	if n := computed.Load(); n != 4 {
		t.Fatalf("%d computations for %d viewers over 4 intervals, want 4", n, viewers)
	}

	// A second mission has a hub of its own.
	other, stopOther := hubs.subscribe(8)
	if b := liveReceive(t, other, "mission 8"); !strings.Contains(string(b), `"mission":8`) {
		t.Fatalf("mission 8 got %s", b)
	}
	if hubs.watched() != 2 {
		t.Fatalf("%d hubs running, want 2", hubs.watched())
	}
	stopOther()
	for _, stop := range stops {
		stop()
		stop() // twice is harmless
	}
	if hubs.watched() != 0 {
		t.Fatalf("%d hubs still running after every viewer left", hubs.watched())
	}
}

// TestLiveHubSlowViewerGetsTheNewest: a viewer that does not read keeps
// only the newest snapshot, and never blocks the others.
func TestLiveHubSlowViewerGetsTheNewest(t *testing.T) {
	var computed atomic.Int32
	compute := func(context.Context, int) ([]byte, error) {
		return []byte{byte('0' + computed.Add(1))}, nil
	}
	ticks := &liveTicks{c: make(chan time.Time)}
	hubs := newLiveHubs(compute, time.Hour, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	hubs.tick = ticks.tick
	slow, stopSlow := hubs.subscribe(1)
	defer stopSlow()
	fast, stopFast := hubs.subscribe(1)
	defer stopFast()
	liveReceive(t, fast, "first")
	for range 3 {
		ticks.c <- time.Time{}
		liveReceive(t, fast, "after a tick")
	}
	if b := liveReceive(t, slow, "slow viewer"); string(b) != "4" {
		t.Fatalf("the slow viewer got %q, want the newest (4)", b)
	}
	select {
	case b := <-slow:
		t.Fatalf("the slow viewer got a stale snapshot %q too", b)
	default:
	}
}

// TestLiveEventsStream reads the event stream over HTTP on both engines:
// the supervisor receives the mission's snapshot, and after a
// qualification the next one counts the call and the closed file.
func TestLiveEventsStream(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s, _ := newFloorStackOn(t, d)
		s.floorMission(t, 26, "")
		s.floorMission(t, 27, "")
		s.floorLoad(t, 26, 4)
		agent, _ := s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
		_, secret := s.floorUser(t, "sam", []auth.Role{auth.RoleSupervisor}, 26)
		c := s.client(t)
		s.signIn(t, c, "sam", secret)

		r := c.get("/live")
		wantStatus(t, r, http.StatusOK, "GET /live")
		if !strings.Contains(r.body, `data-mission="26"`) || strings.Contains(r.body, `id="live-mission-27"`) {
			t.Fatalf("the live page does not show mission 26 alone:\n%s", r.body)
		}
		wantStatus(t, c.get("/live?mission=27"), http.StatusForbidden, "a mission not supervised")
		wantStatus(t, c.get("/live/events?mission=27"), http.StatusForbidden, "events of a mission not supervised")

		// An administrator watches every mission.
		_, adminSecret := s.floorUser(t, "ada", []auth.Role{auth.RoleAdmin})
		admin := s.client(t)
		s.signIn(t, admin, "ada", adminSecret)
		r = admin.get("/live?mission=27")
		wantStatus(t, r, http.StatusOK, "admin on mission 27")
		if !strings.Contains(r.body, `id="live-mission-26"`) || !strings.Contains(r.body, `data-mission="27"`) {
			t.Fatalf("the administrator does not see every mission:\n%s", r.body)
		}

		ctx := s.ctx()
		if err := s.camp.SetPresence(ctx, campaign.PresenceChange{Mission: 26, Agent: agent.ID, State: campaign.PresenceService}); err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.srv)
		defer ts.Close()
		reqCtx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, ts.URL+"/live/events?mission=26", nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, value := range c.cookies {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		events := make(chan liveSnapshot)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(events)
			sc := bufio.NewScanner(res.Body)
			event := ""
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "event: "):
					event = strings.TrimPrefix(line, "event: ")
				case strings.HasPrefix(line, "data: ") && event == "stats":
					var snap liveSnapshot
					if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &snap) == nil {
						select {
						case events <- snap:
						case <-reqCtx.Done():
							return
						}
					}
				}
			}
		}()
		next := func(what string, ok func(liveSnapshot) bool) liveSnapshot {
			t.Helper()
			deadline := time.After(60 * time.Second) // a guard against a hang, not a measure
			for {
				select {
				case snap, open := <-events:
					if !open {
						t.Fatalf("%s: the stream ended", what)
					}
					if ok(snap) {
						return snap
					}
				case <-deadline:
					t.Fatalf("%s: no such snapshot", what)
				}
			}
		}
		snap := next("first snapshot", func(l liveSnapshot) bool { return true })
		if snap.Mission != 26 || snap.Total != 4 || snap.Open != 4 || snap.DueNow != 4 || snap.Closed != 0 ||
			snap.AgentsByState["S"] != 1 || len(snap.Sites) != 1 || snap.Sites[0].Agents[0].Name != "Test alice" {
			t.Fatalf("first snapshot: %+v", snap)
		}

		card, err := s.camp.Claim(ctx, 26, agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.camp.Qualify(ctx, card.Contact.Ref, agent.ID, campaign.Qualification{Outcome: "rdv-pris"}); err != nil {
			t.Fatal(err)
		}
		snap = next("after a qualification", func(l liveSnapshot) bool { return l.Closed == 1 })
		if snap.CallsToday != 1 || snap.SuccessToday != 1 || len(snap.ClosedByOutcome) != 1 ||
			snap.ClosedByOutcome[0].Key != "rdv-pris" || snap.ClosedByOutcome[0].Label != "RDV pris" {
			t.Fatalf("after a qualification: %+v", snap)
		}
		var attempts1 int
		for _, a := range snap.Attempts {
			if a.Key == "1" {
				attempts1 = a.Count
			}
		}
		if attempts1 != 1 {
			t.Fatalf("attempts distribution %+v: want one file at 1 attempt", snap.Attempts)
		}
		cancel()
		res.Body.Close()
		wg.Wait()
	})
}

// TestLiveScriptsWriteTextOnly: the pages' scripts put data into the page
// as text, never as markup.
func TestLiveScriptsWriteTextOnly(t *testing.T) {
	st, err := loadStatic()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"live.js", "floor.js"} {
		js := string(st.files[name])
		if js == "" {
			t.Fatalf("%s is not embedded", name)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(js, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}
