package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// How a load runs. One goroutine runs the pipeline over the archive and
// fills blocks of records; workers seal them into contact rows (the CPU
// cost of a load: encoding, AES-GCM, the blind index); one writer commits
// them in chunks, each chunk in one transaction with the batch's progress
// and its quarantined records; a last goroutine writes the legacy files
// and sinks, in file order. Blocks go round a fixed pool, so memory does
// not grow with the file.
//
// Every pass reads the whole file from its first record: the pipeline's
// state (record numbers, the duplicate index) is rebuilt, the outputs are
// written whole, and records up to the committed progress are only
// skipped by the writer.

// blockSize is how many records travel together between the goroutines.
const blockSize = 256

// errLost means another process moved the batch's progress: it is loading
// the batch too, and this pass stops.
var errLost = errors.New("another process is loading this batch")

// maxTakenRetries bounds the retries of a chunk whose contact ids another
// batch takes while it is being written.
const maxTakenRetries = 3

type blockItem struct {
	n, line int
	rec     int          // index in block.recs; -1 for a quarantined record
	q       *Quarantined // quarantined and not yet committed
	skip    bool         // committed by an earlier pass
	taken   bool         // its contact id belongs to another batch: set aside
}

type block struct {
	items []blockItem
	recs  []Record
	nrec  int
	// stats and encoding are the pipeline's after the block's last record.
	stats    Stats
	encoding string

	ready chan error // the workers' verdict
	rows  [][]any    // contact rows of the items not skipped
	rowOf []int      // rows[i] is items[rowOf[i]]
	ids   []string   // contact id of rows[i]
	qrows [][]any    // quarantine rows
}

func newBlock(fields int) *block {
	b := &block{items: make([]blockItem, 0, blockSize), recs: make([]Record, blockSize), ready: make(chan error, 1)}
	vals := make([]Value, blockSize*fields)
	for i := range b.recs {
		b.recs[i].Values = vals[i*fields : (i+1)*fields : (i+1)*fields]
	}
	return b
}

func (b *block) reset() {
	b.items, b.nrec = b.items[:0], 0
	b.rows, b.rowOf, b.ids, b.qrows = b.rows[:0], b.rowOf[:0], b.ids[:0], b.qrows[:0]
}

// takenRecord is a record set aside because its contact id was taken.
type takenRecord struct {
	n, line int
	reason  string
}

// loadRun is one pass over a batch.
type loadRun struct {
	s        *Service
	b        Batch
	p        *Profile
	l        *campaign.Loader
	scope    string
	personal []string
	startN   int           // progress when the pass began: records up to it are skipped
	progress int           // committed; the writer's
	taken    []takenRecord // every record set aside for its contact id, earlier passes included
	prior    map[int]bool  // N of those set aside by earlier passes
	checked  bool          // look for taken contact ids before copying
	report   func(Progress)
	began    time.Time

	errOnce sync.Once
	err     error
	cancel  context.CancelCauseFunc
}

func (r *loadRun) fail(err error) {
	r.errOnce.Do(func() {
		r.err = err
		r.cancel(err)
	})
}

