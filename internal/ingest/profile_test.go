package ingest

import (
	"errors"
	"strings"
	"testing"
)

const referenceProfile = "../../examples/profiles/flexycall.yaml"

// baseProfile is a small valid profile the tests below break one way at a
// time. Keep its lines stable: the tests name them.
const baseProfile = `version: 1
mission:
  number: 7
  name: Test
source:
  encoding: auto
  delimiter: ";"
  header: true
  columns: [nom, tel, date, cp, mail, num]
fields:
  - name: nom
    type: text
    personal: true
  - name: tel
    type: phone
    required: true
  - name: date
    type: date
    formats: ["02/01/2006"]
  - name: cp
    type: postal_code
  - name: mail
    type: email
  - name: num
    type: integer
dial: tel
duplicate_key: [tel]
contact_id: "{yymmdd}_{n}_{mission}"
routing:
  manual:
    prefixes: ["08"]
    types: [premium_rate]
    numbers: ["01 23 45 67 89"]
outputs:
  - file: out.csv
    delimiter: ";"
    header: [a, b, c]
    columns: ["{contact_id}", "{tel:national9}", "{date:02/01/2006}"]
`

func TestReferenceProfileLoads(t *testing.T) {
	p, err := LoadProfileFile(referenceProfile)
	if err != nil {
		t.Fatal(err)
	}
	if p.Mission.Number != 26 || p.Mission.Name != "Mission Sortant J+3" {
		t.Errorf("mission %+v", p.Mission)
	}
	if p.Fields[p.Dial].Name != "hcp_phone_number" || !p.DuplicateRecord || len(p.Outputs) != 4 {
		t.Errorf("dial %q, duplicate record %v, %d outputs", p.Fields[p.Dial].Name, p.DuplicateRecord, len(p.Outputs))
	}
	want := map[string]int{"mission.csv": 20, "CRM phonak.csv": 19, "Automate.csv": 11, "Call Centers.csv": 20}
	for _, o := range p.Outputs {
		if len(o.Columns) != want[o.File] {
			t.Errorf("%s has %d columns, want %d", o.File, len(o.Columns), want[o.File])
		}
	}
	if i, ok := p.FieldIndex("lead_creation_date"); !ok || p.Fields[i].ExcelSerialDigits != 5 {
		t.Error("lead_creation_date should accept 5-digit Excel serials")
	}
}

func TestBaseProfileLoads(t *testing.T) {
	p, err := LoadProfile([]byte(baseProfile))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Routing.ManualNumbers["+33123456789"] {
		t.Errorf("manual numbers %v", p.Routing.ManualNumbers)
	}
	if p.Location.String() != "Europe/Paris" {
		t.Errorf("time zone %s", p.Location)
	}
}

