package campaign

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"plateau/internal/db"
)

// consumerEnv is a consumer-prospecting mission 50 of client "acme" with a
// checked opposition list, one agent in service and contacts c0..c(n-1)
// with consent.
func consumerEnv(t *testing.T, d *db.DB, n int) (*env, int64) {
	t.Helper()
	e := newEnv(t, d)
	e.mission(t, NewMission{Number: 50, Regime: RegimeConsumer})
	if err := e.svc.RecordOppositionCheck(asAdmin, "acme", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	a := e.agentOn(t, 50, "alice")
	if n > 0 {
		e.load(t, 50, n, 0, nil)
	}
	return e, a
}

func wantRule(t *testing.T, err error, rule Rule, next time.Time) {
	t.Helper()
	var re *RuleError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want a RuleError %s", err, rule)
	}
	if re.Verdict.Rule != rule || !re.Verdict.Next.Equal(next) {
		t.Fatalf("verdict = %+v (next %v), want %s until %v", re.Verdict, re.Verdict.Next.In(paris), rule, next.In(paris))
	}
}

func wantWhy(t *testing.T, e *env, r Ref, at time.Time, rule Rule, next time.Time) {
	t.Helper()
	v, err := e.svc.Why(context.Background(), r, at)
	if err != nil {
		t.Fatal(err)
	}
	if rule == "" {
		if !v.Callable {
			t.Fatalf("Why(%s) = %+v, want callable", r, v)
		}
		return
	}
	if v.Callable || v.Rule != rule || !v.Next.Equal(next) || v.Message == "" {
		t.Fatalf("Why(%s at %v) = %+v (next %v), want %s until %v", r, at.In(paris), v, v.Next.In(paris), rule, next.In(paris))
	}
}

// The judged scenario: a consumer-prospecting mission refuses at 09:59, at
// 13:30, on a Saturday, on 14 July and after four attempts in 30 days, and
// Why says so.
func TestConsumerMissionRefuses(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e, a := consumerEnv(t, d, 0)
		ctx := context.Background()
		e.load(t, 50, 2, 0, func(i int, c *NewContact) {
			c.DueAt = at(paris, "2026-11-01 00:00")
			if i == 1 {
				c.DueAt = at(paris, "2027-07-15 18:00")
			}
		})
		r := ref(50, "c0")
		for _, tc := range []struct {
			at, next time.Time
			rule     Rule
		}{
			{at(paris, "2026-11-23 09:59"), at(paris, "2026-11-23 10:00"), RuleLegalHours},
			{at(paris, "2026-11-23 13:30"), at(paris, "2026-11-23 14:00"), RuleLegalHours},
			{at(paris, "2026-11-28 11:00"), at(paris, "2026-11-30 10:00"), RuleLegalHours},
			{at(paris, "2027-07-14 11:00"), at(paris, "2027-07-15 10:00"), RuleLegalHoliday},
		} {
			e.clock.Set(tc.at)
			if err := e.svc.RecordOppositionCheck(asAdmin, "acme", tc.at); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Claim(ctx, 50, a)
			wantRule(t, err, tc.rule, tc.next)
			wantWhy(t, e, r, tc.at, tc.rule, tc.next)
		}
		// Four calls in 30 days: two missions of the same client call the
		// same person (c0 in mission 50, c0 in mission 51, same number).
		e.clock.Set(at(paris, "2027-07-15 14:00"))
		if err := e.svc.RecordOppositionCheck(asAdmin, "acme", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.mission(t, NewMission{Number: 51, Regime: RegimeConsumer})
		e.inService(t, 51, a)
		e.load(t, 51, 1, 0, nil)
		first := e.clock.Now()
		for i, m := range []int{50, 51, 50, 51} {
			card := e.claim(t, m, a)
			if card.Contact.ID != "c0" {
				t.Fatalf("call %d on mission %d: claimed %s, want c0", i+1, m, card.Contact.ID)
			}
			e.qualify(t, card.Contact.Ref, a, "barrage-assistante") // retry after 1 hour
			e.clock.Advance(61 * time.Minute)
		}
		// c0 is due again, but the person had four calls: c1 comes instead,
		// c0 is held back until the first call is 30 days old.
		card := e.claim(t, 50, a)
		if card.Contact.ID != "c1" {
			t.Fatalf("claimed %s, want c1 (c0 capped)", card.Contact.ID)
		}
		cap := first.Add(LegalCapPeriod) // 14 August 2027 14:00, a Saturday
		wantWhy(t, e, r, time.Time{}, RuleAttemptCap, at(paris, "2027-08-16 10:00"))
		if _, err := e.svc.Claim(ctx, 51, a); !errors.Is(err, ErrNothingToCall) {
			t.Fatalf("mission 51 claim = %v, want nothing (its c0 is the same person)", err)
		}
		info, _ := e.svc.Info(ctx, ref(51, "c0"))
		if info.HeldRule != RuleAttemptCap || !info.DueAt.Equal(cap) {
			t.Fatalf("held contact = rule %q due %v, want attempt_cap due %v", info.HeldRule, info.DueAt, cap)
		}
		st, err := e.svc.Stats(ctx, 51)
		if err != nil || st.Held[RuleAttemptCap] != 1 {
			t.Fatalf("stats held = %+v, %v", st.Held, err)
		}
		// A callback inside the capped period is refused with the next time.
		_, err = e.svc.Qualify(ctx, card.Contact.Ref, a, Qualification{Outcome: "rappel", CallbackAt: e.clock.Now().Add(time.Hour)})
		if err != nil {
			t.Fatalf("callback for c1: %v", err)
		}
		err = e.svc.SetCallback(ctx, r, a, at(paris, "2027-07-20 11:00"), 0)
		wantRule(t, err, RuleAttemptCap, at(paris, "2027-08-16 10:00"))
	})
}

