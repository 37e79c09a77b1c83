package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plateau/internal/ingest/ingesttest"
)

const flexycall = "../../examples/profiles/flexycall.yaml"

// cliReport is the part of `plateau ingest --json` the tests read.
type cliReport struct {
	File            string `json:"file"`
	Batch           int64  `json:"batch"`
	Status          string `json:"status"`
	AlreadyLoadedAs int64  `json:"already_loaded_as"`
	DryRun          bool   `json:"dry_run"`
	Error           string `json:"error"`
	Received        *int   `json:"received"`
	Loaded          *int   `json:"loaded"`
	Quarantined     *int   `json:"quarantined"`
	Warnings        *int   `json:"warnings"`
	Manual          *int   `json:"manual"`
	Duplicates      *int   `json:"duplicates"`
	Quarantine      []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"quarantine"`
}

func writeLeads(t *testing.T, dir, name string, records int, seed uint64) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := ingesttest.Generate(&b, ingesttest.Options{Records: records, Seed: seed, Tricky: true}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func decodeReport(t *testing.T, out string) cliReport {
	t.Helper()
	var r cliReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	return r
}

func TestMissionCreateThenIngestExactlyOnce(t *testing.T) {
	data := t.TempDir()
	files := t.TempDir()
	if code, _, stderr := plateau(t, "", "migrate", "--data", data); code != 0 {
		t.Fatal(stderr)
	}
	create := []string{"mission", "create", "--data", data, "--number", "26", "--name", "Mission Sortant J+3",
		"--client", "phonak", "--regime", "b2b", "--profile", flexycall}

	// A profile that does not load creates nothing and says where.
	bad := filepath.Join(files, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nsource:\n  delimiter: ';;'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badArgs := append(append([]string{}, create[:len(create)-1]...), bad)
	if code, _, stderr := plateau(t, "", badArgs...); code != 1 || !strings.Contains(stderr, "line ") {
		t.Fatalf("mission create with a bad profile: exit %d, %q", code, stderr)
	}
	if code, _, stderr := plateau(t, "", append(append([]string{}, create[:len(create)-2]...), "--regime", "b2c")...); code != 2 {
		t.Fatalf("mission create without a profile and a bad regime: exit %d, %q", code, stderr)
	}
	code, out, stderr := plateau(t, "", create...)
	if code != 0 || !strings.Contains(out, "mission 26") {
		t.Fatalf("mission create: exit %d, %s%s", code, out, stderr)
	}
	if code, _, _ := plateau(t, "", create...); code != 1 {
		t.Fatalf("creating mission 26 twice: exit %d", code)
	}

	leads := writeLeads(t, files, "leads.csv", 2000, 31)
	const at = "2026-11-23T08:00:00+01:00"
	code, out, stderr = plateau(t, "", "ingest", "--data", data, "--mission", "26", "--at", at, "--json", leads)
	if code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
	first := decodeReport(t, out)
	for name, v := range map[string]*int{"received": first.Received, "loaded": first.Loaded, "quarantined": first.Quarantined,
		"warnings": first.Warnings, "manual": first.Manual, "duplicates": first.Duplicates} {
		if v == nil {
			t.Fatalf("--json has no %q: %s", name, out)
		}
	}
	if first.Batch == 0 || first.Status != "done" || *first.Received != 2000 || *first.Loaded+*first.Quarantined != 2000 ||
		len(first.Quarantine) != *first.Quarantined || first.Quarantine[0].Line < 2 || first.Quarantine[0].Reason == "" {
		t.Fatalf("first load: %s", out)
	}

	// The same counts and lines as the database-free form.
	ref := t.TempDir()
	code, refOut, stderr := plateau(t, "", "ingest", "--profile", flexycall, "--out", ref, "--at", at, "--json", leads)
	if code != 0 {
		t.Fatal(stderr)
	}
	want := decodeReport(t, refOut)
	if *want.Loaded != *first.Loaded || *want.Quarantined != *first.Quarantined || *want.Manual != *first.Manual ||
		len(want.Quarantine) != len(first.Quarantine) || want.Quarantine[3] != first.Quarantine[3] {
		t.Fatalf("--mission and --profile disagree:\n%s\n%s", out, refOut)
	}
	// The legacy files went to the batch's outbox folder, as --out writes them.
	for _, f := range []string{"mission.csv", "CRM phonak.csv", "Automate.csv", "Call Centers.csv"} {
		a, err := os.ReadFile(filepath.Join(data, "outbox", "1", f))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(ref, f))
		if !bytes.Equal(a, b) {
			t.Fatalf("outbox %s differs from the transform's", f)
		}
	}

	// Again, under another name: nothing loaded, exit 0.
	copyPath := filepath.Join(files, "again.csv")
	raw, _ := os.ReadFile(leads)
	if err := os.WriteFile(copyPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = plateau(t, "", "ingest", "--data", data, "--mission", "26", "--json", copyPath)
	again := decodeReport(t, out)
	if code != 0 || again.AlreadyLoadedAs != first.Batch || *again.Loaded != 0 {
		t.Fatalf("same content again: exit %d, %s%s", code, out, stderr)
	}
	code, out, _ = plateau(t, "", "ingest", "--data", data, "--mission", "26", copyPath)
	if code != 0 || !strings.Contains(out, "already loaded as batch 1") {
		t.Fatalf("same content again, text: exit %d, %s", code, out)
	}

	// A dry run reads a new file and loads nothing.
	other := writeLeads(t, files, "other.csv", 300, 32)
	code, out, stderr = plateau(t, "", "ingest", "--data", data, "--mission", "26", "--dry-run", "--json", other)
	dry := decodeReport(t, out)
	if code != 0 || !dry.DryRun || dry.Batch != 0 || *dry.Received != 300 {
		t.Fatalf("dry run: exit %d, %s%s", code, out, stderr)
	}
	code, out, _ = plateau(t, "", "ingest", "--data", data, "--mission", "26", "--json", other)
	if r := decodeReport(t, out); code != 0 || r.Batch != 2 || r.AlreadyLoadedAs != 0 {
		t.Fatalf("the dry-run file, loaded: exit %d, %s", code, out)
	}

	// A file that cannot be processed: exit 1, and the JSON says why.
	wrong := filepath.Join(files, "wrong.csv")
	if err := os.WriteFile(wrong, []byte("a;b;c\r\n1;2;3\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = plateau(t, "", "ingest", "--data", data, "--mission", "26", "--json", wrong)
	if r := decodeReport(t, out); code != 1 || r.Status != "failed" || !strings.Contains(r.Error, "header") || stderr == "" {
		t.Fatalf("wrong header: exit %d, %s%s", code, out, stderr)
	}
	if code, _, stderr := plateau(t, "", "ingest", "--data", data, "--mission", "99", leads); code != 1 || !strings.Contains(stderr, "99") {
		t.Fatalf("unknown mission: exit %d, %s", code, stderr)
	}
	for _, args := range [][]string{
		{"ingest", "--data", data, "--mission", "26"},
		{"ingest", "--data", data, "--mission", "26", "--profile", flexycall, leads},
		{"ingest", "--data", data, "--mission", "26", "--at", "tomorrow", leads},
		{"mission"}, {"mission", "create"},
	} {
		if code, _, _ := plateau(t, "", args...); code != 2 {
			t.Errorf("plateau %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}

	// Several files: an array, one object each.
	code, out, stderr = plateau(t, "", "ingest", "--data", data, "--mission", "26", "--json", leads, other)
	var many []cliReport
	if err := json.Unmarshal([]byte(out), &many); code != 0 || err != nil || len(many) != 2 || many[1].AlreadyLoadedAs != 2 {
		t.Fatalf("two files: exit %d, %v, %s%s", code, err, out, stderr)
	}
}

func TestMissionProfileStoresANewVersion(t *testing.T) {
	data := t.TempDir()
	if code, _, stderr := plateau(t, "", "migrate", "--data", data); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := plateau(t, "", "mission", "create", "--data", data, "--number", "26", "--name", "M",
		"--client", "phonak", "--regime", "survey", "--profile", flexycall); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := plateau(t, "", "mission", "profile", "--data", data, "--number", "26", "--profile", flexycall)
	if code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("mission profile: exit %d, %s%s", code, out, stderr)
	}
	if code, _, stderr := plateau(t, "", "mission", "profile", "--data", data, "--number", "27", "--profile", flexycall); code != 1 || !strings.Contains(stderr, "mission 26") {
		t.Fatalf("the profile of mission 26 for mission 27: exit %d, %s", code, stderr)
	}
}
