package campaign

import (
	"context"
	"sync"
	"testing"
	"time"

	"plateau/internal/db"
)

// On PostgreSQL a claim commits asynchronously and is answered at once; an
// outcome commits asynchronously too (its row locks go at once) but is
// answered only after a WAL flush that started after its commit. SQLite
// commits outcomes like everything else, with no flush transaction.
func TestOutcomesWaitForTheWALFlushClaimsDoNot(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mission(t, NewMission{Number: 9})
		e.load(t, 9, 40, 0, nil)
		const agents = 8
		ids := make([]int64, agents)
		for i := range ids {
			ids[i] = e.agentOn(t, 9, "flush"+string(rune('a'+i)))
		}
		flushes := func() int64 { return e.svc.batch.flush.runs.Load() }
		before := flushes()
		cards := make([]Card, agents)
		for i, a := range ids {
			cards[i] = e.claim(t, 9, a)
		}
		if got := flushes(); got != before {
			t.Fatalf("%d WAL flushes for claims, want none", got-before)
		}
		var wg sync.WaitGroup
		for i, a := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.Qualify(context.Background(), cards[i].Contact.Ref, a, Qualification{Outcome: "repondeur"}); err != nil {
					t.Errorf("Qualify: %v", err)
				}
			}()
		}
		wg.Wait()
		got := flushes() - before
		switch {
		case d.Engine() == db.SQLite && got != 0:
			t.Fatalf("%d WAL flush transactions on SQLite", got)
		case d.Engine() == db.Postgres && (got < 1 || got > agents):
			t.Fatalf("%d WAL flushes for %d outcomes, want 1 to %d (shared)", got, agents, agents)
		}
		var attempts int
		if err := d.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM contact_attempts WHERE mission = 9").Scan(&attempts); err != nil {
			t.Fatal(err)
		}
		if attempts != agents {
			t.Fatalf("%d attempts recorded, want %d", attempts, agents)
		}
	})
}

// When a mission's cached entry ages, the agents asking for it at once get
// an entry each (the old one while one of them reads the new), and a change
// made meanwhile through the service is seen by the next call.
func TestAgedMissionEntryIsReadOnceAndChangesAreSeen(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mission(t, NewMission{Number: 11})
		ctx := context.Background()
		if _, err := e.svc.entry(ctx, 11); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute) // older than CacheTTL
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := e.svc.entry(ctx, 11)
				if err != nil || m.m.Number != 11 {
					t.Errorf("entry: %v, %+v", err, m)
				}
			}()
		}
		wg.Wait()
		e.svc.mu.Lock()
		loading := len(e.svc.loading)
		e.svc.mu.Unlock()
		if loading != 0 {
			t.Fatalf("%d reads still marked in progress", loading)
		}
		if err := e.svc.SetOutcome(asAdmin, 11, Outcome{Code: "nouveau", Label: "Nouveau"}); err != nil {
			t.Fatal(err)
		}
		m, err := e.svc.entry(ctx, 11)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.outcomes["nouveau"]; !ok {
			t.Fatal("an outcome added through the service is not in the next entry")
		}
	})
}
