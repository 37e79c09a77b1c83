package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"plateau/internal/db"
)

func noop(context.Context) error { return nil }

func TestAddNamesTheBadField(t *testing.T) {
	log, _ := testLog()
	s, err := NewScheduler(SchedulerOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("inbox", InboxWaitingSchedule, "", noop); err != nil {
		t.Fatalf("valid job refused: %v", err)
	}
	tests := []struct {
		name, job, spec, tz string
		fn                  func(context.Context) error
		field               string
	}{
		{"empty name", "", InboxWaitingSchedule, "", noop, "name"},
		{"name with a space", "inbox check", InboxWaitingSchedule, "", noop, "name"},
		{"name taken", "inbox", InboxWaitingSchedule, "", noop, "name"},
		{"no function", "x", InboxWaitingSchedule, "", nil, "fn"},
		{"empty cron", "x", "", "", noop, "cron"},
		{"hour out of range", "x", "0 25 * * *", "", noop, "cron"},
		{"four fields", "x", "0 9 * *", "", noop, "cron"},
		{"six fields (seconds)", "x", "0 0 9 * * *", "", noop, "cron"},
		{"bad day of week", "x", "0 9 * * lun", "", noop, "cron"},
		{"zone inside the expression", "x", "CRON_TZ=UTC 0 9 * * *", "", noop, "cron"},
		{"@every", "x", "@every 5m", "", noop, "cron"},
		{"date that never comes", "x", "0 9 31 2 *", "", noop, "cron"},
		{"unknown zone", "x", "0 9 * * *", "Europe/Pariss", noop, "tz"},
		{"host's zone", "x", "0 9 * * *", "Local", noop, "tz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Add(tc.job, tc.spec, tc.tz, tc.fn)
			var se *ScheduleError
			if !errors.As(err, &se) {
				t.Fatalf("Add = %v, want a *ScheduleError", err)
			}
			if se.Field != tc.field || !strings.Contains(err.Error(), tc.field+" ") {
				t.Errorf("error %q names field %q, want %q", err, se.Field, tc.field)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
	for _, ok := range []struct{ spec, tz string }{
		{InboxWaitingSchedule, ""},
		{"*/15 8-18 * * mon-fri", "Europe/Paris"},
		{"@daily", "UTC"},
		{"0 9 * * *", "America/New_York"},
	} {
		if err := ValidateSchedule(ok.spec, ok.tz); err != nil {
			t.Errorf("ValidateSchedule(%q, %q) = %v", ok.spec, ok.tz, err)
		}
	}
}

func TestNextRunsAcrossDaylightSavingChanges(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, spec, tz string
		after          time.Time
		want           []string
	}{
		{
			"seed schedule over the spring change: 9:00 stays 9:00 local",
			InboxWaitingSchedule, "", at("2026-03-26 15:30"),
			[]string{"2026-03-26T16:00:00+01:00", "2026-03-30T09:00:00+02:00", "2026-03-30T10:00:00+02:00", "2026-03-30T11:00:00+02:00", "2026-03-30T14:00:00+02:00"},
		},
		{
			"seed schedule over the autumn change",
			InboxWaitingSchedule, "Europe/Paris", at("2026-10-22 16:30"),
			[]string{"2026-10-26T09:00:00+01:00", "2026-10-26T10:00:00+01:00"},
		},
		{
			"02:30 does not exist on the spring night: skipped that day",
			"30 2 * * *", "Europe/Paris", at("2026-03-28 12:00"),
			[]string{"2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"},
		},
		{
			"02:30 happens twice on the autumn night: runs once",
			"30 2 * * *", "Europe/Paris", at("2026-10-24 12:00"),
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"},
		},
		{
			"another zone changes on another date",
			"0 9 * * *", "America/New_York", at("2026-03-07 18:00"),
			[]string{"2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextRuns(tc.spec, tc.tz, tc.after, len(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, g := range got {
				s = append(s, g.Format(time.RFC3339))
			}
			if strings.Join(s, " ") != strings.Join(tc.want, " ") {
				t.Errorf("NextRuns =\n  %v\nwant\n  %v", s, tc.want)
			}
		})
	}
}

// ticker drives schedulers sharing a fake clock, one tick at a time.
type ticker struct {
	t      *testing.T
	clock  *clockwork.FakeClock
	scheds []*Scheduler
	logs   []*lockedBuffer
	ticks  chan bool // one value per node and tick: did it run?
}

func newTicker(t *testing.T, start time.Time, nodes int, d *db.DB) *ticker {
	tk := &ticker{t: t, clock: clockwork.NewFakeClockAt(start), ticks: make(chan bool, 16)}
	for i := range nodes {
		log, buf := testLog()
		s, err := NewScheduler(SchedulerOptions{DB: d, Node: "node" + string(rune('A'+i)), Clock: tk.clock, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		s.afterTick = func(_ string, ran bool) { tk.ticks <- ran }
		tk.scheds = append(tk.scheds, s)
		tk.logs = append(tk.logs, buf)
	}
	return tk
}

func (tk *ticker) start() {
	for i, s := range tk.scheds {
		s.Start()
		tk.t.Cleanup(func() {
			_ = s.Stop()
			if tk.t.Failed() {
				tk.t.Logf("log of node %d:\n%s", i, tk.logs[i].String())
			}
		})
	}
}

// next advances the clock to the job's next run, as the first scheduler
// sees it, and returns that time and how many nodes ran the job then.
func (tk *ticker) next(job string) (time.Time, int) {
	t := tk.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every node has armed its timer for the coming tick.
	if err := tk.clock.BlockUntilContext(ctx, len(tk.scheds)); err != nil {
		t.Fatalf("schedulers did not arm their timers: %v", err)
	}
	tk.scheds[0].mu.Lock()
	j := tk.scheds[0].jobs[job]
	tk.scheds[0].mu.Unlock()
	runs, err := j.NextRuns(2)
	if err != nil {
		t.Fatal(err)
	}
	var next time.Time
	for _, r := range runs {
		if r.After(tk.clock.Now()) {
			next = r
			break
		}
	}
	if next.IsZero() {
		t.Fatalf("no next run after %s in %v", tk.clock.Now(), runs)
	}
	tk.clock.Advance(next.Sub(tk.clock.Now()))
	ran := 0
	for range tk.scheds {
		select {
		case r := <-tk.ticks:
			if r {
				ran++
			}
		case <-ctx.Done():
			t.Fatalf("tick at %s: not every node fired", next)
		}
	}
	// A barrier: gocron's scheduler loop may still be digesting the run
	// (it reads the clock to drop past runs from its list); were the fake
	// clock advanced meanwhile, it would drop the coming run too. One
	// request through each loop makes sure it is done.
	for _, s := range tk.scheds {
		if _, err := s.NextRun(job); err != nil {
			t.Fatal(err)
		}
	}
	return next, ran
}

func TestSchedulerFiresAtLocalTimeAcrossTheAutumnChange(t *testing.T) {
	tk := newTicker(t, time.Date(2026, 10, 24, 10, 0, 0, 0, time.UTC), 1, nil)
	var mu sync.Mutex
	var runs []string
	fails := 1
	err := tk.scheds[0].Add("nightly", "30 2 * * *", "Europe/Paris", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, tk.clock.Now().Format(time.RFC3339))
		if fails > 0 {
			fails--
			return errors.New("export failed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tk.start()
	if next, err := tk.scheds[0].NextRun("nightly"); err != nil || !next.Equal(time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("NextRun = %s, %v", next, err)
	}
	for range 3 {
		tk.next("nightly")
	}
	want := "2026-10-25T00:30:00Z 2026-10-26T01:30:00Z 2026-10-27T01:30:00Z" // 02:30 Paris: once on the 25th
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(runs, " "); got != want {
		t.Errorf("runs at %s\nwant     %s", got, want)
	}
	// The first run failed: logged, and the job ran again at its next tick.
	if log := tk.logs[0].String(); !strings.Contains(log, "scheduled job failed") || !strings.Contains(log, "export failed") {
		t.Errorf("failure not logged:\n%s", log)
	}
}

func TestSlowJobSkipsTheTickItOverlaps(t *testing.T) {
	tk := newTicker(t, time.Date(2026, 3, 9, 7, 30, 0, 0, time.UTC), 1, nil)
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	if err := tk.scheds[0].Add("slow", "0 * * * *", "", func(ctx context.Context) error {
		started <- struct{}{}
		<-release
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tk.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	advanceToNextHour := func() {
		if err := tk.clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		now := tk.clock.Now()
		tk.clock.Advance(now.Truncate(time.Hour).Add(time.Hour).Sub(now))
	}
	advanceToNextHour()
	<-started
	if _, err := tk.scheds[0].NextRun("slow"); err != nil { // barrier, see ticker.next
		t.Fatal(err)
	}
	advanceToNextHour() // the first run is still going
	select {
	case ran := <-tk.ticks:
		if ran {
			t.Fatal("the overlapping tick ran")
		}
	case <-ctx.Done():
		t.Fatal("the overlapping tick did not fire")
	}
	close(release)
	if ran := <-tk.ticks; !ran {
		t.Fatal("the first run was not reported")
	}
	if !strings.Contains(tk.logs[0].String(), "still running") {
		t.Errorf("skip not logged:\n%s", tk.logs[0].String())
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	log, _ := testLog()
	s, err := NewScheduler(SchedulerOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("x", "0 9 * * *", "", noop); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestJobRunsOnOneNodePerTick(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		// Monday 9 March 2026, 08:30 in Paris.
		tk := newTicker(t, time.Date(2026, 3, 9, 7, 30, 0, 0, time.UTC), 2, d)
		var mu sync.Mutex
		total := 0
		for _, s := range tk.scheds {
			if err := s.Add("notify.inbox_waiting", InboxWaitingSchedule, "Europe/Paris", func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				total++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		tk.start()
		want := []string{"09:00", "10:00", "11:00", "14:00", "15:00", "16:00", "09:00"}
		paris, _ := time.LoadLocation("Europe/Paris")
		for i, w := range want {
			at, ran := tk.next("notify.inbox_waiting")
			if got := at.In(paris).Format("15:04"); got != w {
				t.Errorf("tick %d at %s, want %s", i, got, w)
			}
			if ran != 1 {
				t.Errorf("tick %d (%s): %d nodes ran the job, want 1", i, at, ran)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if total != len(want) {
			t.Errorf("job ran %d times over %d ticks", total, len(want))
		}
	})
}

func TestTakeLockAllowsOneNodePerTick(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		nodes := map[string]*Scheduler{}
		for _, n := range []string{"A", "B"} {
			log, _ := testLog()
			s, err := NewScheduler(SchedulerOptions{DB: d, Node: n, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			nodes[n] = s
		}
		h := time.Hour
		steps := []struct {
			node       string
			now, until time.Duration // after t0
			want       bool
			why        string
		}{
			{"A", 0, h, true, "first tick: free"},
			{"B", 2 * time.Second, h, false, "same tick, fired by a node whose clock is late"},
			{"A", 3 * time.Second, h, false, "same tick again"},
			{"B", h, 2 * h, true, "next tick: the lease ended"},
			{"A", h + 3*time.Second, 2 * h, false, "next tick, late node"},
			{"A", 2 * h, 3 * h, true, "third tick"},
		}
		for _, s := range steps {
			got, err := nodes[s.node].takeLock(ctx, "job", t0.Add(s.now), t0.Add(s.until))
			if err != nil {
				t.Fatal(err)
			}
			if got != s.want {
				t.Errorf("%s at t0+%s: took = %v, want %v (%s)", s.node, s.now, got, s.want, s.why)
			}
		}
		var owner string
		if err := d.QueryRowContext(ctx, `SELECT owner FROM job_locks WHERE name = ?`, "job").Scan(&owner); err != nil || owner != "A" {
			t.Errorf("owner = %q, %v", owner, err)
		}
	})
}
