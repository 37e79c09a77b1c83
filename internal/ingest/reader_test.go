package ingest

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// rec is a record as the tests expect it: its start line, fields, and the
// problem code if any.
type rec struct {
	line    int
	fields  []string
	problem string
}

func readAll(t *testing.T, r *Reader) []rec {
	t.Helper()
	var out []rec
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		got := rec{line: raw.Line, fields: append([]string(nil), raw.Fields...)}
		if raw.Problem != nil {
			got.problem = raw.Problem.Code
			got.fields = nil
		}
		out = append(out, got)
	}
}

func TestReaderRecordsAndLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []rec
	}{
		{"LF", "a;b\nc;d\n", []rec{{1, []string{"a", "b"}, ""}, {2, []string{"c", "d"}, ""}}},
		{"CRLF", "a;b\r\nc;d\r\n", []rec{{1, []string{"a", "b"}, ""}, {2, []string{"c", "d"}, ""}}},
		{"lone CR (old Mac)", "a;b\rc;d\r", []rec{{1, []string{"a", "b"}, ""}, {2, []string{"c", "d"}, ""}}},
		{"no final line end", "a;b\nc;d", []rec{{1, []string{"a", "b"}, ""}, {2, []string{"c", "d"}, ""}}},
		{"blank lines are not records", "\na;b\n\r\n  \t\nc;d\n\n", []rec{{2, []string{"a", "b"}, ""}, {5, []string{"c", "d"}, ""}}},
		{"empty fields", ";;\n", []rec{{1, []string{"", "", ""}, ""}}},
		{"quoted delimiter", `"a;b";c` + "\n", []rec{{1, []string{"a;b", "c"}, ""}}},
		{"doubled quotes", `"say ""hi""";x` + "\n", []rec{{1, []string{`say "hi"`, "x"}, ""}}},
		{"empty quoted field", `"";x` + "\n", []rec{{1, []string{"", "x"}, ""}}},
		{"line break inside quotes keeps the start line", "a;\"1 rue\r\nBât. B\";c\r\nd;e;f\r\n",
			[]rec{{1, []string{"a", "1 rue\r\nBât. B", "c"}, ""}, {3, []string{"d", "e", "f"}, ""}}},
		{"LF inside quotes", "a;\"x\ny\nz\";c\nd;e;f\n",
			[]rec{{1, []string{"a", "x\ny\nz", "c"}, ""}, {4, []string{"d", "e", "f"}, ""}}},
		{"blank line inside quotes is data", "\"a\n\nb\";c\n", []rec{{1, []string{"a\n\nb", "c"}, ""}}},
		{"bare quote inside an unquoted field is a character", `5 rue du "Moulin";x` + "\n", []rec{{1, []string{`5 rue du "Moulin"`, "x"}, ""}}},
		{"quote not at the start is a character", ` "a";b` + "\n", []rec{{1, []string{` "a"`, "b"}, ""}}},
		{"trailing delimiter", "a;b;\n", []rec{{1, []string{"a", "b", ""}, ""}}},
		{"text after a closing quote", `"ab"cd;e` + "\nx;y\n", []rec{{1, nil, ReasonQuoting}, {2, []string{"x", "y"}, ""}}},
		{"quote never closed at the end of the file", "x;y\n\"abc;d\n", []rec{{1, []string{"x", "y"}, ""}, {2, nil, ReasonQuoting}}},
		{"stray quote does not swallow the next records", "a;\"b;c\nd;e;f\ng;h;i\n",
			[]rec{{1, nil, ReasonQuoting}, {2, []string{"d", "e", "f"}, ""}, {3, []string{"g", "h", "i"}, ""}}},
		{"stray quote closed by a later quoted field", "a;\"b;c\nd;e;f\ng;\"h\";i\n",
			[]rec{{1, nil, ReasonQuoting}, {2, []string{"d", "e", "f"}, ""}, {3, []string{"g", "h", "i"}, ""}}},
		{"NUL byte", "a\x00;b\nc;d\n", []rec{{1, nil, ReasonEncoding}, {2, []string{"c", "d"}, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), ';', EncodingAuto)
			got := readAll(t, r)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestReaderOneByteAtATime reads through a reader that returns one byte per
// call, so that every buffer boundary is crossed.
func TestReaderOneByteAtATime(t *testing.T) {
	in := "h1;h2\r\n\"a\r\nb\";\"c\"\"d\"\r\n\r\ne;f\rg;h\n\"x;\";\xe9t\xe9\n"
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), ';', EncodingAuto)
	got := readAll(t, r)
	want := []rec{
		{1, []string{"h1", "h2"}, ""},
		{2, []string{"a\r\nb", `c"d`}, ""},
		{5, []string{"e", "f"}, ""},
		{6, []string{"g", "h"}, ""},
		{7, []string{"x;", "été"}, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestReaderEncodings(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		declared Encoding
		want     []rec
		encoding string
	}{
		{"auto: Windows-1252", "nom\nH\xe9l\xe8ne\nC\x9cur \x80\n", EncodingAuto,
			[]rec{{1, []string{"nom"}, ""}, {2, []string{"Hélène"}, ""}, {3, []string{"Cœur €"}, ""}}, "windows-1252"},
		{"auto: UTF-8", "nom\nHélène\nCœur €\n", EncodingAuto,
			[]rec{{1, []string{"nom"}, ""}, {2, []string{"Hélène"}, ""}, {3, []string{"Cœur €"}, ""}}, "utf-8"},
		{"auto: UTF-8 with BOM", "\xef\xbb\xbfnom\nHélène\n", EncodingAuto,
			[]rec{{1, []string{"nom"}, ""}, {2, []string{"Hélène"}, ""}}, "utf-8 (BOM)"},
		{"auto: ASCII only", "nom\nDupont\n", EncodingAuto,
			[]rec{{1, []string{"nom"}, ""}, {2, []string{"Dupont"}, ""}}, "ascii"},
		{"auto: decided late, far into the file", strings.Repeat("Dupont\n", 20000) + "H\xe9l\xe8ne\n", EncodingAuto, nil, "windows-1252"},
		{"auto: UTF-8 then a Windows-1252 line is reported, not guessed", "Hélène\nH\xe9l\xe8ne\nÉloïse\n", EncodingAuto,
			[]rec{{1, []string{"Hélène"}, ""}, {2, nil, ReasonEncoding}, {3, []string{"Éloïse"}, ""}}, "utf-8"},
		{"auto: Windows-1252 then a UTF-8 line is reported, not guessed", "H\xe9l\xe8ne\nHélène\n\xc9lo\xefse\n", EncodingAuto,
			[]rec{{1, []string{"Hélène"}, ""}, {2, nil, ReasonEncoding}, {3, []string{"Éloïse"}, ""}}, "windows-1252"},
		{"declared Latin-1 keeps C1 controls", "C\x9cur\n", EncodingLatin1, []rec{{1, []string{"C\u009cur"}, ""}}, "latin-1"},
		{"declared Windows-1252: undefined byte", "a\x81b\nok\n", EncodingWindows1252,
			[]rec{{1, nil, ReasonEncoding}, {2, []string{"ok"}, ""}}, "windows-1252"},
		{"declared UTF-8: invalid bytes", "H\xe9l\xe8ne\nok\n", EncodingUTF8,
			[]rec{{1, nil, ReasonEncoding}, {2, []string{"ok"}, ""}}, "utf-8"},
		{"Windows-1252 inside quotes", "\"H\xe9l\xe8ne;\";x\n", EncodingAuto,
			[]rec{{1, []string{"Hélène;", "x"}, ""}}, "windows-1252"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), ';', tt.declared)
			got := readAll(t, r)
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if r.Encoding() != tt.encoding {
				t.Errorf("encoding %q, want %q", r.Encoding(), tt.encoding)
			}
		})
	}
}

func TestReaderFileErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		declared Encoding
	}{
		{"UTF-16 little endian", "\xff\xfen\x00o\x00m\x00", EncodingAuto},
		{"UTF-16 big endian", "\xfe\xff\x00n\x00o\x00m", EncodingAuto},
		{"BOM against a declared Windows-1252", "\xef\xbb\xbfnom\n", EncodingWindows1252},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.in), ';', tt.declared).Read()
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Read: %v, want a FileError", err)
			}
		})
	}
}

func TestReaderTooLong(t *testing.T) {
	long := strings.Repeat("x", 5000)
	in := "a;b\n" + long + ";c\nd;e\n\"" + long + "\nf;g\n"
	r := NewReader(strings.NewReader(in), ';', EncodingAuto)
	r.SetMaxRecordBytes(1000)
	got := readAll(t, r)
	want := []rec{
		{1, []string{"a", "b"}, ""},
		{2, nil, ReasonTooLong},
		{3, []string{"d", "e"}, ""},
		{4, nil, ReasonTooLong},
		{5, []string{"f", "g"}, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestReaderTooLongInsideQuotes: a line longer than the read buffer and the
// limit, inside a quoted field, ends the record there.
func TestReaderTooLongInsideQuotes(t *testing.T) {
	in := "a;b\nc;\"d\n" + strings.Repeat("x", 70_000) + "\ne;f\n"
	r := NewReader(strings.NewReader(in), ';', EncodingAuto)
	r.SetMaxRecordBytes(1000)
	got := readAll(t, r)
	want := []rec{{1, []string{"a", "b"}, ""}, {2, nil, ReasonTooLong}, {4, []string{"e", "f"}, ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestReaderIOError(t *testing.T) {
	boom := errors.New("disk gone")
	r := NewReader(io.MultiReader(strings.NewReader("a;b\n"), iotest.ErrReader(boom)), ';', EncodingAuto)
	if _, err := r.Read(); err != nil {
		t.Fatalf("first record: %v", err)
	}
	if _, err := r.Read(); !errors.Is(err, boom) {
		t.Fatalf("second Read: %v, want the I/O error", err)
	}
}

func TestLooksUTF8(t *testing.T) {
	if !looksUTF8([]byte("é\xc3"), true) {
		t.Error("a sequence cut by the end of the window is not evidence")
	}
	if looksUTF8([]byte("é\xc3"), false) {
		t.Error("a sequence cut by the end of the file is invalid")
	}
	if looksUTF8([]byte("\xe9t\xe9"), true) {
		t.Error("Windows-1252 taken for UTF-8")
	}
}
