package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DefaultMaxRecordBytes bounds one record (all its physical lines): a quote
// that is never closed must not make the reader swallow the whole file.
const DefaultMaxRecordBytes = 1 << 20

// charsetMode is how field bytes become text.
type charsetMode uint8

const (
	modeUndecided charsetMode = iota // auto, and no non-ASCII byte seen yet
	modeUTF8
	modeCP1252
	modeLatin1
)

func (m charsetMode) encoding() string {
	switch m {
	case modeUTF8:
		return string(EncodingUTF8)
	case modeCP1252:
		return string(EncodingWindows1252)
	case modeLatin1:
		return string(EncodingLatin1)
	}
	return "ascii"
}

// RawRecord is one record as read, before any field rule.
type RawRecord struct {
	// Line is the physical line on which the record starts (1-based).
	Line int
	// Fields are the decoded fields, not trimmed. They are valid until the
	// next Read; the strings themselves may be kept.
	Fields []string
	// Problem is set when the record could not be read properly (quoting,
	// encoding, length); Fields then hold what could be read, for display.
	Problem *Reason
}

// Reader reads delimited records (RFC 4180 quoting) from a byte stream,
// keeping the physical line where each record starts. It never holds more
// than one record in memory.
//
// Quoting follows RFC 4180: a field that starts with a quote ends at the next
// lone quote, doubled quotes stand for one, and delimiters and line breaks
// inside are data. A quote inside an unquoted field is kept as a character
// (it cannot mean anything else). Text after a closing quote, or a quote that
// is not closed where the record ends, is reported as a problem; when such a
// record spans several lines, only its first line is reported and the
// following lines are read again on their own, so that one stray quote does
// not swallow the records after it.
//
// Line ends are CRLF, LF or a lone CR. Lines holding only spaces or tabs are
// skipped: they are not records.
type Reader struct {
	br       *bufio.Reader
	delim    byte
	declared Encoding
	mode     charsetMode
	// DetectedLine is the line whose first non-ASCII byte decided the
	// encoding in auto mode (0: not decided by content).
	detectedLine int
	bom          bool
	max          int

	line     int // physical lines consumed
	blank    int // blank lines skipped
	started  bool
	pending  []byte // bytes to read before br: pushed back lines
	pendOff  int
	lineCopy []byte
	raw      []byte // the physical lines of a quoted record
	rawEnds  []int  // end offset in raw of each physical line
	fieldBuf []byte
	decBuf   []byte
	ends     []int
	bounds   []int
	fields   []string
	rec      RawRecord
	problem  Reason
}

// NewReader returns a reader of src with the given delimiter and declared
// encoding (EncodingAuto to detect it).
func NewReader(src io.Reader, delim byte, enc Encoding) *Reader {
	r := &Reader{br: bufio.NewReaderSize(src, 64<<10), delim: delim, declared: enc, max: DefaultMaxRecordBytes}
	switch enc {
	case EncodingUTF8:
		r.mode = modeUTF8
	case EncodingWindows1252:
		r.mode = modeCP1252
	case EncodingLatin1:
		r.mode = modeLatin1
	}
	return r
}

// SetMaxRecordBytes changes the record length limit.
func (r *Reader) SetMaxRecordBytes(n int) {
	if n > 0 {
		r.max = n
	}
}

// Encoding returns the encoding in use: the declared one, or the detected
// one in auto mode ("utf-8", "windows-1252"), or "ascii" when no non-ASCII
// byte has been read yet.
func (r *Reader) Encoding() string {
	if r.bom {
		return "utf-8 (BOM)"
	}
	return r.mode.encoding()
}

// BlankLines returns how many blank lines were skipped so far.
func (r *Reader) BlankLines() int { return r.blank }

// FileError is a problem that stops the whole file from being read.
type FileError struct {
	Line int
	Msg  string
}

// Error names the line when there is one.
func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

func (r *Reader) start() error {
	r.started = true
	head, err := r.br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("read: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		if r.declared == EncodingWindows1252 || r.declared == EncodingLatin1 {
			return &FileError{Line: 1, Msg: fmt.Sprintf("the file starts with a UTF-8 byte order mark but the profile declares %s", r.declared)}
		}
		_, _ = r.br.Discard(3)
		r.mode, r.bom = modeUTF8, true
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return &FileError{Line: 1, Msg: "the file is UTF-16, which is not supported: save it as UTF-8 or Windows-1252 (CSV)"}
	}
	return nil
}