// load runs a pass over a registered batch and marks it done, or failed
// when the file cannot be processed. errLost means another process holds
// it.
func (s *Service) load(ctx context.Context, b Batch, report func(Progress)) (*BatchResult, error) {
	began := time.Now()
	sp, err := s.ProfileVersion(ctx, b.Mission, b.ProfileVersion)
	if err != nil {
		return nil, err
	}
	m, err := s.c.Mission(ctx, b.Mission)
	if err != nil {
		return nil, fmt.Errorf("batch %d: %w", b.ID, err)
	}
	// Loader makes sure the keys exist, outside any transaction.
	l, err := s.c.Loader(ctx, b.Mission)
	if err != nil {
		return nil, fmt.Errorf("batch %d: %w", b.ID, err)
	}
	r := &loadRun{s: s, b: b, p: sp.Profile, l: l, scope: missionScope(b.Mission), progress: b.Progress,
		prior: map[int]bool{}, report: report, began: began, startN: b.Progress}
	for _, f := range sp.Profile.Fields {
		if f.Personal {
			r.personal = append(r.personal, f.Name)
		}
	}
	if err := r.loadTaken(ctx); err != nil {
		return nil, err
	}
	opts := Options{ReceivedAt: b.ReceivedAt, MissionNumber: b.Mission, MissionName: m.Name}
	s.bulkStart(ctx)
	sum, outs, err := r.run(ctx, opts)
	s.bulkEnd(ctx)
	if err != nil {
		var fe *FileError
		var ae *archiveError
		switch {
		case errors.As(err, &fe), errors.As(err, &ae), errors.Is(err, vault.ErrOpen), errors.Is(err, vault.ErrDestroyed),
			errors.Is(err, campaign.ErrInvalid):
			return s.failBatch(ctx, b, err)
		}
		return nil, err
	}
	done, err := r.finish(ctx, sum, outs)
	if err != nil {
		return nil, err
	}
	s.log.Info("ingest: batch loaded", "batch", b.ID, "mission", b.Mission, "received", done.Received,
		"loaded", done.Loaded, "quarantined", done.Quarantined, "resumed_from", r.startN,
		"duration", time.Since(began).Round(time.Millisecond).String())
	return &BatchResult{Batch: done, Resumed: r.startN > 0, Summary: sum}, nil
}

// loadTaken reads the records earlier passes set aside for their contact
// ids: they are left out of the outputs again, and counted.
func (r *loadRun) loadTaken(ctx context.Context) error {
	rows, err := r.s.d.QueryContext(ctx, sqlQuarantineByCode, r.b.ID, ReasonContactIDTaken)
	if err != nil {
		return fmt.Errorf("batch %d: read its quarantine: %w", r.b.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t takenRecord
		if err := rows.Scan(&t.n, &t.line, &t.reason); err != nil {
			return fmt.Errorf("batch %d: read its quarantine: %w", r.b.ID, err)
		}
		r.taken = append(r.taken, t)
		r.prior[t.n] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("batch %d: read its quarantine: %w", r.b.ID, err)
	}
	// A mission that had these ids will have the next ones too.
	r.checked = len(r.taken) > 0
	return nil
}

// run makes the pass; it returns the summary and the outputs, not yet
// committed.
func (r *loadRun) run(ctx context.Context, opts Options) (*Summary, []RecordWriter, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel

	ar := r.s.openArchive(ctx, r.b)
	defer ar.Close()
	pl, err := NewPipeline(r.p, ar, opts)
	if err != nil {
		// The profile cannot read this mission's batches (a mission name
		// the output encoding cannot hold...): as hopeless as a bad header.
		return nil, nil, &FileError{Msg: err.Error()}
	}
	outs, err := r.openOutputs(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	abort := func() {
		for _, w := range outs {
			w.Abort()
		}
	}

	nblocks := 2*((r.s.opt.ChunkRecords+blockSize-1)/blockSize) + 2*r.s.opt.Workers + 2
	free := make(chan *block, nblocks)
	for range nblocks {
		free <- newBlock(len(r.p.Fields))
	}
	work := make(chan *block, nblocks)
	ordered := make(chan *block, nblocks)
	written := make(chan *block, nblocks)
	sum := NewSummary()

	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ordered)
		defer close(work)
		if err := r.produce(ctx, pl, sum, free, work, ordered); err != nil {
			r.fail(err)
		}
	})
	for range r.s.opt.Workers {
		wg.Go(func() { r.seal(ctx, work) })
	}
	wg.Go(func() {
		defer close(written)
		if err := r.write(ctx, ordered, written, free, len(outs) > 0); err != nil {
			r.fail(err)
		}
	})
	wg.Go(func() {
		if err := r.output(ctx, outs, written, free); err != nil {
			r.fail(err)
		}
	})
	wg.Wait()
	if r.err != nil {
		abort()
		return nil, nil, r.err
	}
	if err := ctx.Err(); err != nil {
		abort()
		return nil, nil, context.Cause(ctx)
	}
	sum.Finish(pl)
	return sum, outs, nil
}