func TestRefusalSilenceAcrossMissions(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e, a := consumerEnv(t, d, 1)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 51, Regime: RegimeConsumer})
		e.inService(t, 51, a)
		e.load(t, 51, 1, 0, nil)
		card := e.claim(t, 50, a)
		got := e.qualify(t, card.Contact.Ref, a, "pas-interesse-curiosite") // a refusal, closes
		if got.State != StateClosed || got.CloseReason != CloseOutcome {
			t.Fatalf("after refusal: %+v", got)
		}
		if _, err := e.svc.Claim(ctx, 51, a); !errors.Is(err, ErrNothingToCall) {
			t.Fatalf("claim on 51 = %v, want nothing for 60 days", err)
		}
		until := t0.Add(RefusalSilence) // Friday 22 January 2027, 10:30
		wantWhy(t, e, ref(51, "c0"), time.Time{}, RuleRefusalSilence, until)
		wantWhy(t, e, ref(50, "c0"), time.Time{}, RuleClosed, time.Time{})
		e.clock.Set(until)
		if err := e.svc.RecordOppositionCheck(asAdmin, "acme", until); err != nil {
			t.Fatal(err)
		}
		// The call record has served its 60 days: the daily job drops it.
		if n, err := e.svc.PruneCalls(ctx); err != nil || n != 1 {
			t.Fatalf("PruneCalls = %d, %v", n, err)
		}
		if c := e.claim(t, 51, a); c.Contact.ID != "c0" {
			t.Fatalf("after 60 days claimed %s", c.Contact.ID)
		}
	})
}

func TestConsentCutoff(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		before := at(paris, "2026-08-10 11:00") // Monday
		e := newEnv(t, d)
		ctx := context.Background()
		e.clock.Set(before)
		e.mission(t, NewMission{Number: 50, Regime: RegimeConsumer})
		if err := e.svc.RecordOppositionCheck(asAdmin, "acme", before); err != nil {
			t.Fatal(err)
		}
		a := e.agentOn(t, 50, "alice")
		e.load(t, 50, 2, 0, func(i int, c *NewContact) { c.Consent = nil })
		if c := e.claim(t, 50, a); c.Contact.ID != "c0" {
			t.Fatalf("before the cut-off claimed %s", c.Contact.ID)
		}
		e.qualify(t, ref(50, "c0"), a, "repondeur")
		// From 11 August 2026 a consumer call needs a proof of consent.
		e.clock.Set(at(paris, "2026-08-11 10:00"))
		if _, err := e.svc.Claim(ctx, 50, a); !errors.Is(err, ErrNothingToCall) {
			t.Fatalf("claim without consent = %v", err)
		}
		wantWhy(t, e, ref(50, "c1"), time.Time{}, RuleConsent, time.Time{})
		// Loaded after the cut-off without consent: held from the start.
		e.load(t, 50, 1, 10, func(i int, c *NewContact) { c.ContactID, c.Consent = "late", nil })
		if info, _ := e.svc.Info(ctx, ref(50, "late")); info.HeldRule != RuleConsent || !info.DueAt.IsZero() {
			t.Fatalf("late contact = %+v", info)
		}
		// Recording the proof makes it callable at once.
		if err := e.svc.SetConsent(asAdmin, ref(50, "c1"), Consent{At: before, Source: "formulaire web", Text: "J'accepte"}); err != nil {
			t.Fatal(err)
		}
		card := e.claim(t, 50, a)
		if card.Contact.ID != "c1" || card.Contact.Consent == nil || card.Contact.Consent.Source != "formulaire web" ||
			!card.Contact.Consent.At.Equal(before) || card.Contact.Fields["name"] != "Name 1" {
			t.Fatalf("claimed %+v", card.Contact)
		}
	})
}

