package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// Outputs writes a profile's output files for one batch of records. Create
// it with OpenOutputs, Write each loaded record in file order, then Commit
// (the files appear whole) or Abort (nothing is left). It is not safe for
// concurrent use.
type Outputs struct {
	files     []*outFile
	syncEvery int
	cells     *cellSet
	rc        *renderContext
	gen       uint64 // increments per record: cells rendered for another record are stale
}

// outFile writes one output into a temporary file beside its final name;
// commit makes it appear whole, abort leaves nothing.
type outFile struct {
	o     *Output
	f     *os.File
	w     *bufio.Writer
	tmp   string
	final string
	rows  int
	cols  []colPlan
	delim int // index of the delimiter in cellSet.delims
	row   []byte
	cell  []byte
	// unsynced counts bytes written since the last background sync; syncing
	// holds a token while a background fsync runs, whose result goes to
	// syncErr.
	unsynced int
	syncing  chan struct{}
	syncErr  chan error
}

// colPlan is how one column is written: a constant cell rendered once, a
// cell shared with other columns and outputs, or a template rendered each
// time.
type colPlan struct {
	isConst bool
	konst   []byte
	cell    int // index in cellSet, -1 if none
	tmpl    *Template
}

// cellSet renders each distinct field cell once per record, encoded, for
// every output that uses it: the same surname goes to three files.
type cellSet struct {
	keys   []cellKey
	delims []byte
	class  [256]uint16 // per byte: 1 quote, 2 CR or LF, 4<<i delimiter i
	gens   []uint64
	start  []int
	end    []int
	flags  []uint16
	arena  []byte
	utf8   []byte
}

type cellKey struct {
	p   part
	enc Encoding
}

func (cs *cellSet) index(k cellKey) int {
	for i, x := range cs.keys {
		if x == k {
			return i
		}
	}
	cs.keys = append(cs.keys, k)
	cs.gens = append(cs.gens, 0)
	cs.start = append(cs.start, 0)
	cs.end = append(cs.end, 0)
	cs.flags = append(cs.flags, 0)
	return len(cs.keys) - 1
}

func (cs *cellSet) delimIndex(d byte) int {
	for i, x := range cs.delims {
		if x == d {
			return i
		}
	}
	cs.delims = append(cs.delims, d)
	return len(cs.delims) - 1
}

// get returns cell i for the record of generation gen, rendering it if
// needed.
func (cs *cellSet) get(i int, gen uint64, rc *renderContext, rec *Record) ([]byte, uint16) {
	if cs.gens[i] != gen {
		k := &cs.keys[i]
		cs.utf8 = appendPart(cs.utf8[:0], k.p, rc, rec)
		start := len(cs.arena)
		var fl uint16
		cs.arena, fl = cs.encode(cs.arena, k.enc, cs.utf8)
		cs.gens[i], cs.start[i], cs.end[i], cs.flags[i] = gen, start, len(cs.arena), fl
	}
	return cs.arena[cs.start[i]:cs.end[i]], cs.flags[i]
}

// encode appends src encoded, and returns the classes of the special bytes
// it holds, in the same pass.
func (cs *cellSet) encode(dst []byte, e Encoding, src []byte) ([]byte, uint16) {
	var fl uint16
	for len(src) > 0 {
		i := 0
		for i < len(src) && src[i] < utf8.RuneSelf {
			fl |= cs.class[src[i]]
			i++
		}
		dst = append(dst, src[:i]...)
		if i == len(src) {
			break
		}
		src = src[i:]
		j := 1
		for j < len(src) && src[j] >= utf8.RuneSelf {
			j++
		}
		dst = appendEncoded(dst, e, src[:j])
		src = src[j:]
	}
	return dst, fl
}

// OpenOutputs creates p's output files in opts.OutDir (made if needed, mode
// 0700: the files hold personal data), as temporary files until Commit.
// opts gives the receipt time and mission, as for NewPipeline.
func OpenOutputs(p *Profile, opts Options) (*Outputs, error) {
	if opts.OutDir == "" {
		return nil, errors.New("ingest: no output folder")
	}
	rc, err := newRenderContext(p, opts)
	if err != nil {
		return nil, err
	}
	return openOutputs(p, opts.OutDir, &rc, opts.syncEvery)
}

