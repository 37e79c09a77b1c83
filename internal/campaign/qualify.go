package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// CallbackOwner says who may take a callback.
type CallbackOwner string

// Callback owners.
const (
	CallbackAnyone CallbackOwner = "anyone" // the default
	CallbackMe     CallbackOwner = "me"     // the agent who set it (others after CallbackGrace)
)

// Qualification is an agent's outcome for a call.
type Qualification struct {
	Outcome       string
	Comment       string
	CallbackAt    time.Time     // required by a callback outcome
	CallbackOwner CallbackOwner // "" means anyone
}

// Qualified is a contact's state after a qualification.
type Qualified struct {
	Ref
	Outcome     string    `json:"outcome"`
	At          time.Time `json:"at"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	CloseReason string    `json:"close_reason,omitempty"`
	// DueAt is when the file is due again (open files).
	DueAt         time.Time `json:"due_at,omitzero"`
	CallbackAt    time.Time `json:"callback_at,omitzero"`
	CallbackOwner int64     `json:"callback_owner,omitempty"`
}

const maxCommentLen = 4000

// Qualify records the outcome of the agent's call on a contact they hold,
// and releases the lease: the attempt is counted when the outcome counts,
// the file closes on a closing outcome or at the mission's maximum
// attempts, and otherwise is due again after the outcome's retry delay or
// at the callback time. The comment is sealed. Audited ("contact.qualify").
// The commit is synchronous: an outcome is never lost.
//
// Only the lease holder may qualify: ErrNotLeased (API 409) otherwise;
// ErrClosed for a closed file. A lease that ran out still counts as long as
// no one else claimed the contact: a long call must not lose its outcome. A
// callback at a time the rules forbid gives a *RuleError with the rule and
// the next allowed time.
func (s *Service) Qualify(ctx context.Context, r Ref, agent int64, q Qualification) (Qualified, error) {
	e, err := s.entry(ctx, r.Mission)
	if err != nil {
		return Qualified{}, fmt.Errorf("qualify %s: %w", r, err)
	}
	o, ok := e.outcomes[q.Outcome]
	if !ok {
		return Qualified{}, ErrUnknownOutcome
	}
	comment, err := cleanText("comment", q.Comment, maxCommentLen, true)
	if err != nil {
		return Qualified{}, err
	}
	now := s.now()
	nowMS := db.Millis(now)
	res := Qualified{Ref: r, Outcome: o.Code, At: db.FromMillis(nowMS)}
	due := nowMS + o.RetryAfter.Milliseconds()
	var cbAt, cbOwner int64
	if o.Callback {
		if q.CallbackAt.IsZero() {
			return Qualified{}, ErrCallbackRequired
		}
		if !q.CallbackAt.After(now) {
			return Qualified{}, fmt.Errorf("%w: the callback time must be in the future", ErrInvalid)
		}
		switch q.CallbackOwner {
		case CallbackMe:
			cbOwner = agent
		case CallbackAnyone, "":
		default:
			return Qualified{}, fmt.Errorf("%w: callback owner: want me or anyone", ErrInvalid)
		}
		if v := evaluate(q.CallbackAt, s.missionGates(e, q.CallbackAt)); !v.Callable {
			return Qualified{}, &RuleError{Verdict: v}
		}
		cbAt, due = db.Millis(q.CallbackAt), db.Millis(q.CallbackAt)
	}
	var sealed any // NULL without a comment
	if comment != "" {
		if sealed, err = s.v.Seal(ctx, missionScope(r.Mission), []byte(comment), commentAD(r, nowMS)); err != nil {
			return Qualified{}, fmt.Errorf("qualify %s: %w", r, err)
		}
	}
	counted := 0
	if o.CountsAttempt {
		counted = 1
	}
	maxAttempts := e.m.MaxAttempts
	op := &writeOp{ctx: ctx, durable: true, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
		if o.Callback {
			// The per-person rules at the callback time need the number:
			// read (and lock) the contact first.
			if err := s.checkCallbackTx(ctx, tx, e, r, agent, q.CallbackAt, now, o.Refusal); err != nil {
				return nil, err
			}
		}
		var (
			id, leasedAt, owner, cb int64
			state, reason           string
			bidx                    []byte
		)
		args := []any{counted,
			o.Closes, counted, maxAttempts,
			o.Closes, counted, maxAttempts,
			o.Closes, counted, maxAttempts, nowMS,
			o.Closes, counted, maxAttempts, cbAt,
			o.Closes, counted, maxAttempts, cbOwner,
			due, o.Code, nowMS, nowMS,
			r.ID, r.Mission, agent}
		consumer := e.m.Regime == RegimeConsumer
		query := sqlQualify
		if s.q.qualifyAll != "" {
			query = s.q.qualifyAll
			args = append(args, r.Mission, agent, nowMS, o.Code, o.CountsAttempt, sealed,
				e.m.Client, nowMS, o.Refusal, r.Mission, consumer)
		}
		err := tx.QueryRowContext(ctx, query, args...).Scan(&id, &res.Attempts, &state, &reason, &leasedAt, &bidx, &cb, &owner)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, s.whyNotLeased(ctx, tx, r)
		}
		if err != nil {
			return nil, fmt.Errorf("update contact: %w", err)
		}
		res.State, res.CloseReason = State(state), reason
		res.CallbackAt, res.CallbackOwner = db.FromMillis(cb), owner
		res.DueAt = time.Time{}
		if res.State == StateOpen {
			res.DueAt = db.FromMillis(due)
		}
		if s.q.qualifyAll == "" {
			if _, err := tx.ExecContext(ctx, sqlInsertAttempt, id, r.Mission, agent, nowMS, leasedAt, o.Code,
				o.CountsAttempt, res.Attempts, res.State == StateClosed, cb, sealed); err != nil {
				return nil, fmt.Errorf("record attempt: %w", err)
			}
			if consumer {
				// Every call counts towards the legal cap, whatever the
				// mission's own attempt counting says.
				if _, err := tx.ExecContext(ctx, sqlInsertPersonCall, e.m.Client, bidx, nowMS, o.Refusal, r.Mission); err != nil {
					return nil, fmt.Errorf("record person call: %w", err)
				}
			}
		}
		tx.counts.qualified(r.Mission, e.loc, now, o.Code, counted, res)
		after := map[string]any{"outcome": o.Code, "state": state, "attempts": res.Attempts, "agent": agent,
			"comment": comment != ""}
		if cb != 0 {
			after["callback_at"], after["callback_owner"] = cb, owner
		}
		return []audit.Event{{At: now, Action: "contact.qualify", ObjectType: "contact", ObjectID: r.String(),
			Before: map[string]any{"attempts": res.Attempts - counted}, After: after}}, nil
	}}
	if err := s.batch.do(op); err != nil {
		if isDomainError(err) {
			return Qualified{}, err
		}
		return Qualified{}, fmt.Errorf("qualify %s: %w", r, err)
	}
	if cbAt != 0 {
		s.forget(r.Mission) // claims must start probing callbacks
	}
	return res, nil
}

// whyNotLeased tells apart, after a lease-holder-only update matched
// nothing, a closed file, someone else's, and an unknown one.
func (s *Service) whyNotLeased(ctx context.Context, q db.Querier, r Ref) error {
	var (
		state string
		owner int64
	)
	err := q.QueryRowContext(ctx, sqlLeaseState, r.ID, r.Mission).Scan(&state, &owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("read contact: %w", err)
	case State(state) == StateClosed:
		return ErrClosed
	}
	return ErrNotLeased
}

// checkCallbackTx checks, for a callback on r set by agent (the lease
// holder) at t, the per-person rules with this call counted.
func (s *Service) checkCallbackTx(ctx context.Context, tx *batchTx, e *missionEntry, r Ref, agent int64, t, now time.Time, refusal bool) error {
	c, err := s.qualifyCheck(ctx, tx, e, r)
	if err != nil {
		return err
	}
	if c.State != StateOpen {
		return ErrClosed
	}
	if c.LeaseOwner != agent {
		return ErrNotLeased
	}
	f, err := s.personFacts(ctx, tx, e, c, t, true)
	if err != nil {
		return err
	}
	if f.consumer {
		// This call counts too, and this lease is about to end.
		f.history.calls = append(f.history.calls, now)
		if refusal {
			f.history.refusal = now
		}
	}
	if v := evaluate(t, append(personGates(f), s.missionGates(e, t)...)); !v.Callable {
		return &RuleError{Verdict: v}
	}
	return nil
}

// qualifyCheck reads (and on PostgreSQL locks) what the per-person rules
// need of a contact.
func (s *Service) qualifyCheck(ctx context.Context, tx db.Querier, e *missionEntry, r Ref) (Contact, error) {
	c := Contact{Ref: r}
	var (
		state     string
		consentAt int64
	)
	err := tx.QueryRowContext(ctx, sqlQualifyCheck+s.q.lockRow, e.m.Client, r.ID, r.Mission).
		Scan(&c.RowID, &state, &c.LeaseOwner, &c.phoneBidx, &c.opposed, &consentAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("read contact: %w", err)
	}
	c.State, c.ConsentAt = State(state), db.FromMillis(consentAt)
	return c, nil
}

// SetCallback schedules a callback on an open contact (a supervisor moving
// one, or an agent without qualifying), for owner (0: anyone). It refuses a
// time the rules forbid with a *RuleError giving the rule and the next
// allowed time, and a contact another agent holds with ErrLeasedByOther. A
// lease the caller holds on it ends. Audited ("contact.callback").
func (s *Service) SetCallback(ctx context.Context, r Ref, by int64, at time.Time, owner int64) error {
	e, err := s.entry(ctx, r.Mission)
	if err != nil {
		return fmt.Errorf("set callback on %s: %w", r, err)
	}
	now := s.now()
	if !at.After(now) {
		return fmt.Errorf("%w: the callback time must be in the future", ErrInvalid)
	}
	if v := evaluate(at, s.missionGates(e, at)); !v.Callable {
		return &RuleError{Verdict: v}
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		c, err := contactByRef(ctx, tx, r, s.q.lockRow)
		if err != nil {
			return err
		}
		if c.State != StateOpen {
			return ErrClosed
		}
		if c.LeaseOwner != 0 && c.LeaseOwner != by && c.LeaseUntil.After(now) {
			return ErrLeasedByOther
		}
		if c.opposed, err = s.isOpposed(ctx, tx, e.m.Client, c.phoneBidx); err != nil {
			return err
		}
		f, err := s.personFacts(ctx, tx, e, c, at, true)
		if err != nil {
			return err
		}
		if v := evaluate(at, append(personGates(f), s.missionGates(e, at)...)); !v.Callable {
			return &RuleError{Verdict: v}
		}
		if _, err := tx.ExecContext(ctx, sqlSetCallback, db.Millis(at), owner, db.Millis(at), c.RowID); err != nil {
			return fmt.Errorf("save callback: %w", err)
		}
		return s.record(ctx, tx, audit.Event{Action: "contact.callback", ObjectType: "contact", ObjectID: r.String(),
			Before: map[string]any{"callback_at": db.Millis(c.CallbackAt), "callback_owner": c.CallbackOwner},
			After:  map[string]any{"callback_at": db.Millis(at), "callback_owner": owner, "by": by}})
	})
	if err != nil {
		if isDomainError(err) {
			return err
		}
		return fmt.Errorf("set callback on %s: %w", r, err)
	}
	s.forget(r.Mission)
	return nil
}
