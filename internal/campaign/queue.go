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

// Claim gives an agent in service on a mission the most urgent contact that
// is due and callable now, leased to them for the mission's lease duration,
// decrypted, with its history; the access is audited ("contact.read").
//
// An agent who already holds a live lease on the mission gets that contact
// again (its lease renewed). Otherwise the order is: this agent's due
// callbacks, then shared due callbacks (and other agents' callbacks left
// waiting longer than CallbackGrace), then the queue by priority (lowest
// first), due time, id.
//
// Errors: ErrNothingToCall when nothing is callable now; a *RuleError when
// the mission may not be served now (outside its windows, a holiday, the
// legal hours, a stale opposition list); ErrNotInService when the agent is
// offline or on pause on the mission; ErrArchived.
func (s *Service) Claim(ctx context.Context, mission int, agent int64) (Card, error) {
	return s.claim(ctx, mission, agent, RoutingQueue)
}

// ClaimManual is Claim for the contacts routed to manual dialling (special
// numbers the agent dials by hand).
func (s *Service) ClaimManual(ctx context.Context, mission int, agent int64) (Card, error) {
	return s.claim(ctx, mission, agent, RoutingManual)
}

func (s *Service) claim(ctx context.Context, mission int, agent int64, routing Routing) (Card, error) {
	e, err := s.entry(ctx, mission)
	if err != nil {
		return Card{}, fmt.Errorf("claim on mission %d: %w", mission, err)
	}
	if e.m.Archived {
		return Card{}, fmt.Errorf("claim on mission %d: %w", mission, ErrArchived)
	}
	now := s.now()
	if v := s.missionVerdict(e, now); !v.Callable {
		return Card{}, &RuleError{Verdict: v}
	}
	var card Card
	if err := s.batch.do(s.claimOp(ctx, e, agent, routing, now, &card)); err != nil {
		if isDomainError(err) {
			return Card{}, err
		}
		return Card{}, fmt.Errorf("claim on mission %d: %w", mission, err)
	}
	// Decrypting and reading the history need no write transaction: they
	// run here, concurrently, once the lease is committed.
	if err := s.open(ctx, &card.Contact); err != nil {
		return Card{}, err
	}
	card.Contact.sealed = nil
	card.History = []Attempt{}
	if card.Contact.Attempts > 0 || !card.Contact.LastAttemptAt.IsZero() {
		if card.History, err = s.history(ctx, s.d, card.Contact); err != nil {
			return Card{}, err
		}
	}
	return card, nil
}

// claimOp is a claim's queue operation; its lease lands in card.
func (s *Service) claimOp(ctx context.Context, e *missionEntry, agent int64, routing Routing, now time.Time, card *Card) *writeOp {
	return &writeOp{ctx: ctx, claimOn: e.m.Number, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
		*card = Card{}
		c, renewed, err := s.claimTx(ctx, tx, e, agent, routing, now)
		if err != nil {
			return nil, err
		}
		card.Contact, card.Renewed = c, renewed
		return []audit.Event{{At: now, Action: "contact.read", ObjectType: "contact", ObjectID: c.Ref.String(),
			After: map[string]any{"claim": true, "agent": agent, "lease_until": db.Millis(c.LeaseUntil)}}}, nil
	}}
}

