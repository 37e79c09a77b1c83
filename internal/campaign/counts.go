package campaign

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"plateau/internal/db"
)

// The live view's totals come from two small tables kept current by the
// transactions that change what they count: mission_counts (files by state,
// close reason, closing outcome and attempts: written by loads and
// qualifications) and mission_days (calls by day and outcome: written by
// qualifications). Counting a million contacts at every refresh would cost
// seconds; these are a few rows. Recount rebuilds them from the contacts
// and attempts, should anything ever change contacts behind the service's
// back (a restore, a manual fix).

// countKey is one bucket of mission_counts.
type countKey struct {
	mission  int
	state    State
	reason   string
	outcome  string // the closing outcome; "" while open
	attempts int
}

// dayKey is one row of mission_days.
type dayKey struct {
	mission int
	day     int // YYYYMMDD in the mission's time zone
	outcome string
}

// counter collects a transaction's changes to the counts, applied at its end
// in key order (so that concurrent transactions lock counter rows in the
// same order and cannot deadlock on them).
type counter struct {
	files map[countKey]int64
	days  map[dayKey][2]int64 // calls, closed
}

func (c *counter) file(k countKey, delta int64) {
	if delta == 0 {
		return
	}
	if c.files == nil {
		c.files = make(map[countKey]int64)
	}
	c.files[k] += delta
}

func (c *counter) call(k dayKey, closed bool) {
	if c.days == nil {
		c.days = make(map[dayKey][2]int64)
	}
	v := c.days[k]
	v[0]++
	if closed {
		v[1]++
	}
	c.days[k] = v
}

// qualified records a qualification's move between buckets and its call.
func (c *counter) qualified(mission int, loc *time.Location, at time.Time, outcome string, counted int, q Qualified) {
	closedOutcome := ""
	if q.State == StateClosed {
		closedOutcome = outcome
	}
	before := countKey{mission: mission, state: StateOpen, attempts: q.Attempts - counted}
	after := countKey{mission: mission, state: q.State, reason: q.CloseReason, outcome: closedOutcome, attempts: q.Attempts}
	if before != after {
		c.file(before, -1)
		c.file(after, 1)
	}
	c.call(dayKey{mission: mission, day: dayOf(at, loc), outcome: outcome}, q.State == StateClosed)
}

// dayOf is t's date in loc as YYYYMMDD.
func dayOf(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*10000 + int(m)*100 + d
}

const (
	upsertCountRow = `(?, ?, ?, ?, ?, ?)`
	upsertCounts   = `INSERT INTO mission_counts (mission, state, close_reason, outcome, attempts, files) VALUES %s
		ON CONFLICT (mission, state, close_reason, outcome, attempts) DO UPDATE SET files = mission_counts.files + excluded.files`
	upsertDayRow = `(?, ?, ?, ?, ?)`
	upsertDays   = `INSERT INTO mission_days (mission, day, outcome, calls, closed) VALUES %s
		ON CONFLICT (mission, day, outcome) DO UPDATE SET calls = mission_days.calls + excluded.calls,
		closed = mission_days.closed + excluded.closed`
)

