package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"plateau/internal/db"
)

func TestClaimQualifyCycle(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mission(t, NewMission{Number: 26})
		a := e.agentOn(t, 26, "alice")
		e.load(t, 26, 3, 0, func(i int, c *NewContact) {
			c.DueAt = t0.Add(time.Duration(i) * -time.Minute) // c2 is the oldest due
		})

		card := e.claim(t, 26, a)
		if card.Contact.ID != "c2" || card.Contact.Phone != phone(2) || card.Contact.Fields["name"] != "Name 2" {
			t.Fatalf("claimed %+v, want c2 decrypted", card.Contact)
		}
		if card.Contact.LeaseOwner != a || !card.Contact.LeaseUntil.Equal(t0.Add(DefaultLease)) {
			t.Fatalf("lease = %d until %v", card.Contact.LeaseOwner, card.Contact.LeaseUntil)
		}
		// Claiming again gives the same contact back, renewed.
		e.clock.Advance(time.Minute)
		again := e.claim(t, 26, a)
		if again.Contact.ID != "c2" || !again.Renewed || !again.Contact.LeaseUntil.Equal(t0.Add(time.Minute+DefaultLease)) {
			t.Fatalf("second claim = %s renewed=%v until %v", again.Contact.ID, again.Renewed, again.Contact.LeaseUntil)
		}
		got, err := e.svc.Qualify(context.Background(), ref(26, "c2"), a, Qualification{Outcome: "repondeur", Comment: "messagerie pleine"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempts != 1 || got.State != StateOpen || !got.DueAt.Equal(t0.Add(time.Minute+2*time.Hour)) {
			t.Fatalf("after Répondeur: %+v", got)
		}
		next := e.claim(t, 26, a)
		if next.Contact.ID != "c1" {
			t.Fatalf("next claim = %s, want c1", next.Contact.ID)
		}
		card2, err := e.svc.Card(asAdmin, ref(26, "c2"))
		if err != nil {
			t.Fatal(err)
		}
		if len(card2.History) != 1 || card2.History[0].Comment != "messagerie pleine" || card2.History[0].Outcome != "repondeur" ||
			card2.History[0].Agent != a {
			t.Fatalf("history = %+v", card2.History)
		}
		// The comment and the phone are nowhere in clear.
		assertNotInDB(t, d, "messagerie pleine", phone(2), "Name 2")
	})
}

// assertNotInDB fails if any text column of the campaign tables holds one
// of the values (blobs are sealed and not searched).
func assertNotInDB(t *testing.T, d *db.DB, values ...string) {
	t.Helper()
	for _, table := range []string{"contacts", "contact_attempts", "audit_events"} {
		rows, err := d.QueryContext(context.Background(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				}
				for _, want := range values {
					if strings.Contains(s, want) {
						t.Errorf("%s.%s holds %q in clear", table, cols[i], want)
					}
				}
			}
		}
		rows.Close()
	}
}

func TestClaimNeverLeasesTwice(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mission(t, NewMission{Number: 7, MaxAttempts: 3})
		// Due again at once: each contact goes round the agents until it
		// reaches the cap, with no clock moves (leases never expire here,
		// so a contact seen twice at once is a double lease).
		if err := e.svc.SetOutcome(asAdmin, 7, Outcome{Code: "again", Label: "Again", CountsAttempt: true}); err != nil {
			t.Fatal(err)
		}
		const contacts, workers = 300, 32
		e.load(t, 7, contacts, 0, nil)
		agents := make([]int64, workers)
		for i := range agents {
			agents[i] = e.agentOn(t, 7, fmt.Sprintf("agent%02d", i))
		}
		var (
			mu      sync.Mutex
			holder  = map[string]int64{}
			doubles atomic.Int64
			calls   atomic.Int64
			wg      sync.WaitGroup
		)
		ctx := context.Background()
		for _, a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					card, err := e.svc.Claim(ctx, 7, a)
					if errors.Is(err, ErrNothingToCall) {
						return
					}
					if err != nil {
						t.Errorf("Claim: %v", err)
						return
					}
					id := card.Contact.ID
					mu.Lock()
					if h, ok := holder[id]; ok {
						doubles.Add(1)
						t.Errorf("contact %s leased to %d while %d holds it", id, a, h)
					}
					holder[id] = a
					mu.Unlock()
					time.Sleep(time.Duration(len(id)) * 10 * time.Microsecond) // hold it a little
					mu.Lock()
					delete(holder, id)
					mu.Unlock()
					if _, err := e.svc.Qualify(ctx, card.Contact.Ref, a, Qualification{Outcome: "again"}); err != nil {
						t.Errorf("Qualify: %v", err)
						return
					}
					calls.Add(1)
				}
			}()
		}
		wg.Wait()
		if doubles.Load() > 0 {
			t.Fatalf("%d double leases", doubles.Load())
		}
		var maxAttempts, open, attempts int
		q := func(query string, dest *int) {
			if err := d.QueryRowContext(ctx, query).Scan(dest); err != nil {
				t.Fatal(err)
			}
		}
		q("SELECT MAX(attempts) FROM contacts WHERE mission = 7", &maxAttempts)
		q("SELECT COUNT(*) FROM contacts WHERE mission = 7 AND state = 'open'", &open)
		q("SELECT COUNT(*) FROM contact_attempts WHERE mission = 7", &attempts)
		if maxAttempts != 3 || open != 0 {
			t.Fatalf("max attempts %d (cap 3), %d files still open", maxAttempts, open)
		}
		if calls.Load() != contacts*3 || int64(attempts) != calls.Load() {
			t.Fatalf("%d qualifications, %d attempts recorded, want %d", calls.Load(), attempts, contacts*3)
		}
		e.checkCounts(t, 7)
		rep, err := e.log.Verify(ctx)
		if err != nil || rep.Problem != nil {
			t.Fatalf("audit verify: %v %+v", err, rep.Problem)
		}
	})
}
