package inbox

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCheckNameAcceptsOrdinaryLeadFiles(t *testing.T) {
	for _, name := range []string{
		"2021-03-10_Rapport_mission.csv",
		"leads.CSV",
		"Export FlexyCall (1).csv",
		"liste_été_àçé.csv",
		"rapport..csv", // ".." without a separator cannot leave the folder
		"a",
		"x.partial.csv",
		"part",
		strings.Repeat("n", maxNameLen),
	} {
		if err := checkName(name); err != nil {
			t.Errorf("checkName(%q) = %v, want nil", name, err)
		}
	}
}

func TestCheckNameIgnoresHiddenAndPartialUploads(t *testing.T) {
	for _, name := range []string{
		".upload.tmp", ".hidden.csv", ".", "..", ".bash_history",
		"leads.csv.part", "leads.csv.PART", "leads.csv.filepart", "leads.tmp", "leads.csv.crdownload",
		"~$leads.xlsx",
	} {
		if err := checkName(name); !errors.Is(err, errIgnored) {
			t.Errorf("checkName(%q) = %v, want errIgnored", name, err)
		}
	}
}

func TestCheckNameRefusesDangerousNames(t *testing.T) {
	tests := []struct{ name, why string }{
		{"", "empty"},
		{"../etc/passwd", "separator"},
		{"a/b.csv", "separator"},
		{`..\b.csv`, "separator"},
		{`C:\leads.csv`, "separator"},
		{"/abs.csv", "separator"},
		{"lead\x00s.csv", "control"},
		{"lead\ns.csv", "control"},
		{"lead\rs.csv", "control"},
		{"lead\x1b[31m.csv", "control"},
		{"lead\x7f.csv", "control"},
		{"lead\u0085.csv", "control"},       // C1 next line
		{"rapport\u202Evsc.exe", "control"}, // right-to-left override
		{"lead\u200Bs.csv", "control"},      // zero width space
		{"\xff\xfe.csv", "UTF-8"},           // Latin-1 bytes
		{strings.Repeat("n", maxNameLen+1), "longer"},
		{".\x00", "control"}, // refused before being ignored: it gets logged
	}
	for _, tt := range tests {
		err := checkName(tt.name)
		if err == nil || errors.Is(err, errIgnored) {
			t.Errorf("checkName(%q) = %v, want a refusal", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("checkName(%q) = %q, want it to mention %q", tt.name, err, tt.why)
		}
	}
}

// FuzzCheckName checks that every accepted name is a plain, printable file
// name inside the folder.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		"leads.csv", "../x", "..", ".", "a/b", `a\b`, "x\x00", "é.csv", "\u202e", "~$a", "a.part",
		"rapport..csv", "\xc3", strings.Repeat("a", 300), "CON", "a:b", " lead.csv ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := checkName(name)
		if err != nil {
			return
		}
		switch {
		case name == "" || len(name) > maxNameLen:
			t.Fatalf("accepted %q: bad length", name)
		case !utf8.ValidString(name):
			t.Fatalf("accepted %q: invalid UTF-8", name)
		case strings.ContainsAny(name, `/\`):
			t.Fatalf("accepted %q: separator", name)
		case name[0] == '.':
			t.Fatalf("accepted %q: hidden", name)
		case !filepath.IsLocal(name) || filepath.Base(name) != name:
			t.Fatalf("accepted %q: not a plain local name", name)
		case strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
			t.Fatalf("accepted %q: control character", name)
		}
		if d := filepath.Join("/inbox", name); filepath.Dir(d) != "/inbox" {
			t.Fatalf("accepted %q: joins to %q, outside the folder", name, d)
		}
	})
}

func TestSuffixedKeepsTheExtension(t *testing.T) {
	tests := []struct {
		name string
		i    int
		want string
	}{
		{"leads.csv", 1, "leads.csv"},
		{"leads.csv", 2, "leads-2.csv"},
		{"leads", 3, "leads-3"},
		{"a.tar.gz", 2, "a.tar-2.gz"},
	}
	for _, tt := range tests {
		if got := suffixed(tt.name, tt.i); got != tt.want {
			t.Errorf("suffixed(%q, %d) = %q, want %q", tt.name, tt.i, got, tt.want)
		}
	}
}
