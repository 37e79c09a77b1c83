package inbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"plateau/internal/clocktest"
)

// memInbox is an Inbox in memory, with errors to inject.
type memInbox struct {
	mu      sync.Mutex
	files   map[string]*memFile
	done    []string
	listErr error
	openErr map[string]error
	doneErr map[string]error
	// extra is appended to what Open returns, as if the file grew after
	// being listed.
	extra map[string]string
}

type memFile struct {
	data string
	mod  time.Time
}

func newMemInbox() *memInbox {
	return &memInbox{files: map[string]*memFile{}, openErr: map[string]error{}, doneErr: map[string]error{}, extra: map[string]string{}}
}

func (m *memInbox) put(name, data string, mod time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = &memFile{data: data, mod: mod}
}

func (m *memInbox) List(context.Context) ([]File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listErr != nil {
		return nil, m.listErr
	}
	var out []File
	for name, f := range m.files {
		out = append(out, File{Name: name, Size: int64(len(f.data)), ModTime: f.mod})
	}
	return out, nil // unsorted on purpose: the poller sorts
}

func (m *memInbox) Open(_ context.Context, name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.openErr[name]; err != nil {
		return nil, err
	}
	f, ok := m.files[name]
	if !ok {
		return nil, fmt.Errorf("open %s: no such file", name)
	}
	return io.NopCloser(strings.NewReader(f.data + m.extra[name])), nil
}

func (m *memInbox) Done(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.doneErr[name]; err != nil {
		return err
	}
	delete(m.files, name)
	m.done = append(m.done, name)
	return nil
}

func (m *memInbox) Close() error { return nil }

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)) }

// loads records what a Handler was given.
type loads struct {
	mu    sync.Mutex
	names []string
	data  map[string]string
	fail  map[string]error
}

func newLoads() *loads { return &loads{data: map[string]string{}, fail: map[string]error{}} }

func (l *loads) handle(_ context.Context, source string, f File, r io.Reader) error {
	b, err := io.ReadAll(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, f.Name)
	if err != nil {
		return err
	}
	if source != "test" {
		return fmt.Errorf("source %q", source)
	}
	l.data[f.Name] = string(b)
	return l.fail[f.Name]
}

