package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"plateau/internal/audit"
	"plateau/internal/config"
	"plateau/internal/ingest"
	"plateau/internal/ingest/inbox"
	"plateau/internal/notify"
)

// The background work of `plateau serve` besides the web server: finishing
// interrupted batches, polling the inboxes, sending the mail outbox, the
// scheduled alerts and the purge of old legacy files. Each piece starts only
// when it is configured.

// inboxRunner is one configured inbox with its poller.
type inboxRunner struct {
	cfg    config.Inbox
	in     inbox.Inbox
	poller *inbox.Poller
}

// openInboxes opens the configured inboxes (no connection is made yet: an
// SFTP server that is down delays its files, not the start). The caller
// closes them.
func openInboxes(a *app, ing *ingest.Service) ([]*inboxRunner, error) {
	var out []*inboxRunner
	for _, c := range a.cfg.Inboxes {
		var (
			in     inbox.Inbox
			source string
			err    error
		)
		switch c.Kind {
		case config.InboxSFTP:
			in, err = inbox.OpenSFTP(c.SFTP(), a.log)
			source = ingest.SourceSFTP(c.Name)
		default:
			in, err = inbox.OpenFolder(c.Folder(), a.log)
			source = ingest.SourceFolder(c.Name)
		}
		if err != nil {
			closeInboxes(out)
			return nil, err
		}
		p := inbox.NewPoller(c.Name, in, inboxHandler(a, ing, c.Mission, source), c.PollerOptions(a.log))
		out = append(out, &inboxRunner{cfg: c, in: in, poller: p})
	}
	return out, nil
}

func closeInboxes(rs []*inboxRunner) {
	for _, r := range rs {
		r.in.Close()
	}
}

// inboxHandler loads a file of an inbox into its mission. A file that
// cannot be processed at all (its batch is marked failed, with the reason,
// and can be run again once the profile is fixed) counts as handled: its
// original is archived in the batch, so it leaves the inbox. Any other
// error leaves the file in the inbox, to be offered again.
func inboxHandler(a *app, ing *ingest.Service, mission int, source string) inbox.Handler {
	return func(ctx context.Context, name string, f inbox.File, r io.Reader) error {
		ctx = systemActor(ctx, "inbox "+name)
		res, err := ing.Ingest(ctx, mission, source, f.Name, r, ingest.IngestOptions{})
		var fe *ingest.FailedError
		switch {
		case errors.As(err, &fe):
			a.log.Warn("inbox: file could not be processed; see its batch", "inbox", name, "mission", mission, "batch", fe.Batch)
		case err != nil:
			return err
		case res.AlreadyLoaded:
			a.log.Info("inbox: file already loaded", "inbox", name, "mission", mission, "batch", res.Batch.ID)
		default:
			b := res.Batch
			a.log.Info("inbox: batch loaded", "inbox", name, "mission", mission, "batch", b.ID,
				"received", b.Received, "loaded", b.Loaded, "quarantined", b.Quarantined)
		}
		if a.outbox != nil {
			a.outbox.Wake() // the summary was committed with the batch
		}
		return nil
	}
}

// waitingFiles counts the files waiting in each inbox, for the "N files
// are waiting" alert. An inbox that cannot be listed is logged and left out
// so that the others are still reported.
func waitingFiles(a *app, rs []*inboxRunner) func(ctx context.Context) ([]notify.InboxWaiting, error) {
	return func(ctx context.Context) ([]notify.InboxWaiting, error) {
		var out []notify.InboxWaiting
		for _, r := range rs {
			files, err := r.poller.Waiting(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				a.log.Error("inbox alert: inbox not listed", "inbox", r.cfg.Name, "err", err)
				continue
			}
			if len(files) == 0 {
				continue
			}
			w := notify.InboxWaiting{Source: r.cfg.Name, Files: len(files),
				Link: fmt.Sprintf("%s/batches?mission=%d", a.cfg.BaseURL, r.cfg.Mission)}
			for _, f := range files {
				if w.Oldest.IsZero() || f.ModTime.Before(w.Oldest) {
					w.Oldest = f.ModTime
				}
			}
			out = append(out, w)
		}
		return out, nil
	}
}

