package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"plateau/internal/db"
)

// Sender delivers one message; *Mailer is the real one.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// OutboxOptions tunes an Outbox; zero values take the defaults.
type OutboxOptions struct {
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logger receives delivery failures; slog.Default() by default.
	Logger *slog.Logger
	// Backoff lists the delays between attempts; the last one repeats.
	// Default 1m, 5m, 15m, 1h.
	Backoff []time.Duration
	// GiveUpAfter is how long after its creation a message is retried
	// (the last attempt happens at that point); default 24h.
	GiveUpAfter time.Duration
	// KeepSent is how long sent and abandoned messages stay in the table;
	// default 30 days.
	KeepSent time.Duration
	// Poll is how often Run looks for due messages when nothing wakes it;
	// default 30s.
	Poll time.Duration
	// Lease is how long a claimed message stays invisible to other workers
	// while it is being sent; it must exceed the SMTP timeout. Default 5m.
	Lease time.Duration
}

// Outbox is the persistent mail queue. Enqueue writes a row and returns: it
// never talks to the mail server, so a server that is down never blocks or
// fails the caller. Run sends due rows, retrying failures with backoff.
//
// Delivery is at least once: a row is marked sent after the server accepted
// the message (250 after DATA). If the process dies between that answer and
// the update, or the update fails, the row becomes due again when its lease
// ends and the message is sent a second time, with the same Message-ID so
// mail clients can fold the two.
type Outbox struct {
	db     *db.DB
	sender Sender
	opt    OutboxOptions
	log    *slog.Logger
	wake   chan struct{}
}

// maxPerPass bounds the messages one pass sends, so Run checks its context
// and purges even under a flood.
const maxPerPass = 100

// NewOutbox returns the outbox stored in d. sender may be nil in a process
// that only queues (e.g. a command-line ingestion): the server's worker will
// send the messages.
func NewOutbox(d *db.DB, sender Sender, opt OutboxOptions) *Outbox {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if len(opt.Backoff) == 0 {
		opt.Backoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}
	}
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = 24 * time.Hour
	}
	if opt.KeepSent <= 0 {
		opt.KeepSent = 30 * 24 * time.Hour
	}
	if opt.Poll <= 0 {
		opt.Poll = 30 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 5 * time.Minute
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{db: d, sender: sender, opt: opt, log: log, wake: make(chan struct{}, 1)}
}

// Enqueue queues msg for delivery. It costs one INSERT; on SQLite it waits
// for the single writer like any write.
func (o *Outbox) Enqueue(ctx context.Context, msg Message) error {
	args, err := o.insertArgs(msg)
	if err != nil {
		return err
	}
	if _, err := o.db.ExecContext(ctx, qEnqueue, args...); err != nil {
		return fmt.Errorf("queue %s mail: %w", msg.Alert, err)
	}
	o.Wake()
	return nil
}

// EnqueueTx queues msg inside the caller's transaction: the message exists
// if and only if the transaction commits. The local worker finds it at its
// next poll; call Wake after the commit to send it at once.
func (o *Outbox) EnqueueTx(ctx context.Context, tx *db.Tx, msg Message) error {
	args, err := o.insertArgs(msg)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, qEnqueue, args...); err != nil {
		return fmt.Errorf("queue %s mail: %w", msg.Alert, err)
	}
	return nil
}

// Wake makes a running worker look for due messages now.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *Outbox) insertArgs(msg Message) ([]any, error) {
	if err := msg.validate(); err != nil {
		return nil, fmt.Errorf("queue %s mail: %w", msg.Alert, err)
	}
	to, err := json.Marshal(msg.To)
	if err != nil {
		return nil, fmt.Errorf("queue %s mail: %w", msg.Alert, err)
	}
	var key any // NULL: no deduplication
	if msg.Key != "" {
		key = msg.Key
	}
	now := db.Millis(o.opt.Now())
	// The Message-ID is fixed now so that every attempt carries the same one.
	return []any{msg.Alert, key, rand.Text(), string(to), msg.Subject, msg.Text, msg.HTML, now, now}, nil
}

// Pending counts the messages not yet sent nor abandoned (for health pages
// and metrics).
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	if err := o.db.QueryRowContext(ctx, qPending).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending mails: %w", err)
	}
	return n, nil
}

// Run sends due messages until ctx ends, then returns nil. It looks every
// Poll, and at once when Enqueue or Wake signals. Failures are logged and
// retried; Run itself never fails except without a sender.
func (o *Outbox) Run(ctx context.Context) error {
	if o.sender == nil {
		return errors.New("notify: outbox has no sender")
	}
	t := time.NewTimer(0)
	defer t.Stop()
	var lastPurge time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.wake:
		}
		// A full pass means more may be due: go on before sleeping.
		for n := maxPerPass; n == maxPerPass && ctx.Err() == nil; {
			n = o.deliverDue(ctx)
		}
		if now := o.opt.Now(); now.Sub(lastPurge) >= time.Hour {
			if err := o.purge(ctx, now); err != nil && ctx.Err() == nil {
				o.log.WarnContext(ctx, "notify: purge of old mails failed", "error", err)
			}
			lastPurge = now
		}
		t.Reset(o.opt.Poll)
	}
}

