package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"plateau/internal/db"
)

// The alert names, as stored in the outbox and written in logs.
const (
	AlertInboxWaiting = "inbox_waiting"
	AlertBatchSummary = "batch_summary"
)

// InboxWaiting says that files are waiting in an inbox (an SFTP inbox or a
// watched folder), the alert the seed's cron script sent.
type InboxWaiting struct {
	// Source is the inbox's name as configured in Plateau, e.g. "SFTP FlexyCall".
	Source string
	// Files is the number of files waiting.
	Files int
	// Oldest is when the oldest file arrived; zero if unknown.
	Oldest time.Time
	// Link is the absolute URL of the source's page in Plateau.
	Link string
}

type inboxView struct {
	Source string
	Files  int
	Oldest string
}

// Message renders the alert for the recipients to.
func (a InboxWaiting) Message(to []string, f Format) (Message, error) {
	t, ok := catalogue(f.lang())
	if !ok {
		return Message{}, fmt.Errorf("inbox alert: no wording for language %q", f.Lang)
	}
	loc, err := f.location()
	if err != nil {
		return Message{}, fmt.Errorf("inbox alert: %w", err)
	}
	source := oneLine(a.Source, 80)
	switch {
	case source == "":
		return Message{}, errors.New("inbox alert: source is empty")
	case a.Files < 1:
		return Message{}, fmt.Errorf("inbox alert: %d files waiting; nothing to report", a.Files)
	}
	if err := checkLink(a.Link); err != nil {
		return Message{}, fmt.Errorf("inbox alert: %w", err)
	}
	v := inboxView{Source: source, Files: a.Files}
	if !a.Oldest.IsZero() {
		v.Oldest = a.Oldest.In(loc).Format(t.dateLayout)
	}
	return render(composed{
		alert:     AlertInboxWaiting,
		subject:   t.inboxSubject,
		intro:     t.inboxIntro,
		data:      v,
		linkLabel: t.inboxLink,
		link:      a.Link,
	}, t, f, to)
}

// BatchSummary reports a finished batch: counts only, with a link to the
// batch page where the details (and the quarantined lines) are.
type BatchSummary struct {
	// Mission is the mission's number.
	Mission int
	// MissionName is the mission's name, e.g. "Mission Sortant J+3".
	MissionName string
	// BatchID identifies the batch.
	BatchID int64
	// File is the name the file arrived with; it is reduced to its last
	// path element and sanitised here.
	File string
	// Received counts the data records of the file.
	Received int
	// Loaded counts the contacts loaded.
	Loaded int
	// Warnings counts the fixes applied (e.g. a postal code padded).
	Warnings int
	// Quarantined counts the records set aside with a reason.
	Quarantined int
	// Manual counts the contacts routed to manual dialling.
	Manual int
	// Duplicates counts the duplicate records.
	Duplicates int
	// Link is the absolute URL of the batch page.
	Link string
	// Duration is how long the batch took.
	Duration time.Duration
	// Failed says the file could not be processed at all (the batch page
	// gives the reason).
	Failed bool
}

// Message renders the summary for the recipients to.
func (b BatchSummary) Message(to []string, f Format) (Message, error) {
	t, ok := catalogue(f.lang())
	if !ok {
		return Message{}, fmt.Errorf("batch summary: no wording for language %q", f.Lang)
	}
	switch {
	case b.Mission <= 0:
		return Message{}, fmt.Errorf("batch summary: mission number %d", b.Mission)
	case b.BatchID <= 0:
		return Message{}, fmt.Errorf("batch summary: batch id %d", b.BatchID)
	case b.Received < 0 || b.Loaded < 0 || b.Warnings < 0 || b.Quarantined < 0 || b.Manual < 0 || b.Duplicates < 0:
		return Message{}, errors.New("batch summary: negative count")
	}
	if err := checkLink(b.Link); err != nil {
		return Message{}, fmt.Errorf("batch summary: %w", err)
	}
	// The templates read the summary itself, its free texts made safe.
	v := b
	v.MissionName, v.File = oneLine(b.MissionName, 80), fileName(b.File)
	l := t.labels
	n := strconv.Itoa
	rows := []row{
		{Label: l.received, Value: n(b.Received)},
		{Label: l.loaded, Value: n(b.Loaded)},
		{Label: l.warnings, Value: n(b.Warnings)},
		{Label: l.quarantined, Value: n(b.Quarantined)},
		{Label: l.manual, Value: n(b.Manual)},
		{Label: l.duplicates, Value: n(b.Duplicates)},
		{Label: l.duration, Value: formatDuration(b.Duration, t)},
	}
	return render(composed{
		alert:     AlertBatchSummary,
		subject:   t.batchSubject,
		intro:     t.batchIntro,
		data:      v,
		rows:      rows,
		linkLabel: t.batchLink,
		link:      b.Link,
	}, t, f, to)
}

