package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// IngestOptions tune one Ingest call.
type IngestOptions struct {
	// ReceivedAt is the receipt time the contact ids and dates are made
	// from; zero: now. Replays pass the original time.
	ReceivedAt time.Time
	// OutDir is where the legacy files of this batch go; empty: the
	// outbox folder of the batch (ServiceOptions.OutboxDir/<batch id>).
	// With DryRun, the files are written there only when it is set.
	OutDir string
	// NoOutputs writes no legacy files, whatever the profile says.
	NoOutputs bool
	// DryRun reads and checks the file with the mission's profile and
	// loads nothing: no batch, no archive, no contact.
	DryRun bool
	// Progress, when set, is called as the file is received and as chunks
	// of records commit, from the goroutine doing the work: keep it short.
	Progress func(Progress)
}

// The phases a Progress reports.
const (
	PhaseReceiving = "receiving"
	PhaseLoading   = "loading"
)

// Progress is how far a batch is.
type Progress struct {
	Batch int64
	Phase string
	// Bytes archived so far (receiving).
	Bytes int64
	// Records is the number of the last record committed (loading).
	Records int
	Elapsed time.Duration
	// Rate is records (or bytes) per second in this pass.
	Rate float64
}

// BatchResult is what became of a file.
type BatchResult struct {
	// Batch is the batch as it ends; its ID is 0 on a dry run of new
	// content.
	Batch Batch
	// AlreadyLoaded: the same content had been loaded into the mission as
	// Batch.ID, and nothing was loaded now. Summary is that batch's.
	AlreadyLoaded bool
	// Resumed: an interrupted load of this batch was completed.
	Resumed bool
	// DryRun: nothing was written; Summary is what a load would do.
	DryRun bool
	// Summary counts received, loaded, quarantined... records and lists
	// the quarantined ones.
	Summary *Summary
}

// Ingest loads a file into a mission, exactly once: content the mission
// already has (same SHA-256) loads nothing and is reported as
// AlreadyLoaded; content whose load was interrupted is completed; a batch
// that failed before loading anything is tried again (the profile may
// have been fixed). source says where the file came from (SourceCLI,
// SourceUpload, SourceAPI, SourceSFTP(name), SourceFolder(name)); name is
// the file's name as the sender gave it.
//
// The error is a *FailedError when the file could not be processed at all
// (the result then holds the failed batch), and another error when the
// batch could not be completed now (it is resumable: Resume or the same
// call again finishes it).
func (s *Service) Ingest(ctx context.Context, mission int, source, name string, r io.Reader, o IngestOptions) (*BatchResult, error) {
	if err := checkSource(source); err != nil {
		return nil, err
	}
	name = SanitizeName(name)
	sp, err := s.ActiveProfile(ctx, mission)
	if err != nil {
		return nil, err
	}
	m, err := s.c.Mission(ctx, mission)
	if err != nil {
		return nil, err
	}
	if m.Archived {
		return nil, fmt.Errorf("mission %d: %w", mission, campaign.ErrArchived)
	}
	received := o.ReceivedAt
	if received.IsZero() {
		received = s.now()
	}
	if o.DryRun {
		return s.dryRun(ctx, sp, m, r, received, o)
	}
	// The mission's keys are made here if needed, outside any transaction.
	if _, err := s.c.Loader(ctx, mission); err != nil {
		return nil, err
	}
	if rs, ok := r.(io.ReadSeeker); ok {
		// A file can be hashed before it is archived: content loaded
		// already then costs one read, not an archive thrown away.
		if b, found, err := s.lookAhead(ctx, mission, rs); err != nil {
			return nil, err
		} else if found {
			return s.existing(ctx, b, o)
		}
	}
	b, err := s.createBatch(ctx, sp, source, name, received, o)
	if err != nil {
		return nil, err
	}
	var report func(int64)
	if o.Progress != nil {
		began := time.Now()
		report = func(n int64) {
			o.Progress(Progress{Batch: b.ID, Phase: PhaseReceiving, Bytes: n, Elapsed: time.Since(began),
				Rate: float64(n) / time.Since(began).Seconds()})
		}
	}
	rc, err := s.receive(ctx, &b, r, report)
	if err != nil {
		if derr := s.discard(ctx, b.ID); derr != nil {
			s.log.Warn("ingest: remove a batch whose receipt failed", "batch", b.ID, "error", derr.Error())
		}
		return nil, fmt.Errorf("receive batch %d: %w", b.ID, err)
	}
	prev, err := s.register(ctx, &b, rc)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		return s.existing(ctx, *prev, o)
	}
	return s.load(ctx, b, o.Progress)
}

