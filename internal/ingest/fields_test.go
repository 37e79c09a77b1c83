package ingest

import "testing"

func TestTrimSpace(t *testing.T) {
	for in, want := range map[string]string{
		"  Dupont ":           "Dupont",
		"\u00a0Dupont\u202f":  "Dupont",
		"\tLe  Goff\r\n":      "Le  Goff",
		"Saint-Étienne":       "Saint-Étienne",
		" \u00a0 ":            "",
		"":                    "",
		"a\u00a0b":            "a\u00a0b",
		"\u2003em space kept": "\u2003em space kept", // only the blanks spreadsheets leave
	} {
		if got := trimSpace(in); got != want {
			t.Errorf("trimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmailProblem(t *testing.T) {
	tests := []struct {
		in  string
		bad bool
	}{
		{"jean.dupont@orange.fr", false},
		{"j+tag@sub.example.co.uk", false},
		{"o'neil@example.com", false},
		{"élodie@exemple.fr", false}, // internationalised addresses
		{"contact@audika-lyon.fr", false},
		{"jean.dupont", true},
		{"jean@@orange.fr", true},
		{"a@b@c.fr", true},
		{"@orange.fr", true},
		{"jean@", true},
		{"jean dupont@orange.fr", true},
		{"jean,dupont@orange.fr", true},
		{"jean@orange", true},
		{"jean@orange.", true},
		{"jean@-orange.fr", true},
		{"jean@orange.f", true},
		{"jean@1.2.3.4", true},
		{".jean@orange.fr", true},
		{"jean..dupont@orange.fr", true},
		{"jean@ora nge.fr", true},
	}
	for _, tt := range tests {
		if got := emailProblem(tt.in); (got != "") != tt.bad {
			t.Errorf("emailProblem(%q) = %q, want bad=%v", tt.in, got, tt.bad)
		}
	}
}

func TestNormalisePostalCode(t *testing.T) {
	tests := []struct {
		in, want string
		res      postalResult
	}{
		{"75001", "75001", postalOK},
		{"01000", "01000", postalOK},
		{"1000", "01000", postalPadded},
		{"9200", "09200", postalPadded},
		{"750", "", postalInvalid},
		{"750011", "", postalInvalid},
		{"75 001", "", postalInvalid},
		{"2A004", "", postalInvalid},
		{"F-75001", "", postalInvalid},
	}
	for _, tt := range tests {
		got, res := normalisePostalCode(tt.in)
		if got != tt.want || res != tt.res {
			t.Errorf("normalisePostalCode(%q) = %q, %v; want %q, %v", tt.in, got, res, tt.want, tt.res)
		}
	}
}

func TestParseInteger(t *testing.T) {
	for in, want := range map[string]int64{"42": 42, "-7": -7, "+3": 3, "007": 7} {
		if got, ok := parseInteger(in); !ok || got != want {
			t.Errorf("parseInteger(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"4.2", "1e3", "12a", "99999999999999999999", "1 000"} {
		if _, ok := parseInteger(in); ok {
			t.Errorf("parseInteger(%q) accepted", in)
		}
	}
}