// claimTx is a claim's work inside its transaction. In the common case it is
// one statement: find, lease and return the candidate; or, for a claim among
// others in its batch, lease the candidate found ahead by primary key (see
// queue_ready.go).
func (s *Service) claimTx(ctx context.Context, tx *batchTx, e *missionEntry, agent int64, routing Routing, now time.Time) (Contact, bool, error) {
	nowMS := db.Millis(now)
	until := nowMS + e.m.Lease.Milliseconds()
	grace := db.Millis(now.Add(-s.opt.CallbackGrace))
	checked := false
	held := 0
	if tx.claimsLeft != nil {
		tx.claimsLeft[e.m.Number]--
	}
	// Each statement finds, leases and returns the best remaining
	// candidate of one tier: callbacks, then each priority in turn. A
	// candidate a per-person rule holds back is given back, due when the
	// rule lets go (held_rule says which), and the tier is tried again.
	tiers := e.priorities
	if !e.nextCallback.IsZero() && !e.nextCallback.After(now) {
		tiers = append([]int{-1}, tiers...)
	}
	for _, tier := range tiers {
		for {
			var (
				row    *sql.Row
				ahead  bool
				aheadC readyHint
			)
			if tier < 0 {
				row = tx.QueryRowContext(ctx, s.q.claimCallback, agent, until, nowMS, until,
					e.m.Number, nowMS, agent, grace, agent,
					e.m.Number, agent, agent, e.m.Number, nowMS, e.m.Client)
			} else {
				cand, ok, err := s.readyCandidate(ctx, tx, e.m.Number, tier, routing, nowMS)
				if err != nil {
					return Contact{}, false, err
				}
				if ok {
					ahead, aheadC = true, cand
					row = tx.QueryRowContext(ctx, sqlClaimByID, agent, until, nowMS, until,
						cand.id, nowMS,
						e.m.Number, agent, agent, e.m.Number, nowMS, e.m.Client)
				} else {
					row = tx.QueryRowContext(ctx, s.q.claimQueue, agent, until, nowMS, until,
						e.m.Number, tier, string(routing), nowMS,
						e.m.Number, agent, agent, e.m.Number, nowMS, e.m.Client)
				}
			}
			var opposed bool
			c, err := scanContact(row, true, &opposed)
			if errors.Is(err, sql.ErrNoRows) {
				if !checked {
					// Nothing in this tier, or the agent may not claim,
					// or already holds a lease: find out once.
					checked = true
					c, renewed, err := s.claimCheck(ctx, tx, e, agent, until, nowMS)
					if err != nil || renewed {
						if ahead {
							// Still due: the next claim's.
							tx.unready(e.m.Number, tier, routing, aheadC)
						}
						return c, renewed, err
					}
				}
				if ahead {
					// The agent may claim, and the candidate found ahead
					// is no longer due (its expired lease was renewed by
					// its holder meanwhile): the next one.
					continue
				}
				break
			}
			if err != nil {
				return Contact{}, false, fmt.Errorf("claim: %w", err)
			}
			if ahead {
				s.leased(e.m.Number, tier, routing, aheadC)
			}
			c.opposed = opposed
			v, err := s.personVerdict(ctx, tx, e, c, now)
			if err != nil {
				return Contact{}, false, err
			}
			if v.Callable {
				return c, false, nil
			}
			due := neverMillis
			if !v.Next.IsZero() {
				due = db.Millis(v.Next)
			}
			if _, err := tx.ExecContext(ctx, sqlHold, due, string(v.Rule), c.RowID); err != nil {
				return Contact{}, false, fmt.Errorf("claim: hold back: %w", err)
			}
			if held++; held >= s.opt.MaxHeldPerClaim {
				return Contact{}, false, ErrNothingToCall
			}
		}
	}
	if !checked {
		c, renewed, err := s.claimCheck(ctx, tx, e, agent, until, nowMS)
		if err != nil || renewed {
			return c, renewed, err
		}
	}
	return Contact{}, false, ErrNothingToCall
}

// claimCheck says why a claim found nothing: the agent is not in service
// (ErrNotInService), or holds a live lease, which is renewed and returned
// (renewed true); otherwise nothing is due.
func (s *Service) claimCheck(ctx context.Context, tx *batchTx, e *missionEntry, agent, until, nowMS int64) (Contact, bool, error) {
	var (
		state sql.NullString
		held  sql.NullInt64
	)
	if err := tx.QueryRowContext(ctx, sqlClaimCheck, e.m.Number, agent, agent, e.m.Number, nowMS).Scan(&state, &held); err != nil {
		return Contact{}, false, fmt.Errorf("claim: check presence: %w", err)
	}
	if !state.Valid || !canClaim(PresenceState(state.String)) {
		return Contact{}, false, ErrNotInService
	}
	if !held.Valid {
		return Contact{}, false, nil
	}
	c, err := scanContact(tx.QueryRowContext(ctx, sqlRenewByID, until, until, held.Int64, e.m.Client), true, new(bool))
	if err != nil {
		return Contact{}, false, fmt.Errorf("claim: renew lease: %w", err)
	}
	return c, true, nil
}

// Renew extends the agent's lease on a contact (while its screen is open)
// and returns the new end. A lease that expired is renewed too as long as no
// one else claimed the contact meanwhile. ErrNotLeased otherwise.
func (s *Service) Renew(ctx context.Context, r Ref, agent int64) (time.Time, error) {
	e, err := s.entry(ctx, r.Mission)
	if err != nil {
		return time.Time{}, fmt.Errorf("renew lease on %s: %w", r, err)
	}
	until := db.Millis(s.now().Add(e.m.Lease))
	var got int64
	err = s.batch.do(&writeOp{ctx: ctx, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
		err := tx.QueryRowContext(ctx, sqlRenew, until, until, r.ID, r.Mission, agent).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotLeased
		}
		return nil, err
	}})
	if err != nil {
		if isDomainError(err) {
			return time.Time{}, err
		}
		return time.Time{}, fmt.Errorf("renew lease on %s: %w", r, err)
	}
	return db.FromMillis(got), nil
}

// Release gives a leased contact back to the queue without qualifying it;
// it is due at once. ErrNotLeased when the agent does not hold it.
func (s *Service) Release(ctx context.Context, r Ref, agent int64) error {
	now := db.Millis(s.now())
	err := s.batch.do(&writeOp{ctx: ctx, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
		res, err := tx.ExecContext(ctx, sqlRelease, now, r.ID, r.Mission, agent)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, ErrNotLeased
		}
		return nil, nil
	}})
	if err != nil {
		if isDomainError(err) {
			return err
		}
		return fmt.Errorf("release %s: %w", r, err)
	}
	return nil
}
