package campaign

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// MissionStats is the supervisors' live view of a mission, computed by a
// fixed set of queries (see Stats).
type MissionStats struct {
	Mission int       `json:"mission"`
	At      time.Time `json:"at"`
	// Serving says whether the mission may be served now, and if not why
	// (windows, holiday, legal hours, stale opposition list).
	Serving Verdict `json:"serving"`

	Total  int `json:"total"`
	Open   int `json:"open"`
	Closed int `json:"closed"`
	// DueNow: open files due now, queue and callbacks (held and leased
	// files are not due).
	DueNow int `json:"due_now"`
	// Waiting: open files due later (retry delays, callbacks), not held.
	Waiting int `json:"waiting"`
	// Leased: files an agent holds now.
	Leased int `json:"leased"`
	// Held: open files a per-person rule holds back, by rule.
	Held map[Rule]int `json:"held"`
	// ClosedByOutcome: closed files by the outcome that closed them;
	// files closed at the attempt cap are under ClosedAtCap instead.
	ClosedByOutcome map[string]int `json:"closed_by_outcome"`
	ClosedAtCap     int            `json:"closed_at_cap"`
	// Attempts: files by number of attempts made.
	Attempts map[int]int `json:"attempts"`
	// CallbacksDue and CallbacksNextHour: callbacks due now, and in the
	// next hour.
	CallbacksDue      int `json:"callbacks_due"`
	CallbacksNextHour int `json:"callbacks_next_hour"`

	// Agents: their state on the mission and for how long.
	Agents []AgentPresence `json:"agents"`
	// AgentsByState counts the agents in each state (offline ones are not
	// counted).
	AgentsByState map[PresenceState]int `json:"agents_by_state"`

	// Today (the mission's time zone): calls by outcome, files closed by a
	// call, successes.
	CallsToday     int            `json:"calls_today"`
	TodayByOutcome map[string]int `json:"today_by_outcome"`
	ClosedToday    int            `json:"closed_today"`
	SuccessToday   int            `json:"success_today"`
}

const (
	// sqlStatsNotDue counts the open queued files of one priority and
	// routing not due yet (leased ones included: a lease pushes due_at to
	// its end), a range of contacts_queue.
	sqlStatsNotDue = `SELECT COUNT(*) FROM contacts WHERE mission = ? AND priority = ? AND routing = ?
		AND state = 'open' AND callback_at = 0 AND due_at > ?`
	// sqlStatsCallbacks: pending callbacks, due ones, and those due in the
	// next hour (a few rows of contacts_callbacks; the range on due_at
	// keeps SQLite on that index once ANALYZE has run).
	sqlStatsCallbacks = `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN due_at > ? AND due_at <= ? THEN 1 ELSE 0 END), 0)
		FROM contacts WHERE mission = ? AND state = 'open' AND callback_at <> 0 AND due_at > 0`
	sqlStatsHeld = `SELECT held_rule, COUNT(*) FROM contacts
		WHERE mission = ? AND held_rule <> '' AND state = 'open' AND due_at > ? GROUP BY held_rule`
	// sqlStatsLeased probes contacts_lease once per agent seen on the
	// mission: that index leads with the agent, and a scan of it is costed
	// as a table scan once ANALYZE has run on SQLite.
	sqlStatsLeased = `SELECT COUNT(*) FROM contacts WHERE lease_owner IN (SELECT agent FROM presence WHERE mission = ?)
		AND lease_owner <> 0 AND mission = ? AND lease_until > ? AND state = 'open'`
)

