// Package campaign holds missions and their contacts: outcome codes, the call
// queue (claims as leases), qualifications and callbacks, the calling rules
// checked at claim time (mission windows, French public holidays, and for
// consumer prospecting the legal hours, per-person caps, refusal silence,
// consent and opposition lists), agents' presence, and the statistics and
// reports computed from them.
//
// Personal data never appear in clear in the database: a contact's fields are
// sealed in one blob with the mission's data key (vault scope
// "mission:<number>"), comments likewise, and phone numbers are only ever
// stored as blind indexes in the client's scope ("client:<client>"), which
// lets caps and opposition lists work across a client's missions.
//
// Every change is audited in the same transaction; the actor comes from the
// context (audit.WithActor). Nothing personal goes to logs or error texts.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// Errors callers may test with errors.Is. The web and API layers map each to
// a status and a catalogue message.
var (
	ErrNotFound         = errors.New("not found")
	ErrMissionExists    = errors.New("a mission with this number already exists")
	ErrArchived         = errors.New("the mission is archived")
	ErrInvalid          = errors.New("invalid value")
	ErrNothingToCall    = errors.New("no contact is callable now") // API: 204
	ErrNotInService     = errors.New("the agent is not in service on this mission")
	ErrNotMember        = errors.New("the user is not assigned to this mission")
	ErrNotLeased        = errors.New("the contact is not leased to this agent") // API: 409
	ErrLeasedByOther    = errors.New("another agent holds the contact")
	ErrClosed           = errors.New("the contact is closed")
	ErrUnknownOutcome   = errors.New("unknown outcome code for this mission")
	ErrCallbackRequired = errors.New("this outcome needs a callback time")
	ErrOutcomeInUse     = errors.New("the outcome code was already used and cannot be deleted")
	ErrAmbiguous        = errors.New("several missions have a contact with this id: give the mission")
)

// RuleError is returned when a calling rule refuses: Claim on a mission that
// may not be served now (outside its windows, a public holiday, a stale
// opposition list...) or a callback at a forbidden time. It carries the
// verdict: the rule, an English message and when it becomes allowed.
type RuleError struct {
	Verdict Verdict
}

// Error says which rule refused, until when, and why.
func (e *RuleError) Error() string {
	if e.Verdict.Next.IsZero() {
		return fmt.Sprintf("not allowed (%s): %s", e.Verdict.Rule, e.Verdict.Message)
	}
	return fmt.Sprintf("not allowed (%s) until %s: %s", e.Verdict.Rule,
		e.Verdict.Next.UTC().Format(time.RFC3339), e.Verdict.Message)
}

// Options configure the service.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives operational messages (never personal data);
	// slog.Default() when nil.
	Logger *slog.Logger
	// CacheTTL is how long a mission's settings, outcome codes and opposition
	// check date are used from memory before being read again; changes made
	// through this Service are seen at once, changes made by another node
	// within CacheTTL. 0: 5 seconds.
	CacheTTL time.Duration
	// CallbackGrace is how long a callback reserved for one agent waits for
	// them before any agent may take it. 0: 1 hour.
	CallbackGrace time.Duration
	// MaxHeldPerClaim bounds how many candidates one Claim may push back
	// because of a per-person rule before giving up (the next Claim goes
	// on). 0: 32.
	MaxHeldPerClaim int
}

// Service manages missions, contacts, the queue and presence.
type Service struct {
	d     *db.DB
	v     *vault.Vault
	a     *audit.Log
	opt   Options
	log   *slog.Logger
	q     dialect
	legal legalRules

	batch *batcher

	mu    sync.Mutex
	cache map[int]*missionEntry
	// loading holds, per mission, the channel closed when the read of
	// its entry in progress ends: one read at a time per mission, however
	// many agents find the entry old at once.
	loading map[int]chan struct{}
	// gen counts forget calls: an entry read while one happened may be
	// out of date and is not cached.
	gen uint64
}