func TestOppositionList(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 50, Regime: RegimeConsumer})
		e.mission(t, NewMission{Number: 60}) // b2b, same client
		a := e.agentOn(t, 50, "alice")
		e.inService(t, 60, a)
		e.load(t, 50, 3, 0, nil)
		e.load(t, 60, 2, 0, nil)
		// Never checked: the consumer mission is not served; b2b is.
		_, err := e.svc.Claim(ctx, 50, a)
		wantRule(t, err, RuleOppositionStale, time.Time{})
		if st, _ := e.svc.Opposition(ctx, "acme"); !st.Stale {
			t.Fatalf("status = %+v", st)
		}
		// c0's number written as people do.
		list := "# Bloctel export\n06 00 00 00 00\n\nnot a number\n+33 6 00 00 00 00\n"
		numbers, problems, err := ParseOppositionList(strings.NewReader(list))
		if err != nil || len(numbers) != 1 || numbers[0] != phone(0) || len(problems) != 1 || problems[0].Line != 4 {
			t.Fatalf("parsed %v %+v %v", numbers, problems, err)
		}
		res, err := e.svc.LoadOpposition(asAdmin, "acme", numbers, true)
		if err != nil || res.Entries != 1 {
			t.Fatalf("LoadOpposition = %+v, %v", res, err)
		}
		seen := map[string]bool{}
		for {
			card, err := e.svc.Claim(ctx, 50, a)
			if errors.Is(err, ErrNothingToCall) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[card.Contact.ID] = true
			e.qualify(t, card.Contact.Ref, a, "rdv-pris")
		}
		if seen["c0"] || !seen["c1"] || !seen["c2"] {
			t.Fatalf("claimed %v: c0 is on the list", seen)
		}
		wantWhy(t, e, ref(50, "c0"), time.Time{}, RuleOpposition, time.Time{})
		// The list holds across the client's missions, b2b included.
		if card := e.claim(t, 60, a); card.Contact.ID != "c1" {
			t.Fatalf("b2b claimed %s, want c1 (c0 opposed)", card.Contact.ID)
		}
		if ok, _ := e.svc.IsOpposed(ctx, "acme", phone(0)); !ok {
			t.Fatal("IsOpposed = false")
		}
		// 31 days later the list is stale: the consumer mission stops.
		e.clock.Advance(31 * 24 * time.Hour) // Thursday 24 December, 10:30
		_, err = e.svc.Claim(ctx, 50, a)
		wantRule(t, err, RuleOppositionStale, time.Time{})
		st, _ := e.svc.Stats(ctx, 50)
		if st.Serving.Rule != RuleOppositionStale {
			t.Fatalf("stats serving = %+v", st.Serving)
		}
		// Replacing the list by an empty one gives c0 back.
		if _, err := e.svc.LoadOpposition(asAdmin, "acme", nil, true); err != nil {
			t.Fatal(err)
		}
		if card := e.claim(t, 50, a); card.Contact.ID != "c0" {
			t.Fatalf("after the list emptied claimed %s", card.Contact.ID)
		}
	})
}