// Stats computes a mission's live view from a fixed set of small queries:
// the counts kept by loads and qualifications, and range counts of the
// files not due yet, callbacks, held and leased files. It costs the same
// whatever the number of viewers: the web layer computes it once per
// interval and shares the result.
func (s *Service) Stats(ctx context.Context, mission int) (MissionStats, error) {
	e, err := s.entry(ctx, mission)
	if err != nil {
		return MissionStats{}, fmt.Errorf("stats of mission %d: %w", mission, err)
	}
	now := s.now()
	nowMS := db.Millis(now)
	st := MissionStats{
		Mission: mission, At: now, Serving: s.missionVerdict(e, now),
		Held: map[Rule]int{}, ClosedByOutcome: map[string]int{}, Attempts: map[int]int{},
		AgentsByState: map[PresenceState]int{}, TodayByOutcome: map[string]int{},
	}
	fail := func(what string, err error) (MissionStats, error) {
		return MissionStats{}, fmt.Errorf("stats of mission %d: %s: %w", mission, what, err)
	}
	rows, err := s.d.QueryContext(ctx, sqlCounts, mission)
	if err != nil {
		return fail("counts", err)
	}
	for rows.Next() {
		var (
			state, reason, outcome string
			attempts, n            int
		)
		if err := rows.Scan(&state, &reason, &outcome, &attempts, &n); err != nil {
			rows.Close()
			return fail("counts", err)
		}
		st.Total += n
		st.Attempts[attempts] += n
		if State(state) == StateOpen {
			st.Open += n
			continue
		}
		st.Closed += n
		if reason == CloseMaxAttempts {
			st.ClosedAtCap += n
		} else {
			st.ClosedByOutcome[outcome] += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("counts", err)
	}
	notDue := 0
	for _, p := range e.priorities {
		for _, r := range []Routing{RoutingQueue, RoutingManual} {
			var n int
			if err := s.d.QueryRowContext(ctx, sqlStatsNotDue, mission, p, string(r), nowMS).Scan(&n); err != nil {
				return fail("not due", err)
			}
			notDue += n
		}
	}
	var callbacks int
	hour := db.Millis(now.Add(time.Hour))
	if err := s.d.QueryRowContext(ctx, sqlStatsCallbacks, nowMS, nowMS, hour, mission).
		Scan(&callbacks, &st.CallbacksDue, &st.CallbacksNextHour); err != nil {
		return fail("callbacks", err)
	}
	held := 0
	if err := countBy(ctx, s.d, sqlStatsHeld, func(k string, n int) { st.Held[Rule(k)] = n; held += n },
		mission, nowMS); err != nil {
		return fail("held", err)
	}
	if err := s.d.QueryRowContext(ctx, sqlStatsLeased, mission, mission, nowMS).Scan(&st.Leased); err != nil {
		return fail("leased", err)
	}
	// Leased and held files are among those not due (their due time is the
	// lease's end or the rule's), queued or callbacks.
	st.DueNow = max(0, st.Open-callbacks-notDue) + st.CallbacksDue
	st.Waiting = max(0, notDue+callbacks-st.CallbacksDue-st.Leased-held)
	if st.Agents, err = s.Presence(ctx, mission); err != nil {
		return MissionStats{}, err
	}
	for _, a := range st.Agents {
		if a.State != PresenceOffline {
			st.AgentsByState[a.State]++
		}
	}
	rows, err = s.d.QueryContext(ctx, sqlDayCounts, mission, dayOf(now, e.loc))
	if err != nil {
		return fail("today", err)
	}
	for rows.Next() {
		var (
			outcome       string
			calls, closed int
		)
		if err := rows.Scan(&outcome, &calls, &closed); err != nil {
			rows.Close()
			return fail("today", err)
		}
		st.TodayByOutcome[outcome] = calls
		st.CallsToday += calls
		st.ClosedToday += closed
		if o, ok := e.outcomes[outcome]; ok && o.Success {
			st.SuccessToday += calls
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("today", err)
	}
	return st, nil
}

// countBy runs a "key, count" query.
func countBy(ctx context.Context, q db.Querier, query string, fn func(key string, n int), args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k string
			n int
		)
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		fn(k, n)
	}
	return rows.Err()
}

// FileFilter selects the files of a report.
type FileFilter struct {
	Mission int
	// IDPrefix keeps the contacts whose id starts with it (seed 000's
	// "id_contact LIKE '2102%'": the files received in February 2021).
	IDPrefix string
	// WithFields decrypts each file's fields (for an export with names);
	// the export is audited once ("contacts.export").
	WithFields bool
}

// FileRow is one file of a report.
type FileRow struct {
	Contact
}

const fileColumns = contactColumns

// OpenFiles streams the files still being worked (open: a retryable
// outcome or none yet, attempts under the cap) in contact id order: seed
// 000's "dossiers non clôturés".
func (s *Service) OpenFiles(ctx context.Context, f FileFilter, fn func(FileRow) error) error {
	return s.files(ctx, f, StateOpen, fn)
}

// ClosedFiles streams the closed files (closing outcome or cap reached) in
// contact id order: seed 000's "dossiers clôturés", to take off the
// agents' lists.
func (s *Service) ClosedFiles(ctx context.Context, f FileFilter, fn func(FileRow) error) error {
	return s.files(ctx, f, StateClosed, fn)
}

