package notify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"plateau/internal/db"
)

// ScheduleError is a schedule that was refused. Field names the bad input:
// "name", "cron", "tz" or "fn".
type ScheduleError struct {
	Job   string
	Field string
	Value string
	Err   error
}

// Error reads like: notify: schedule "inbox": cron "0 25 * * *": end of range (25) above maximum (23): 25.
func (e *ScheduleError) Error() string {
	job := ""
	if e.Job != "" {
		job = fmt.Sprintf(" %q", e.Job)
	}
	return fmt.Sprintf("notify: schedule%s: %s %q: %v", job, e.Field, e.Value, e.Err)
}

// Unwrap returns the underlying error.
func (e *ScheduleError) Unwrap() error { return e.Err }

// zonedCron is a 5-field cron schedule in a time zone. It wraps gocron's
// parser (robfig/cron) and fixes the autumn change: a wall-clock time that
// occurs twice (02:30 on the night clocks go back) runs once, as people
// expect. A time that does not exist (02:30 on the night clocks go forward)
// is skipped that day.
type zonedCron struct {
	inner gocron.Cron
	loc   *time.Location
}

var _ gocron.Cron = (*zonedCron)(nil)

// IsValid parses crontab (which carries its CRON_TZ prefix).
func (z *zonedCron) IsValid(crontab string, _ *time.Location, now time.Time) error {
	return z.inner.IsValid(crontab, z.loc, now)
}

// Next returns the first activation after last.
func (z *zonedCron) Next(last time.Time) time.Time {
	next := z.inner.Next(last)
	if next.IsZero() {
		return next
	}
	// Cron's resolution is the minute: the same wall-clock minute again
	// means the clocks went back.
	l, n := last.In(z.loc), next.In(z.loc)
	if l.Year() == n.Year() && l.YearDay() == n.YearDay() && l.Hour() == n.Hour() && l.Minute() == n.Minute() {
		return z.inner.Next(next)
	}
	return next
}

// parseSchedule checks a cron expression and a time zone, returning the
// schedule and the crontab gocron is given.
func parseSchedule(job, spec, tz string, now time.Time) (*zonedCron, string, error) {
	loc, err := loadLocation(tz)
	if err != nil {
		return nil, "", &ScheduleError{Job: job, Field: "tz", Value: tz, Err: err}
	}
	bad := func(err error) (*zonedCron, string, error) {
		return nil, "", &ScheduleError{Job: job, Field: "cron", Value: spec, Err: err}
	}
	spec = strings.TrimSpace(spec)
	switch f := strings.Fields(spec); {
	case spec == "":
		return bad(errors.New("empty; want 5 fields: minute hour day-of-month month day-of-week"))
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return bad(errors.New("give the time zone separately, not in the expression"))
	case strings.HasPrefix(spec, "@every"):
		// Intervals count from each node's start, so nodes would not agree
		// on the ticks the job lock is about.
		return bad(errors.New("@every is not supported; write a cron expression"))
	case !strings.HasPrefix(spec, "@") && len(f) != 5:
		return bad(fmt.Errorf("%d fields; want 5: minute hour day-of-month month day-of-week", len(f)))
	}
	crontab := "CRON_TZ=" + loc.String() + " " + spec
	z := &zonedCron{inner: gocron.NewDefaultCron(false), loc: loc}
	if err := z.IsValid(crontab, loc, now); err != nil {
		// gocron joins a generic line to the parser's precise one.
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) && len(joined.Unwrap()) > 1 {
			errs := joined.Unwrap()
			err = errs[len(errs)-1]
		}
		return bad(err)
	}
	return z, crontab, nil
}

// ValidateSchedule checks a 5-field cron expression (or a descriptor such as
// @daily) and a time zone (empty: Europe/Paris). The error is a
// *ScheduleError naming the bad field.
func ValidateSchedule(spec, tz string) error {
	_, _, err := parseSchedule("", spec, tz, time.Now())
	return err
}

// NextRuns returns the n activations of spec in tz that follow after, as the
// Scheduler would run them (for display and tests).
func NextRuns(spec, tz string, after time.Time, n int) ([]time.Time, error) {
	z, _, err := parseSchedule("", spec, tz, after)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, n)
	for t := after; len(out) < n; {
		t = z.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.In(z.loc))
	}
	return out, nil
}

// SchedulerOptions configures a Scheduler.
type SchedulerOptions struct {
	// DB, when set, makes jobs run on one node per tick: before running, a
	// node takes the job's row in job_locks until the job's next tick. Leave
	// it nil for a single process.
	DB *db.DB
	// Node names this process in job_locks.owner; default host-pid-random.
	Node string
	// Logger receives job failures; slog.Default() by default.
	Logger *slog.Logger
	// Clock drives the schedule; a real clock by default, a
	// clockwork.FakeClock in tests.
	Clock clockwork.Clock
}

// Scheduler runs named jobs on cron schedules, each in its own time zone. A
// failing job is logged and runs again at its next tick. On one node a job
// never overlaps itself: a tick that comes while it still runs is skipped.
//
// With a shared database each tick runs on one node. The lease a node takes
// lasts until the job's next tick, so nodes whose clocks differ by less than
// the interval between ticks agree; a job is expected to finish well within
// that interval.
type Scheduler struct {
	gs    gocron.Scheduler
	clock clockwork.Clock
	d     *db.DB
	node  string
	log   *slog.Logger

	mu   sync.Mutex
	jobs map[string]gocron.Job

	// afterTick, set by tests before Start, learns whether each tick ran.
	afterTick func(name string, ran bool)
}

