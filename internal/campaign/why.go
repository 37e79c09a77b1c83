package campaign

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"plateau/internal/db"
)

// MissionVerdict says whether a mission may be served at t, and if not why
// and from when (its windows, holidays, and for consumer prospecting the
// legal hours and the opposition list's age).
func (s *Service) MissionVerdict(ctx context.Context, mission int, t time.Time) (Verdict, error) {
	e, err := s.entry(ctx, mission)
	if err != nil {
		return Verdict{}, fmt.Errorf("mission %d: %w", mission, err)
	}
	return s.missionVerdict(e, t), nil
}

// structuralGates are the rules that hold a whole mission back whatever the
// time: archived, or (consumer prospecting) a stale opposition list.
func (s *Service) structuralGates(e *missionEntry, t time.Time) []gate {
	var gs []gate
	if e.m.Archived {
		gs = append(gs, closedGate(RuleArchived, "The mission is archived."))
	}
	if e.m.Regime == RegimeConsumer && (e.checkedAt.IsZero() || t.Sub(e.checkedAt) > OppositionMaxAge) {
		gs = append(gs, closedGate(RuleOppositionStale, "The client's opposition list was not checked in the last 30 days: "+
			"consumer prospecting stops until it is loaded or its check is recorded."))
	}
	return gs
}

// missionGates are the rules that hold a whole mission back at t.
func (s *Service) missionGates(e *missionEntry, t time.Time) []gate {
	return append(s.structuralGates(e, t), e.schedule().timeGates(s.legal)...)
}

func (s *Service) missionVerdict(e *missionEntry, t time.Time) Verdict {
	return evaluate(t, s.missionGates(e, t))
}

// personVerdict applies the per-person rules to a candidate (or any
// contact) at t, reading the person's history in q.
func (s *Service) personVerdict(ctx context.Context, q db.Querier, e *missionEntry, c Contact, t time.Time) (Verdict, error) {
	f, err := s.personFacts(ctx, q, e, c, t, true)
	if err != nil {
		return Verdict{}, err
	}
	return evaluate(t, personGates(f)), nil
}

// personFacts gathers what the per-person rules need of contact c at t;
// lock (inside a write transaction) serialises the decisions on one person
// on PostgreSQL until the transaction ends.
func (s *Service) personFacts(ctx context.Context, q db.Querier, e *missionEntry, c Contact, t time.Time, lock bool) (personFacts, error) {
	f := personFacts{consumer: e.m.Regime == RegimeConsumer, opposed: c.opposed, consentAt: c.ConsentAt}
	if !f.consumer {
		return f, nil
	}
	if lock && s.q.lockPerson != "" && len(c.phoneBidx) >= 8 {
		key := int64(binary.BigEndian.Uint64(c.phoneBidx[:8]))
		if _, err := q.ExecContext(ctx, s.q.lockPerson, key); err != nil {
			return f, fmt.Errorf("lock person: %w", err)
		}
	}
	h, err := s.personHistory(ctx, q, e.m.Client, c.phoneBidx, c.RowID, t)
	if err != nil {
		return f, err
	}
	f.history = h
	return f, nil
}

// personHistory reads the calls of a person (client + blind index) in the
// last RefusalSilence before t, and live leases on their other files.
func (s *Service) personHistory(ctx context.Context, q db.Querier, client string, bidx []byte, rowID int64, t time.Time) (personHistory, error) {
	var h personHistory
	rows, err := q.QueryContext(ctx, sqlPersonCalls, client, bidx, db.Millis(t.Add(-RefusalSilence)))
	if err != nil {
		return h, fmt.Errorf("person calls: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			at      int64
			refusal bool
		)
		if err := rows.Scan(&at, &refusal); err != nil {
			return h, fmt.Errorf("person calls: %w", err)
		}
		h.calls = append(h.calls, db.FromMillis(at))
		if refusal {
			h.refusal = db.FromMillis(at)
		}
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("person calls: %w", err)
	}
	rows.Close()
	var busy int64
	if err := q.QueryRowContext(ctx, sqlPersonBusy, bidx, db.Millis(t), rowID).Scan(&busy); err != nil {
		return h, fmt.Errorf("person leases: %w", err)
	}
	h.busy = db.FromMillis(busy)
	return h, nil
}