func (l *loads) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestPollerTakesAFileOnlyOnceItIsStable(t *testing.T) {
	type step struct {
		after  time.Duration // clock advance before this step
		append string        // bytes the client adds before the poll
		touch  bool          // the client rewrites the file, same size
		want   bool          // taken at this poll
	}
	tests := []struct {
		name      string
		stableFor time.Duration
		steps     []step
	}{
		{"taken at the first poll 30s after first seen", 0, []step{
			{0, "", false, false}, {29 * time.Second, "", false, false}, {time.Second, "", false, true},
		}},
		{"a file still being uploaded is never taken", 0, []step{
			{0, "", false, false},
			{30 * time.Second, "more;", false, false},
			{30 * time.Second, "more;", false, false},
			{29 * time.Second, "", false, false},
			{time.Second, "", false, true},
		}},
		{"a new modification time restarts the wait", 0, []step{
			{0, "", false, false}, {20 * time.Second, "", true, false}, {20 * time.Second, "", false, false},
			{10 * time.Second, "", false, true},
		}},
		{"stable_for is configurable", 2 * time.Minute, []step{
			{0, "", false, false}, {time.Minute, "", false, false}, {time.Minute, "", false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk, in, l := newClock(), newMemInbox(), newLoads()
			data := "type;name\nA;B\n"
			mod := clk.Now().Add(-time.Hour)
			in.put("leads.csv", data, mod)
			p := NewPoller("test", in, l.handle, PollerOptions{StableFor: tt.stableFor, Now: clk.Now, Logger: quietLog()})
			for i, s := range tt.steps {
				clk.Advance(s.after)
				if s.append != "" || s.touch {
					data += s.append
					mod = mod.Add(time.Second)
					in.put("leads.csv", data, mod)
				}
				res, err := p.PollOnce(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if taken := slices.Contains(res.Loaded, "leads.csv"); taken != s.want {
					t.Fatalf("step %d: taken = %v, want %v (result %+v)", i, taken, s.want, res)
				}
				if !s.want && !slices.Contains(res.Pending, "leads.csv") {
					t.Fatalf("step %d: leads.csv not pending: %+v", i, res)
				}
			}
			if got := l.got(); len(got) != 1 {
				t.Fatalf("handled %v, want leads.csv once", got)
			}
			if l.data["leads.csv"] != data {
				t.Errorf("handler read %q, want %q", l.data["leads.csv"], data)
			}
			if !slices.Equal(in.done, []string{"leads.csv"}) {
				t.Errorf("done = %v", in.done)
			}
		})
	}
}

func TestPollerHandlesOneFileAtATimeInNameOrder(t *testing.T) {
	clk, in := newClock(), newMemInbox()
	for _, n := range []string{"2021-03-12.csv", "2021-03-10.csv", "2021-03-11.csv"} {
		in.put(n, "x\n", clk.Now())
	}
	var mu sync.Mutex
	var order []string
	active, maxActive := 0, 0
	h := func(_ context.Context, _ string, f File, r io.Reader) error {
		mu.Lock()
		active++
		maxActive = max(maxActive, active)
		order = append(order, f.Name)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		_, err := io.Copy(io.Discard, r)
		mu.Lock()
		active--
		mu.Unlock()
		return err
	}
	p := NewPoller("test", in, h, PollerOptions{Now: clk.Now, Logger: quietLog()})
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultStableFor)
	// Two concurrent polls must still handle one file at a time.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := p.PollOnce(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	want := []string{"2021-03-10.csv", "2021-03-11.csv", "2021-03-12.csv"}
	if !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
	if maxActive != 1 {
		t.Errorf("%d files handled at once", maxActive)
	}
}

func TestPollerLeavesAFailedFileAndRetriesItLater(t *testing.T) {
	clk, in, l := newClock(), newMemInbox(), newLoads()
	in.put("a.csv", "a\n", clk.Now())
	in.put("b.csv", "b\n", clk.Now())
	l.fail["a.csv"] = errors.New("profile of mission 26 is invalid")
	p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog(), RetryAfter: 10 * time.Minute})
	poll := func() Result {
		t.Helper()
		res, err := p.PollOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	poll()
	clk.Advance(30 * time.Second)
	res := poll()
	if !slices.Equal(res.Failed, []string{"a.csv"}) || !slices.Equal(res.Loaded, []string{"b.csv"}) {
		t.Fatalf("result %+v: want a.csv failed and b.csv loaded anyway", res)
	}
	if _, ok := in.files["a.csv"]; !ok {
		t.Fatal("a failed file was removed from the inbox")
	}
	clk.Advance(time.Minute)
	if res := poll(); !slices.Equal(res.Pending, []string{"a.csv"}) {
		t.Fatalf("retried too early: %+v", res)
	}
	clk.Advance(10 * time.Minute)
	delete(l.fail, "a.csv")
	if res := poll(); !slices.Equal(res.Loaded, []string{"a.csv"}) {
		t.Fatalf("not retried after RetryAfter: %+v", res)
	}

	// A corrected upload is taken as soon as it is stable, without waiting
	// for RetryAfter.
	in.put("c.csv", "c\n", clk.Now())
	l.fail["c.csv"] = errors.New("bad")
	poll()
	clk.Advance(30 * time.Second)
	poll()
	delete(l.fail, "c.csv")
	in.put("c.csv", "c fixed\n", clk.Now())
	poll()
	clk.Advance(30 * time.Second)
	if res := poll(); !slices.Equal(res.Loaded, []string{"c.csv"}) {
		t.Fatalf("the corrected file was not taken: %+v", res)
	}
	if l.data["c.csv"] != "c fixed\n" {
		t.Errorf("loaded %q", l.data["c.csv"])
	}
}

func TestPollerOffersAgainAFileThatCouldNotBeMoved(t *testing.T) {
	clk, in, l := newClock(), newMemInbox(), newLoads()
	in.put("a.csv", "a\n", clk.Now())
	in.doneErr["a.csv"] = errors.New("permission denied")
	p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
	p.PollOnce(t.Context())
	clk.Advance(time.Minute)
	res, _ := p.PollOnce(t.Context())
	if !slices.Equal(res.Failed, []string{"a.csv"}) {
		t.Fatalf("result %+v", res)
	}
	delete(in.doneErr, "a.csv")
	clk.Advance(DefaultRetryAfter)
	res, _ = p.PollOnce(t.Context())
	if !slices.Equal(res.Loaded, []string{"a.csv"}) {
		t.Fatalf("result %+v", res)
	}
	// The handler saw it twice: that is why it must be idempotent.
	if got := l.got(); !slices.Equal(got, []string{"a.csv", "a.csv"}) {
		t.Errorf("handled %v", got)
	}
}