// lookAhead hashes a seekable file and looks for a batch of the mission
// with that content; the file is rewound for reading.
func (s *Service) lookAhead(ctx context.Context, mission int, rs io.ReadSeeker) (Batch, bool, error) {
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return Batch{}, false, fmt.Errorf("read the file: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, readerCtx{ctx, rs}); err != nil {
		return Batch{}, false, fmt.Errorf("read the file: %w", err)
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return Batch{}, false, fmt.Errorf("read the file: %w", err)
	}
	return s.byContent(ctx, mission, h.Sum(nil))
}

// readerCtx stops a long read when ctx ends.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (s *Service) byContent(ctx context.Context, mission int, sum []byte) (Batch, bool, error) {
	b, err := scanBatch(s.d.QueryRowContext(ctx, sqlBatchByContent, mission, sum))
	if errors.Is(err, sql.ErrNoRows) {
		return Batch{}, false, nil
	}
	if err != nil {
		return Batch{}, false, fmt.Errorf("look for the content in mission %d: %w", mission, err)
	}
	return b, true, nil
}

// createBatch inserts a batch in status receiving. It is not audited yet:
// it becomes a batch (audited) or disappears.
func (s *Service) createBatch(ctx context.Context, sp StoredProfile, source, name string, received time.Time, o IngestOptions) (Batch, error) {
	now := s.now()
	b := Batch{Mission: sp.Mission, ProfileVersion: sp.Version, Source: source, Name: name,
		ReceivedAt: db.FromMillis(db.Millis(received)), Status: StatusReceiving, OutDir: o.OutDir, NoOutputs: o.NoOutputs,
		CreatedBy: audit.ActorFrom(ctx).Login, CreatedAt: db.FromMillis(db.Millis(now))}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, sqlInsertBatch, b.Mission, b.ProfileVersion, b.Source, b.Name,
			db.Millis(received), b.OutDir, b.NoOutputs, b.CreatedBy, db.Millis(now), db.Millis(now)).Scan(&b.ID)
	})
	if err != nil {
		return Batch{}, fmt.Errorf("create a batch in mission %d: %w", sp.Mission, err)
	}
	return b, nil
}