// CheckCallback says whether a callback on the contact at t would be
// accepted, for a picker that refuses forbidden times as the user types.
func (s *Service) CheckCallback(ctx context.Context, r Ref, t time.Time) (Verdict, error) {
	e, err := s.entry(ctx, r.Mission)
	if err != nil {
		return Verdict{}, fmt.Errorf("check callback on %s: %w", r, err)
	}
	c, err := contactByRef(ctx, s.d, r, "")
	if err != nil {
		return Verdict{}, err
	}
	if c.opposed, err = s.isOpposed(ctx, s.d, e.m.Client, c.phoneBidx); err != nil {
		return Verdict{}, err
	}
	f, err := s.personFacts(ctx, s.d, e, c, t, false)
	if err != nil {
		return Verdict{}, err
	}
	gates := append(personGates(f), s.missionGates(e, t)...)
	return evaluate(t, gates), nil
}

// Why says whether a contact is callable at t (now when zero) and, if not,
// which rule holds it back and when it becomes callable: the supervisor's
// "why is it not being called?".
func (s *Service) Why(ctx context.Context, r Ref, t time.Time) (Verdict, error) {
	if t.IsZero() {
		t = s.now()
	}
	e, err := s.entry(ctx, r.Mission)
	if err != nil {
		return Verdict{}, fmt.Errorf("why %s: %w", r, err)
	}
	c, err := contactByRef(ctx, s.d, r, "")
	if err != nil {
		return Verdict{}, err
	}
	if c.State == StateClosed {
		msg := "The file is closed (outcome " + strconv.Quote(c.LastOutcome) + ")."
		if c.CloseReason == CloseMaxAttempts {
			msg = fmt.Sprintf("The file is closed: the mission's %d attempts were made.", e.m.MaxAttempts)
		}
		return evaluate(t, []gate{closedGate(RuleClosed, msg)}), nil
	}
	if c.opposed, err = s.isOpposed(ctx, s.d, e.m.Client, c.phoneBidx); err != nil {
		return Verdict{}, err
	}
	f, err := s.personFacts(ctx, s.d, e, c, t, false)
	if err != nil {
		return Verdict{}, err
	}
	// Per-person rules come before the time rules: they are specific to
	// this contact, the time rules hold every contact of the mission alike.
	ordered := s.structuralGates(e, t)
	ordered = append(ordered, personGates(f)...)
	ordered = append(ordered, e.schedule().timeGates(s.legal)...)
	if !c.LeaseUntil.IsZero() && c.LeaseUntil.After(t) {
		ordered = append(ordered, untilGate(RuleLeased, c.LeaseUntil, "An agent holds the file."))
	}
	switch {
	case c.DueAt.IsZero():
		ordered = append(ordered, closedGate(Rule(c.HeldRule), "Held back by a rule until something changes."))
	case c.DueAt.After(t) && c.HeldRule != "":
		ordered = append(ordered, untilGate(c.HeldRule, c.DueAt, "Held back by a rule."))
	case c.DueAt.After(t) && !c.CallbackAt.IsZero():
		ordered = append(ordered, untilGate(RuleCallback, c.DueAt, "A callback is scheduled."))
	case c.DueAt.After(t) && c.LastOutcome == "" && (c.LeaseUntil.IsZero() || !c.DueAt.Equal(c.LeaseUntil)):
		ordered = append(ordered, untilGate(RuleScheduled, c.DueAt, "The file is to be called from a later time."))
	case c.DueAt.After(t) && (c.LeaseUntil.IsZero() || !c.DueAt.Equal(c.LeaseUntil)):
		ordered = append(ordered, untilGate(RuleRetryDelay, c.DueAt,
			"The retry delay of the last outcome ("+strconv.Quote(c.LastOutcome)+") has not run out."))
	}
	return evaluate(t, ordered), nil
}

func (s *Service) isOpposed(ctx context.Context, q db.Querier, client string, bidx []byte) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, sqlIsOpposed, client, bidx).Scan(&n); err != nil {
		return false, fmt.Errorf("opposition check: %w", err)
	}
	return n > 0, nil
}

// PruneCalls deletes the per-person call records older than the longest
// rule that reads them (the 60-day silence after a refusal): they are kept
// for the legal caps only. Meant for a daily job; returns how many went.
func (s *Service) PruneCalls(ctx context.Context) (int64, error) {
	res, err := s.d.ExecContext(ctx, sqlPrunePersonCalls, db.Millis(s.now().Add(-RefusalSilence)))
	if err != nil {
		return 0, fmt.Errorf("prune person calls: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
