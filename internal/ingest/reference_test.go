package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"plateau/internal/ingest/ingesttest"
)

const referenceScript = "../../bench/reference_transform.py"

// python3 returns the interpreter, skipping the test when there is none,
// except under CI where the comparison must run.
func python3(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required under CI for the byte-for-byte comparison with bench/reference_transform.py")
		}
		t.Skip("python3 not found: skipping the byte-for-byte comparison with bench/reference_transform.py (install python3 to run it)")
	}
	return py
}

// handmade holds the tricky values the comparison must cover, each on its
// own line so a difference points at one case.
func handmade() string {
	lines := []string{
		lead(nil),
		lead(map[string]string{"surname": "Lœuvre-Bœuf", "name": "Anaïs", "hcp_city": "Saint-Étienne"}), // accents, œ
		lead(map[string]string{"hcp_address": `"Bât. B; 3 rue du Four"`}),                               // delimiter inside
		lead(map[string]string{"hearing_center": `"Centre ""Bien Entendre"""`}),                         // quotes inside
		lead(map[string]string{"hcp_address": "\"12 rue Pasteur\r\nRésidence Les Pins\""}),              // line break inside
		lead(map[string]string{"hcp_address": "12, rue Pasteur"}),                                       // comma: quoted in the CRM file only
		lead(map[string]string{"lead_creation_date": "44333"}),                                          // Excel serial
		lead(map[string]string{"lead_creation_date": "45000"}),
		lead(map[string]string{"hcp_postal_code": "1000"}),              // 4-digit postal code
		lead(map[string]string{"hcp_postal_code": "F-69003"}),           // invalid, kept
		lead(map[string]string{"hcp_phone_number": "0800123456"}),       // toll-free: manual
		lead(map[string]string{"hcp_phone_number": "33 8 92 68 01 23"}), // premium rate: manual
		lead(map[string]string{"hcp_phone_number": "0 8 10 12 34 56"}),  // shared cost: manual
		lead(map[string]string{"hcp_phone_number": "478123456"}),        // leading zero eaten
		lead(map[string]string{"phone_number": "612345678"}),
		lead(map[string]string{"phone_number": "+33 6 12 34 56 78"}),
		lead(map[string]string{"phone_number": "06.12.34.56.78"}),
		lead(map[string]string{"phone_number": "n/a"}), // invalid lead phone, kept
		lead(map[string]string{"email_address": "pas d'adresse"}),
		lead(map[string]string{"surname": "\u00a0 Dupré  ", "name": " Zoé"}), // blanks around
		lead(map[string]string{"proprietaire_de_la_piste": "Équipe « Sud », zone 2"}),
		lead(map[string]string{"hearing_center": "Œil & Oreille — Centre 5 €"}),
		"",
		lead(map[string]string{"hcp_phone_number": ""}),             // required
		lead(map[string]string{"hcp_phone_number": "33 1 23 45"}),   // invalid dialled
		lead(map[string]string{"lead_creation_date": "2021-05-18"}), // refused format
		lead(map[string]string{"lead_creation_date": "05/18/2021"}), // never swapped
		lead(map[string]string{"lead_creation_date": "00060"}),      // no such Excel day
		strings.TrimSuffix(lead(nil), ";contact@audika-lyon.fr"),    // 15 fields
		lead(nil),               // duplicate of the first
		strings.Repeat(";", 15), // delimiters only
		"   ",                   // blank
		lead(map[string]string{"surname": "Martin", "type": "Rappel"}), // after all that, a plain one
	}
	return withHeader(lines...)
}

func TestTransformMatchesPythonReference(t *testing.T) {
	py := python3(t)
	gen := func(o ingesttest.Options) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			var b bytes.Buffer
			if _, err := ingesttest.Generate(&b, o); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
	}
	toCP1252 := func(s string) []byte {
		var b bytes.Buffer
		for _, r := range s {
			c, ok := cp1252Encode(r)
			if !ok {
				panic(fmt.Sprintf("%U", r))
			}
			b.WriteByte(c)
		}
		return b.Bytes()
	}
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"handmade Windows-1252", func(*testing.T) []byte { return toCP1252(handmade()) }},
		{"handmade UTF-8", func(*testing.T) []byte { return []byte(handmade()) }},
		{"handmade UTF-8 with BOM", func(*testing.T) []byte { return append([]byte("\xef\xbb\xbf"), handmade()...) }},
		{"generated Windows-1252", gen(ingesttest.Options{Records: 4000, Seed: 11, Tricky: true, BadPercent: 5})},
		{"generated UTF-8 LF", gen(ingesttest.Options{Records: 4000, Seed: 12, Tricky: true, BadPercent: 5, UTF8: true, LF: true})},
		{"generated plain", gen(ingesttest.Options{Records: 4000, Seed: 13})},
	}
	p := flexycall(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "leads.csv")
			if err := os.WriteFile(in, c.data(t), 0o600); err != nil {
				t.Fatal(err)
			}
			goOut, pyOut := filepath.Join(dir, "go"), filepath.Join(dir, "py")
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := Transform(context.Background(), p, f, Options{ReceivedAt: testAt, OutDir: goOut})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(py, referenceScript, "--at", testAt.Format("2006-01-02T15:04:05Z07:00"), "--out", pyOut, in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("reference: %v\n%s", err, stderr.String())
			}
			for _, name := range []string{"mission.csv", "CRM phonak.csv", "Automate.csv", "Call Centers.csv"} {
				compareFiles(t, filepath.Join(goOut, name), filepath.Join(pyOut, name))
			}
			var ref struct {
				Received, Loaded, Quarantined, Manual, Duplicates int
				Quarantine                                        []struct {
					Line int
					Code string
				}
			}
			if err := json.Unmarshal(stdout, &ref); err != nil {
				t.Fatalf("reference summary: %v", err)
			}
			if ref.Received != s.Received || ref.Loaded != s.Loaded || ref.Quarantined != s.Quarantined || ref.Manual != s.Manual || ref.Duplicates != s.Duplicates {
				t.Errorf("counts: reference %+v, Plateau received %d loaded %d quarantined %d manual %d duplicates %d",
					ref, s.Received, s.Loaded, s.Quarantined, s.Manual, s.Duplicates)
			}
			if len(ref.Quarantine) != len(s.Quarantine) {
				t.Fatalf("reference quarantined %d records, Plateau %d", len(ref.Quarantine), len(s.Quarantine))
			}
			for i, q := range s.Quarantine {
				if r := ref.Quarantine[i]; r.Line != q.Line || r.Code != q.Code {
					t.Errorf("quarantine %d: reference line %d %s, Plateau line %d %s (%s)", i, r.Line, r.Code, q.Line, q.Code, q.Reason)
				}
			}
			if s.Loaded == 0 || s.Quarantined == 0 || s.Manual == 0 {
				t.Errorf("the sample should exercise every path: %s", s)
			}
		})
	}
}

func compareFiles(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(g, w) {
		return
	}
	gl, wl := bytes.SplitAfter(g, []byte("\r\n")), bytes.SplitAfter(w, []byte("\r\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Errorf("%s differs from the reference at row %d:\n Plateau   %q\n reference %q", filepath.Base(got), i+1, gl[i], wl[i])
			return
		}
	}
	t.Errorf("%s: Plateau wrote %d rows, the reference %d", filepath.Base(got), len(gl), len(wl))
}