func (s *Service) files(ctx context.Context, f FileFilter, state State, fn func(FileRow) error) error {
	cols := fileColumns
	if f.WithFields {
		cols = contactFull
	}
	// A prefix is a range on contacts_ref (contact_id first): no LIKE, whose
	// escaping and index use differ per engine.
	query := `SELECT ` + cols + ` FROM contacts WHERE mission = ? AND state = ?`
	args := []any{f.Mission, string(state)}
	if f.IDPrefix != "" {
		query += ` AND contact_id >= ?`
		args = append(args, f.IDPrefix)
		if hi, ok := prefixEnd(f.IDPrefix); ok {
			query += ` AND contact_id < ?`
			args = append(args, hi)
		}
	}
	query += ` ORDER BY contact_id`
	if f.WithFields {
		// Recorded before the first row leaves: an export cut short was
		// still an access.
		err := s.a.Append(ctx, audit.Event{At: s.now(), Action: "contacts.export", ObjectType: "mission",
			ObjectID: fmt.Sprint(f.Mission), After: map[string]any{"state": string(state), "prefix": f.IDPrefix}})
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
	}
	rows, err := s.d.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s files of mission %d: %w", state, f.Mission, err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanContact(rows, f.WithFields)
		if err != nil {
			return fmt.Errorf("%s files of mission %d: %w", state, f.Mission, err)
		}
		if f.WithFields {
			if err := s.open(ctx, &c); err != nil {
				return err
			}
			c.sealed = nil
		}
		if err := fn(FileRow{Contact: c}); err != nil {
			return err
		}
	}
	return rows.Err()
}

// prefixEnd returns the smallest string greater than every string starting
// with p, in byte order: contact_id compares bytewise on both engines
// (SQLite's BINARY, PostgreSQL's COLLATE "C" in the migration).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// AgentTime is an agent's time in each presence state over a period.
type AgentTime struct {
	Agent   int64                           `json:"agent"`
	ByState map[PresenceState]time.Duration `json:"-"`
	// Seconds is ByState in seconds, for JSON.
	Seconds map[PresenceState]int64 `json:"seconds"`
}

// ServiceReport is who was in service on a mission over a period.
type ServiceReport struct {
	Mission  int       `json:"mission"`
	From, To time.Time `json:"-"`
	// InService counts the agents who were in service ("S", or in a call
	// or its wrap-up) at some moment of the period: seed 000's "agents
	// disponibles".
	InService int         `json:"in_service"`
	Agents    []AgentTime `json:"agents"`
}

// AgentsInService reports the agents of a mission over [from, to): how many
// were in service at some moment, and each one's time per state. For seed
// 000's "today between 09:00 and 19:00", pass those instants in the
// mission's time zone (DayRange).
func (s *Service) AgentsInService(ctx context.Context, mission int, from, to time.Time) (ServiceReport, error) {
	rep := ServiceReport{Mission: mission, From: from, To: to}
	if !to.After(from) {
		return rep, fmt.Errorf("%w: the period ends before it starts", ErrInvalid)
	}
	before, err := s.d.QueryContext(ctx, sqlPresenceBefore, mission, db.Millis(from))
	if err != nil {
		return rep, fmt.Errorf("agents in service: %w", err)
	}
	start, err := scanPresenceEvents(before)
	before.Close()
	if err != nil {
		return rep, err
	}
	during, err := s.PresenceHistory(ctx, mission, from, to)
	if err != nil {
		return rep, err
	}
	type cur struct {
		state PresenceState
		since time.Time
	}
	state := map[int64]*cur{}
	times := map[int64]map[PresenceState]time.Duration{}
	add := func(agent int64, st PresenceState, d time.Duration) {
		if times[agent] == nil {
			times[agent] = map[PresenceState]time.Duration{}
		}
		if d > 0 {
			times[agent][st] += d
		}
	}
	for _, ev := range start {
		state[ev.Agent] = &cur{state: ev.State, since: from}
		add(ev.Agent, ev.State, 0)
	}
	for _, ev := range during {
		if c := state[ev.Agent]; c != nil {
			add(ev.Agent, c.state, ev.At.Sub(c.since))
		}
		state[ev.Agent] = &cur{state: ev.State, since: ev.At}
		add(ev.Agent, ev.State, 0)
	}
	for agent, c := range state {
		add(agent, c.state, to.Sub(c.since))
	}
	for agent, byState := range times {
		delete(byState, PresenceOffline)
		if len(byState) == 0 {
			continue
		}
		at := AgentTime{Agent: agent, ByState: byState, Seconds: map[PresenceState]int64{}}
		for st, d := range byState {
			at.Seconds[st] = int64(d / time.Second)
		}
		if byState[PresenceService]+byState[PresenceCall]+byState[PresenceWrapUp] > 0 {
			rep.InService++
		}
		rep.Agents = append(rep.Agents, at)
	}
	sort.Slice(rep.Agents, func(i, j int) bool { return rep.Agents[i].Agent < rep.Agents[j].Agent })
	return rep, nil
}