func TestPollerRefusesFilesOverMaxSize(t *testing.T) {
	clk, in, l := newClock(), newMemInbox(), newLoads()
	in.put("big.csv", "0123456789x", clk.Now())
	in.put("ok.csv", "0123456789", clk.Now())
	var logs bytes.Buffer
	p := NewPoller("test", in, l.handle, PollerOptions{MaxSize: 10, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		if _, err := p.PollOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if got := l.got(); !slices.Equal(got, []string{"ok.csv"}) {
		t.Errorf("handled %v, want only ok.csv", got)
	}
	if n := strings.Count(logs.String(), "too large"); n != 1 {
		t.Errorf("too large logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestPollerNeverLoadsAFileThatChangesWhileRead(t *testing.T) {
	for _, tt := range []struct{ name, listed, extra string }{
		{"grew", "a;b\n", "c;d\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk, in, l := newClock(), newMemInbox(), newLoads()
			in.put("a.csv", tt.listed, clk.Now())
			in.extra["a.csv"] = tt.extra
			p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
			p.PollOnce(t.Context())
			clk.Advance(time.Minute)
			res, err := p.PollOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Failed, []string{"a.csv"}) || len(in.done) != 0 {
				t.Fatalf("result %+v, done %v", res, in.done)
			}
		})
	}
}

func TestExactReader(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		size    int64
		wantErr error
	}{
		{"exact", "abcdef", 6, nil},
		{"empty", "", 0, nil},
		{"grew", "abcdefg", 6, errChanged},
		{"shrank", "abc", 6, errChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &exactReader{ctx: t.Context(), r: strings.NewReader(tt.data), left: tt.size}
			b, err := io.ReadAll(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(b) != tt.data {
				t.Errorf("read %q", b)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := &exactReader{ctx: ctx, r: strings.NewReader("abc"), left: 3}
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

func TestPollerLogsNamesButNeverContents(t *testing.T) {
	clk, in, l := newClock(), newMemInbox(), newLoads()
	in.put("Client Dupont 2021-03-10.csv", "DUPONT;Jean;33612345678\n", clk.Now())
	in.put("z.csv", "MARTIN;Paul;33698765432\n", clk.Now())
	l.fail["z.csv"] = errors.New("line 1: 1 field, want 16")
	var logs bytes.Buffer
	p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	p.PollOnce(t.Context())
	clk.Advance(time.Minute)
	p.PollOnce(t.Context())
	out := logs.String()
	for _, secret := range []string{"DUPONT", "Jean", "33612345678", "MARTIN", "33698765432"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "Client Dupont 2021-03-10.csv") || !strings.Contains(out, `"inbox":"test"`) {
		t.Errorf("log lacks the file or inbox name:\n%s", out)
	}
}

func TestPollOnceReportsAnInboxThatCannotBeListed(t *testing.T) {
	in := newMemInbox()
	in.listErr = errors.New("connect to sftp.example.fr:22: connection refused")
	p := NewPoller("test", in, newLoads().handle, PollerOptions{Logger: quietLog()})
	if _, err := p.PollOnce(t.Context()); !errors.Is(err, in.listErr) {
		t.Fatalf("err = %v", err)
	}
	if _, err := p.Waiting(t.Context()); !errors.Is(err, in.listErr) {
		t.Fatalf("Waiting err = %v", err)
	}
}

func TestPollOnceStopsWhenCancelled(t *testing.T) {
	clk, in := newClock(), newMemInbox()
	in.put("a.csv", "a\n", clk.Now())
	in.put("b.csv", "b\n", clk.Now())
	ctx, cancel := context.WithCancel(t.Context())
	var handled []string
	h := func(ctx context.Context, _ string, f File, r io.Reader) error {
		handled = append(handled, f.Name)
		cancel() // shutdown while loading
		_, err := io.ReadAll(r)
		return err
	}
	p := NewPoller("test", in, h, PollerOptions{Now: clk.Now, Logger: quietLog()})
	p.PollOnce(ctx)
	clk.Advance(time.Minute)
	if _, err := p.PollOnce(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !slices.Equal(handled, []string{"a.csv"}) || len(in.done) != 0 {
		t.Errorf("handled %v, done %v", handled, in.done)
	}
}

func TestWaitingListsEveryFileInNameOrder(t *testing.T) {
	clk, in := newClock(), newMemInbox()
	in.put("b.csv", "b", clk.Now())
	in.put("a.csv", "a", clk.Now())
	p := NewPoller("test", in, newLoads().handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
	files, err := p.Waiting(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "a.csv" || files[1].Name != "b.csv" {
		t.Errorf("Waiting = %+v", files)
	}
}

func TestRunLoadsThenStopsCleanlyOnCancel(t *testing.T) {
	in, l := newMemInbox(), newLoads()
	in.put("a.csv", "a\n", time.Now())
	p := NewPoller("test", in, l.handle, PollerOptions{Interval: 5 * time.Millisecond, StableFor: time.Nanosecond, Logger: quietLog()})
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(l.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not load the file")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}