func openOutputs(p *Profile, dir string, rc *renderContext, syncEvery int) (*Outputs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	if syncEvery <= 0 {
		syncEvery = backgroundSyncBytes
	}
	outs := &Outputs{cells: &cellSet{}, rc: rc, syncEvery: syncEvery}
	cs := outs.cells
	for i := range p.Outputs {
		o := &p.Outputs[i]
		f, err := os.CreateTemp(dir, "."+o.File+".tmp-*")
		if err != nil {
			outs.Abort()
			return nil, fmt.Errorf("create output %s: %w", o.File, err)
		}
		of := &outFile{o: o, f: f, w: bufio.NewWriterSize(f, 64<<10), tmp: f.Name(), final: filepath.Join(dir, o.File),
			syncing: make(chan struct{}, 1), syncErr: make(chan error, 1), delim: cs.delimIndex(o.Delimiter)}
		outs.files = append(outs.files, of)
		only := len(o.Columns) == 1
		for _, c := range o.Columns {
			plan := colPlan{cell: -1}
			switch {
			case c.constant():
				plan.isConst, plan.konst = true, appendCell(nil, c.appendConst(nil, rc), o, only)
			case len(c.parts) == 1 && !only && (c.parts[0].kind == partField || c.parts[0].kind == partContactID):
				plan.cell = cs.index(cellKey{p: c.parts[0], enc: o.Encoding})
			default:
				plan.tmpl = c
			}
			of.cols = append(of.cols, plan)
		}
		if o.Header != nil {
			of.row = of.row[:0]
			for j, h := range o.Header {
				if j > 0 {
					of.row = append(of.row, o.Delimiter)
				}
				of.row = appendCell(of.row, []byte(h), o, len(o.Header) == 1)
			}
			of.row = append(of.row, o.LineEnding...)
			if _, err := of.w.Write(of.row); err != nil {
				outs.Abort()
				return nil, fmt.Errorf("write output %s: %w", o.File, err)
			}
		}
	}
	cs.class['"'] = 1
	cs.class['\r'], cs.class['\n'] = 2, 2
	for i, d := range cs.delims {
		cs.class[d] |= 4 << i
	}
	return outs, nil
}

// Write adds a loaded record to the files that take it (see
// Output.Records).
func (outs *Outputs) Write(rec *Record) error {
	outs.gen++
	outs.cells.arena = outs.cells.arena[:0]
	for _, of := range outs.files {
		if !of.wants(rec.Route) {
			continue
		}
		if err := of.write(outs, rec); err != nil {
			return err
		}
	}
	return nil
}

// wants reports whether the output receives a record routed r.
func (of *outFile) wants(r Route) bool {
	switch of.o.Records {
	case RecordsManual:
		return r == RouteManual
	case RecordsQueue:
		return r == RouteQueue
	}
	return true
}

func (of *outFile) write(outs *Outputs, rec *Record) error {
	o := of.o
	of.row = of.row[:0]
	mask := uint16(3 | 4<<of.delim)
	for j := range of.cols {
		if j > 0 {
			of.row = append(of.row, o.Delimiter)
		}
		c := &of.cols[j]
		switch {
		case c.isConst:
			of.row = append(of.row, c.konst...)
		case c.cell >= 0:
			b, fl := outs.cells.get(c.cell, outs.gen, outs.rc, rec)
			if fl&mask != 0 {
				of.row = appendQuoted(of.row, b)
			} else {
				of.row = append(of.row, b...)
			}
		default:
			of.cell = c.tmpl.appendRecord(of.cell[:0], outs.rc, rec)
			of.row = appendCell(of.row, of.cell, o, len(of.cols) == 1)
		}
	}
	of.row = append(of.row, o.LineEnding...)
	of.rows++
	if _, err := of.w.Write(of.row); err != nil {
		return fmt.Errorf("write output %s: %w", o.File, err)
	}
	of.unsynced += len(of.row)
	if of.unsynced >= outs.syncEvery {
		return of.syncInBackground()
	}
	return nil
}