func TestProfileProblems(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in baseProfile
		line     int
		want     string
	}{
		{"unknown top-level key", "dial: tel\n", "dial: tel\ndelimeter: x\n", 27, `unknown key "delimeter"`},
		{"unknown field key", "    personal: true\n", "    personal: true\n    requried: true\n", 14, `unknown key "requried"`},
		{"unknown type", "type: phone", "type: phnoe", 15, `"phnoe" is not one of`},
		{"date without formats", `    formats: ["02/01/2006"]` + "\n", "", 17, "list the accepted date layouts"},
		{"date layout written for people", `"02/01/2006"]`, `"dd/mm/yyyy"]`, 19, "not a date layout"},
		{"Excel digits out of range", `    formats: ["02/01/2006"]`, `    formats: ["02/01/2006"]` + "\n    excel_serial_digits: 9", 20, "1 to 6 digits"},
		{"column not in the source", "  - name: cp\n", "  - name: cp\n    column: code_postal\n", 21, `no column "code_postal"`},
		{"dial not a phone", "dial: tel", "dial: nom", 26, "must be a phone"},
		{"dial not required", "    required: true\n", "", 25, "must be required"},
		{"field declared twice", "  - name: num\n", "  - name: nom\n", 24, `"nom" declared twice`},
		{"reserved field name", "  - name: num\n", "  - name: line\n", 24, "reserved"},
		{"bad field name", "  - name: num\n", "  - name: N°\n", 24, "not a valid field name"},
		{"contact id without n", `contact_id: "{yymmdd}_{n}_{mission}"`, `contact_id: "{yymmdd}_{mission}"`, 28, "must contain {n}"},
		{"contact id unknown placeholder", `{yymmdd}_{n}`, `{ddmmyy}_{n}`, 28, "unknown placeholder"},
		{"column unknown placeholder", `"{contact_id}"`, `"{contactid}"`, 38, `no field or placeholder named "contactid"`},
		{"unknown phone format", "{tel:national9}", "{tel:national8}", 38, "unknown phone format"},
		{"format on a text field", `"{contact_id}"`, `"{nom:upper}"`, 38, "takes no format"},
		{"unclosed brace", `"{contact_id}"`, `"{contact_id"`, 38, "never closed"},
		{"delimiter of two characters", "    delimiter: \";\"\n    header", "    delimiter: \";;\"\n    header", 36, "one ASCII character"},
		{"output file name with a path", "file: out.csv", "file: ../out.csv", 35, "cannot contain"},
		{"header and columns differ", "header: [a, b, c]", "header: [a, b]", 37, "2 names but there are 3 columns"},
		{"unknown routing type", "types: [premium_rate]", "types: [premium]", 32, `unknown number type "premium"`},
		{"invalid routing number", `numbers: ["01 23 45 67 89"]`, `numbers: ["01 23"]`, 33, "not a valid phone number"},
		{"invalid prefix", `prefixes: ["08"]`, `prefixes: ["+08"]`, 31, "digits in national form"},
		{"unsupported version", "version: 1", "version: 2", 1, "unsupported profile version 2"},
		{"unknown time zone", "version: 1\n", "version: 1\ntimezone: Europe/Lutece\n", 2, "unknown time zone"},
		{"unknown region", "    type: phone\n", "    type: phone\n    region: XX\n", 16, "unknown region"},
		{"region on a text field", "    personal: true\n", "    personal: true\n    region: FR\n", 14, "only phone fields have a region"},
		{"boolean expected", "header: true", "header: maybe", 8, "expected true or false"},
		{"alias", "columns: [nom, tel, date, cp, mail, num]", "columns: &c [nom, tel, date, cp, mail, n]\n  encoding2: *c", 10, "unknown key"},
		{"duplicate key", "dial: tel\n", "dial: tel\ndial: tel\n", 27, "given twice"},
		{"fields not a list", "fields:\n  - name: nom\n", "fields: nom\nx:\n  - name: nom\n", 10, "expected a list of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(baseProfile, tt.old) {
				t.Fatalf("test broken: %q not in the base profile", tt.old)
			}
			_, err := LoadProfile([]byte(strings.Replace(baseProfile, tt.old, tt.new, 1)))
			var pe *ProfileError
			if !errors.As(err, &pe) {
				t.Fatalf("LoadProfile: %v, want a *ProfileError", err)
			}
			for _, p := range pe.Problems {
				if strings.Contains(p.Message, tt.want) {
					if p.Line != tt.line {
						t.Errorf("%q reported on line %d, want %d", p.Message, p.Line, tt.line)
					}
					return
				}
			}
			t.Errorf("no problem says %q:\n%v", tt.want, err)
		})
	}
}

func TestProfileReportsEveryProblem(t *testing.T) {
	bad := strings.Replace(strings.Replace(baseProfile, "type: phone", "type: phnoe", 1), "version: 1", "version: 3", 1)
	_, err := LoadProfile([]byte(bad))
	var pe *ProfileError
	if !errors.As(err, &pe) || len(pe.Problems) < 2 {
		t.Fatalf("want every problem at once, got %v", err)
	}
	if !strings.Contains(err.Error(), "line 1, version:") || !strings.Contains(err.Error(), "line 15, fields[1].type:") {
		t.Errorf("messages should name the line and the key:\n%v", err)
	}
}

func TestProfileDocumentErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":         "",
		"not YAML":      "version: [1\n",
		"two documents": baseProfile + "---\nversion: 1\n",
		"a list":        "- 1\n- 2\n",
	} {
		t.Run(name, func(t *testing.T) {
			var pe *ProfileError
			if _, err := LoadProfile([]byte(doc)); !errors.As(err, &pe) {
				t.Fatalf("LoadProfile: %v, want a *ProfileError", err)
			}
		})
	}
}

