package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are what a run needs besides the profile and the file.
type Options struct {
	// ReceivedAt is when the file was received; the contact ids and the
	// receipt columns are written from it, in the profile's time zone.
	// Required: replays pass the original time.
	ReceivedAt time.Time
	// MissionNumber and MissionName override the profile's mission.
	MissionNumber int
	MissionName   string
	// OutDir is where Transform writes the profile's output files; empty
	// writes none.
	OutDir string
	// MaxRecordBytes bounds one record; 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
	// Logger receives progress and counts, never personal data; nil logs
	// nothing.
	Logger *slog.Logger

	// syncEvery overrides backgroundSyncBytes, for tests.
	syncEvery int
}

// Stats are a pipeline's running counts.
type Stats struct {
	// Received counts data records: blank lines and the header are not
	// records.
	Received    int
	Loaded      int
	Quarantined int
	// Duplicates counts the quarantined records that duplicate an earlier
	// one.
	Duplicates int
	Manual     int
	Queue      int
	// Warnings counts the warnings of loaded records.
	Warnings   int
	BlankLines int
}

// Item is what a pipeline yields for one data record: exactly one of Record
// and Quarantined is set. Both are reused by the next call to Next; Clone
// them to keep them.
type Item struct {
	Record      *Record
	Quarantined *Quarantined
}

// Pipeline streams a file through a profile. It is not safe for concurrent
// use; run one pipeline per file.
type Pipeline struct {
	p      *Profile
	r      *Reader
	rc     renderContext
	pp     *phoneParser
	header bool // the header line is still to be read
	count  int
	n      int
	stats  Stats

	contactID *Template // the profile's, bound to this batch
	rec       *Record   // where the next valid record is built
	q         Quarantined
	keep      []encodingSet // per field: the single-byte encodings of the outputs it is written to

	seeds   [2]maphash.Seed
	seen    map[[3]uint32]uint32
	keyBuf  []byte
	idBuf   []byte
	trimmed []string
	hasDups bool
}

// NewPipeline prepares to read src with profile p.
func NewPipeline(p *Profile, src io.Reader, opts Options) (*Pipeline, error) {
	if p == nil || p.ContactID == nil {
		return nil, errors.New("ingest: the profile was not loaded with LoadProfile")
	}
	if opts.ReceivedAt.IsZero() {
		return nil, errors.New("ingest: the receipt time is required")
	}
	rc, err := newRenderContext(p, opts)
	if err != nil {
		return nil, err
	}
	r := NewReader(src, p.Source.Delimiter, p.Source.Encoding)
	r.SetMaxRecordBytes(opts.MaxRecordBytes)
	pl := &Pipeline{
		p:         p,
		r:         r,
		rc:        rc,
		pp:        newPhoneParser(),
		header:    p.Source.Header,
		contactID: p.ContactID.bind(&rc),
		rec:       &Record{Values: make([]Value, len(p.Fields))},
		keep:      make([]encodingSet, len(p.Fields)),
		seeds:     [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		hasDups:   p.DuplicateRecord || len(p.DuplicateKey) > 0,
	}
	if pl.hasDups {
		pl.seen = make(map[[3]uint32]uint32, 1024)
	}
	// Note, per field, the single-byte encodings it is written in, so that
	// a record whose text an output cannot hold is quarantined whole
	// instead of being written with a '?'.
	for _, o := range p.Outputs {
		var set encodingSet
		switch o.Encoding {
		case EncodingWindows1252:
			set = inCP1252
		case EncodingLatin1:
			set = inLatin1
		}
		for _, c := range o.Columns {
			for _, pt := range c.parts {
				if pt.kind == partField {
					pl.keep[pt.field] |= set
				}
			}
		}
	}
	return pl, nil
}

func newRenderContext(p *Profile, opts Options) (renderContext, error) {
	rc := renderContext{received: opts.ReceivedAt.In(p.Location)}
	num := p.Mission.Number
	if opts.MissionNumber != 0 {
		num = opts.MissionNumber
	}
	name := p.Mission.Name
	if opts.MissionName != "" {
		name = opts.MissionName
	}
	if num != 0 {
		rc.missionNumber = strconv.Itoa(num)
	}
	rc.missionName = name
	uses := func(k partKind) bool {
		if slices.ContainsFunc(p.ContactID.parts, func(x part) bool { return x.kind == k }) {
			return true
		}
		for _, o := range p.Outputs {
			for _, c := range o.Columns {
				if slices.ContainsFunc(c.parts, func(x part) bool { return x.kind == k }) {
					return true
				}
			}
		}
		return false
	}
	if num == 0 && uses(partMissionNumber) {
		return rc, errors.New("ingest: no mission number (set mission.number in the profile, or pass one)")
	}
	if name == "" && uses(partMissionName) {
		return rc, errors.New("ingest: no mission name (set mission.name in the profile, or pass one)")
	}
	for _, o := range p.Outputs {
		if !encodable(o.Encoding, name) {
			return rc, fmt.Errorf("ingest: the mission name has a character that %s (output %s) cannot hold", o.Encoding, o.File)
		}
	}
	return rc, nil
}

// buildInto makes the pipeline build the next valid records in r, whose
// Values must have one slot per profile field; Transform uses it to fill
// batches without copying.
func (pl *Pipeline) buildInto(r *Record) {
	if len(r.Values) != len(pl.p.Fields) {
		r.Values = make([]Value, len(pl.p.Fields))
	}
	pl.rec = r
}

// Stats returns the counts so far.
func (pl *Pipeline) Stats() Stats {
	s := pl.stats
	s.BlankLines = pl.r.BlankLines()
	return s
}

// Encoding returns the encoding the file is read in (see Reader.Encoding).
func (pl *Pipeline) Encoding() string { return pl.r.Encoding() }

// Next returns the next data record, valid or quarantined, or io.EOF after
// the last. Any other error means the file cannot be processed (unreadable,
// wrong header, cancelled): nothing from it should be kept.
func (pl *Pipeline) Next(ctx context.Context) (Item, error) {
	for {
		if pl.count%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return Item{}, err
			}
		}
		pl.count++
		raw, err := pl.r.Read()
		if errors.Is(err, io.EOF) {
			if pl.header {
				return Item{}, &FileError{Msg: "the file is empty: no header line"}
			}
			return Item{}, io.EOF
		}
		if err != nil {
			return Item{}, err
		}
		if pl.header {
			if err := pl.checkHeader(raw); err != nil {
				return Item{}, err
			}
			pl.header = false
			continue
		}
		pl.n++
		pl.stats.Received++
		return pl.process(raw), nil
	}
}