func TestClosingOutcomeAndCap(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 8, MaxAttempts: 2})
		a := e.agentOn(t, 8, "alice")
		e.load(t, 8, 2, 0, nil)
		c := e.claim(t, 8, a)
		closed := e.qualify(t, c.Contact.Ref, a, "faux-numero")
		if closed.State != StateClosed || closed.CloseReason != CloseOutcome || closed.Attempts != 1 {
			t.Fatalf("after Faux numéro: %+v", closed)
		}
		// The other one reaches the cap of 2.
		c = e.claim(t, 8, a)
		e.qualify(t, c.Contact.Ref, a, "repondeur")
		e.clock.Advance(2 * time.Hour)
		c = e.claim(t, 8, a)
		capped := e.qualify(t, c.Contact.Ref, a, "repondeur")
		if capped.State != StateClosed || capped.CloseReason != CloseMaxAttempts || capped.Attempts != 2 {
			t.Fatalf("at the cap: %+v", capped)
		}
		e.clock.Advance(24 * time.Hour)
		if _, err := e.svc.Claim(ctx, 8, a); !errors.Is(err, ErrNothingToCall) {
			t.Fatalf("claim after both closed = %v", err)
		}
		if _, err := e.svc.Qualify(ctx, capped.Ref, a, Qualification{Outcome: "repondeur"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("qualify closed = %v", err)
		}
		wantWhy(t, e, capped.Ref, time.Time{}, RuleClosed, time.Time{})
	})
}

func TestCallbacksOwnBeforeShared(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 9})
		a := e.agentOn(t, 9, "alice")
		b := e.agentOn(t, 9, "bob")
		e.load(t, 9, 5, 0, func(i int, c *NewContact) { c.DueAt = t0.Add(-time.Duration(10-i) * time.Minute) })
		// Alice sets a shared callback on c0 for 11:00 and one for herself
		// on c1 for 11:30; both are due at noon.
		c := e.claim(t, 9, a)
		if _, err := e.svc.Qualify(ctx, c.Contact.Ref, a, Qualification{Outcome: "rappel", CallbackAt: t0.Add(30 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		c = e.claim(t, 9, a)
		if _, err := e.svc.Qualify(ctx, c.Contact.Ref, a, Qualification{Outcome: "rappel", CallbackAt: t0.Add(time.Hour),
			CallbackOwner: CallbackMe}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Qualify(ctx, c.Contact.Ref, a, Qualification{Outcome: "repondeur"}); !errors.Is(err, ErrNotLeased) {
			t.Fatalf("second qualification = %v, want ErrNotLeased", err)
		}
		// A callback needs a time, and an allowed one.
		c = e.claim(t, 9, a)
		if _, err := e.svc.Qualify(ctx, c.Contact.Ref, a, Qualification{Outcome: "rappel"}); !errors.Is(err, ErrCallbackRequired) {
			t.Fatalf("callback without time = %v", err)
		}
		_, err := e.svc.Qualify(ctx, c.Contact.Ref, a, Qualification{Outcome: "rappel", CallbackAt: at(paris, "2026-11-28 10:00")})
		wantRule(t, err, RuleWindow, at(paris, "2026-11-30 09:00"))
		if err := e.svc.Release(ctx, c.Contact.Ref, a); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(at(paris, "2026-11-23 12:00"))
		wantWhy(t, e, ref(9, "c1"), t0, RuleCallback, t0.Add(time.Hour))
		// Bob: the shared callback first; Alice's own is hers for an hour.
		if got := e.claim(t, 9, b); got.Contact.ID != "c0" {
			t.Fatalf("bob claimed %s, want the shared callback c0", got.Contact.ID)
		}
		if got := e.claim(t, 9, a); got.Contact.ID != "c1" {
			t.Fatalf("alice claimed %s, want her own callback c1", got.Contact.ID)
		}
		st, _ := e.svc.Stats(ctx, 9)
		if st.Leased != 2 {
			t.Fatalf("leased = %d", st.Leased)
		}
	})
}

func TestLeaseExpiryRenewRelease(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 10})
		a := e.agentOn(t, 10, "alice")
		b := e.agentOn(t, 10, "bob")
		e.load(t, 10, 1, 0, nil)
		c := e.claim(t, 10, a)
		if _, err := e.svc.Claim(ctx, 10, b); !errors.Is(err, ErrNothingToCall) {
			t.Fatalf("bob while alice holds it: %v", err)
		}
		wantWhy(t, e, c.Contact.Ref, time.Time{}, RuleLeased, t0.Add(DefaultLease))
		e.clock.Advance(9 * time.Minute)
		until, err := e.svc.Renew(ctx, c.Contact.Ref, a)
		if err != nil || !until.Equal(t0.Add(19*time.Minute)) {
			t.Fatalf("Renew = %v, %v", until, err)
		}
		if _, err := e.svc.Renew(ctx, c.Contact.Ref, b); !errors.Is(err, ErrNotLeased) {
			t.Fatalf("bob renews = %v", err)
		}
		// Alice's screen closed without a word: the lease runs out and Bob
		// gets the contact; Alice's late qualification is refused.
		e.clock.Advance(11 * time.Minute)
		if got := e.claim(t, 10, b); got.Contact.ID != c.Contact.ID {
			t.Fatalf("bob claimed %s", got.Contact.ID)
		}
		if _, err := e.svc.Qualify(ctx, c.Contact.Ref, a, Qualification{Outcome: "repondeur"}); !errors.Is(err, ErrNotLeased) {
			t.Fatalf("alice's late qualification = %v, want ErrNotLeased", err)
		}
		// A lease that ran out with nobody else taking the contact still
		// lets its holder qualify: a long call keeps its outcome.
		e.clock.Advance(30 * time.Minute)
		if got := e.qualify(t, c.Contact.Ref, b, "repondeur"); got.Attempts != 1 {
			t.Fatalf("late qualification = %+v", got)
		}
		if err := e.svc.Release(ctx, c.Contact.Ref, b); !errors.Is(err, ErrNotLeased) {
			t.Fatalf("release after qualify = %v", err)
		}
	})
}

