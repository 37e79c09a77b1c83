package campaign

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Claims found ahead, per batch.
//
// A claim's statement finds its candidate with a range scan of the queue's
// index from its head. On PostgreSQL that head is where the dead entries of
// the rows claimed a moment ago lie (a claim moves due_at, so the row gets a
// new entry further on and leaves the old one), and every claim walked them
// until a vacuum removed them. When a batch holds several claims on one
// mission, the first one of a tier finds (and on PostgreSQL locks, FOR
// UPDATE SKIP LOCKED) the candidates of them all in one scan; each claim then
// leases its own by primary key, with every check of the ordinary claim
// statement (still due, open, not a callback, the agent in service and
// holding no live lease), and the per-person rules after it as before.
//
// The candidates are kept in the batch's transaction only: nothing outlives
// it, so a contact found ahead can never be handed out twice (on PostgreSQL
// the row lock keeps the other writer's claims away until the commit, and
// on SQLite the single writer does), and those not used are simply due as
// before once the transaction ends.

// readyKey names a queue tier of a mission.
type readyKey struct {
	mission  int
	priority int
	routing  Routing
}

// readyTier is what a batch found ahead in one tier.
type readyTier struct {
	ids     []readyHint // the candidates, in queue order
	drained bool        // a scan found fewer than it asked for: back to the ordinary claim
}

// readyCandidate returns the next candidate found ahead for a claim of this
// batch in the tier, scanning for the batch's remaining claims on the
// mission when none is left. ok is false when the claim should use the
// ordinary statement: fewer claims than dialect.readyMin are left in the
// batch on the mission, or the tier ran dry.
func (s *Service) readyCandidate(ctx context.Context, tx *batchTx, mission, priority int, routing Routing, nowMS int64) (c readyHint, ok bool, err error) {
	key := readyKey{mission, priority, routing}
	rt := tx.ready[key]
	if rt == nil || (len(rt.ids) == 0 && !rt.drained) {
		want := tx.claimsLeft[mission] + 1 // this claim and those after it
		if want < s.q.readyMin {
			return readyHint{}, false, nil
		}
		if rt == nil {
			rt = &readyTier{}
			if tx.ready == nil {
				tx.ready = make(map[readyKey]*readyTier)
			}
			tx.ready[key] = rt
		}
		if err := s.fillReady(ctx, tx, rt, key, nowMS, want); err != nil {
			return readyHint{}, false, err
		}
	}
	if len(rt.ids) == 0 {
		return readyHint{}, false, nil
	}
	c, rt.ids = rt.ids[0], rt.ids[1:]
	return c, true, nil
}

// leased records that a claim leased candidate c of the tier: scans for
// candidates ahead go on after it (PostgreSQL; see readyHints).
func (s *Service) leased(mission, priority int, routing Routing, c readyHint) {
	if s.q.readyAfter != "" {
		s.batch.hints.set(readyKey{mission, priority, routing}, c)
	}
}

// fillReady scans the tier for up to want candidates: from the head of the
// queue, or on PostgreSQL mostly from where the last scan stopped (see
// readyHints).
func (s *Service) fillReady(ctx context.Context, tx *batchTx, rt *readyTier, key readyKey, nowMS int64, want int) error {
	tx.scans.Add(1)
	var after readyHint
	hinted := false
	if s.q.readyAfter != "" {
		after, hinted = s.batch.hints.get(key)
	}
	var (
		rows *sql.Rows
		err  error
	)
	if hinted {
		rows, err = tx.QueryContext(ctx, s.q.readyAfter, key.mission, key.priority, string(key.routing), nowMS,
			after.due, after.due, after.id, want)
	} else {
		rows, err = tx.QueryContext(ctx, s.q.readyQueue, key.mission, key.priority, string(key.routing), nowMS, want)
	}
	if err != nil {
		return fmt.Errorf("claim: find candidates: %w", err)
	}
	defer rows.Close()
	rt.ids = rt.ids[:0]
	for rows.Next() {
		var c readyHint
		if err := rows.Scan(&c.id, &c.due); err != nil {
			return fmt.Errorf("claim: find candidates: %w", err)
		}
		rt.ids = append(rt.ids, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("claim: find candidates: %w", err)
	}
	rt.drained = len(rt.ids) < want
	if hinted && rt.drained {
		// Dry after the hint: the head may still hold what it skipped.
		// The next scan starts there.
		rt.drained = false
		s.batch.hints.drop(key)
	}
	return nil
}

// readyHints remembers, per tier, the last candidate found ahead that a
// claim leased (PostgreSQL only). The head of the queue is where the dead index
// entries of the rows just claimed lie until a vacuum, and a scan from it
// walks them all (a thousand pages after a minute of 200 agents without
// autovacuum); most scans start after the last candidate found instead.
// A hint only orders the work: a contact it skips (due earlier but locked
// by another batch at the time, or loaded late with an old due time) is
// found by the next scan from the head, one in readyHintScans at most, or
// as soon as the range after the hint runs dry; and every candidate is
// leased with all the checks of an ordinary claim.
type readyHints struct {
	mu    sync.Mutex
	hints map[readyKey]readyHint
}

// readyHintScans bounds the scans that start from a hint before one starts
// from the head again.
const readyHintScans = 32

type readyHint struct {
	due, id int64
	uses    int
}

// get returns the tier's hint, if it may still be used.
func (h *readyHints) get(key readyKey) (readyHint, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.hints[key]
	if !ok {
		return readyHint{}, false
	}
	if r.uses >= readyHintScans {
		delete(h.hints, key)
		return readyHint{}, false
	}
	r.uses++
	h.hints[key] = r
	return r, true
}

// set records the last candidate leased, keeping the count of hinted scans.
func (h *readyHints) set(key readyKey, last readyHint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hints == nil {
		h.hints = make(map[readyKey]readyHint)
	}
	if r, ok := h.hints[key]; ok {
		last.uses = r.uses
	}
	h.hints[key] = last
}

func (h *readyHints) drop(key readyKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.hints, key)
}

// reset forgets every hint: the next scans start from the head.
func (h *readyHints) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.hints)
}

// unready gives back a candidate found ahead that a claim did not lease (the
// agent may not claim), first in line for the batch's next claim.
func (t *batchTx) unready(mission, priority int, routing Routing, c readyHint) {
	if rt := t.ready[readyKey{mission, priority, routing}]; rt != nil {
		rt.ids = append([]readyHint{c}, rt.ids...)
	}
}