// claimed is a message taken for one attempt.
type claimed struct {
	id       int64
	attempts int
	msg      Message
}

// deliverDue sends the messages due now, one at a time, and returns how
// many it attempted.
func (o *Outbox) deliverDue(ctx context.Context) int {
	n := 0
	for ; n < maxPerPass && ctx.Err() == nil; n++ {
		c, err := o.claim(ctx)
		if err != nil {
			if ctx.Err() == nil {
				o.log.ErrorContext(ctx, "notify: cannot read the mail outbox", "error", err)
			}
			return n
		}
		if c == nil {
			return n
		}
		o.attempt(ctx, c)
	}
	return n
}

// claim takes the oldest due message, or returns nil when none is due.
func (o *Outbox) claim(ctx context.Context) (*claimed, error) {
	now := o.opt.Now()
	var c *claimed
	err := o.db.Tx(ctx, func(tx *db.Tx) error {
		var (
			cl              claimed
			to              string
			created         int64
			textBody, htmlB string
		)
		err := tx.QueryRowContext(ctx, claimQuery(tx.Engine()), db.Millis(now.Add(o.opt.Lease)), db.Millis(now)).
			Scan(&cl.id, &cl.msg.Alert, &cl.msg.ID, &to, &cl.msg.Subject, &textBody, &htmlB, &created, &cl.attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(to), &cl.msg.To); err != nil {
			return fmt.Errorf("message %d: recipients: %w", cl.id, err)
		}
		cl.msg.Text, cl.msg.HTML, cl.msg.Created = textBody, htmlB, db.FromMillis(created)
		c = &cl
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due mail: %w", err)
	}
	return c, nil
}

// attempt sends one claimed message and records the outcome.
func (o *Outbox) attempt(ctx context.Context, c *claimed) {
	sendErr := o.sender.Send(ctx, c.msg)
	// The outcome is recorded even if ctx was cancelled during the send
	// (shutdown), so that a sent message is not sent again.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := o.opt.Now()
	log := o.log.With("outbox_id", c.id, "alert", c.msg.Alert, "attempt", c.attempts)
	if sendErr == nil {
		if _, err := o.db.ExecContext(bctx, qMarkSent, db.Millis(now), c.id); err != nil {
			log.ErrorContext(ctx, "notify: mail sent but not marked; it will be sent again", "error", err)
			return
		}
		log.InfoContext(ctx, "notify: mail sent", "recipients", len(c.msg.To))
		return
	}
	reason := safeError(sendErr)
	deadline := c.msg.Created.Add(o.opt.GiveUpAfter)
	if !now.Before(deadline) {
		if _, err := o.db.ExecContext(bctx, qGiveUp, db.Millis(now), reason, c.id); err != nil {
			log.ErrorContext(ctx, "notify: cannot record an abandoned mail", "error", err)
		}
		log.ErrorContext(ctx, "notify: mail abandoned after repeated failures", "error", reason, "since", c.msg.Created)
		return
	}
	next := now.Add(o.backoff(c.attempts))
	if next.After(deadline) {
		next = deadline
	}
	if _, err := o.db.ExecContext(bctx, qRetry, db.Millis(next), reason, c.id); err != nil {
		log.ErrorContext(ctx, "notify: cannot reschedule a failed mail", "error", err)
	}
	log.WarnContext(ctx, "notify: mail not delivered, will retry", "error", reason, "retry_at", next)
}

// backoff is the wait after the attempt-th failed attempt (1-based).
func (o *Outbox) backoff(attempt int) time.Duration {
	i := min(max(attempt-1, 0), len(o.opt.Backoff)-1)
	return o.opt.Backoff[i]
}

func (o *Outbox) purge(ctx context.Context, now time.Time) error {
	if _, err := o.db.ExecContext(ctx, qPurge, db.Millis(now.Add(-o.opt.KeepSent))); err != nil {
		return fmt.Errorf("purge sent mails: %w", err)
	}
	return nil
}

// safeError is an SMTP error as it may be logged and stored: e-mail
// addresses (recipients, the account name) are masked and the text is
// bounded. Credentials never appear in go-mail's errors.
func safeError(err error) string {
	s := regexp.MustCompile(`[^\s<>"'(),;:\[\]]+@[^\s<>"'(),;:\[\]]+`).ReplaceAllString(err.Error(), "<address>")
	if r := []rune(s); len(r) > 500 {
		s = string(r[:500]) + "…"
	}
	return s
}