func TestPresenceAndGoOffline(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 11})
		e.mission(t, NewMission{Number: 12})
		a := e.agentOn(t, 11, "alice")
		e.inService(t, 12, a)
		e.load(t, 11, 2, 0, nil)
		e.load(t, 12, 1, 0, nil)
		c11 := e.claim(t, 11, a)
		e.claim(t, 12, a)
		e.clock.Advance(5 * time.Minute)
		if err := e.svc.SetPresence(ctx, PresenceChange{Mission: 11, Agent: a, State: PresencePause, PauseCode: "golf"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("unknown pause code = %v", err)
		}
		codes, _ := e.svc.PauseCodes(ctx, "lyon")
		if len(codes) != 4 || codes[2].Label != "Problème technique" {
			t.Fatalf("default pause codes = %+v", codes)
		}
		if err := e.svc.SetPauseCode(asAdmin, PauseCode{Site: "lyon", Code: "brief", Label: "Brief d'équipe", Position: 1}); err != nil {
			t.Fatal(err)
		}
		if codes, _ := e.svc.PauseCodes(ctx, "lyon"); len(codes) != 1 || codes[0].Code != "brief" {
			t.Fatalf("Lyon's own pause codes = %+v", codes)
		}
		if err := e.svc.DeletePauseCode(asAdmin, "lyon", "brief"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeletePauseCode(asAdmin, "lyon", "brief"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete = %v", err)
		}
		if err := e.svc.SetPresence(ctx, PresenceChange{Mission: 11, Agent: a, State: PresencePause, PauseCode: "formation"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Claim(ctx, 11, a); !errors.Is(err, ErrNotInService) {
			t.Fatalf("claim on pause = %v", err)
		}
		e.clock.Advance(5 * time.Minute)
		if err := e.svc.GoOffline(ctx, a); err != nil {
			t.Fatal(err)
		}
		info, _ := e.svc.Info(ctx, c11.Contact.Ref)
		if info.LeaseOwner != 0 || !info.DueAt.Equal(e.clock.Now()) {
			t.Fatalf("after GoOffline: %+v", info)
		}
		if _, err := e.svc.Claim(ctx, 12, a); !errors.Is(err, ErrNotInService) {
			t.Fatalf("claim offline = %v", err)
		}
		ps, _ := e.svc.AgentPresences(ctx, a)
		if len(ps) != 2 || ps[0].State != PresenceOffline || ps[1].State != PresenceOffline {
			t.Fatalf("presences = %+v", ps)
		}
		hist, _ := e.svc.PresenceHistory(ctx, 11, t0.Add(-time.Hour), t0.Add(time.Hour))
		var states []string
		for _, h := range hist {
			states = append(states, string(h.State)+"/"+h.PauseCode)
		}
		if strings.Join(states, " ") != "S/ pause/formation offline/" {
			t.Fatalf("history = %v", states)
		}
		rep, err := e.svc.AgentsInService(ctx, 11, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil || rep.InService != 1 || len(rep.Agents) != 1 ||
			rep.Agents[0].ByState[PresenceService] != 5*time.Minute || rep.Agents[0].ByState[PresencePause] != 5*time.Minute {
			t.Fatalf("report = %+v, %v", rep, err)
		}
		// A period that starts after the agent went offline: nobody.
		rep, _ = e.svc.AgentsInService(ctx, 11, t0.Add(30*time.Minute), t0.Add(time.Hour))
		if rep.InService != 0 {
			t.Fatalf("report after offline = %+v", rep)
		}
	})
}