// New returns the campaign service.
func New(d *db.DB, v *vault.Vault, a *audit.Log, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = 5 * time.Second
	}
	if opt.CallbackGrace <= 0 {
		opt.CallbackGrace = time.Hour
	}
	if opt.MaxHeldPerClaim <= 0 {
		opt.MaxHeldPerClaim = 32
	}
	lg := opt.Logger
	if lg == nil {
		lg = slog.Default()
	}
	s := &Service{
		d: d, v: v, a: a, opt: opt, log: lg,
		q:       dialectOf(d.Engine()),
		legal:   newLegalRules(),
		cache:   make(map[int]*missionEntry),
		loading: make(map[int]chan struct{}),
	}
	s.batch = &batcher{s: s, writers: s.q.writers}
	return s
}

func (s *Service) now() time.Time { return s.opt.Now() }

// missionScope is the vault scope of a mission's personal data.
func missionScope(number int) string { return "mission:" + strconv.Itoa(number) }

// clientScope is the vault scope of a client's blind indexes.
func clientScope(client string) string { return "client:" + client }

// missionEntry is a mission as the hot paths need it, cached.
type missionEntry struct {
	m          Mission
	loc        *time.Location
	outcomes   map[string]Outcome
	checkedAt  time.Time // the client's last opposition list check
	priorities []int     // priorities of the open queued contacts (a superset)
	// nextCallback is when the first pending callback falls due (zero:
	// none); claims probe callbacks only from then.
	nextCallback time.Time
	loaded       time.Time
}

func (e *missionEntry) schedule() schedule {
	return schedule{loc: e.loc, windows: e.m.Windows, holidaysOpen: e.m.HolidaysOpen, legal: e.m.Regime == RegimeConsumer}
}

// entry returns the cached mission, reading it when missing or old.
//
// One read runs at a time per mission. While it runs, callers get the old
// entry, if any (it was fresh a moment ago), or wait for the read; without
// this, the 200 agents of a mission whose entry just aged would all read it
// at once, every CacheTTL.
func (s *Service) entry(ctx context.Context, number int) (*missionEntry, error) {
	for {
		now := s.now()
		s.mu.Lock()
		e := s.cache[number]
		if e != nil {
			if age := now.Sub(e.loaded); age >= 0 && age < s.opt.CacheTTL {
				s.mu.Unlock()
				return e, nil
			}
		}
		if wait := s.loading[number]; wait != nil {
			s.mu.Unlock()
			if e != nil {
				return e, nil
			}
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.loading[number] = done
		gen := s.gen
		s.mu.Unlock()

		e, err := s.loadEntry(ctx, s.d, number)
		s.mu.Lock()
		delete(s.loading, number)
		if err == nil {
			e.loaded = now
			if s.gen == gen {
				s.cache[number] = e
			}
		}
		s.mu.Unlock()
		close(done)
		return e, err
	}
}

// forget drops a mission from the cache (after a change through this node).
func (s *Service) forget(number int) {
	s.mu.Lock()
	delete(s.cache, number)
	s.gen++
	s.mu.Unlock()
}

// forgetClient drops every mission of a client (opposition list changes).
func (s *Service) forgetClient(client string) {
	s.mu.Lock()
	s.gen++
	for n, e := range s.cache {
		if e.m.Client == client {
			delete(s.cache, n)
		}
	}
	s.mu.Unlock()
}

func (s *Service) loadEntry(ctx context.Context, q db.Querier, number int) (*missionEntry, error) {
	m, err := loadMission(ctx, q, number)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("mission %d: time zone %q: %w", number, m.TimeZone, err)
	}
	e := &missionEntry{m: m, loc: loc, outcomes: make(map[string]Outcome, len(m.Outcomes))}
	for _, o := range m.Outcomes {
		e.outcomes[o.Code] = o
	}
	var checked int64
	if err := q.QueryRowContext(ctx, sqlOppositionChecked, m.Client).Scan(&checked); err != nil {
		return nil, fmt.Errorf("mission %d: opposition list check: %w", number, err)
	}
	e.checkedAt = db.FromMillis(checked)
	if e.priorities, err = queuePriorities(ctx, q, number); err != nil {
		return nil, err
	}
	var next int64
	if err := q.QueryRowContext(ctx, sqlNextCallback, number).Scan(&next); err != nil {
		return nil, fmt.Errorf("mission %d: next callback: %w", number, err)
	}
	e.nextCallback = db.FromMillis(next)
	return e, nil
}

// record audits e inside tx.
func (s *Service) record(ctx context.Context, tx *db.Tx, e audit.Event) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.a.Record(ctx, tx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}
