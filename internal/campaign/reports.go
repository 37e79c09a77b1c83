package campaign

import (
	"context"
	"fmt"
	"time"

	"plateau/internal/db"
)

// OutcomeCount is a mission's calls with one outcome over a period.
type OutcomeCount struct {
	Outcome string `json:"outcome"`
	Calls   int    `json:"calls"`
	// Contacts counts the distinct files called with this outcome.
	Contacts int `json:"contacts"`
	// Closed counts the calls that closed their file (a closing outcome,
	// or the attempt cap reached).
	Closed int `json:"closed"`
	// Agents counts the distinct agents who recorded it.
	Agents int `json:"agents"`
}

const sqlCallsByOutcome = `SELECT outcome, COUNT(*), COUNT(DISTINCT contact),
	COALESCE(SUM(CASE WHEN closed THEN 1 ELSE 0 END), 0), COUNT(DISTINCT agent)
	FROM contact_attempts WHERE mission = ? AND at >= ? AND at < ? GROUP BY outcome ORDER BY outcome`

// CallsByOutcome counts a mission's calls over [from, to) per outcome, in
// outcome code order.
func (s *Service) CallsByOutcome(ctx context.Context, mission int, from, to time.Time) ([]OutcomeCount, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%w: the period ends before it starts", ErrInvalid)
	}
	rows, err := s.d.QueryContext(ctx, sqlCallsByOutcome, mission, db.Millis(from), db.Millis(to))
	if err != nil {
		return nil, fmt.Errorf("calls by outcome: %w", err)
	}
	defer rows.Close()
	var out []OutcomeCount
	for rows.Next() {
		var c OutcomeCount
		if err := rows.Scan(&c.Outcome, &c.Calls, &c.Contacts, &c.Closed, &c.Agents); err != nil {
			return nil, fmt.Errorf("calls by outcome: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("calls by outcome: %w", err)
	}
	return out, nil
}
