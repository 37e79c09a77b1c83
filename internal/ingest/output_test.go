package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plateau/internal/ingest/ingesttest"
)

// TestAppendCellQuotesLikePython: the expectations are what Python 3.11's
// csv.writer (QUOTE_MINIMAL, the default) writes for each cell.
func TestAppendCellQuotesLikePython(t *testing.T) {
	semi := &Output{Delimiter: ';', Encoding: EncodingWindows1252}
	comma := &Output{Delimiter: ',', Encoding: EncodingWindows1252}
	tests := []struct {
		o    *Output
		cell string
		only bool
		want string
	}{
		{semi, "", false, ""},
		{semi, "", true, `""`}, // a lone empty cell is quoted, or the row would be blank
		{semi, "plain", false, "plain"},
		{semi, "a;b", false, `"a;b"`},
		{semi, "a,b", false, "a,b"},
		{comma, "a,b", false, `"a,b"`},
		{comma, "a;b", false, "a;b"},
		{semi, `Centre "Bien Entendre"`, false, `"Centre ""Bien Entendre"""`},
		{semi, `"`, false, `""""`},
		{semi, "1 rue\r\nBât. B", false, "\"1 rue\r\nB\xe2t. B\""},
		{semi, "a\nb", false, "\"a\nb\""},
		{semi, "a\rb", false, "\"a\rb\""},
		{semi, " leading space", false, " leading space"},
		{semi, "tab\there", false, "tab\there"},
		{semi, "#comment", false, "#comment"},
		{semi, "Hélène Lœuvre — 5 €", false, "H\xe9l\xe8ne L\x9cuvre \x97 5 \x80"},
	}
	for _, tt := range tests {
		got := string(appendCell(nil, []byte(tt.cell), tt.o, tt.only))
		if got != tt.want {
			t.Errorf("appendCell(%q, %q) = %q, want %q", tt.o.Delimiter, tt.cell, got, tt.want)
		}
	}
}

func TestAppendQuotedDoublesQuotes(t *testing.T) {
	if got := string(appendQuoted(nil, []byte(`a"b""c`))); got != `"a""b""""c"` {
		t.Errorf("appendQuoted = %s", got)
	}
}

func transformFile(t *testing.T, p *Profile, in string, dir string) (*Summary, error) {
	t.Helper()
	return Transform(context.Background(), p, strings.NewReader(in), Options{ReceivedAt: testAt, OutDir: dir})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func TestTransformWritesTheFourFiles(t *testing.T) {
	dir := t.TempDir()
	in := withHeader(lead(nil), lead(map[string]string{"surname": "Martin", "hcp_phone_number": "0800 12 34 56"}), lead(map[string]string{"hcp_phone_number": ""}))
	s, err := transformFile(t, flexycall(t), in, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"Automate.csv", "CRM phonak.csv", "Call Centers.csv", "mission.csv"}) {
		t.Fatalf("files %v (no temporary file may remain)", got)
	}
	want := map[string]string{
		"mission.csv": "0;Mission Sortant J+3;2026-11-23 12:00:00;261123_1_26;Dupont;H\xe9l\xe8ne;helene.dupont@orange.fr;33612345678;Nouveau;\xc9quipe Lyon;MC1234567;18/05/2021;ERP123456;Audika Lyon;69003;33478123456;12 rue de la R\xe9publique;Lyon;contact@audika-lyon.fr;RDV\r\n" +
			"0;Mission Sortant J+3;2026-11-23 12:00:00;261123_2_26;Martin;H\xe9l\xe8ne;helene.dupont@orange.fr;33612345678;Nouveau;\xc9quipe Lyon;MC1234567;18/05/2021;ERP123456;Audika Lyon;69003;33800123456;12 rue de la R\xe9publique;Lyon;contact@audika-lyon.fr;RDV\r\n",
		"CRM phonak.csv": "0,2026-11-23 12:00:00,Dupont,H\xe9l\xe8ne,ERP123456,69003,Lyon,261123_1_26,,478123456,,,,RDV,0000-00-00,Mission Sortant J+3,,0,0000-00-00\r\n" +
			"0,2026-11-23 12:00:00,Martin,H\xe9l\xe8ne,ERP123456,69003,Lyon,261123_2_26,,800123456,,,,RDV,0000-00-00,Mission Sortant J+3,,0,0000-00-00\r\n",
		"Automate.csv": "0478123456;Dupont;261123_1_26;;;;;;2;;\r\n",
		"Call Centers.csv": "numero;groupe;datetime;id_contact;surname;name;email_address;phone_number;statut_de_la_piste;proprietaire_de_la_piste;mc_form_id;lead_creation_date;hcp_erp_number;hearing_center;hcp_postal_code;hcp_phone_number;hcp_address;hcp_city;hcp_email_address;type\r\n" +
			"0;Mission Sortant J+3;2026-11-23 12:00:00;261123_2_26;Martin;H\xe9l\xe8ne;helene.dupont@orange.fr;33612345678;Nouveau;\xc9quipe Lyon;MC1234567;18/05/2021;ERP123456;Audika Lyon;69003;33800123456;12 rue de la R\xe9publique;Lyon;contact@audika-lyon.fr;RDV\r\n",
	}
	for name, w := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != w {
			t.Errorf("%s:\n got %q\nwant %q", name, got, w)
		}
	}
	if s.Received != 3 || s.Loaded != 2 || s.Quarantined != 1 || s.Manual != 1 || len(s.Outputs) != 4 || s.Outputs[2].Rows != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestTransformLeavesNothingWhenTheFileCannotBeProcessed(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "mission.csv")
	if err := os.WriteFile(old, []byte("yesterday"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := transformFile(t, flexycall(t), "wrong;header\r\n"+lead(nil)+"\r\n", dir)
	if err == nil {
		t.Fatal("a wrong header was accepted")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"mission.csv"}) {
		t.Errorf("files left: %v", got)
	}
	if b, _ := os.ReadFile(old); string(b) != "yesterday" {
		t.Errorf("an earlier file was touched: %q", b)
	}
}