// register records the content of a received batch and makes it loading;
// if the mission has this content already, the new batch is removed and
// the earlier one returned.
func (s *Service) register(ctx context.Context, b *Batch, rc receipt) (*Batch, error) {
	var prev *Batch
	now := s.now()
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		p, err := scanBatch(tx.QueryRowContext(ctx, sqlBatchByContent, b.Mission, rc.sum[:]))
		switch {
		case err == nil:
			prev = &p
			if _, err := tx.ExecContext(ctx, sqlDeleteArchive, b.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlDeleteReceiving, b.ID); err != nil {
				return err
			}
			return s.record(ctx, tx, audit.Event{
				Action: "batch.duplicate", ObjectType: "batch", ObjectID: strconv.FormatInt(p.ID, 10),
				After: map[string]any{"mission": b.Mission, "source": b.Source, "name": b.Name, "bytes": rc.size},
			})
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := tx.ExecContext(ctx, sqlRegister, rc.sum[:], rc.size, rc.chunks, db.Millis(now), db.Millis(now), b.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errors.New("the batch was abandoned while it was received (no heartbeat for too long)")
		}
		err = s.record(ctx, tx, audit.Event{
			Action: "batch.create", ObjectType: "batch", ObjectID: strconv.FormatInt(b.ID, 10),
			After: map[string]any{"mission": b.Mission, "source": b.Source, "name": b.Name, "bytes": rc.size,
				"sha256": fmt.Sprintf("%x", rc.sum), "received_at": b.ReceivedAt.Format(time.RFC3339),
				"profile_version": b.ProfileVersion},
		})
		s.at("register", b.ID, 0)
		return err
	})
	if db.IsUniqueViolation(err) {
		// Another process registered the same content in between.
		if derr := s.discard(ctx, b.ID); derr != nil {
			return nil, derr
		}
		p, found, err := s.byContent(ctx, b.Mission, rc.sum[:])
		if err != nil || !found {
			return nil, fmt.Errorf("register batch %d: the same content appeared and vanished: %v", b.ID, err)
		}
		return &p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("register batch %d: %w", b.ID, err)
	}
	if prev != nil {
		return prev, nil
	}
	b.Status, b.Size, b.chunks, b.sum = StatusLoading, rc.size, rc.chunks, bytes.Clone(rc.sum[:])
	b.SHA256 = fmt.Sprintf("%x", rc.sum)
	b.StartedAt, b.HeartbeatAt = db.FromMillis(db.Millis(now)), db.FromMillis(db.Millis(now))
	return nil, nil
}

// existing deals with content the mission has already: reports a finished
// batch, completes an interrupted one, tries again one that failed before
// loading anything.
func (s *Service) existing(ctx context.Context, b Batch, o IngestOptions) (*BatchResult, error) {
	interrupted := b.Status == StatusLoading
	switch b.Status {
	case StatusDone:
		sum, err := s.storedSummary(ctx, b)
		if err != nil {
			return nil, err
		}
		return &BatchResult{Batch: b, AlreadyLoaded: true, Summary: sum}, nil
	case StatusFailed:
		if b.Progress > 0 {
			return &BatchResult{Batch: b}, &FailedError{Batch: b.ID, Reason: b.Error}
		}
		var err error
		if b, err = s.retry(ctx, b); err != nil {
			return nil, err
		}
	}
	res, err := s.load(ctx, b, o.Progress)
	if errors.Is(err, errLost) {
		return s.wait(ctx, b.ID, o)
	}
	if res != nil && interrupted {
		res.Resumed = true
	}
	return res, err
}

// retry makes a failed batch that loaded nothing loading again, read with
// the mission's active profile.
func (s *Service) retry(ctx context.Context, b Batch) (Batch, error) {
	sp, err := s.ActiveProfile(ctx, b.Mission)
	if err != nil {
		return Batch{}, err
	}
	now := s.now()
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, sqlRetry, sp.Version, db.Millis(now), db.Millis(now), b.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLost
		}
		if b, err = scanBatch(tx.QueryRowContext(ctx, sqlBatch, b.ID)); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "batch.retry", ObjectType: "batch", ObjectID: strconv.FormatInt(b.ID, 10),
			After: map[string]any{"mission": b.Mission, "profile_version": sp.Version},
		})
	})
	if err != nil {
		return Batch{}, fmt.Errorf("retry batch %d: %w", b.ID, err)
	}
	return b, nil
}

