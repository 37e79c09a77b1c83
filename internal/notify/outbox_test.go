package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"plateau/internal/clocktest"
	"plateau/internal/db"
)

// testLog captures what a component logs, as text.
func testLog() (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fakeSender records messages and fails while failing is set.
type fakeSender struct {
	mu      sync.Mutex
	failing bool
	calls   int
	sent    []Message
}

func (f *fakeSender) Send(_ context.Context, m Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failing {
		return errors.New("dial tcp 127.0.0.1:25: connect: connection refused (rcpt it@callcenter.test)")
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSender) setFailing(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = v
}

func (f *fakeSender) counts() (calls, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, len(f.sent)
}

// outboxRow is a row of notify_outbox as the tests inspect it.
type outboxRow struct {
	id          int64
	status      string
	attempts    int
	nextAttempt time.Time
	lastError   string
}

func outboxRows(t *testing.T, d *db.DB) []outboxRow {
	t.Helper()
	rows, err := d.QueryContext(context.Background(), `SELECT id, status, attempts, next_attempt_at, last_error FROM notify_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var next int64
		if err := rows.Scan(&r.id, &r.status, &r.attempts, &next, &r.lastError); err != nil {
			t.Fatal(err)
		}
		r.nextAttempt = db.FromMillis(next)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func oneRow(t *testing.T, d *db.DB) outboxRow {
	t.Helper()
	rows := outboxRows(t, d)
	if len(rows) != 1 {
		t.Fatalf("outbox has %d rows, want 1", len(rows))
	}
	return rows[0]
}

func testMessage(t *testing.T) Message {
	t.Helper()
	m, err := testBatchSummary().Message([]string{"it@callcenter.test"}, Format{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var t0 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// TestOutboxSurvivesAServerThatIsDown runs against the real SMTP server:
// queuing works while it is down, attempts back off (1 min, then 5 min),
// the failures are logged without secrets, and the message is delivered
// exactly once when the server is back.
func TestOutboxSurvivesAServerThatIsDown(t *testing.T) {
	python3WithAiosmtpd(t)
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		srv := newTestSMTP(t, false) // not started: the server is down
		mailer, err := NewMailer(srv.Config())
		if err != nil {
			t.Fatal(err)
		}
		clock := clocktest.New(t0)
		log, logs := testLog()
		o := NewOutbox(d, mailer, OutboxOptions{Now: clock.Now, Logger: log})

		start := time.Now()
		if err := o.Enqueue(ctx, testMessage(t)); err != nil {
			t.Fatalf("Enqueue with the server down: %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Enqueue took %s", took)
		}

		steps := []struct {
			advance      time.Duration
			wantAttempts int
			wantNext     time.Duration // after t0
		}{
			{0, 1, time.Minute},                                  // first attempt fails: retry in 1 min
			{30 * time.Second, 1, time.Minute},                   // not due yet: nothing tried
			{30 * time.Second, 2, 6 * time.Minute},               // second attempt fails: retry in 5 min
			{4*time.Minute + 59*time.Second, 2, 6 * time.Minute}, // still not due
		}
		for i, s := range steps {
			clock.Advance(s.advance)
			o.deliverDue(ctx)
			r := oneRow(t, d)
			if r.status != "pending" || r.attempts != s.wantAttempts || !r.nextAttempt.Equal(t0.Add(s.wantNext)) {
				t.Fatalf("step %d: row = %+v, want pending, %d attempts, next at t0+%s", i, r, s.wantAttempts, s.wantNext)
			}
		}
		if r := oneRow(t, d); !strings.Contains(r.lastError, "connect") {
			t.Errorf("last_error = %q", r.lastError)
		}
		logged := logs.String()
		t.Logf("log while the server was down:\n%s", logged)
		if strings.Count(logged, "will retry") != 2 || strings.Contains(logged, testPassword) {
			t.Errorf("log:\n%s", logged)
		}

		srv.Start(t) // the server is back
		clock.Set(t0.Add(6 * time.Minute))
		o.deliverDue(ctx)
		if r := oneRow(t, d); r.status != "sent" || r.attempts != 3 {
			t.Fatalf("after the server came back: %+v", r)
		}
		got := srv.WaitReceived(t, 1)
		if !strings.Contains(got[0].Text, "Chargés                981") {
			t.Errorf("text:\n%s", got[0].Text)
		}

		// Later passes send nothing more.
		for range 3 {
			clock.Advance(time.Hour)
			o.deliverDue(ctx)
		}
		time.Sleep(100 * time.Millisecond)
		if n := len(srv.Received(t)); n != 1 {
			t.Errorf("server received %d messages, want 1", n)
		}
		if strings.Contains(logs.String(), testPassword) {
			t.Error("the log contains the SMTP password")
		}
	})
}

func TestOutboxBacksOffThenGivesUpAfter24h(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := clocktest.New(t0)
		log, logs := testLog()
		sender := &fakeSender{failing: true}
		o := NewOutbox(d, sender, OutboxOptions{Now: clock.Now, Logger: log})
		if err := o.Enqueue(ctx, testMessage(t)); err != nil {
			t.Fatal(err)
		}
		var delays []time.Duration
		last := t0
		for i := 0; i < 100; i++ {
			o.deliverDue(ctx)
			r := oneRow(t, d)
			if r.status != "pending" {
				break
			}
			delays = append(delays, r.nextAttempt.Sub(last))
			last = r.nextAttempt
			clock.Set(r.nextAttempt)
		}
		wantStart := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, time.Hour}
		if len(delays) < len(wantStart) {
			t.Fatalf("delays = %v", delays)
		}
		for i, want := range wantStart {
			if delays[i] != want {
				t.Errorf("delay %d = %s, want %s (all: %v)", i+1, delays[i], want, delays)
			}
		}
		// 0, 1, 6, 21 min, then hourly from 81 min to 1401 min, then the
		// last attempt exactly 24 h after queuing.
		if got := clock.Now().Sub(t0); got != 24*time.Hour {
			t.Errorf("last attempt at t0+%s, want t0+24h", got)
		}
		r := oneRow(t, d)
		if r.status != "failed" || r.attempts != 28 {
			t.Errorf("final row = %+v, want failed after 28 attempts", r)
		}
		if calls, _ := sender.counts(); calls != 28 {
			t.Errorf("sender called %d times", calls)
		}
		if !strings.Contains(logs.String(), "abandoned") {
			t.Errorf("no abandonment logged:\n%s", logs.String())
		}
		// The stored and logged error hides the address.
		if strings.Contains(r.lastError, "it@callcenter.test") || strings.Contains(logs.String(), "it@callcenter.test") {
			t.Errorf("an address leaked: %q", r.lastError)
		}
		// Nothing more is attempted.
		clock.Advance(48 * time.Hour)
		o.deliverDue(ctx)
		if calls, _ := sender.counts(); calls != 28 {
			t.Errorf("sender called again after giving up")
		}
	})
}

func TestOutboxSendsOnceWhenTheServerRecovers(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := clocktest.New(t0)
		log, _ := testLog()
		sender := &fakeSender{failing: true}
		o := NewOutbox(d, sender, OutboxOptions{Now: clock.Now, Logger: log})
		msg := testMessage(t)
		if err := o.Enqueue(ctx, msg); err != nil {
			t.Fatal(err)
		}
		o.deliverDue(ctx)
		clock.Advance(time.Minute)
		o.deliverDue(ctx)
		sender.setFailing(false)
		clock.Advance(5 * time.Minute)
		o.deliverDue(ctx)
		for range 5 {
			clock.Advance(2 * time.Hour)
			o.deliverDue(ctx)
		}
		calls, sent := sender.counts()
		if calls != 3 || sent != 1 {
			t.Fatalf("sender: %d calls, %d sent; want 3 and 1", calls, sent)
		}
		got := sender.sent[0]
		if got.Subject != msg.Subject || got.Text != msg.Text || got.ID == "" || !got.Created.Equal(t0) {
			t.Errorf("sent %+v", got)
		}
		if n, err := o.Pending(ctx); err != nil || n != 0 {
			t.Errorf("Pending = %d, %v", n, err)
		}
	})
}

func TestEnqueueTxFollowsTheTransaction(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		o := NewOutbox(d, nil, OutboxOptions{})
		errBatch := errors.New("batch failed")
		err := d.Tx(ctx, func(tx *db.Tx) error {
			if err := o.EnqueueTx(ctx, tx, testMessage(t)); err != nil {
				return err
			}
			return errBatch
		})
		if !errors.Is(err, errBatch) {
			t.Fatalf("Tx = %v", err)
		}
		if n, _ := o.Pending(ctx); n != 0 {
			t.Fatalf("%d pending after rollback, want 0", n)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error { return o.EnqueueTx(ctx, tx, testMessage(t)) }); err != nil {
			t.Fatal(err)
		}
		if n, _ := o.Pending(ctx); n != 1 {
			t.Fatalf("%d pending after commit, want 1", n)
		}
	})
}

func TestEnqueueWithKeyIsIdempotent(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		o := NewOutbox(d, nil, OutboxOptions{})
		for _, key := range []string{"batch:412", "batch:412", "batch:413", "", ""} {
			m := testMessage(t)
			m.Key = key
			if err := o.Enqueue(ctx, m); err != nil {
				t.Fatalf("Enqueue key %q: %v", key, err)
			}
		}
		if n, _ := o.Pending(ctx); n != 4 {
			t.Fatalf("%d pending, want 4 (one per key, each keyless one)", n)
		}
	})
}

func TestEnqueueRefusesUnsendableMessages(t *testing.T) {
	d := db.OpenTestSQLite(t)
	o := NewOutbox(d, nil, OutboxOptions{})
	tests := []struct {
		name   string
		change func(m *Message)
	}{
		{"no alert name", func(m *Message) { m.Alert = "" }},
		{"no recipient", func(m *Message) { m.To = nil }},
		{"bad recipient", func(m *Message) { m.To = []string{"not an address"} }},
		{"empty subject", func(m *Message) { m.Subject = " " }},
		{"two-line subject", func(m *Message) { m.Subject = "a\r\nBcc: x@y.test" }},
		{"no body", func(m *Message) { m.Text = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMessage(t)
			tc.change(&m)
			if err := o.Enqueue(context.Background(), m); err == nil {
				t.Fatal("Enqueue accepted it")
			}
		})
	}
}

// TestTwoWorkersNeverSendTheSameMessage runs two outbox workers on one
// database, as two nodes would.
func TestTwoWorkersNeverSendTheSameMessage(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		log, _ := testLog()
		sender := &fakeSender{}
		a := NewOutbox(d, sender, OutboxOptions{Logger: log})
		b := NewOutbox(d, sender, OutboxOptions{Logger: log})
		const n = 30
		for i := range n {
			m := testMessage(t)
			m.Subject = fmt.Sprintf("message %d", i)
			if err := a.Enqueue(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for _, o := range []*Outbox{a, b, a, b} {
			wg.Go(func() { o.deliverDue(ctx) })
		}
		wg.Wait()
		seen := map[string]int{}
		for _, m := range sender.sent {
			seen[m.Subject]++
		}
		if len(sender.sent) != n || len(seen) != n {
			t.Fatalf("sent %d messages, %d distinct; want %d each", len(sender.sent), len(seen), n)
		}
	})
}

func TestRunSendsWhenWokenAndStopsWithItsContext(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		log, _ := testLog()
		sender := &fakeSender{}
		o := NewOutbox(d, sender, OutboxOptions{Logger: log, Poll: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		if err := o.Enqueue(ctx, testMessage(t)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, sent := sender.counts(); sent == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Run did not send the queued message")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop")
		}
	})
}

func TestRunNeedsASender(t *testing.T) {
	o := NewOutbox(db.OpenTestSQLite(t), nil, OutboxOptions{})
	if err := o.Run(context.Background()); err == nil {
		t.Fatal("Run without a sender returned nil")
	}
}

func TestPurgeKeepsPendingAndRecentMessages(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := clocktest.New(t0)
		log, _ := testLog()
		sender := &fakeSender{}
		o := NewOutbox(d, sender, OutboxOptions{Now: clock.Now, Logger: log, KeepSent: 24 * time.Hour})
		if err := o.Enqueue(ctx, testMessage(t)); err != nil { // sent at t0, purged
			t.Fatal(err)
		}
		o.deliverDue(ctx)
		clock.Advance(20 * time.Hour)
		if err := o.Enqueue(ctx, testMessage(t)); err != nil { // sent at t0+20h, kept
			t.Fatal(err)
		}
		o.deliverDue(ctx)
		sender.setFailing(true)
		clock.Advance(time.Hour)
		if err := o.Enqueue(ctx, testMessage(t)); err != nil { // pending, kept
			t.Fatal(err)
		}
		o.deliverDue(ctx)
		clock.Advance(4 * time.Hour)
		if err := o.purge(ctx, clock.Now()); err != nil {
			t.Fatal(err)
		}
		rows := outboxRows(t, d)
		if len(rows) != 2 || rows[0].status != "sent" || rows[1].status != "pending" {
			t.Fatalf("rows after purge: %+v", rows)
		}
	})
}
