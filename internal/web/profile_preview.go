package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/text/encoding/charmap"

	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// How much of a file the preview shows; every record is still read and
// counted.
const (
	previewRows       = 20
	previewQuarantine = 100
	previewWarnings   = 50
	previewOutputHead = 5
	previewCellRunes  = 300
)

// previewData is what a profile does to a file, computed without writing
// anything to the database: the first records as they would be loaded, the
// quarantined ones with their reasons, the warnings and the output files.
type previewData struct {
	Encoding string
	// Problem is why the file cannot be processed at all (a header that is
	// not the profile's...), in the pipeline's words; the counts are then
	// those read before it.
	Problem string
	Stats   ingest.Stats
	Fields  []ingest.Field
	Rows    []previewRow
	// Quarantine lists the first quarantined records; QuarantineMore
	// counts the others.
	Quarantine     []previewQuarantined
	QuarantineMore int
	WarningsByCode map[string]int
	Warnings       []ingest.Warning
	WarningsMore   bool
	Outputs        []previewOutput
}

// previewRow is a record as it would be loaded.
type previewRow struct {
	Line, N   int
	ContactID string
	Dial      string // E.164
	DialType  string
	Manual    bool
	Values    []string // one per profile field, normalised
	Warnings  []string
}

// previewQuarantined is a record set aside, with its content as decoded.
type previewQuarantined struct {
	Line, N     int
	Code        string
	Reason      string
	DuplicateOf int
	Content     string
}

// previewOutput is one output file: its name, its rows and its first
// lines.
type previewOutput struct {
	File string
	Rows int
	Head []string
}

// runPreview runs profile p over src as a load into mission m would, with
// the outputs written into a temporary folder that is removed before it
// returns. Nothing reaches the database.
func (s *Server) runPreview(ctx context.Context, p *ingest.Profile, m campaign.Mission, src io.Reader) (*previewData, error) {
	pv := &previewData{Fields: p.Fields}
	opts := ingest.Options{ReceivedAt: s.now(), MissionNumber: m.Number, MissionName: m.Name}
	pl, err := ingest.NewPipeline(p, src, opts)
	if err != nil {
		// The pipeline's own checks (a mission name an output cannot
		// hold...): their messages hold no personal data.
		pv.Problem = err.Error()
		return pv, nil
	}
	var outs *ingest.Outputs
	if len(p.Outputs) > 0 {
		base, err := s.uploadDir(ctx)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(base, "preview-")
		if err != nil {
			return nil, fmt.Errorf("preview outputs: %w", err)
		}
		// The outputs hold leads in clear: they live only as long as this
		// call.
		defer os.RemoveAll(dir)
		opts.OutDir = dir
		if outs, err = ingest.OpenOutputs(p, opts); err != nil {
			pv.Problem = err.Error()
			return pv, nil
		}
		defer outs.Abort()
	}
	sum := ingest.NewSummary()
	for {
		it, err := pl.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var fe *ingest.FileError
			if errors.As(err, &fe) {
				pv.Problem = fe.Error()
				outs.Abort()
				outs = nil
				break
			}
			return nil, fmt.Errorf("preview: %w", err)
		}
		sum.Add(it)
		if q := it.Quarantined; q != nil {
			if len(pv.Quarantine) < previewQuarantine {
				pv.Quarantine = append(pv.Quarantine, previewQuarantined{Line: q.Line, N: q.N, Code: q.Code(),
					Reason: q.Reason(), DuplicateOf: q.DuplicateOf, Content: clip(strings.Join(q.Fields, string(p.Source.Delimiter)))})
			} else {
				pv.QuarantineMore++
			}
			continue
		}
		rec := it.Record
		if outs != nil {
			if err := outs.Write(rec); err != nil {
				return nil, fmt.Errorf("preview outputs: %w", err)
			}
		}
		if len(pv.Rows) < previewRows {
			row := previewRow{Line: rec.Line, N: rec.N, ContactID: rec.ContactID, Dial: rec.Dial.E164,
				DialType: rec.Dial.Type.String(), Manual: rec.Route == ingest.RouteManual}
			for _, v := range rec.Values {
				row.Values = append(row.Values, clip(v.Text))
			}
			for _, w := range rec.Warnings {
				row.Warnings = append(row.Warnings, w.Message)
			}
			pv.Rows = append(pv.Rows, row)
		}
	}
	sum.Finish(pl)
	pv.Encoding, pv.Stats = sum.Encoding, pl.Stats()
	pv.WarningsByCode = sum.WarningsByCode
	pv.Warnings = sum.WarningDetails
	if len(pv.Warnings) > previewWarnings {
		pv.Warnings, pv.WarningsMore = pv.Warnings[:previewWarnings], true
	}
	pv.WarningsMore = pv.WarningsMore || sum.WarningDetailsTruncated
	if outs != nil {
		written, err := outs.Commit()
		if err != nil {
			return nil, fmt.Errorf("preview outputs: %w", err)
		}
		for i, o := range written {
			head, err := outputHead(o.Path, p.Outputs[i].Encoding)
			if err != nil {
				return nil, err
			}
			pv.Outputs = append(pv.Outputs, previewOutput{File: o.File, Rows: o.Rows, Head: head})
		}
	}
	return pv, nil
}

// outputHead reads the first lines of an output file, decoded to UTF-8.
func outputHead(path string, enc ingest.Encoding) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("preview outputs: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch enc {
	case ingest.EncodingWindows1252:
		r = charmap.Windows1252.NewDecoder().Reader(f)
	case ingest.EncodingLatin1:
		r = charmap.ISO8859_1.NewDecoder().Reader(f)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var head []string
	for len(head) < previewOutputHead && sc.Scan() {
		head = append(head, clip(strings.TrimSuffix(sc.Text(), "\r")))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("preview outputs: %w", err)
	}
	return head, nil
}

// clip shortens a text shown in a table cell.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == previewCellRunes {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