func TestProfileTooLarge(t *testing.T) {
	if _, err := LoadProfile(make([]byte, maxProfileSize+1)); err == nil {
		t.Fatal("accepted an oversized profile")
	}
}

// sinkedProfile is baseProfile with an SQL sink.
const sinkedProfile = baseProfile + `sinks:
  - name: crm
    driver: mysql
    dsn_env: PLATEAU_SINK_CRM_DSN
    table: contacts
    records: queue
    columns:
      contact_id: "{contact_id}"
      phone: "{tel:e164}"
      created: "{date}"
`

func TestProfileSinksLoad(t *testing.T) {
	p, err := LoadProfile([]byte(sinkedProfile))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sinks) != 1 {
		t.Fatalf("%d sinks", len(p.Sinks))
	}
	s := p.Sinks[0]
	if s.Name != "crm" || s.Driver != DriverMySQL || s.DSNEnv != "PLATEAU_SINK_CRM_DSN" || s.Table != "contacts" ||
		s.Records != RecordsQueue || len(s.Columns) != 3 || s.Columns[1].Name != "phone" || s.Columns[1].Value.Source != "{tel:e164}" {
		t.Errorf("sink %+v", s)
	}
}

func TestProfileSinkProblems(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in sinkedProfile
		at       string // text on the line the problem is reported on
		want     string
	}{
		{"unknown key", "    table: contacts\n", "    table: contacts\n    dsn: root@x/y\n", "dsn: root", `unknown key "dsn"`},
		{"DSN variable outside PLATEAU_SINK_", "PLATEAU_SINK_CRM_DSN", "PLATEAU_MASTER_KEY", "PLATEAU_MASTER_KEY", "must be named PLATEAU_SINK_"},
		{"unknown driver", "driver: mysql", "driver: oracle", "oracle", `"oracle" is not one of`},
		{"missing driver", "    driver: mysql\n", "", "- name: crm", "missing: write 'driver: mysql'"},
		{"table with a quote", "table: contacts", "table: \"contacts`; DROP TABLE x\"", "DROP TABLE", "not a table name"},
		{"table with a schema", "table: contacts", "table: crm.contacts", "crm.contacts", "not a table name"},
		{"marker table", "table: contacts", "table: plateau_sink_batches", "table: plateau", "where Plateau records"},
		{"column with a backtick", "      phone:", "      \"ph`one\":", "ph`one", "not a column name"},
		{"column twice", "      created:", "      Phone:", "Phone:", `column "Phone" given twice`},
		{"unknown placeholder", `"{date}"`, `"{datum}"`, "datum", `no field or placeholder named "datum"`},
		{"columns not a mapping", "    columns:\n", "    columns: [a]\n    x:\n", "columns: [a]", "expected a mapping of column names"},
		{"bad sink name", "name: crm", "name: CRM", "name: CRM", "not a valid sink name"},
		{"sink twice", "", "  - {name: crm, driver: mysql, table: t, columns: {a: x}}\n", "{name: crm", `sink "crm" declared twice`},
		{"unknown records", "records: queue", "records: all", "records: all", `"all" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := sinkedProfile + tt.new
			if tt.old != "" {
				if !strings.Contains(sinkedProfile, tt.old) {
					t.Fatalf("test broken: %q not in the profile", tt.old)
				}
				doc = strings.Replace(sinkedProfile, tt.old, tt.new, 1)
			}
			line := 1 + strings.Count(doc[:strings.Index(doc, tt.at)], "\n")
			_, err := LoadProfile([]byte(doc))
			var pe *ProfileError
			if !errors.As(err, &pe) {
				t.Fatalf("LoadProfile: %v, want a *ProfileError", err)
			}
			for _, p := range pe.Problems {
				if strings.Contains(p.Message, tt.want) {
					if p.Line != line {
						t.Errorf("%q reported on line %d, want %d", p.Message, p.Line, line)
					}
					return
				}
			}
			t.Errorf("no problem says %q:\n%v", tt.want, err)
		})
	}
}