// appendCell appends one cell (UTF-8 in) encoded and quoted as Python's csv
// module does with QUOTE_MINIMAL: quotes around a cell that holds the
// delimiter, a quote, CR or LF (quotes inside doubled), and around an empty
// cell when it is the row's only one (so that the row is not a blank line).
func appendCell(dst, cell []byte, o *Output, only bool) []byte {
	quote := only && len(cell) == 0
	for _, c := range cell {
		if c == o.Delimiter || c == '"' || c == '\r' || c == '\n' {
			quote = true
			break
		}
	}
	if !quote {
		return appendEncoded(dst, o.Encoding, cell)
	}
	start := len(dst)
	dst = appendEncoded(dst, o.Encoding, cell)
	enc := append([]byte(nil), dst[start:]...)
	return appendQuoted(dst[:start], enc)
}

// appendQuoted appends b between quotes, its quotes doubled. The encodings
// keep ASCII as is, so a quote byte is a quote character.
func appendQuoted(dst, b []byte) []byte {
	dst = append(dst, '"')
	for {
		i := indexByte(b, '"')
		if i < 0 {
			break
		}
		dst = append(dst, b[:i+1]...)
		dst = append(dst, '"')
		b = b[i+1:]
	}
	dst = append(dst, b...)
	return append(dst, '"')
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// backgroundSyncBytes is how much is written between background fsyncs:
// flushing as we go overlaps the disk's work with parsing, so the final
// fsync before the rename has little left to wait for.
const backgroundSyncBytes = 16 << 20

func (of *outFile) syncInBackground() error {
	select {
	case of.syncing <- struct{}{}:
	default:
		return nil // the previous one is still running
	}
	select {
	case err := <-of.syncErr:
		if err != nil {
			<-of.syncing
			return fmt.Errorf("sync output %s: %w", of.o.File, err)
		}
	default:
	}
	of.unsynced = 0
	f := of.f
	go func() {
		err := f.Sync()
		of.syncErr <- err
		<-of.syncing
	}()
	return nil
}

// waitSync waits for a background fsync and returns its error.
func (of *outFile) waitSync() error {
	of.syncing <- struct{}{}
	defer func() { <-of.syncing }()
	select {
	case err := <-of.syncErr:
		return err
	default:
		return nil
	}
}

// Commit flushes, syncs and renames every file into place, then syncs the
// folder so that the renames survive a crash. It reports what was written.
// If a rename fails the files already renamed stay (each is whole) and the
// others are removed.
func (outs *Outputs) Commit() ([]OutputSummary, error) {
	if err := outs.commit(); err != nil {
		return nil, err
	}
	sums := make([]OutputSummary, 0, len(outs.files))
	for _, of := range outs.files {
		sums = append(sums, OutputSummary{File: of.o.File, Path: of.final, Rows: of.rows})
	}
	return sums, nil
}

func (outs *Outputs) commit() error {
	for _, of := range outs.files {
		if err := of.waitSync(); err != nil {
			outs.Abort()
			return fmt.Errorf("sync output %s: %w", of.o.File, err)
		}
		if err := of.w.Flush(); err != nil {
			outs.Abort()
			return fmt.Errorf("write output %s: %w", of.o.File, err)
		}
		if err := of.f.Sync(); err != nil {
			outs.Abort()
			return fmt.Errorf("sync output %s: %w", of.o.File, err)
		}
		if err := of.f.Close(); err != nil {
			outs.Abort()
			return fmt.Errorf("close output %s: %w", of.o.File, err)
		}
		of.f = nil
	}
	for _, of := range outs.files {
		if err := os.Rename(of.tmp, of.final); err != nil {
			outs.Abort()
			return fmt.Errorf("rename output %s: %w", of.o.File, err)
		}
		of.tmp = ""
	}
	if len(outs.files) > 0 {
		return syncDir(filepath.Dir(outs.files[0].final))
	}
	return nil
}

// Abort removes the temporary files; it is safe to call after Commit and
// on a nil *Outputs.
func (outs *Outputs) Abort() {
	if outs == nil {
		return
	}
	for _, of := range outs.files {
		if of.f != nil {
			_ = of.waitSync()
			of.f.Close()
			of.f = nil
		}
		if of.tmp != "" {
			_ = os.Remove(of.tmp)
			of.tmp = ""
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open output folder: %w", err)
	}
	defer d.Close()
	// Some file systems cannot sync a directory; the files themselves are
	// synced, so that is not worth failing a batch for.
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync output folder: %w", err)
	}
	return nil
}