func TestTransformWithoutOutDirWritesNothing(t *testing.T) {
	s, err := Transform(context.Background(), flexycall(t), strings.NewReader(withHeader(lead(nil))), Options{ReceivedAt: testAt})
	if err != nil || s.Loaded != 1 || len(s.Outputs) != 0 {
		t.Fatalf("summary %+v, %v", s, err)
	}
}

func TestTransformCancelled(t *testing.T) {
	var b bytes.Buffer
	if _, err := ingesttest.Generate(&b, ingesttest.Options{Records: 3000, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := Transform(ctx, flexycall(t), &b, Options{ReceivedAt: testAt, OutDir: dir}); err == nil {
		t.Fatal("a cancelled transform succeeded")
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}

// TestTransformSyncsInTheBackground writes enough to trigger the background
// fsyncs, and checks the files are whole.
func TestTransformSyncsInTheBackground(t *testing.T) {
	var b bytes.Buffer
	if _, err := ingesttest.Generate(&b, ingesttest.Options{Records: 2000, Seed: 3, Tricky: true}); err != nil {
		t.Fatal(err)
	}
	in := b.Bytes()
	p := flexycall(t)
	small, big := t.TempDir(), t.TempDir()
	if _, err := Transform(context.Background(), p, bytes.NewReader(in), Options{ReceivedAt: testAt, OutDir: small, syncEvery: 4096}); err != nil {
		t.Fatal(err)
	}
	if _, err := Transform(context.Background(), p, bytes.NewReader(in), Options{ReceivedAt: testAt, OutDir: big}); err != nil {
		t.Fatal(err)
	}
	for _, name := range dirNames(t, big) {
		x, _ := os.ReadFile(filepath.Join(small, name))
		y, _ := os.ReadFile(filepath.Join(big, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs with background syncs", name)
		}
	}
}

func TestSummaryJSONShape(t *testing.T) {
	s, err := Transform(context.Background(), flexycall(t), strings.NewReader(withHeader(lead(nil), lead(nil))), Options{ReceivedAt: testAt})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"received", "loaded", "quarantined", "warnings", "manual", "duplicates", "quarantine"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	q := m["quarantine"].([]any)[0].(map[string]any)
	if q["line"] != float64(3) || q["reason"] != "exact duplicate of the record on line 2" || q["code"] != ReasonDuplicate {
		t.Errorf("quarantine entry %v", q)
	}
	empty, _ := Transform(context.Background(), flexycall(t), strings.NewReader(withHeader(lead(nil))), Options{ReceivedAt: testAt})
	if b, _ := json.Marshal(empty); !strings.Contains(string(b), `"quarantine":[]`) {
		t.Errorf("an empty quarantine must be [], not null: %s", b)
	}
}

// TestTransformStopsWhenAnOutputCannotBeWritten: a write error on the
// writer's goroutine stops the run, with the error, and removes the
// temporary files.
func TestTransformStopsWhenAnOutputCannotBeWritten(t *testing.T) {
	var b bytes.Buffer
	if _, err := ingesttest.Generate(&b, ingesttest.Options{Records: 3000, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	p := flexycall(t)
	dir := t.TempDir()
	pl, err := NewPipeline(p, &b, Options{ReceivedAt: testAt})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := openOutputs(p, dir, &pl.rc, 0)
	if err != nil {
		t.Fatal(err)
	}
	outs.files[0].f.Close() // every write to mission.csv now fails
	w := startBatchWriter(outs, len(p.Fields))
	pl.buildInto(w.slot())
	var werr error
	for werr == nil {
		it, err := pl.Next(context.Background())
		if err != nil {
			t.Fatalf("Next: %v (the write error never surfaced)", err)
		}
		if it.Record != nil {
			if werr = w.add(); werr == nil {
				pl.buildInto(w.slot())
			}
		}
	}
	if err := w.finish(); err == nil || !strings.Contains(err.Error(), "mission.csv") {
		t.Errorf("finish: %v", err)
	}
	outs.Abort()
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}