// startJobs starts the background work on wg, each until ctx ends: first
// the interrupted batches are finished, then the inboxes are polled; the
// mail outbox is sent and the inbox alert scheduled when mail is
// configured; old legacy files are purged. It returns a function that
// releases what it opened, to call after wg.Wait.
func startJobs(ctx context.Context, wg *sync.WaitGroup, a *app, ing *ingest.Service) (func(), error) {
	inboxes, err := openInboxes(a, ing)
	if err != nil {
		return nil, err
	}
	release := func() { closeInboxes(inboxes) }
	var sched *notify.Scheduler
	if a.alerts != nil && len(inboxes) > 0 && len(a.cfg.Notify.Alerts.InboxWaiting.To) > 0 {
		sched, err = notify.NewScheduler(notify.SchedulerOptions{DB: a.db, Logger: a.log})
		if err == nil {
			err = a.alerts.ScheduleInboxCheck(sched, waitingFiles(a, inboxes))
		}
		if err != nil {
			release()
			return nil, err
		}
	}

	wg.Go(func() {
		resumeBatches(ctx, a, ing)
		for _, r := range inboxes {
			wg.Go(func() { _ = r.poller.Run(ctx) })
		}
		if len(inboxes) > 0 {
			a.log.Info("inboxes polled", "count", len(inboxes))
		}
	})
	if a.outbox != nil {
		wg.Go(func() {
			if err := a.outbox.Run(ctx); err != nil {
				a.log.Error("mail outbox stopped", "err", err)
			}
		})
		a.log.Info("mail alerts on", "smtp", a.cfg.Notify.SMTP.String())
	}
	if sched != nil {
		wg.Go(func() {
			if err := sched.Run(ctx); err != nil {
				a.log.Error("scheduler", "err", err)
			}
		})
	}
	if a.cfg.Outbox.Retention > 0 {
		wg.Go(func() { purgeOutbox(ctx, a) })
	}
	return release, nil
}

// systemActor is the audit actor of the server's own work.
func systemActor(ctx context.Context, what string) context.Context {
	return audit.WithActor(ctx, audit.Actor{Login: "system", Source: "local", Agent: "plateau serve: " + what})
}

// resumeBatches finishes the batches a crash or a stop interrupted.
func resumeBatches(ctx context.Context, a *app, ing *ingest.Service) {
	done, err := ing.Resume(systemActor(ctx, "resume"))
	for _, r := range done {
		a.log.Info("interrupted batch finished", "batch", r.Batch.ID, "mission", r.Batch.Mission, "status", string(r.Batch.Status))
	}
	if err != nil && ctx.Err() == nil {
		a.log.Error("interrupted batches not all finished (they are tried again at the next start or when their file comes again)", "err", err)
	}
	if a.outbox != nil && len(done) > 0 {
		a.outbox.Wake()
	}
}

// purgeOutbox removes, every hour, the legacy files of batches older than
// the retention.
func purgeOutbox(ctx context.Context, a *app) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		cutoff := time.Now().Add(-time.Duration(a.cfg.Outbox.Retention))
		if n, err := purgeOutboxBefore(a.cfg.Outbox.Dir, cutoff); err != nil {
			a.log.Error("outbox purge", "dir", a.cfg.Outbox.Dir, "err", err)
		} else if n > 0 {
			a.log.Info("old legacy files removed from the outbox", "batches", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purgeOutboxBefore removes the batch folders of dir (those named by a
// batch id; nothing else is touched) last written before cutoff, and
// returns how many it removed. A missing dir is an empty outbox.
func purgeOutboxBefore(dir string, cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if id, err := strconv.ParseInt(e.Name(), 10, 64); err != nil || id <= 0 || strconv.FormatInt(id, 10) != e.Name() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
