package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// TestBatchClaimsFindCandidatesAhead runs several claims in one batch, as
// the group-commit writer does under load: the first finds the candidates
// of all of them in one scan, and each still gets the most urgent contact
// left, the agent checks of an ordinary claim, and a candidate that stopped
// being due meanwhile is skipped.
func TestBatchClaimsFindCandidatesAhead(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 26})
		e.load(t, 26, 6, 0, func(i int, c *NewContact) {
			c.DueAt = t0.Add(time.Duration(i) * -time.Minute) // c5 the oldest due
		})
		agents := map[string]int64{}
		for _, login := range []string{"a1", "a2", "a3", "a5", "a6", "a7", "a8"} {
			agents[login] = e.agentOn(t, 26, login)
		}
		agents["a4"] = e.user(t, "a4") // assigned, offline
		if err := e.svc.Assign(asAdmin, 26, agents["a4"]); err != nil {
			t.Fatal(err)
		}
		if got := e.claim(t, 26, agents["a6"]).Contact.ID; got != "c5" {
			t.Fatalf("a6 claimed %s, want c5", got)
		}
		// a6's lease runs out: c5 is due again, after c4..c0.
		e.clock.Advance(DefaultLease + time.Minute)
		if got := e.claim(t, 26, agents["a5"]).Contact.ID; got != "c4" {
			t.Fatalf("a5 claimed %s, want c4", got)
		}

		now := e.clock.Now()
		entry, err := e.svc.entry(ctx, 26)
		if err != nil {
			t.Fatal(err)
		}
		order := []string{"a1", "a2", "renew", "a4", "a5", "a3", "a7", "a8"}
		cards := make([]Card, len(order))
		var ops []*writeOp
		for i, who := range order {
			if who == "renew" {
				// a6 renews its expired lease on c5 before anyone took it.
				until := db.Millis(now.Add(DefaultLease))
				ops = append(ops, &writeOp{ctx: asAdmin, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
					var got int64
					return nil, tx.QueryRowContext(ctx, sqlRenew, until, until, "c5", 26, agents["a6"]).Scan(&got)
				}})
				continue
			}
			ops = append(ops, e.svc.claimOp(asAdmin, entry, agents[who], RoutingQueue, now, &cards[i]))
		}
		e.svc.batch.hints.reset() // the claims above left one on PostgreSQL
		scans := e.svc.batch.readyScans.Load()
		if err := e.svc.runBatch(ops); err != nil {
			t.Fatalf("runBatch: %v", err)
		}
		// One scan found the candidates of all the claims; the last claim
		// found the tier dry and ran the ordinary statement.
		if n := e.svc.batch.readyScans.Load() - scans; n != 1 {
			t.Errorf("%d scans for candidates ahead, want 1", n)
		}
		want := map[string]struct {
			id      string
			renewed bool
			err     error
		}{
			"a1": {id: "c3"}, "a2": {id: "c2"},
			"a4": {err: ErrNotInService},
			"a5": {id: "c4", renewed: true},
			"a3": {id: "c1"}, "a7": {id: "c0"},
			"a8": {err: ErrNothingToCall}, // c5 is a6's again
		}
		for i, who := range order {
			if who == "renew" {
				if ops[i].err != nil {
					t.Errorf("renew: %v", ops[i].err)
				}
				continue
			}
			w := want[who]
			got := cards[i].Contact
			if !errors.Is(ops[i].err, w.err) || got.ID != w.id || cards[i].Renewed != w.renewed {
				t.Errorf("%s: claimed %q renewed=%v err=%v, want %q renewed=%v err=%v",
					who, got.ID, cards[i].Renewed, ops[i].err, w.id, w.renewed, w.err)
			}
			if w.err == nil && (got.LeaseOwner != agents[who] || !got.LeaseUntil.Equal(now.Add(DefaultLease))) {
				t.Errorf("%s: lease %d until %v", who, got.LeaseOwner, got.LeaseUntil)
			}
		}
		// The database agrees: one lease per agent, c5 still a6's.
		for id, who := range map[string]string{"c0": "a7", "c1": "a3", "c2": "a2", "c3": "a1", "c4": "a5", "c5": "a6"} {
			var owner int64
			if err := d.QueryRowContext(ctx, `SELECT lease_owner FROM contacts WHERE mission = 26 AND contact_id = ?`, id).Scan(&owner); err != nil {
				t.Fatal(err)
			}
			if owner != agents[who] {
				t.Errorf("%s leased to %d, want %s (%d)", id, owner, who, agents[who])
			}
		}
		e.checkCounts(t, 26)
	})
}

// TestReadyHintsSkipNoContactForLong: on PostgreSQL a batch's scan for
// candidates starts where the last one stopped, so a contact loaded late
// with an old due time is passed over by it, but not for long: the batch
// that finds the range after the hint dry scans from the head again.
// SQLite always scans from the head.
func TestReadyHintsSkipNoContactForLong(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 26})
		e.load(t, 26, 10, 0, func(i int, c *NewContact) {
			c.DueAt = t0.Add(time.Duration(i) * -time.Minute) // c9 the oldest due
		})
		agents := make([]int64, 11)
		for i := range agents {
			agents[i] = e.agentOn(t, 26, fmt.Sprintf("a%02d", i))
		}
		entry, err := e.svc.entry(ctx, 26)
		if err != nil {
			t.Fatal(err)
		}
		next := 0
		batch := func(n int) []string {
			t.Helper()
			cards := make([]Card, n)
			ops := make([]*writeOp, n)
			for i := range ops {
				ops[i] = e.svc.claimOp(asAdmin, entry, agents[next], RoutingQueue, e.clock.Now(), &cards[i])
				next++
			}
			if err := e.svc.runBatch(ops); err != nil {
				t.Fatalf("runBatch: %v", err)
			}
			ids := make([]string, n)
			for i, op := range ops {
				if op.err != nil {
					t.Fatalf("claim %d: %v", i, op.err)
				}
				ids[i] = cards[i].Contact.ID
			}
			return ids
		}
		if got := batch(3); !slices.Equal(got, []string{"c9", "c8", "c7"}) {
			t.Fatalf("first batch claimed %v", got)
		}
		e.load(t, 26, 1, 100, func(i int, c *NewContact) {
			c.ContactID, c.DueAt = "late", t0.Add(-time.Hour)
		})
		want := []string{"c6", "c5"} // after the hint
		if d.Engine() != db.Postgres {
			want = []string{"late", "c6"}
		}
		if got := batch(2); !slices.Equal(got, want) {
			t.Fatalf("second batch claimed %v, want %v", got, want)
		}
		want = []string{"c4", "c3", "c2", "c1", "c0", "late"} // dry after the hint: from the head
		if d.Engine() != db.Postgres {
			want = []string{"c5", "c4", "c3", "c2", "c1", "c0"}
		}
		if got := batch(6); !slices.Equal(got, want) {
			t.Fatalf("third batch claimed %v, want %v", got, want)
		}
	})
}
