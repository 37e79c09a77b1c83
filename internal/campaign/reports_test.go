package campaign

import (
	"context"
	"errors"
	"testing"
	"time"

	"plateau/internal/db"
)

// Calls per outcome count what was recorded in the period, and only that.
func TestCallsByOutcomeMatchesQualifications(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 26, MaxAttempts: 2})
		a := e.agentOn(t, 26, "alice")
		b := e.agentOn(t, 26, "bob")
		e.load(t, 26, 6, 0, nil)
		// Before the period: one call that must not be counted.
		c := e.claim(t, 26, a)
		e.qualify(t, c.Contact.Ref, a, "faux-numero")
		e.clock.Advance(time.Hour)
		from := e.clock.Now()
		plan := []struct {
			agent   int64
			outcome string
		}{
			{a, "repondeur"}, {b, "repondeur"}, {a, "rdv-pris"}, {b, "barrage-assistante"}, {a, "pas-interesse-orl"},
		}
		for _, p := range plan {
			c := e.claim(t, 26, p.agent)
			e.qualify(t, c.Contact.Ref, p.agent, p.outcome)
			e.clock.Advance(time.Minute)
		}
		got, err := e.svc.CallsByOutcome(ctx, 26, from, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := []OutcomeCount{
			{Outcome: "barrage-assistante", Calls: 1, Contacts: 1, Closed: 0, Agents: 1},
			{Outcome: "pas-interesse-orl", Calls: 1, Contacts: 1, Closed: 1, Agents: 1},
			{Outcome: "rdv-pris", Calls: 1, Contacts: 1, Closed: 1, Agents: 1},
			{Outcome: "repondeur", Calls: 2, Contacts: 2, Closed: 0, Agents: 2},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
		// The per-agent report agrees once summed per outcome.
		byAgent, err := e.svc.CallsByAgent(ctx, 26, from, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		sum := map[string]int{}
		for _, c := range byAgent {
			sum[c.Outcome] += c.Calls
		}
		for _, w := range want {
			if sum[w.Outcome] != w.Calls {
				t.Errorf("%s: %d calls by agent, %d by outcome", w.Outcome, sum[w.Outcome], w.Calls)
			}
		}
		if _, err := e.svc.CallsByOutcome(ctx, 26, from, from); !errors.Is(err, ErrInvalid) {
			t.Errorf("an empty period: %v, want ErrInvalid", err)
		}
	})
}
