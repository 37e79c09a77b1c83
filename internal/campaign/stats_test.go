package campaign

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// The live view and the reports agree with the outcomes recorded.
func TestStatsAndReportsMatchOutcomes(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 26, MaxAttempts: 2})
		a := e.agentOn(t, 26, "alice")
		b := e.agentOn(t, 26, "bob")
		// Ten files received on 10 March 2021 and five on 11 March, seed
		// 000's ids; two special numbers go to manual dialling.
		l, err := e.svc.Loader(ctx, 26)
		if err != nil {
			t.Fatal(err)
		}
		var cs []NewContact
		for i := 1; i <= 15; i++ {
			day := "210310"
			if i > 10 {
				day = "210311"
			}
			c := NewContact{ContactID: fmt.Sprintf("%s_%d_26", day, i), Phone: phone(i), Fields: map[string]string{"surname": fmt.Sprintf("S%d", i)}}
			if i == 14 || i == 15 {
				c.Routing = RoutingManual
			}
			if i == 4 {
				c.Priority = 1 // called first, and first again when due
			}
			cs = append(cs, c)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error { _, err := l.Add(ctx, tx, cs); return err }); err != nil {
			t.Fatal(err)
		}
		// Alice: Barrage (the priority-1 file), RDV pris, Faux numéro; Bob:
		// Répondeur, Lead pas intéressé, a callback in 2 hours, then Barrage
		// again on the priority-1 file, which reaches the cap of 2.
		plan := []struct {
			agent   int64
			outcome string
		}{
			{a, "barrage-assistante"}, {a, "rdv-pris"}, {a, "faux-numero"},
			{b, "repondeur"}, {b, "pas-interesse-orl"}, {b, "rappel"},
		}
		var refs []Ref
		for _, p := range plan {
			card := e.claim(t, 26, p.agent)
			q := Qualification{Outcome: p.outcome}
			if p.outcome == "rappel" {
				q.CallbackAt = e.clock.Now().Add(2 * time.Hour)
			}
			if _, err := e.svc.Qualify(ctx, card.Contact.Ref, p.agent, q); err != nil {
				t.Fatal(err)
			}
			refs = append(refs, card.Contact.Ref)
			e.clock.Advance(time.Minute)
		}
		e.clock.Advance(time.Hour) // Barrage (1 h) is due again
		card := e.claim(t, 26, b)
		if card.Contact.Ref != refs[0] || card.Contact.ID != "210310_4_26" {
			t.Fatalf("claimed %s, want the Barrage file %s again", card.Contact.ID, refs[0].ID)
		}
		e.qualify(t, card.Contact.Ref, b, "barrage-assistante") // second attempt: cap reached
		manual, err := e.svc.ClaimManual(ctx, 26, a)
		if err != nil || manual.Contact.Routing != RoutingManual {
			t.Fatalf("ClaimManual = %+v, %v", manual.Contact, err)
		}

		st, err := e.svc.Stats(ctx, 26)
		if err != nil {
			t.Fatal(err)
		}
		// 15 files: 4 closed (RDV, Faux numéro, ORL, capped), 11 open; 1
		// leased (manual); the callback is due within the hour; Répondeur
		// waits 2 h.
		want := MissionStats{Total: 15, Open: 11, Closed: 4, ClosedAtCap: 1, Leased: 1, CallbacksNextHour: 1, CallsToday: 7}
		if st.Total != want.Total || st.Open != want.Open || st.Closed != want.Closed || st.ClosedAtCap != want.ClosedAtCap ||
			st.Leased != want.Leased || st.CallbacksDue != 0 || st.CallbacksNextHour != 1 || st.CallsToday != want.CallsToday {
			t.Fatalf("stats = %+v", st)
		}
		if st.ClosedByOutcome["rdv-pris"] != 1 || st.ClosedByOutcome["faux-numero"] != 1 || st.ClosedByOutcome["pas-interesse-orl"] != 1 {
			t.Fatalf("closed by outcome = %v", st.ClosedByOutcome)
		}
		if st.Attempts[0] != 10 || st.Attempts[1] != 4 || st.Attempts[2] != 1 {
			t.Fatalf("attempts = %v", st.Attempts)
		}
		// Due now: 7 queued and 1 manual never called; waiting: Répondeur
		// and the callback.
		if st.DueNow != 8 || st.Waiting != 2 {
			t.Fatalf("due now %d, waiting %d", st.DueNow, st.Waiting)
		}
		if st.TodayByOutcome["barrage-assistante"] != 2 || st.SuccessToday != 1 || st.ClosedToday != 4 {
			t.Fatalf("today = %v, success %d, closed %d", st.TodayByOutcome, st.SuccessToday, st.ClosedToday)
		}
		if st.AgentsByState[PresenceService] != 2 || !st.Serving.Callable {
			t.Fatalf("agents = %v, serving %+v", st.AgentsByState, st.Serving)
		}

		// Closed files of March 10th (seed 000: id_contact LIKE '210310%').
		var closed []string
		if err := e.svc.ClosedFiles(ctx, FileFilter{Mission: 26, IDPrefix: "210310"}, func(r FileRow) error {
			closed = append(closed, r.ID+":"+r.LastOutcome)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(closed) != 4 {
			t.Fatalf("closed files = %v", closed)
		}
		var open, openFields int
		if err := e.svc.OpenFiles(ctx, FileFilter{Mission: 26, IDPrefix: "210311", WithFields: true}, func(r FileRow) error {
			open++
			if r.Fields["surname"] != "" {
				openFields++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if open != 5 || openFields != 5 {
			t.Fatalf("open files of the 11th = %d (%d with fields)", open, openFields)
		}
		if ex, _ := e.log.List(ctx, audit.Filter{Action: "contacts.export"}); len(ex) != 1 {
			t.Fatalf("export audited %d times", len(ex))
		}
		calls, err := e.svc.CallsByAgent(ctx, 26, t0, e.clock.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		perAgent := map[int64]int{}
		for _, c := range calls {
			perAgent[c.Agent] += c.Calls
		}
		if perAgent[a] != 3 || perAgent[b] != 4 {
			t.Fatalf("calls by agent = %+v", calls)
		}
		reach, err := e.svc.ReachedWithin(ctx, 26, 72*time.Hour, t0.Add(-time.Hour), t0.Add(time.Hour), 0)
		if err != nil || reach.Loaded != 15 || reach.Reached != 6 || reach.Never != 9 || reach.Late != 0 {
			t.Fatalf("reach = %+v, %v", reach, err)
		}
		from, to, err := DayRange(paris, 2026, 11, 23, "09:00", "19:00")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.svc.AgentsInService(ctx, 26, from, to)
		if err != nil || rep.InService != 2 {
			t.Fatalf("agents in service = %+v, %v", rep, err)
		}
		e.checkCounts(t, 26)
		if _, err := e.svc.Stats(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("stats of an unknown mission = %v", err)
		}
	})
}