func (pl *Pipeline) checkHeader(raw *RawRecord) error {
	if raw.Problem != nil {
		return &FileError{Line: raw.Line, Msg: "the header line cannot be read: " + raw.Problem.Message}
	}
	want := pl.p.Source.Columns
	if len(raw.Fields) != len(want) {
		return &FileError{Line: raw.Line, Msg: fmt.Sprintf("the header has %d columns, the profile expects %d (%s)", len(raw.Fields), len(want), strings.Join(want, pl.delimString()))}
	}
	for i, got := range raw.Fields {
		got = strings.TrimPrefix(trimSpace(got), "\uFEFF")
		if !strings.EqualFold(got, strings.TrimSpace(want[i])) {
			// What was found is not shown: when the header is missing, it is a
			// lead's data, and this message may be logged.
			return &FileError{Line: raw.Line, Msg: fmt.Sprintf("header column %d does not match the profile, which expects %q there (is the header line missing, or the file from another export?)", i+1, want[i])}
		}
	}
	return nil
}

func (pl *Pipeline) delimString() string {
	return string(pl.p.Source.Delimiter)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// quarantine finishes a quarantined item.
func (pl *Pipeline) quarantine(raw *RawRecord) Item {
	pl.q.Line, pl.q.N, pl.q.Fields = raw.Line, pl.n, raw.Fields
	pl.stats.Quarantined++
	if pl.q.DuplicateOf > 0 {
		pl.stats.Duplicates++
	}
	return Item{Quarantined: &pl.q}
}

func (pl *Pipeline) reject(code, field, msg string) {
	pl.q.Reasons = append(pl.q.Reasons, Reason{Code: code, Field: field, Message: msg})
}

func (pl *Pipeline) warn(code, field, msg string) {
	pl.rec.Warnings = append(pl.rec.Warnings, Warning{Line: pl.rec.Line, Code: code, Field: field, Message: msg})
}

// process turns one raw record into an item.
func (pl *Pipeline) process(raw *RawRecord) Item {
	pl.q.Reasons, pl.q.DuplicateOf = pl.q.Reasons[:0], 0
	if raw.Problem != nil {
		pl.q.Reasons = append(pl.q.Reasons, *raw.Problem)
		return pl.quarantine(raw)
	}
	pl.trimmed = pl.trimmed[:0]
	empty := true
	for _, f := range raw.Fields {
		t := trimSpace(f)
		empty = empty && t == ""
		pl.trimmed = append(pl.trimmed, t)
	}
	if empty {
		pl.reject(ReasonEmptyRecord, "", "the record has only empty fields")
		return pl.quarantine(raw)
	}
	if want := len(pl.p.Source.Columns); len(raw.Fields) != want {
		pl.reject(ReasonFieldCount, "", fmt.Sprintf("expected %d fields, found %d", want, len(raw.Fields)))
		return pl.quarantine(raw)
	}
	rec := pl.rec
	rec.Line, rec.N, rec.Warnings = raw.Line, pl.n, rec.Warnings[:0]
	for i := range pl.p.Fields {
		f := &pl.p.Fields[i]
		pl.normalise(f, pl.trimmed[f.Index], &rec.Values[i])
	}
	if len(pl.q.Reasons) == 0 {
		pl.checkEncodable()
	}
	if len(pl.q.Reasons) > 0 {
		return pl.quarantine(raw)
	}
	if pl.hasDups {
		if line, dup := pl.duplicate(); dup {
			pl.q.DuplicateOf = line
			if pl.p.DuplicateRecord {
				pl.reject(ReasonDuplicate, "", fmt.Sprintf("exact duplicate of the record on line %d", line))
			} else {
				names := make([]string, len(pl.p.DuplicateKey))
				for i, k := range pl.p.DuplicateKey {
					names[i] = pl.p.Fields[k].Name
				}
				pl.reject(ReasonDuplicate, "", fmt.Sprintf("duplicate of the record on line %d (same %s)", line, strings.Join(names, ", ")))
			}
			return pl.quarantine(raw)
		}
	}
	rec.Dial = rec.Values[pl.p.Dial].Phone
	rec.Route = pl.route(rec.Dial)
	pl.idBuf = pl.contactID.appendContactID(pl.idBuf[:0], &pl.rc, rec.N, rec.Line)
	rec.ContactID = string(pl.idBuf)
	pl.stats.Loaded++
	pl.stats.Warnings += len(rec.Warnings)
	if rec.Route == RouteManual {
		pl.stats.Manual++
	} else {
		pl.stats.Queue++
	}
	return Item{Record: rec}
}

// show is how a value appears in a reason: quoted, or only its shape when
// the field holds personal data, because reasons end up in logs and e-mails.
func show(f *Field, s string) string {
	if f.Personal {
		return fmt.Sprintf("shaped %q", phoneShape(s))
	}
	return strconv.Quote(truncate(s, 60))
}

// normalise checks and normalises one trimmed value into v.
func (pl *Pipeline) normalise(f *Field, s string, v *Value) {
	*v = Value{Raw: s, Text: s}
	if s == "" {
		v.Empty = true
		if f.Required {
			pl.reject(ReasonRequired, f.Name, fmt.Sprintf("required field %q is empty", f.Name))
		}
		return
	}
	switch f.Type {
	case TypePhone:
		ph, res := pl.pp.parse(s, f.Region)
		if res != phoneOK {
			pl.invalid(f, v, ReasonPhone, WarnPhoneInvalidKept,
				fmt.Sprintf("field %q: %s is not a valid phone number (%s)", f.Name, show(f, s), res.describe()))
			return
		}
		v.Phone, v.Text = ph, ph.E164
		if pl.pp.leadingZero {
			pl.warn(WarnPhoneLeadingZero, f.Name, fmt.Sprintf("field %q: 9-digit number without its leading 0, read as a French number", f.Name))
		}
	case TypeDate:
		t, res := parseDate(s, f)
		switch res {
		case dateOK, dateExcel:
			v.Date = t
			v.Text = isoDate(t)
			if res == dateExcel {
				pl.warn(WarnDateExcelSerial, f.Name, fmt.Sprintf("field %q: Excel serial number %s read as %s", f.Name, s, t.Format("02/01/2006")))
			}
		case dateAmbiguous:
			pl.invalid(f, v, ReasonDateAmbig, WarnDateInvalidKept,
				fmt.Sprintf("field %q: %s reads as different days in the accepted formats %s", f.Name, show(f, s), pl.formats(f)))
		case dateExcelBad:
			pl.invalid(f, v, ReasonDate, WarnDateInvalidKept,
				fmt.Sprintf("field %q: %s is an Excel serial number of no real day", f.Name, show(f, s)))
		default:
			pl.invalid(f, v, ReasonDate, WarnDateInvalidKept,
				fmt.Sprintf("field %q: %s is not a date in the accepted formats (%s)", f.Name, show(f, s), pl.formats(f)))
		}
	case TypeEmail:
		if why := emailProblem(s); why != "" {
			pl.invalid(f, v, ReasonEmail, WarnEmailInvalidKept,
				fmt.Sprintf("field %q: %s is not a valid e-mail address (%s)", f.Name, show(f, s), why))
		}
	case TypePostalCode:
		code, res := normalisePostalCode(s)
		switch res {
		case postalOK:
		case postalPadded:
			v.Text = code
			pl.warn(WarnPostalCodePadded, f.Name, fmt.Sprintf("field %q: 4-digit postal code given its leading 0 back", f.Name))
		default:
			pl.invalid(f, v, ReasonPostalCode, WarnPostalCodeKept,
				fmt.Sprintf("field %q: %s is not a French postal code (5 digits)", f.Name, show(f, s)))
		}
	case TypeInteger:
		n, ok := parseInteger(s)
		if !ok {
			pl.invalid(f, v, ReasonInteger, WarnIntegerKept,
				fmt.Sprintf("field %q: %s is not a whole number", f.Name, show(f, s)))
			return
		}
		v.Int, v.Text = n, strconv.FormatInt(n, 10)
	}
}

// invalid quarantines the record, or keeps the value as received with a
// warning when the field says so.
func (pl *Pipeline) invalid(f *Field, v *Value, code, warnCode, msg string) {
	if f.KeepInvalid {
		v.Invalid = true
		pl.warn(warnCode, f.Name, msg+"; kept as received")
		return
	}
	pl.reject(code, f.Name, msg)
}

func (pl *Pipeline) formats(f *Field) string {
	parts := make([]string, 0, len(f.Formats)+1)
	for _, l := range f.Formats {
		parts = append(parts, humanLayout(l))
	}
	if f.ExcelSerialDigits > 0 {
		parts = append(parts, fmt.Sprintf("an Excel serial number of %d digits", f.ExcelSerialDigits))
	}
	return strings.Join(parts, ", or ")
}

// encodingSet is a set of single-byte output encodings.
type encodingSet uint8

const (
	inCP1252 encodingSet = 1 << iota
	inLatin1
)

// checkEncodable quarantines a record whose text an output file's encoding
// cannot hold.
func (pl *Pipeline) checkEncodable() {
	// Text read from Windows-1252 (or pure ASCII) always fits a
	// Windows-1252 output.
	fits1252 := pl.r.mode == modeCP1252 || pl.r.mode == modeUndecided
	for i, set := range pl.keep {
		if fits1252 {
			set &^= inCP1252
		}
		if set == 0 {
			continue
		}
		v := &pl.rec.Values[i]
		if isASCII(v.Raw) {
			continue
		}
		for _, enc := range []Encoding{EncodingWindows1252, EncodingLatin1} {
			if (enc == EncodingWindows1252 && set&inCP1252 == 0) || (enc == EncodingLatin1 && set&inLatin1 == 0) {
				continue
			}
			if r, bad := firstUnencodable(enc, v.Raw); bad {
				f := &pl.p.Fields[i]
				pl.reject(ReasonUnencodable, f.Name, fmt.Sprintf("field %q has a character (%U) that the %s output files cannot hold", f.Name, r, enc))
				break
			}
		}
	}
}

// duplicate records the record's key and reports the line of an earlier
// record with the same key. Keys are kept as a 96-bit fingerprint (two
// independent hashes): 16 bytes a record with its line, whatever its size,
// and a false match has about one chance in 10^15 even for ten million
// records. This index is what memory grows with: about 30 bytes a record.
func (pl *Pipeline) duplicate() (int, bool) {
	b := pl.keyBuf[:0]
	add := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if pl.p.DuplicateRecord {
		for _, f := range pl.trimmed {
			add(f)
		}
	} else {
		for _, i := range pl.p.DuplicateKey {
			add(pl.rec.Values[i].Text)
		}
	}
	pl.keyBuf = b
	h1, h2 := maphash.Bytes(pl.seeds[0], b), maphash.Bytes(pl.seeds[1], b)
	k := [3]uint32{uint32(h1), uint32(h1 >> 32), uint32(h2)}
	if line, ok := pl.seen[k]; ok {
		return int(line), true
	}
	pl.seen[k] = uint32(min(pl.rec.Line, 1<<32-1))
	return 0, false
}

func (pl *Pipeline) route(ph Phone) Route {
	r := &pl.p.Routing
	if r.ManualNumbers[ph.E164] || slices.Contains(r.ManualTypes, ph.Type) {
		return RouteManual
	}
	for _, prefix := range r.ManualPrefixes {
		if ph.nationalHasPrefix(prefix) {
			return RouteManual
		}
	}
	return RouteQueue
}