// DayRange returns [day at fromClock, day at toClock) in loc, from clocks
// written "HH:MM" ("24:00" allowed as the end).
func DayRange(loc *time.Location, y int, m time.Month, d int, fromClock, toClock string) (time.Time, time.Time, error) {
	a, err := parseClock(strings.TrimSpace(fromClock))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b, err := parseClock(strings.TrimSpace(toClock))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return time.Date(y, m, d, a/60, a%60, 0, 0, loc), time.Date(y, m, d, b/60, b%60, 0, 0, loc), nil
}

// CallCount is a number of calls by an agent with an outcome.
type CallCount struct {
	Agent   int64  `json:"agent"`
	Outcome string `json:"outcome"`
	Calls   int    `json:"calls"`
	// Handling is the total time from claim to qualification.
	Handling time.Duration `json:"-"`
	// HandlingSeconds is Handling in seconds, for JSON.
	HandlingSeconds int64 `json:"handling_seconds"`
}

const sqlCallsByAgent = `SELECT agent, outcome, COUNT(*),
	COALESCE(SUM(CASE WHEN leased_at > 0 AND at > leased_at THEN at - leased_at ELSE 0 END), 0)
	FROM contact_attempts WHERE mission = ? AND at >= ? AND at < ? GROUP BY agent, outcome ORDER BY agent, outcome`

// CallsByAgent counts a mission's calls over [from, to) per agent and
// outcome (sum them for per-agent or per-outcome totals).
func (s *Service) CallsByAgent(ctx context.Context, mission int, from, to time.Time) ([]CallCount, error) {
	rows, err := s.d.QueryContext(ctx, sqlCallsByAgent, mission, db.Millis(from), db.Millis(to))
	if err != nil {
		return nil, fmt.Errorf("calls by agent: %w", err)
	}
	defer rows.Close()
	var out []CallCount
	for rows.Next() {
		var (
			c  CallCount
			ms int64
		)
		if err := rows.Scan(&c.Agent, &c.Outcome, &c.Calls, &ms); err != nil {
			return nil, fmt.Errorf("calls by agent: %w", err)
		}
		c.Handling = time.Duration(ms) * time.Millisecond
		c.HandlingSeconds = ms / 1000
		out = append(out, c)
	}
	return out, rows.Err()
}

// Reach says how many of the files loaded in a period were called within a
// delay of their loading: seed 000's "everyone called within 3 days".
type Reach struct {
	Loaded  int `json:"loaded"`
	Reached int `json:"reached"` // first call within the delay
	Late    int `json:"late"`    // first call after it
	Never   int `json:"never"`   // not called yet
}

const sqlReach = `SELECT COUNT(*),
	COALESCE(SUM(CASE WHEN first_attempt_at <> 0 AND first_attempt_at - loaded_at <= ? THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN first_attempt_at <> 0 AND first_attempt_at - loaded_at > ? THEN 1 ELSE 0 END), 0)
	FROM contacts WHERE mission = ? AND loaded_at >= ? AND loaded_at < ? AND (? = 0 OR batch_id = ?)`

// ReachedWithin reports, for the files of a mission loaded in [from, to)
// (and of one batch when batch is not 0), how many were first called
// within `within` of their loading.
func (s *Service) ReachedWithin(ctx context.Context, mission int, within time.Duration, from, to time.Time, batch int64) (Reach, error) {
	var r Reach
	ms := within.Milliseconds()
	err := s.d.QueryRowContext(ctx, sqlReach, ms, ms, mission, db.Millis(from), db.Millis(to), batch, batch).
		Scan(&r.Loaded, &r.Reached, &r.Late)
	if err != nil {
		return r, fmt.Errorf("reach of mission %d: %w", mission, err)
	}
	r.Never = r.Loaded - r.Reached - r.Late
	return r, nil
}