// apply writes the collected changes in tx, one statement per table.
func (c *counter) apply(ctx context.Context, q db.Querier) error {
	if len(c.files) > 0 {
		keys := make([]countKey, 0, len(c.files))
		for k, v := range c.files {
			if v != 0 {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b countKey) int {
			return cmp.Or(cmp.Compare(a.mission, b.mission), cmp.Compare(a.state, b.state), cmp.Compare(a.reason, b.reason),
				cmp.Compare(a.outcome, b.outcome), cmp.Compare(a.attempts, b.attempts))
		})
		if len(keys) > 0 {
			args := make([]any, 0, 6*len(keys))
			for _, k := range keys {
				args = append(args, k.mission, string(k.state), k.reason, k.outcome, k.attempts, c.files[k])
			}
			if _, err := q.ExecContext(ctx, fmt.Sprintf(upsertCounts, repeatRows(upsertCountRow, len(keys))), args...); err != nil {
				return fmt.Errorf("update file counts: %w", err)
			}
		}
	}
	if len(c.days) > 0 {
		keys := make([]dayKey, 0, len(c.days))
		for k := range c.days {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b dayKey) int {
			return cmp.Or(cmp.Compare(a.mission, b.mission), cmp.Compare(a.day, b.day), cmp.Compare(a.outcome, b.outcome))
		})
		args := make([]any, 0, 5*len(keys))
		for _, k := range keys {
			v := c.days[k]
			args = append(args, k.mission, k.day, k.outcome, v[0], v[1])
		}
		if _, err := q.ExecContext(ctx, fmt.Sprintf(upsertDays, repeatRows(upsertDayRow, len(keys))), args...); err != nil {
			return fmt.Errorf("update day counts: %w", err)
		}
	}
	c.files, c.days = nil, nil
	return nil
}

// repeatRows returns n copies of a VALUES row, comma-separated.
func repeatRows(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

const (
	sqlCounts      = `SELECT state, close_reason, outcome, attempts, files FROM mission_counts WHERE mission = ? AND files <> 0`
	sqlDayCounts   = `SELECT outcome, calls, closed FROM mission_days WHERE mission = ? AND day = ?`
	sqlClearCounts = `DELETE FROM mission_counts WHERE mission = ?`
	sqlClearDays   = `DELETE FROM mission_days WHERE mission = ?`
	sqlRecountFile = `SELECT state, close_reason, CASE WHEN state = 'closed' THEN last_outcome ELSE '' END, attempts, COUNT(*)
		FROM contacts WHERE mission = ? GROUP BY state, close_reason, CASE WHEN state = 'closed' THEN last_outcome ELSE '' END, attempts`
	sqlRecountDays = `SELECT at, outcome, closed FROM contact_attempts WHERE mission = ?`
)

// Recount rebuilds a mission's counts (files by state and attempts, calls
// per day) from its contacts and attempts, in one transaction; it reads
// every row of the mission, so it is a repair tool, not a routine.
func (s *Service) Recount(ctx context.Context, mission int) error {
	m, err := loadMission(ctx, s.d, mission)
	if err != nil {
		return fmt.Errorf("recount mission %d: %w", mission, err)
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		return fmt.Errorf("recount mission %d: %w", mission, err)
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		var c counter
		rows, err := tx.QueryContext(ctx, sqlRecountFile, mission)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				k     countKey
				state string
				n     int64
			)
			if err := rows.Scan(&state, &k.reason, &k.outcome, &k.attempts, &n); err != nil {
				rows.Close()
				return err
			}
			k.mission, k.state = mission, State(state)
			c.file(k, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = tx.QueryContext(ctx, sqlRecountDays, mission); err != nil {
			return err
		}
		for rows.Next() {
			var (
				at      int64
				outcome string
				closed  bool
			)
			if err := rows.Scan(&at, &outcome, &closed); err != nil {
				rows.Close()
				return err
			}
			c.call(dayKey{mission: mission, day: dayOf(db.FromMillis(at), loc), outcome: outcome}, closed)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlClearCounts, mission); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlClearDays, mission); err != nil {
			return err
		}
		// One statement per table is fine for a handful of buckets; chunk
		// the days of a long mission.
		days := c.days
		c.days = nil
		if err := c.apply(ctx, tx); err != nil {
			return err
		}
		keys := make([]dayKey, 0, len(days))
		for k := range days {
			keys = append(keys, k)
		}
		for start := 0; start < len(keys); start += 500 {
			part := counter{days: make(map[dayKey][2]int64)}
			for _, k := range keys[start:min(start+500, len(keys))] {
				part.days[k] = days[k]
			}
			if err := part.apply(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recount mission %d: %w", mission, err)
	}
	return nil
}
