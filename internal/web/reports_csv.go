package web

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"plateau/internal/campaign"
)

// The encodings of a CSV report, as the download form names them.
const (
	csvUTF8        = "utf-8"        // UTF-8 with a byte order mark, ','
	csvWindows1252 = "windows-1252" // Windows-1252, ';': French Excel's own
)

// reportCSV serves GET /reports/<kind>.csv: the whole report, in the
// encoding the user chose (encoding=utf-8, the default, or windows-1252).
func (s *Server) reportCSV(k reportKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		enc := r.URL.Query().Get("encoding")
		switch enc {
		case "":
			enc = csvUTF8
		case csvUTF8, csvWindows1252:
		default:
			return badRequest(fmt.Errorf("report encoding %q", enc))
		}
		rq, errKey, err := s.reportRequest(r, k)
		if err != nil {
			return err
		}
		if errKey != "" || rq.p.Mission == 0 {
			return &httpError{status: http.StatusBadRequest, key: valueOr(errKey, "report.error.mission"),
				err: fmt.Errorf("report %s: invalid parameters", k.name)}
		}
		t, err := k.build(r.Context(), rq)
		if errors.Is(err, campaign.ErrInvalid) {
			return &httpError{status: http.StatusBadRequest, key: "report.error.period", err: err}
		}
		if err != nil {
			return fmt.Errorf("report %s of mission %d: %w", k.name, rq.p.Mission, err)
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset="+enc)
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="mission-%d-%s.csv"`, rq.p.Mission, k.name))
		bw := bufio.NewWriterSize(w, 32<<10)
		cw := newReportCSVWriter(bw, enc)
		// The header goes out with the first row: a report may learn a
		// column from it (the fields of a mission without a profile).
		started := false
		start := func() error {
			if started {
				return nil
			}
			started = true
			return cw.Write(t.Columns)
		}
		err = t.rows(func(row []string) error {
			if err := start(); err != nil {
				return err
			}
			return cw.Write(row)
		})
		if err == nil {
			err = start()
		}
		if err != nil {
			return fmt.Errorf("report %s of mission %d: %w", k.name, rq.p.Mission, err)
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("report %s: %w", k.name, err)
		}
		return bw.Flush()
	}
}

// reportCSVWriter writes the rows of a report as French Excel opens them.
type reportCSVWriter struct {
	*csv.Writer
	bom  bool
	out  io.Writer
	wrap *cp1252Writer
}

func newReportCSVWriter(w io.Writer, enc string) *reportCSVWriter {
	rw := &reportCSVWriter{out: w}
	if enc == csvWindows1252 {
		rw.wrap = &cp1252Writer{w: w}
		rw.Writer = csv.NewWriter(rw.wrap)
		rw.Comma = ';'
	} else {
		rw.bom = true
		rw.Writer = csv.NewWriter(w)
		rw.Comma = ','
	}
	rw.UseCRLF = true
	return rw
}

// Write writes one row, the byte order mark first in UTF-8, with every cell
// made safe for a spreadsheet.
func (rw *reportCSVWriter) Write(row []string) error {
	if rw.bom {
		rw.bom = false
		if _, err := io.WriteString(rw.out, "\uFEFF"); err != nil {
			return err
		}
	}
	cells := make([]string, len(row))
	for i, c := range row {
		cells[i] = spreadsheetSafe(c)
	}
	return rw.Writer.Write(cells)
}

// spreadsheetSafe keeps a spreadsheet from reading a cell as a formula
// (CSV injection): a cell starting with =, @, a tab or a carriage return,
// or with + or - when it is not a number (a phone in E.164 stays as is),
// gets a leading apostrophe, which Excel shows as text.
func spreadsheetSafe(c string) string {
	if c == "" {
		return c
	}
	switch c[0] {
	case '=', '@', '\t', '\r':
		return "'" + c
	case '+', '-':
		if strings.Trim(c[1:], "0123456789., ") != "" || len(c) == 1 {
			return "'" + c
		}
	}
	return c
}

// cp1252Writer encodes UTF-8 text into Windows-1252. A character the code
// page cannot hold (an emoji, most non-Latin scripts, letters such as ł or
// ő) is written as '?', one per character: the row keeps its shape and
// nothing fails half-way through a download.
type cp1252Writer struct {
	w   io.Writer
	buf []byte
	// rest holds the first bytes of a character cut between two writes.
	rest []byte
}

func (c *cp1252Writer) Write(p []byte) (int, error) {
	n := len(p)
	if len(c.rest) > 0 {
		p = append(c.rest, p...)
		c.rest = nil
	}
	c.buf = c.buf[:0]
	for len(p) > 0 {
		if p[0] < utf8.RuneSelf {
			c.buf = append(c.buf, p[0])
			p = p[1:]
			continue
		}
		if !utf8.FullRune(p) {
			c.rest = append([]byte(nil), p...)
			break
		}
		r, size := utf8.DecodeRune(p)
		p = p[size:]
		if b, ok := charmap.Windows1252.EncodeRune(r); ok {
			c.buf = append(c.buf, b)
		} else {
			c.buf = append(c.buf, '?')
		}
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return n, nil
}
