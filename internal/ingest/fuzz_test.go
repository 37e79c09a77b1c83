package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora are in testdata/fuzz; run a target with, e.g.,
//
//	go test -run '^$' -fuzz '^FuzzReader$' -fuzztime 60s ./internal/ingest/

// FuzzReader feeds arbitrary bytes to the reader: it must never panic nor
// loop, records must start on increasing lines within the file, and the
// fields of a record without a problem must be valid UTF-8.
func FuzzReader(f *testing.F) {
	f.Add([]byte("a;b\r\n\"c;\"\"d\"\"\r\ne\";f\n\n  \r\ng\rh;i"), true)
	f.Add([]byte("\xef\xbb\xbfnom;pr\xc3\xa9nom\nH\xe9l\xe8ne;x\n"), true)
	f.Add([]byte("a,\"b\nc,d\n"), false)
	f.Add([]byte("\"ab\"cd,e\n\x00,\x81\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, semicolon bool) {
		delim := byte(',')
		if semicolon {
			delim = ';'
		}
		r := NewReader(bytes.NewReader(data), delim, EncodingAuto)
		r.SetMaxRecordBytes(4096)
		physical := countLines(data)
		last := 0
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more records than bytes: the reader loops")
			}
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				return
			}
			var fe *FileError
			if errors.As(err, &fe) {
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if rec.Line <= last || rec.Line > physical {
				t.Fatalf("record on line %d after line %d, in a file of %d lines", rec.Line, last, physical)
			}
			last = rec.Line
			if len(rec.Fields) == 0 {
				t.Fatal("a record without fields")
			}
			if rec.Problem == nil {
				for _, s := range rec.Fields {
					if !utf8.ValidString(s) {
						t.Fatalf("field %q is not valid UTF-8", s)
					}
				}
			}
		}
	})
}

// countLines counts physical lines as the reader does: CRLF, LF and a lone
// CR each end one; text after the last end is one more.
func countLines(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			n++
		case '\n':
			n++
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' && b[len(b)-1] != '\r' {
		n++
	}
	return n
}

// FuzzReaderRoundTrip writes fields as the output writer does and reads
// them back: they must come back unchanged, and the second record must start
// on the line after the first one's last.
func FuzzReaderRoundTrip(f *testing.F) {
	f.Add("plain", "with;delimiter", `with "quotes"`)
	f.Add("", "line\r\nbreak", "lone\rcr")
	f.Add(" ", "\"", "é€œ")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		fields := []string{a, b, c}
		for _, s := range fields {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				return
			}
		}
		o := &Output{Delimiter: ';', Encoding: EncodingUTF8}
		var first []byte
		for i, s := range fields {
			if i > 0 {
				first = append(first, ';')
			}
			first = appendCell(first, []byte(s), o, false)
		}
		first = append(first, "\r\n"...)
		data := append(append([]byte(nil), first...), "x;y;z\r\n"...)
		r := NewReader(bytes.NewReader(data), ';', EncodingUTF8)
		r.SetMaxRecordBytes(len(data) + 1)
		rec, err := r.Read()
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if rec.Problem != nil || rec.Line != 1 || !equalStrings(rec.Fields, fields) {
			t.Fatalf("wrote %q, read %q on line %d (%v)", fields, rec.Fields, rec.Line, rec.Problem)
		}
		rec, err = r.Read()
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if want := countLines(first) + 1; rec.Line != want || !equalStrings(rec.Fields, []string{"x", "y", "z"}) {
			t.Fatalf("second record %q on line %d, want line %d", rec.Fields, rec.Line, want)
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzLoadProfile feeds arbitrary YAML to the profile loader: it must never
// panic, must explain a refusal with a *ProfileError, and a profile it
// accepts must run through the pipeline.
func FuzzLoadProfile(f *testing.F) {
	if ref, err := os.ReadFile(referenceProfile); err == nil {
		f.Add(ref)
	}
	f.Add([]byte(baseProfile))
	f.Add([]byte("version: 1\nsource: {delimiter: ',', header: no, columns: [a]}\nfields: [{name: a, type: phone, required: yes}]\ndial: a\ncontact_id: '{n}'\n"))
	f.Add([]byte("version: 1\nfields: &x [*x]\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadProfile(data)
		if err != nil {
			var pe *ProfileError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("LoadProfile: %v is not a *ProfileError with problems", err)
			}
			return
		}
		opts := Options{ReceivedAt: testAt, MissionNumber: 1, MissionName: "m"}
		pl, err := NewPipeline(p, strings.NewReader(strings.Join(p.Source.Columns, string(p.Source.Delimiter))+"\n0612345678\n"), opts)
		if err != nil {
			return // e.g. a mission name the outputs cannot hold
		}
		for range 3 {
			if _, err := pl.Next(context.Background()); err != nil {
				return
			}
		}
	})
}