// Read returns the next record, or io.EOF after the last one. Errors other
// than io.EOF are I/O errors or a *FileError; the reader cannot go on after
// them.
func (r *Reader) Read() (*RawRecord, error) {
	if !r.started {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	for {
		start := r.line + 1
		line, tooLong, err := r.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read line %d: %w", start, err)
		}
		if len(line) == 0 && err != nil {
			return nil, io.EOF
		}
		if r.mode == modeUndecided && !isASCIIBytes(line) {
			line = r.decide(line)
		}
		if tooLong || len(line) > r.max {
			r.fields = append(r.fields[:0], r.decode(line[:min(len(line), 200)]))
			return r.withProblem(start, ReasonTooLong, fmt.Sprintf("the line is longer than %d bytes", r.max)), nil
		}
		content := trimEOL(line)
		if isBlank(content) {
			r.blank++
			continue
		}
		if bytes.IndexByte(content, '"') < 0 {
			return r.splitPlain(start, content), nil
		}
		return r.readQuoted(start, line)
	}
}

// readLine returns the next physical line with its terminator (CRLF, LF or
// lone CR; none at the end of the file). The slice is valid until the next
// call. tooLong reports a line cut at the record limit, the rest of it
// skipped.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	if r.pendOff < len(r.pending) {
		rest := r.pending[r.pendOff:]
		n := len(rest)
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 {
			n = i + 1
			if rest[i] == '\r' && i+1 < len(rest) && rest[i+1] == '\n' {
				n++
			}
		}
		r.pendOff += n
		if r.pendOff == len(r.pending) {
			r.pending, r.pendOff = r.pending[:0], 0
		}
		r.line++
		return rest[:n], false, nil
	}
	line, err = r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.lineCopy = append(r.lineCopy[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.br.ReadSlice('\n')
			if len(r.lineCopy)+len(line) > r.max {
				tooLong = true
			} else {
				r.lineCopy = append(r.lineCopy, line...)
			}
		}
		line = r.lineCopy
	}
	if len(line) == 0 {
		return nil, false, err
	}
	// A lone CR ends a line too (old Mac exports); split there and keep the
	// rest for the next call.
	if i := bytes.IndexByte(line, '\r'); i >= 0 && i < len(line)-1 && !(i == len(line)-2 && line[i+1] == '\n') && !tooLong {
		r.pending = append(r.pending[:0], line[i+1:]...)
		r.pendOff = 0
		line = line[:i+1]
		err = nil
	}
	r.line++
	if errors.Is(err, io.EOF) {
		err = nil // the line is returned; the next call reports EOF
	}
	return line, tooLong, err
}

// pushBack makes the reader read b again, before anything not yet read;
// lines is how many physical lines b holds.
func (r *Reader) pushBack(b []byte, lines int) {
	rest := r.pending[r.pendOff:]
	p := make([]byte, 0, len(b)+len(rest))
	p = append(p, b...)
	p = append(p, rest...)
	r.pending, r.pendOff = p, 0
	r.line -= lines
}

// decide settles auto mode at the file's first non-ASCII byte, in line; it
// returns line, copied because peeking may move the buffer it points into.
func (r *Reader) decide(line []byte) []byte {
	r.lineCopy = append(r.lineCopy[:0], line...)
	line = r.lineCopy
	p := 0
	for line[p] < utf8.RuneSelf {
		p++
	}
	window := append([]byte(nil), line[p:]...)
	cut := false
	if len(window) < detectWindow {
		more := r.pending[r.pendOff:]
		if len(more) > detectWindow-len(window) {
			more = more[:detectWindow-len(window)]
		}
		window = append(window, more...)
	}
	if len(window) < detectWindow {
		peek, _ := r.br.Peek(min(detectWindow-len(window), r.br.Size()))
		window = append(window, peek...)
	}
	if len(window) >= detectWindow {
		window, cut = window[:detectWindow], true
	}
	if looksUTF8(window, cut) {
		r.mode = modeUTF8
	} else {
		r.mode = modeCP1252
	}
	r.detectedLine = r.line
	return line
}