// Alerts queues the configured alerts: it knows their recipients, language
// and time zone. An alert without recipients (or with mail off) is skipped
// silently, so callers need not check the configuration.
type Alerts struct {
	cfg    Config
	out    *Outbox
	format Format
}

// NewAlerts validates cfg and returns the alerts service queuing into out.
// out may be nil when mail is off.
func NewAlerts(cfg Config, out *Outbox) (*Alerts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc, err := loadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("notify: timezone: %w", err)
	}
	if cfg.Enabled() && out == nil {
		return nil, errors.New("notify: mail is configured but no outbox was given")
	}
	return &Alerts{cfg: cfg, out: out, format: Format{Lang: cfg.lang(), Location: loc, HTML: cfg.HTML}}, nil
}

// QueueBatchSummary queues the summary of a finished batch inside the
// transaction that completes the batch, so the summary exists if and only if
// the batch is complete. The outbox worker sends it at its next poll.
func (a *Alerts) QueueBatchSummary(ctx context.Context, tx *db.Tx, s BatchSummary) error {
	to := a.cfg.Alerts.BatchSummary.To
	if !a.cfg.Enabled() || len(to) == 0 {
		return nil
	}
	m, err := s.Message(to, a.format)
	if err != nil {
		return err
	}
	return a.out.EnqueueTx(ctx, tx, m)
}

// QueueInboxWaiting queues the "files are waiting" alert; it does nothing
// when no file waits.
func (a *Alerts) QueueInboxWaiting(ctx context.Context, w InboxWaiting) error {
	to := a.cfg.Alerts.InboxWaiting.To
	if !a.cfg.Enabled() || len(to) == 0 || w.Files == 0 {
		return nil
	}
	m, err := w.Message(to, a.format)
	if err != nil {
		return err
	}
	return a.out.Enqueue(ctx, m)
}

// ScheduleInboxCheck registers the job "notify.inbox_waiting" on s: at each
// tick of the configured schedule, check counts the files waiting in every
// inbox and an alert is queued for each inbox that has some. Nothing is
// registered when the alert has no recipients.
func (a *Alerts) ScheduleInboxCheck(s *Scheduler, check func(ctx context.Context) ([]InboxWaiting, error)) error {
	c := a.cfg.Alerts.InboxWaiting
	if !a.cfg.Enabled() || len(c.To) == 0 {
		return nil
	}
	if check == nil {
		return errors.New("notify: inbox check function is nil")
	}
	tz := c.TimeZone
	if tz == "" {
		tz = a.cfg.timeZone()
	}
	return s.Add("notify.inbox_waiting", c.schedule(), tz, func(ctx context.Context) error {
		inboxes, err := check(ctx)
		if err != nil {
			return fmt.Errorf("check inboxes: %w", err)
		}
		var errs []error
		for _, w := range inboxes {
			if err := a.QueueInboxWaiting(ctx, w); err != nil {
				errs = append(errs, fmt.Errorf("queue alert for %q: %w", oneLine(w.Source, 80), err))
			}
		}
		return errors.Join(errs...)
	})
}