// produce runs the pipeline and hands out blocks, in file order, to the
// workers and the writer.
func (r *loadRun) produce(ctx context.Context, pl *Pipeline, sum *Summary, free, work, ordered chan *block) error {
	for eof := false; !eof; {
		var b *block
		select {
		case b = <-free:
		case <-ctx.Done():
			return nil
		}
		b.reset()
		seal := false
		for len(b.items) < blockSize {
			pl.buildInto(&b.recs[b.nrec])
			it, err := pl.Next(ctx)
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return err
			}
			sum.Add(it)
			if rec := it.Record; rec != nil {
				skip := rec.N <= r.startN
				b.items = append(b.items, blockItem{n: rec.N, line: rec.Line, rec: b.nrec, skip: skip, taken: r.prior[rec.N]})
				b.nrec++
				seal = seal || !skip
			} else {
				q := it.Quarantined
				item := blockItem{n: q.N, line: q.Line, rec: -1, skip: q.N <= r.startN}
				if !item.skip {
					item.q = q.Clone()
					seal = true
				}
				b.items = append(b.items, item)
			}
		}
		if len(b.items) == 0 {
			free <- b
			break
		}
		b.stats, b.encoding = pl.Stats(), pl.Encoding()
		if seal {
			select {
			case work <- b:
			case <-ctx.Done():
				return nil
			}
		} else {
			b.ready <- nil
		}
		select {
		case ordered <- b:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// seal turns blocks into rows: contacts through the campaign loader,
// quarantined records sealed whole.
func (r *loadRun) seal(ctx context.Context, work chan *block) {
	fields := make(map[string]string, len(r.p.Fields))
	var buf []byte
	for b := range work {
		b.ready <- r.sealBlock(ctx, b, fields, &buf)
	}
}

func (r *loadRun) sealBlock(ctx context.Context, b *block, fields map[string]string, buf *[]byte) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	for i := range b.items {
		it := &b.items[i]
		if it.skip {
			continue
		}
		if it.q != nil {
			row, err := r.quarantineRow(ctx, it.q.N, it.q.Line, it.q.Code(), quarantineField(it.q), it.q.Reason(), it.q.DuplicateOf, it.q.Fields, buf)
			if err != nil {
				return err
			}
			b.qrows = append(b.qrows, row)
			it.q = nil
			continue
		}
		rec := &b.recs[it.rec]
		// One map per worker, overwritten: Row encodes it before returning.
		for j := range r.p.Fields {
			fields[r.p.Fields[j].Name] = rec.Values[j].Text
		}
		routing := campaign.RoutingQueue
		if rec.Route == RouteManual {
			routing = campaign.RoutingManual
		}
		row, err := r.l.Row(ctx, campaign.NewContact{
			ContactID: rec.ContactID, Phone: rec.Dial.E164, PhoneType: rec.Dial.Type.String(),
			Routing: routing, BatchID: r.b.ID, Fields: fields, Personal: r.personal,
		})
		if err != nil {
			return fmt.Errorf("record %d (line %d): %w", rec.N, rec.Line, err)
		}
		b.rows = append(b.rows, row)
		b.rowOf = append(b.rowOf, i)
		b.ids = append(b.ids, rec.ContactID)
	}
	return nil
}

func quarantineField(q *Quarantined) string {
	if len(q.Reasons) > 0 {
		return q.Reasons[0].Field
	}
	return ""
}

// quarantineRow seals a quarantined record's fields and returns its row.
func (r *loadRun) quarantineRow(ctx context.Context, n, line int, code, field, reason string, dupOf int, fields []string, buf *[]byte) ([]any, error) {
	*buf = encodeFields((*buf)[:0], fields)
	sealed, err := r.s.v.Seal(ctx, r.scope, *buf, quarantineAD(r.b.ID, n))
	if err != nil {
		return nil, fmt.Errorf("seal quarantined record %d: %w", n, err)
	}
	return []any{r.b.ID, n, line, code, field, reason, dupOf, sealed}, nil
}

// write commits the blocks in chunks, in file order, then passes them to
// the outputs (or back to the pool).
func (r *loadRun) write(ctx context.Context, ordered, written, free chan *block, outputs bool) error {
	var (
		pending []*block
		count   int
	)
	pass := func() error {
		for _, b := range pending {
			next := free
			if outputs {
				next = written
			}
			select {
			case next <- b:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		pending, count = pending[:0], 0
		return nil
	}
	flush := func() error {
		if count > 0 {
			if err := r.commit(ctx, pending); err != nil {
				return err
			}
		}
		return pass()
	}
	for {
		var (
			b  *block
			ok bool
		)
		select {
		case b, ok = <-ordered:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			return flush()
		}
		select {
		case err := <-b.ready:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
		pending = append(pending, b)
		for _, it := range b.items {
			if !it.skip {
				count++
			}
		}
		if count >= r.s.opt.ChunkRecords {
			if err := flush(); err != nil {
				return err
			}
		} else if count == 0 {
			// Records committed by an earlier pass: nothing to wait for.
			if err := pass(); err != nil {
				return err
			}
		}
	}
}

// commit writes one chunk: the batch's progress first (which stops a
// second loader), then the contacts and the quarantined records, in one
// transaction.
func (r *loadRun) commit(ctx context.Context, chunk []*block) error {
	last := chunk[len(chunk)-1]
	to := last.items[len(last.items)-1].n
	var rows, qrows [][]any
	var ids []string
	for _, b := range chunk {
		rows = append(rows, b.rows...)
		qrows = append(qrows, b.qrows...)
		ids = append(ids, b.ids...)
	}
	st := last.stats
	var taken map[string]bool
	attempt := func() error {
		taken = nil
		return r.s.d.Tx(ctx, func(tx *db.Tx) error {
			if r.s.q.asyncCommit != "" {
				if _, err := tx.ExecContext(ctx, r.s.q.asyncCommit); err != nil {
					return err
				}
			}
			load, extra := rows, [][]any(nil)
			if r.checked {
				var err error
				if taken, err = r.l.Taken(ctx, tx, r.b.ID, ids); err != nil {
					return err
				}
				if len(taken) > 0 {
					if load, extra, err = r.setAside(ctx, chunk, taken); err != nil {
						return err
					}
				}
			}
			nTaken := len(r.taken) + len(extra)
			res, err := tx.ExecContext(ctx, sqlProgress, to, st.Received, st.Loaded-nTaken, st.Quarantined+nTaken,
				st.Duplicates, st.Warnings, st.Manual, st.Queue, st.BlankLines, last.encoding, db.Millis(r.s.now()),
				r.b.ID, r.progress)
			if err != nil {
				return fmt.Errorf("record progress: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errLost
			}
			if err := r.l.Copy(ctx, tx, load); err != nil {
				return err
			}
			if q := append(qrows, extra...); len(q) > 0 {
				if _, err := tx.CopyFrom(ctx, "batch_quarantine", quarantineColumns, q); err != nil {
					return err
				}
			}
			r.s.at("commit", r.b.ID, to)
			return nil
		})
	}
	err := attempt()
	for i := 0; i < maxTakenRetries && errors.Is(err, campaign.ErrContactExists); i++ {
		// The mission has some of these ids from another batch: look for
		// them from now on.
		r.checked = true
		err = attempt()
	}
	if err != nil {
		if ctx.Err() != nil {
			// database/sql rolls back as the context ends: its error says
			// less than the cause.
			return context.Cause(ctx)
		}
		return fmt.Errorf("batch %d: commit records up to %d: %w", r.b.ID, to, err)
	}
	r.progress = to
	if len(taken) > 0 {
		for _, b := range chunk {
			for i := range b.items {
				it := &b.items[i]
				if it.rec >= 0 && !it.skip && taken[b.recs[it.rec].ContactID] {
					it.taken = true
					r.taken = append(r.taken, takenRecord{n: it.n, line: it.line, reason: r.takenReason(b.recs[it.rec].ContactID)})
				}
			}
		}
	}
	if r.report != nil {
		r.report(Progress{Batch: r.b.ID, Phase: PhaseLoading, Records: to,
			Elapsed: time.Since(r.began), Rate: float64(to-r.startN) / time.Since(r.began).Seconds()})
	}
	return nil
}

func (r *loadRun) takenReason(id string) string {
	return fmt.Sprintf("contact id %s is already used in mission %d by another batch "+
		"(two files received the same day? the profile's contact id must tell them apart)", id, r.b.Mission)
}

// setAside splits a chunk's rows into those to load and quarantine rows
// for the records whose contact ids are taken.
func (r *loadRun) setAside(ctx context.Context, chunk []*block, taken map[string]bool) (load, extra [][]any, err error) {
	var buf []byte
	raw := make([]string, len(r.p.Fields))
	for _, b := range chunk {
		for k, row := range b.rows {
			id := b.ids[k]
			if !taken[id] {
				load = append(load, row)
				continue
			}
			rec := &b.recs[b.items[b.rowOf[k]].rec]
			for j := range rec.Values {
				raw[j] = rec.Values[j].Raw
			}
			q, err := r.quarantineRow(ctx, rec.N, rec.Line, ReasonContactIDTaken, "", r.takenReason(id), 0, raw, &buf)
			if err != nil {
				return nil, nil, err
			}
			extra = append(extra, q)
		}
	}
	return load, extra, nil
}

// openOutputs opens the legacy files and the sinks of the pass.
func (r *loadRun) openOutputs(ctx context.Context, opts Options) ([]RecordWriter, error) {
	var ws []RecordWriter
	if !r.b.NoOutputs && len(r.p.Outputs) > 0 {
		dir := r.b.OutDir
		if dir == "" {
			if r.s.opt.OutboxDir == "" {
				return nil, errors.New("the profile asks for output files, but no outbox folder is configured")
			}
			dir = filepath.Join(r.s.opt.OutboxDir, strconv.FormatInt(r.b.ID, 10))
		}
		opts.OutDir = dir
		o, err := OpenOutputs(r.p, opts)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", r.b.ID, err)
		}
		ws = append(ws, &fileOutputs{o: o})
	}
	for _, sk := range r.s.opt.Sinks {
		w, err := sk.Open(ctx, r.b, r.p)
		if err != nil {
			for _, x := range ws {
				x.Abort()
			}
			return nil, fmt.Errorf("batch %d: open sink: %w", r.b.ID, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// fileOutputs is the legacy files as a RecordWriter.
type fileOutputs struct {
	o    *Outputs
	sums []OutputSummary
}

func (f *fileOutputs) Write(rec *Record) error { return f.o.Write(rec) }
func (f *fileOutputs) Abort()                  { f.o.Abort() }
func (f *fileOutputs) Commit(context.Context) error {
	var err error
	f.sums, err = f.o.Commit()
	return err
}

// output writes the loaded records to the outputs, in file order, once
// their chunk is committed (so a record set aside is known).
func (r *loadRun) output(ctx context.Context, outs []RecordWriter, written, free chan *block) error {
	for b := range written {
		for _, it := range b.items {
			if it.rec < 0 || it.taken {
				continue
			}
			rec := &b.recs[it.rec]
			for _, w := range outs {
				if err := w.Write(rec); err != nil {
					return err
				}
			}
		}
		select {
		case free <- b:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// finish commits the outputs and marks the batch done, with its final
// counts, in a synchronous transaction.
func (r *loadRun) finish(ctx context.Context, sum *Summary, outs []RecordWriter) (Batch, error) {
	if r.progress != sum.Received {
		for _, w := range outs {
			w.Abort()
		}
		return Batch{}, fmt.Errorf("batch %d: %d records read but progress is %d", r.b.ID, sum.Received, r.progress)
	}
	r.s.at("outputs", r.b.ID, r.progress)
	for i, w := range outs {
		if err := w.Commit(ctx); err != nil {
			for _, x := range outs[i+1:] {
				x.Abort()
			}
			return Batch{}, fmt.Errorf("batch %d: write outputs: %w", r.b.ID, err)
		}
		if f, ok := w.(*fileOutputs); ok {
			sum.Outputs = append(sum.Outputs, f.sums...)
		}
	}
	r.account(sum)
	byCode, err := json.Marshal(sum.WarningsByCode)
	if err != nil {
		return Batch{}, err
	}
	outputs, err := json.Marshal(sum.Outputs)
	if err != nil {
		return Batch{}, err
	}
	now := r.s.now()
	b := r.b
	err = r.s.d.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, sqlFinish, sum.Received, sum.Loaded, sum.Quarantined, sum.Duplicates,
			sum.Warnings, sum.Manual, sum.Queue, sum.BlankLines, sum.Encoding, string(byCode), string(outputs),
			db.Millis(now), db.Millis(now), b.ID, r.progress)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLost
		}
		if b, err = scanBatch(tx.QueryRowContext(ctx, sqlBatch, b.ID)); err != nil {
			return err
		}
		if err := r.s.record(ctx, tx, audit.Event{
			Action: "batch.finish", ObjectType: "batch", ObjectID: strconv.FormatInt(b.ID, 10),
			After: map[string]any{"mission": b.Mission, "status": string(StatusDone), "received": b.Received,
				"loaded": b.Loaded, "quarantined": b.Quarantined, "duplicates": b.Duplicates, "warnings": b.Warnings,
				"manual": b.Manual, "resumed_from": r.startN},
		}); err != nil {
			return err
		}
		if r.s.opt.Finished != nil {
			if err := r.s.opt.Finished(ctx, tx, b); err != nil {
				return err
			}
		}
		r.s.at("finish", b.ID, r.progress)
		return nil
	})
	if err != nil {
		return Batch{}, fmt.Errorf("batch %d: mark done: %w", r.b.ID, err)
	}
	return b, nil
}

// account moves the records set aside for their contact ids from loaded
// to quarantined, in the summary.
func (r *loadRun) account(sum *Summary) {
	if len(r.taken) == 0 {
		return
	}
	sum.Loaded -= len(r.taken)
	sum.Quarantined += len(r.taken)
	for _, t := range r.taken {
		sum.Quarantine = append(sum.Quarantine, QuarantineEntry{Line: t.line, N: t.n, Code: ReasonContactIDTaken, Reason: t.reason})
	}
	slices.SortStableFunc(sum.Quarantine, func(a, b QuarantineEntry) int { return a.Line - b.Line })
}

// failBatch marks a batch that cannot be processed failed.
func (s *Service) failBatch(ctx context.Context, b Batch, cause error) (*BatchResult, error) {
	msg := cause.Error()
	now := s.now()
	ctx = context.WithoutCancel(ctx)
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, sqlFail, msg, db.Millis(now), db.Millis(now), b.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLost
		}
		if b, err = scanBatch(tx.QueryRowContext(ctx, sqlBatch, b.ID)); err != nil {
			return err
		}
		if err := s.record(ctx, tx, audit.Event{
			Action: "batch.finish", ObjectType: "batch", ObjectID: strconv.FormatInt(b.ID, 10),
			After: map[string]any{"mission": b.Mission, "status": string(StatusFailed), "error": msg},
		}); err != nil {
			return err
		}
		if s.opt.Finished != nil {
			return s.opt.Finished(ctx, tx, b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("batch %d: mark failed: %w", b.ID, err)
	}
	s.log.Warn("ingest: batch failed", "batch", b.ID, "mission", b.Mission, "error", msg)
	return &BatchResult{Batch: b}, &FailedError{Batch: b.ID, Reason: msg}
}
