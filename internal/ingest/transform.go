package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// maxWarningDetails bounds the warnings listed one by one in a Summary: a
// file where every line has an Excel date would otherwise list a million.
// Every warning is still counted.
const maxWarningDetails = 1000

// Summary is the outcome of a Transform, shaped as `plateau ingest --json`
// prints it.
type Summary struct {
	// Encoding is the encoding the file was read in.
	Encoding    string `json:"encoding"`
	Received    int    `json:"received"`
	Loaded      int    `json:"loaded"`
	Quarantined int    `json:"quarantined"`
	Warnings    int    `json:"warnings"`
	Manual      int    `json:"manual"`
	Queue       int    `json:"queue"`
	Duplicates  int    `json:"duplicates"`
	BlankLines  int    `json:"blank_lines"`
	// Quarantine lists every quarantined record, in file order.
	Quarantine []QuarantineEntry `json:"quarantine"`
	// WarningsByCode counts the warnings by code.
	WarningsByCode map[string]int `json:"warnings_by_code"`
	// WarningDetails lists the first warnings one by one.
	WarningDetails          []Warning       `json:"warning_details"`
	WarningDetailsTruncated bool            `json:"warning_details_truncated,omitempty"`
	Outputs                 []OutputSummary `json:"outputs"`
}

// QuarantineEntry is one quarantined record in a Summary.
type QuarantineEntry struct {
	// Line is the physical line on which the record starts; the header is
	// line 1.
	Line int `json:"line"`
	// N is the record's number among the file's data records (1-based),
	// e.g. the index of an item of a JSON array that became a file.
	N      int    `json:"n"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// OutputSummary is one output file written.
type OutputSummary struct {
	File string `json:"file"`
	Path string `json:"path"`
	Rows int    `json:"rows"`
}

// NewSummary returns an empty Summary, for a loader that builds the same
// account as Transform with Add and Finish.
func NewSummary() *Summary {
	return &Summary{Quarantine: []QuarantineEntry{}, WarningsByCode: map[string]int{}, WarningDetails: []Warning{}, Outputs: []OutputSummary{}}
}

// Add notes an item: a quarantined record in Quarantine, a loaded record's
// warnings in WarningsByCode and WarningDetails. The counts come from
// Finish.
func (s *Summary) Add(it Item) {
	if q := it.Quarantined; q != nil {
		field := ""
		if len(q.Reasons) > 0 {
			field = q.Reasons[0].Field
		}
		s.Quarantine = append(s.Quarantine, QuarantineEntry{Line: q.Line, N: q.N, Code: q.Code(), Field: field, Reason: q.Reason()})
		return
	}
	if it.Record == nil {
		return
	}
	for _, w := range it.Record.Warnings {
		s.WarningsByCode[w.Code]++
		if len(s.WarningDetails) < maxWarningDetails {
			s.WarningDetails = append(s.WarningDetails, w)
		} else {
			s.WarningDetailsTruncated = true
		}
	}
}

// Finish copies the pipeline's counts and encoding.
func (s *Summary) Finish(pl *Pipeline) {
	st := pl.Stats()
	s.Encoding = pl.Encoding()
	s.Received, s.Loaded, s.Quarantined = st.Received, st.Loaded, st.Quarantined
	s.Warnings, s.Manual, s.Queue, s.Duplicates, s.BlankLines = st.Warnings, st.Manual, st.Queue, st.Duplicates, st.BlankLines
}

// Transform reads src with profile p and, when opts.OutDir is set, writes the
// profile's output files there. The files appear only when the whole source
// was processed (each is written to a temporary file, synced, then renamed);
// on error none is left behind. Quarantined records are not errors: they are
// in the Summary. An error means the file could not be processed at all.
func Transform(ctx context.Context, p *Profile, src io.Reader, opts Options) (*Summary, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	pl, err := NewPipeline(p, src, opts)
	if err != nil {
		return nil, err
	}
	var outs *Outputs
	var w *batchWriter
	if opts.OutDir != "" {
		if outs, err = openOutputs(p, opts.OutDir, &pl.rc, opts.syncEvery); err != nil {
			return nil, err
		}
		w = startBatchWriter(outs, len(p.Fields))
		pl.buildInto(w.slot())
	}
	s := NewSummary()
	for {
		it, err := pl.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && w != nil && it.Record != nil {
			// The record was built in the batch slot: queue it for the
			// writer, and build the next one in a fresh slot.
			if err = w.add(); err == nil {
				pl.buildInto(w.slot())
			}
		}
		if err != nil {
			if w != nil {
				_ = w.finish()
			}
			outs.Abort()
			return nil, err
		}
		s.Add(it)
	}
	if w != nil {
		if err := w.finish(); err != nil {
			outs.Abort()
			return nil, err
		}
		if s.Outputs, err = outs.Commit(); err != nil {
			return nil, err
		}
	}
	s.Finish(pl)
	log.Info("ingest: file transformed",
		"encoding", s.Encoding, "received", s.Received, "loaded", s.Loaded, "quarantined", s.Quarantined,
		"duplicates", s.Duplicates, "warnings", s.Warnings, "manual", s.Manual, "outputs", len(s.Outputs),
		"duration", time.Since(began).Round(time.Millisecond).String())
	return s, nil
}

// String is a one-line account of the counts.
func (s *Summary) String() string {
	return fmt.Sprintf("received %d, loaded %d, quarantined %d (duplicates %d), warnings %d, manual dialling %d",
		s.Received, s.Loaded, s.Quarantined, s.Duplicates, s.Warnings, s.Manual)
}

// batchWriter writes records to the outputs on its own goroutine, so that
// parsing and writing use both cores. Records travel in batches that are
// reused: the pipeline builds each record straight into a batch slot.
type batchWriter struct {
	outs *Outputs
	cur  *recordBatch
	free chan *recordBatch
	full chan *recordBatch
	done chan struct{} // closed when the writer stops; err is then set
	err  error
}

type recordBatch struct {
	recs []Record
	n    int
}

const (
	batchRecords = 64
	batchCount   = 4
)

func startBatchWriter(outs *Outputs, fields int) *batchWriter {
	w := &batchWriter{
		outs: outs,
		free: make(chan *recordBatch, batchCount),
		full: make(chan *recordBatch, batchCount),
		done: make(chan struct{}),
	}
	for range batchCount {
		b := &recordBatch{recs: make([]Record, batchRecords)}
		vals := make([]Value, batchRecords*fields)
		for i := range b.recs {
			b.recs[i].Values = vals[i*fields : (i+1)*fields : (i+1)*fields]
		}
		w.free <- b
	}
	w.cur = <-w.free
	go w.run()
	return w
}

func (w *batchWriter) run() {
	defer close(w.done)
	for b := range w.full {
		for i := range b.n {
			if err := w.outs.Write(&b.recs[i]); err != nil {
				w.err = err
				return
			}
		}
		b.n = 0
		w.free <- b
	}
}

// slot is where the next record is to be built.
func (w *batchWriter) slot() *Record { return &w.cur.recs[w.cur.n] }

// add queues the record built in slot.
func (w *batchWriter) add() error {
	w.cur.n++
	if w.cur.n < batchRecords {
		return nil
	}
	select {
	case w.full <- w.cur:
	case <-w.done:
		return w.err
	}
	select {
	case w.cur = <-w.free:
		return nil
	case <-w.done:
		return w.err
	}
}

// finish writes what is queued and stops the writer.
func (w *batchWriter) finish() error {
	if w.cur != nil && w.cur.n > 0 {
		select {
		case w.full <- w.cur:
		case <-w.done:
		}
	}
	w.cur = nil
	close(w.full)
	<-w.done
	return w.err
}