func trimEOL(line []byte) []byte {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return line[:n]
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// splitPlain splits a line without quotes: the common case, one allocation
// for the whole record.
func (r *Reader) splitPlain(start int, content []byte) *RawRecord {
	r.problem = Reason{}
	s := r.decode(content)
	r.fields = r.fields[:0]
	for {
		i := strings.IndexByte(s, r.delim)
		if i < 0 {
			r.fields = append(r.fields, s)
			break
		}
		r.fields = append(r.fields, s[:i])
		s = s[i+1:]
	}
	return r.record(start)
}

func (r *Reader) record(start int) *RawRecord {
	r.rec = RawRecord{Line: start, Fields: r.fields}
	if r.problem.Code != "" {
		r.rec.Problem = &r.problem
	}
	return &r.rec
}

func (r *Reader) withProblem(start int, code, msg string) *RawRecord {
	r.problem = Reason{Code: code, Message: msg}
	return r.record(start)
}

// readQuoted reads a record that has quotes, possibly over several lines.
func (r *Reader) readQuoted(start int, first []byte) (*RawRecord, error) {
	r.problem = Reason{}
	r.raw = append(r.raw[:0], first...)
	r.rawEnds = append(r.rawEnds[:0], len(r.raw))
	r.fieldBuf, r.ends = r.fieldBuf[:0], r.ends[:0]
	pos := 0
	var problem, msg string
	whole := false // report the record whole, without reading its lines again
	atEOF := first[len(first)-1] != '\n' && first[len(first)-1] != '\r'
fields:
	for {
		if pos < len(r.raw) && r.raw[pos] == '"' {
			pos++
			for {
				i := bytes.IndexByte(r.raw[pos:], '"')
				if i < 0 {
					r.fieldBuf = append(r.fieldBuf, r.raw[pos:]...)
					pos = len(r.raw)
					if atEOF {
						problem, msg = ReasonQuoting, "a quoted field is never closed (the file ends inside it)"
						break fields
					}
					next, tooLong, err := r.readLine()
					if err != nil && !errors.Is(err, io.EOF) {
						return nil, fmt.Errorf("read line %d: %w", r.line+1, err)
					}
					if len(next) == 0 {
						problem, msg = ReasonQuoting, "a quoted field is never closed (the file ends inside it)"
						break fields
					}
					if r.mode == modeUndecided && !isASCIIBytes(next) {
						next = r.decide(next)
					}
					if tooLong {
						// One line alone is over the limit and was cut: it
						// cannot be read again, so the record ends here, whole.
						problem, msg, whole = ReasonTooLong, fmt.Sprintf("a quoted field runs past %d bytes without being closed", r.max), true
						break fields
					}
					if len(r.raw)+len(next) > r.max {
						r.raw = append(r.raw, next...)
						r.rawEnds = append(r.rawEnds, len(r.raw))
						problem, msg = ReasonTooLong, fmt.Sprintf("a quoted field runs past %d bytes without being closed", r.max)
						break fields
					}
					atEOF = next[len(next)-1] != '\n' && next[len(next)-1] != '\r'
					r.raw = append(r.raw, next...)
					r.rawEnds = append(r.rawEnds, len(r.raw))
					continue
				}
				r.fieldBuf = append(r.fieldBuf, r.raw[pos:pos+i]...)
				pos += i + 1
				if pos < len(r.raw) && r.raw[pos] == '"' {
					r.fieldBuf = append(r.fieldBuf, '"')
					pos++
					continue
				}
				break
			}
			r.ends = append(r.ends, len(r.fieldBuf))
			if pos == len(r.raw) {
				break
			}
			switch c := r.raw[pos]; c {
			case r.delim:
				pos++
				continue
			case '\r', '\n':
				break fields
			}
			problem, msg = ReasonQuoting, fmt.Sprintf("field %d has text after its closing quote", len(r.ends))
			break
		}
		j := pos
		for j < len(r.raw) && r.raw[j] != r.delim && r.raw[j] != '\r' && r.raw[j] != '\n' {
			j++
		}
		r.fieldBuf = append(r.fieldBuf, r.raw[pos:j]...)
		r.ends = append(r.ends, len(r.fieldBuf))
		if j < len(r.raw) && r.raw[j] == r.delim {
			pos = j + 1
			continue
		}
		break
	}
	lines := len(r.rawEnds)
	if lines > 1 && problem != "" && !whole {
		// A quote that runs over lines and then goes wrong is most likely a
		// stray one: report the first line alone and read the others again
		// on their own. (A multi-line record that closes properly is kept
		// whole even with a wrong field count: the pipeline reports that.)
		firstEnd := r.rawEnds[0]
		r.pushBack(r.raw[firstEnd:], lines-1)
		r.fields = append(r.fields[:0], r.decode(trimEOL(r.raw[:firstEnd])))
		return r.withProblem(start, ReasonQuoting, "a quote opened on this line is not closed on it (unbalanced quote); the next lines were read on their own"), nil
	}
	if problem != "" {
		r.fields = append(r.fields[:0], r.decode(trimEOL(r.raw)))
		return r.withProblem(start, problem, msg), nil
	}
	// Decode field by field: the quoted path is rare enough that the copies
	// do not matter.
	r.decBuf = r.decBuf[:0]
	r.bounds = r.bounds[:0]
	prev := 0
	for _, e := range r.ends {
		r.decBuf = r.appendDecoded(r.decBuf, r.fieldBuf[prev:e])
		r.bounds = append(r.bounds, len(r.decBuf))
		prev = e
	}
	s := string(r.decBuf)
	r.fields = r.fields[:0]
	prev = 0
	for _, e := range r.bounds {
		r.fields = append(r.fields, s[prev:e])
		prev = e
	}
	return r.record(start), nil
}

// decode returns b as text in the file's encoding, noting an encoding
// problem in r.problem. ASCII and valid UTF-8 cost a single copy.
func (r *Reader) decode(b []byte) string {
	if bytes.IndexByte(b, 0) >= 0 {
		r.noteNUL()
	}
	if isASCIIBytes(b) || ((r.mode == modeUTF8 || r.mode == modeUndecided) && utf8.Valid(b)) {
		return string(b)
	}
	r.decBuf = r.appendDecoded(r.decBuf[:0], b)
	return string(r.decBuf)
}

// checkDoubleEncoded notes a problem when b, which starts at a non-ASCII
// byte of a single-byte file, starts with UTF-8 for U+0080-U+00FF.
func (r *Reader) checkDoubleEncoded(b []byte) {
	if r.problem.Code == "" && looksDoubleEncoded(b) {
		r.problem = Reason{Code: ReasonEncoding, Message: fmt.Sprintf("the line looks written in UTF-8 although the file is %s (mixed encodings?)", r.mode.encoding())}
	}
}

func (r *Reader) noteNUL() {
	if r.problem.Code == "" {
		r.problem = Reason{Code: ReasonEncoding, Message: "the line contains a NUL byte (is the file UTF-16, or not text?)"}
	}
}

// appendDecoded appends b decoded to UTF-8.
func (r *Reader) appendDecoded(dst, b []byte) []byte {
	if bytes.IndexByte(b, 0) >= 0 {
		r.noteNUL()
	}
	if isASCIIBytes(b) {
		return append(dst, b...)
	}
	switch r.mode {
	case modeUTF8, modeUndecided:
		if utf8.Valid(b) {
			return append(dst, b...)
		}
		if r.problem.Code == "" {
			at := ""
			if r.detectedLine > 0 {
				at = fmt.Sprintf(", as detected on line %d", r.detectedLine)
			}
			r.problem = Reason{Code: ReasonEncoding, Message: "the line is not valid UTF-8 although the file is UTF-8" + at + " (mixed encodings?)"}
		}
		return append(dst, bytes.ToValidUTF8(b, []byte("\uFFFD"))...)
	case modeCP1252:
		for len(b) > 0 {
			i := asciiPrefix(b)
			dst = append(dst, b[:i]...)
			if i == len(b) {
				break
			}
			c := b[i]
			r.checkDoubleEncoded(b[i:])
			b = b[i+1:]
			if cp1252[c] == utf8.RuneError && r.problem.Code == "" {
				r.problem = Reason{Code: ReasonEncoding, Message: fmt.Sprintf("byte 0x%02X is not a character in Windows-1252", c)}
			}
			u := &cp1252UTF8[c]
			dst = append(dst, u.b[:u.n]...)
		}
		return dst
	default: // Latin-1
		for i, c := range b {
			if c >= utf8.RuneSelf {
				r.checkDoubleEncoded(b[i:])
			}
			dst = utf8.AppendRune(dst, rune(c))
		}
		return dst
	}
}