// NewScheduler returns a stopped scheduler; Add jobs, then Start or Run.
func NewScheduler(o SchedulerOptions) (*Scheduler, error) {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Node == "" {
		host, _ := os.Hostname()
		o.Node = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
	}
	gs, err := gocron.NewScheduler(
		gocron.WithClock(o.Clock),
		gocron.WithLocation(time.UTC), // each job carries its own zone
		gocron.WithLogger(o.Logger),
	)
	if err != nil {
		return nil, fmt.Errorf("notify: new scheduler: %w", err)
	}
	return &Scheduler{gs: gs, clock: o.Clock, d: o.DB, node: o.Node, log: o.Logger, jobs: map[string]gocron.Job{}}, nil
}

// Add registers fn to run at every activation of the 5-field cron expression
// spec (e.g. "0 9,10,11,14,15,16 * * 1-4") in the time zone tz (an IANA
// name; empty means Europe/Paris). name identifies the job across nodes and
// in logs. fn's context ends when the scheduler stops. Errors are
// *ScheduleError values naming the bad field.
func (s *Scheduler) Add(name, spec, tz string, fn func(ctx context.Context) error) error {
	if err := checkJobName(name); err != nil {
		return &ScheduleError{Job: name, Field: "name", Value: name, Err: err}
	}
	if fn == nil {
		return &ScheduleError{Job: name, Field: "fn", Value: "nil", Err: errors.New("no function to run")}
	}
	z, crontab, err := parseSchedule(name, spec, tz, s.clock.Now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[name]; dup {
		return &ScheduleError{Job: name, Field: "name", Value: name, Err: errors.New("already scheduled")}
	}
	running := new(atomic.Bool)
	j, err := s.gs.NewJob(
		gocron.CronJob(crontab, false),
		gocron.NewTask(func(ctx context.Context) { s.tick(ctx, name, z, running, fn) }),
		gocron.WithName(name),
		gocron.WithCronImplementation(z),
	)
	if err != nil {
		return fmt.Errorf("notify: schedule %q: %w", name, err)
	}
	s.jobs[name] = j
	return nil
}

// checkJobName keeps names short and plain: they are lock keys and log values.
func checkJobName(name string) error {
	if name == "" || len(name) > 100 {
		return errors.New("must be 1 to 100 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:", r)) {
			return fmt.Errorf("character %q not allowed: use letters, digits, dot, underscore, hyphen or colon", r)
		}
	}
	return nil
}

// Start starts running the jobs in the background.
func (s *Scheduler) Start() { s.gs.Start() }

// Stop stops the scheduler, cancelling the running jobs' contexts and
// waiting for them to return.
func (s *Scheduler) Stop() error {
	if err := s.gs.Shutdown(); err != nil {
		return fmt.Errorf("notify: stop scheduler: %w", err)
	}
	return nil
}

// Run starts the scheduler and stops it when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.Start()
	<-ctx.Done()
	return s.Stop()
}

// NextRun returns when the job runs next (this node's view; zero before
// Start).
func (s *Scheduler) NextRun(name string) (time.Time, error) {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}, fmt.Errorf("notify: no job %q", name)
	}
	t, err := j.NextRun()
	if err != nil {
		return time.Time{}, fmt.Errorf("notify: next run of %q: %w", name, err)
	}
	return t, nil
}

// tick is one activation of a job on this node. running keeps a slow run
// from overlapping the next tick on this node.
func (s *Scheduler) tick(ctx context.Context, name string, z *zonedCron, running *atomic.Bool, fn func(context.Context) error) {
	ran := false
	if s.afterTick != nil {
		defer func() { s.afterTick(name, ran) }()
	}
	if !running.CompareAndSwap(false, true) {
		s.log.WarnContext(ctx, "notify: job still running from its previous tick; tick skipped", "job", name)
		return
	}
	defer running.Store(false)
	now := s.clock.Now()
	if s.d != nil {
		ok, err := s.takeLock(ctx, name, now, z.Next(now))
		if err != nil {
			s.log.ErrorContext(ctx, "notify: job lock unavailable; tick skipped", "job", name, "error", err)
			return
		}
		if !ok {
			s.log.DebugContext(ctx, "notify: job runs on another node this tick", "job", name)
			return
		}
	}
	ran = true
	err := runJob(ctx, fn)
	took := s.clock.Since(now)
	if err != nil {
		s.log.ErrorContext(ctx, "notify: scheduled job failed", "job", name, "duration", took, "error", err)
		return
	}
	s.log.InfoContext(ctx, "notify: scheduled job done", "job", name, "duration", took)
}

// runJob runs fn, turning a panic into an error so one bad job cannot stop
// the others.
func runJob(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(ctx)
}

// takeLock takes name's lease for the tick at now, until the next tick. It
// reports false when another node holds it.
func (s *Scheduler) takeLock(ctx context.Context, name string, now, until time.Time) (bool, error) {
	if until.IsZero() || !until.After(now) {
		until = now.Add(time.Minute) // a last activation: still cover this tick
	}
	res, err := s.d.ExecContext(ctx, qTakeLock, name, s.node, db.Millis(until), db.Millis(now), db.Millis(now))
	if err != nil {
		return false, fmt.Errorf("take lock %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take lock %q: %w", name, err)
	}
	return n == 1, nil
}