// wait waits for a batch another process is loading, and takes it over if
// that process stops beating.
func (s *Service) wait(ctx context.Context, id int64, o IngestOptions) (*BatchResult, error) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := s.Batch(ctx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case b.Status == StatusDone:
			sum, err := s.storedSummary(ctx, b)
			if err != nil {
				return nil, err
			}
			return &BatchResult{Batch: b, Resumed: true, Summary: sum}, nil
		case b.Status == StatusFailed:
			return &BatchResult{Batch: b}, &FailedError{Batch: b.ID, Reason: b.Error}
		case s.now().Sub(b.HeartbeatAt) > s.opt.StaleAfter:
			res, err := s.load(ctx, b, o.Progress)
			if !errors.Is(err, errLost) {
				return res, err
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Resume finishes every interrupted batch (status loading) and removes the
// files whose receipt stopped (status receiving, no heartbeat for
// StaleAfter: their sender died; it will send them again). Call it when a
// node starts and before ingesting. A batch another process is loading is
// left to it. The results are those of the batches finished (or failed).
func (s *Service) Resume(ctx context.Context) ([]BatchResult, error) {
	if err := s.abandonStale(ctx); err != nil {
		return nil, err
	}
	rows, err := s.d.QueryContext(ctx, sqlLoading)
	if err != nil {
		return nil, fmt.Errorf("resume: list interrupted batches: %w", err)
	}
	var todo []Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("resume: %w", err)
		}
		todo = append(todo, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var (
		out  []BatchResult
		errs []error
	)
	for _, b := range todo {
		s.log.Info("ingest: resuming batch", "batch", b.ID, "mission", b.Mission, "progress", b.Progress)
		res, err := s.load(ctx, b, nil)
		var fe *FailedError
		switch {
		case err == nil, errors.As(err, &fe):
			res.Resumed = true
			out = append(out, *res)
		case errors.Is(err, errLost):
			s.log.Info("ingest: batch is being loaded by another process", "batch", b.ID)
		default:
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// abandonStale removes the batches whose receipt stopped.
func (s *Service) abandonStale(ctx context.Context) error {
	cutoff := db.Millis(s.now().Add(-s.opt.StaleAfter))
	rows, err := s.d.QueryContext(ctx, sqlStaleReceiving, cutoff)
	if err != nil {
		return fmt.Errorf("resume: list stale receipts: %w", err)
	}
	type stale struct {
		id      int64
		mission int
	}
	var list []stale
	for rows.Next() {
		var x stale
		if err := rows.Scan(&x.id, &x.mission); err != nil {
			rows.Close()
			return fmt.Errorf("resume: %w", err)
		}
		list = append(list, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	for _, x := range list {
		err := s.d.Tx(ctx, func(tx *db.Tx) error {
			res, err := tx.ExecContext(ctx, sqlDeleteStale, x.id, cutoff)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // it beat again meanwhile
			}
			if _, err := tx.ExecContext(ctx, sqlDeleteArchive, x.id); err != nil {
				return err
			}
			return s.record(ctx, tx, audit.Event{
				Action: "batch.abandon", ObjectType: "batch", ObjectID: strconv.FormatInt(x.id, 10),
				After: map[string]any{"mission": x.mission, "reason": "receipt interrupted"},
			})
		})
		if err != nil {
			return fmt.Errorf("resume: abandon batch %d: %w", x.id, err)
		}
		s.log.Info("ingest: abandoned an interrupted receipt", "batch", x.id, "mission", x.mission)
	}
	return nil
}

// dryRun reads the file with the mission's profile and writes nothing but,
// when asked, the legacy files.
func (s *Service) dryRun(ctx context.Context, sp StoredProfile, m campaign.Mission, r io.Reader, received time.Time, o IngestOptions) (*BatchResult, error) {
	h := sha256.New()
	sum, err := Transform(ctx, sp.Profile, io.TeeReader(r, h),
		Options{ReceivedAt: received, MissionNumber: m.Number, MissionName: m.Name, OutDir: o.OutDir})
	if err != nil {
		return nil, err
	}
	// The pipeline stops at the last record; the hash needs every byte.
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("read the file: %w", err)
	}
	res := &BatchResult{DryRun: true, Summary: sum}
	b, found, err := s.byContent(ctx, m.Number, h.Sum(nil))
	if err != nil {
		return nil, err
	}
	if found {
		res.Batch, res.AlreadyLoaded = b, b.Status == StatusDone
	}
	return res, nil
}
