package ingest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"plateau/internal/ingest/ingesttest"
)

var testAt = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func loadProfile(t *testing.T, yaml string) *Profile {
	t.Helper()
	p, err := LoadProfile([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func flexycall(t *testing.T) *Profile {
	t.Helper()
	p, err := LoadProfileFile(referenceProfile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lead returns a valid record of the reference layout with some columns
// replaced, joined with ';' (no quoting: callers quote what they need).
func lead(over map[string]string) string {
	v := map[string]string{
		"type": "RDV", "name": "Hélène", "surname": "Dupont", "email_address": "helene.dupont@orange.fr",
		"phone_number": "33612345678", "statut_de_la_piste": "Nouveau", "proprietaire_de_la_piste": "Équipe Lyon",
		"mc_form_id": "MC1234567", "lead_creation_date": "18/05/2021", "hearing_center": "Audika Lyon",
		"hcp_erp_number": "ERP123456", "hcp_postal_code": "69003", "hcp_phone_number": "33478123456",
		"hcp_address": "12 rue de la République", "hcp_city": "Lyon", "hcp_email_address": "contact@audika-lyon.fr",
	}
	for k, x := range over {
		if _, ok := v[k]; !ok {
			panic("no column " + k)
		}
		v[k] = x
	}
	f := make([]string, len(ingesttest.Header))
	for i, h := range ingesttest.Header {
		f[i] = v[h]
	}
	return strings.Join(f, ";")
}

func withHeader(lines ...string) string {
	return strings.Join(ingesttest.Header, ";") + "\r\n" + strings.Join(lines, "\r\n") + "\r\n"
}

type result struct {
	records []*Record
	quar    []*Quarantined
	stats   Stats
}

func runPipeline(t *testing.T, p *Profile, in string) result {
	t.Helper()
	pl, err := NewPipeline(p, strings.NewReader(in), Options{ReceivedAt: testAt})
	if err != nil {
		t.Fatal(err)
	}
	var r result
	for {
		it, err := pl.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if it.Record != nil {
			r.records = append(r.records, it.Record.Clone())
		} else {
			r.quar = append(r.quar, it.Quarantined.Clone())
		}
	}
	r.stats = pl.Stats()
	return r
}

func TestQuarantineReasons(t *testing.T) {
	ambiguous := strings.Replace(baseProfile, `formats: ["02/01/2006"]`, `formats: ["02/01/2006", "01/02/2006"]`, 1)
	tests := []struct {
		name    string
		profile string // "" for the reference profile
		in      string
		line    int
		code    string
		field   string
		message string
	}{
		{"too few fields", "", withHeader(strings.TrimSuffix(lead(nil), ";contact@audika-lyon.fr")), 2, ReasonFieldCount, "", "expected 16 fields, found 15"},
		{"too many fields", "", withHeader(lead(nil) + ";extra"), 2, ReasonFieldCount, "", "expected 16 fields, found 17"},
		{"required field empty", "", withHeader(lead(map[string]string{"hcp_phone_number": "  "})), 2, ReasonRequired, "hcp_phone_number", `required field "hcp_phone_number" is empty`},
		{"invalid dialled phone", "", withHeader(lead(map[string]string{"hcp_phone_number": "33 4 78 12"})), 2, ReasonPhone, "hcp_phone_number", `shaped "99 9 99 99" is not a valid phone number (too few digits)`},
		{"date in another format", "", withHeader(lead(map[string]string{"lead_creation_date": "2021-05-18"})), 2, ReasonDate, "lead_creation_date", `"2021-05-18" is not a date in the accepted formats (dd/mm/yyyy, or an Excel serial number of 5 digits)`},
		{"month and day swapped", "", withHeader(lead(map[string]string{"lead_creation_date": "05/18/2021"})), 2, ReasonDate, "lead_creation_date", `"05/18/2021" is not a date`},
		{"no such day", "", withHeader(lead(map[string]string{"lead_creation_date": "31/02/2021"})), 2, ReasonDate, "lead_creation_date", `"31/02/2021" is not a date`},
		{"Excel serial of no day", "", withHeader(lead(map[string]string{"lead_creation_date": "00000"})), 2, ReasonDate, "lead_creation_date", "Excel serial number of no real day"},
		{"ambiguous date", ambiguous, "nom;tel;date;cp;mail;num\nA;0612345678;03/04/2021;;;\n", 2, ReasonDateAmbig, "date", `"03/04/2021" reads as different days in the accepted formats dd/mm/yyyy, or mm/dd/yyyy`},
		{"invalid e-mail", baseProfile, "nom;tel;date;cp;mail;num\nA;0612345678;;;a.b@c;\n", 2, ReasonEmail, "mail", `"a.b@c" is not a valid e-mail address (no dot in the domain)`},
		{"invalid postal code", baseProfile, "nom;tel;date;cp;mail;num\nA;0612345678;;7500A;;\n", 2, ReasonPostalCode, "cp", `"7500A" is not a French postal code`},
		{"invalid integer", baseProfile, "nom;tel;date;cp;mail;num\nA;0612345678;;;;12,5\n", 2, ReasonInteger, "num", `"12,5" is not a whole number`},
		{"exact duplicate", "", withHeader(lead(nil), lead(map[string]string{"surname": "Martin"}), lead(nil)), 4, ReasonDuplicate, "", "exact duplicate of the record on line 2"},
		{"duplicate despite blanks around values", "", withHeader(lead(nil), lead(map[string]string{"surname": " Dupont "})), 3, ReasonDuplicate, "", "exact duplicate of the record on line 2"},
		{"duplicate by key", baseProfile, "nom;tel;date;cp;mail;num\nA;06 12 34 56 78;;;;\nB;+33612345678;;;;\n", 3, ReasonDuplicate, "", "duplicate of the record on line 2 (same tel)"},
		{"unbalanced quote", "", withHeader(lead(map[string]string{"hcp_address": `"12 rue`}), lead(nil)), 2, ReasonQuoting, "", "unbalanced quote"},
		{"text after a closing quote", "", withHeader(lead(map[string]string{"hcp_address": `"12 rue"bis`})), 2, ReasonQuoting, "", "text after its closing quote"},
		{"not text in the encoding", "", withHeader(lead(map[string]string{"surname": "Du\x00pont"})), 2, ReasonEncoding, "", "NUL byte"},
		{"delimiters only", "", withHeader(";;;;;;;;;;;;;;;"), 2, ReasonEmptyRecord, "", "only empty fields"},
		{"a character the output cannot hold", "", withHeader(lead(map[string]string{"surname": "Łukaszewicz"})), 2, ReasonUnencodable, "surname", "(U+0141) that the windows-1252 output files cannot hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := flexycall(t)
			if tt.profile != "" {
				p = loadProfile(t, tt.profile)
			}
			r := runPipeline(t, p, tt.in)
			var q *Quarantined
			for _, x := range r.quar {
				if x.Line == tt.line {
					q = x
				}
			}
			if q == nil {
				t.Fatalf("line %d not quarantined; quarantine %+v", tt.line, r.quar)
			}
			if q.Code() != tt.code || q.Reasons[0].Field != tt.field || !strings.Contains(q.Reason(), tt.message) {
				t.Errorf("line %d: %s %q %q; want %s %q, reason containing %q", q.Line, q.Code(), q.Reasons[0].Field, q.Reason(), tt.code, tt.field, tt.message)
			}
			if r.stats.Received != r.stats.Loaded+r.stats.Quarantined {
				t.Errorf("received %d != loaded %d + quarantined %d", r.stats.Received, r.stats.Loaded, r.stats.Quarantined)
			}
		})
	}
}

// TestReasonsNeverShowPersonalValues: reasons go to logs and e-mails, so a
// personal field is described by its shape, never its value.
func TestReasonsNeverShowPersonalValues(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader(lead(map[string]string{"hcp_phone_number": "0478 12 34 5", "phone_number": "06 12 34 56"})))
	if len(r.quar) != 1 {
		t.Fatalf("quarantine %+v", r.quar)
	}
	if msg := r.quar[0].Reason(); strings.Contains(msg, "12 34") || strings.Contains(msg, "0478") {
		t.Errorf("reason shows the number: %s", msg)
	}
}

func TestRecordHoldsEveryProblem(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader(lead(map[string]string{"lead_creation_date": "2021-05-18", "hcp_phone_number": ""})))
	if len(r.quar) != 1 || len(r.quar[0].Reasons) != 2 {
		t.Fatalf("quarantine %+v", r.quar)
	}
	if r.quar[0].Code() != ReasonDate || r.quar[0].Reasons[1].Code != ReasonRequired {
		t.Errorf("reasons %+v", r.quar[0].Reasons)
	}
}

func TestLineNumbersAcrossBlankAndMultiLineRecords(t *testing.T) {
	in := "\r\n" + strings.Join(ingesttest.Header, ";") + "\r\n" + // header on line 2
		lead(nil) + "\r\n" + // 3
		"\r\n" + // 4: blank
		lead(map[string]string{"hcp_address": "\"12 rue\r\nBât. B\""}) + "\r\n" + // 5-6
		lead(map[string]string{"hcp_phone_number": ""}) + "\r\n" + // 7
		"   \r\n" + // 8: blank
		lead(map[string]string{"lead_creation_date": "18/05/21"}) + "\r\n" // 9
	r := runPipeline(t, flexycall(t), in)
	if r.stats.Received != 4 || r.stats.Loaded != 2 || r.stats.Quarantined != 2 || r.stats.BlankLines != 3 {
		t.Errorf("stats %+v", r.stats)
	}
	if len(r.records) != 2 || r.records[0].Line != 3 || r.records[1].Line != 5 {
		t.Fatalf("records at %v", r.records)
	}
	if got := r.records[1].Values[13].Text; got != "12 rue\r\nBât. B" {
		t.Errorf("address %q", got)
	}
	if len(r.quar) != 2 || r.quar[0].Line != 7 || r.quar[1].Line != 9 {
		t.Errorf("quarantine %+v", r.quar)
	}
}

// TestMultiLineRecordWithWrongCountStaysOneRecord: a quoted field that
// closes properly keeps its lines together, so the record numbers (and the
// contact ids) after it do not shift.
func TestMultiLineRecordWithWrongCountStaysOneRecord(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader(
		lead(map[string]string{"hcp_address": "\"12 rue\r\nBât. B\""})+";extra", // lines 2-3
		lead(map[string]string{"surname": "Martin"}),                            // line 4
	))
	if len(r.quar) != 1 || r.quar[0].Line != 2 || r.quar[0].Code() != ReasonFieldCount {
		t.Fatalf("quarantine %+v", r.quar)
	}
	if len(r.records) != 1 || r.records[0].Line != 4 || r.records[0].ContactID != "261123_2_26" {
		t.Errorf("records %+v", r.records)
	}
}

func TestNormalisedRecord(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader(lead(map[string]string{
		"phone_number": "612345678", "hcp_phone_number": "04.78.12.34.56", "lead_creation_date": "44333",
		"hcp_postal_code": "1000", "surname": "\u00a0 Dupont  ", "email_address": "pas d'adresse",
	})))
	if len(r.records) != 1 {
		t.Fatalf("quarantine %+v", r.quar)
	}
	rec := r.records[0]
	p := flexycall(t)
	get := func(name string) Value {
		i, ok := p.FieldIndex(name)
		if !ok {
			t.Fatalf("no field %s", name)
		}
		return rec.Values[i]
	}
	if v := get("phone_number"); v.Text != "+33612345678" || v.Phone.Type != PhoneMobile {
		t.Errorf("phone %+v", v)
	}
	if rec.Dial.E164 != "+33478123456" || rec.Dial.Type != PhoneFixed || rec.Route != RouteQueue {
		t.Errorf("dial %+v route %s", rec.Dial, rec.Route)
	}
	if v := get("lead_creation_date"); v.Text != "2021-05-18" { // 44333, the specification's count
		t.Errorf("date %+v", v)
	}
	if v := get("hcp_postal_code"); v.Text != "01000" || v.Raw != "1000" {
		t.Errorf("postal code %+v", v)
	}
	if v := get("surname"); v.Text != "Dupont" {
		t.Errorf("surname %q", v.Text)
	}
	if v := get("email_address"); !v.Invalid || v.Text != "pas d'adresse" {
		t.Errorf("e-mail %+v", v)
	}
	if rec.ContactID != "261123_1_26" {
		t.Errorf("contact id %q", rec.ContactID)
	}
	codes := map[string]bool{}
	for _, w := range rec.Warnings {
		codes[w.Code] = true
		if w.Line != 2 {
			t.Errorf("warning on line %d", w.Line)
		}
	}
	for _, c := range []string{WarnPhoneLeadingZero, WarnDateExcelSerial, WarnPostalCodePadded, WarnEmailInvalidKept} {
		if !codes[c] {
			t.Errorf("no %s warning in %+v", c, rec.Warnings)
		}
	}
	if r.stats.Warnings != len(rec.Warnings) {
		t.Errorf("warnings counted %d, listed %d", r.stats.Warnings, len(rec.Warnings))
	}
}

func TestInvalidLeadPhoneIsKeptWithAWarning(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader(lead(map[string]string{"phone_number": " n/a "})))
	if len(r.records) != 1 {
		t.Fatalf("quarantine %+v", r.quar)
	}
	v := r.records[0].Values[4]
	if !v.Invalid || v.Text != "n/a" || len(r.records[0].Warnings) != 1 || r.records[0].Warnings[0].Code != WarnPhoneInvalidKept {
		t.Errorf("value %+v warnings %+v", v, r.records[0].Warnings)
	}
}

func TestRouting(t *testing.T) {
	p := loadProfile(t, baseProfile)
	in := "nom;tel;date;cp;mail;num\n" +
		"A;0612345678;;;;\n" + // mobile: queue
		"B;0800123456;;;;\n" + // 08 prefix: manual
		"C;0123456789;;;;\n" + // listed number: manual
		"D;+33 1 45 67 89 01;;;;\n" + // fixed: queue
		"E;0612345679;;;;\n"
	r := runPipeline(t, p, in)
	want := []Route{RouteQueue, RouteManual, RouteManual, RouteQueue, RouteQueue}
	if len(r.records) != len(want) {
		t.Fatalf("quarantine %+v", r.quar)
	}
	for i, rec := range r.records {
		if rec.Route != want[i] {
			t.Errorf("record %d (%s) routed %s, want %s", i+1, rec.Dial.E164, rec.Route, want[i])
		}
	}
	if r.stats.Manual != 2 || r.stats.Queue != 3 {
		t.Errorf("stats %+v", r.stats)
	}
	// By type: a premium-rate number outside 08 does not exist in France,
	// so check the type rule on its own.
	p.Routing.ManualPrefixes = nil
	r = runPipeline(t, p, "nom;tel;date;cp;mail;num\nA;0892680123;;;;\nB;0800123456;;;;\n")
	if r.records[0].Route != RouteManual || r.records[1].Route != RouteQueue {
		t.Errorf("by type: %s %s", r.records[0].Route, r.records[1].Route)
	}
}

func TestContactIDsLeaveGapsForQuarantinedRecords(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader(lead(nil), lead(map[string]string{"hcp_phone_number": ""}), "", lead(map[string]string{"surname": "Martin"})))
	if len(r.records) != 2 || r.records[0].ContactID != "261123_1_26" || r.records[1].ContactID != "261123_3_26" {
		t.Errorf("records %+v", r.records)
	}
	if r.records[1].N != 3 || r.records[1].Line != 5 {
		t.Errorf("n %d line %d", r.records[1].N, r.records[1].Line)
	}
}

func TestReceiptDateInProfileTimeZone(t *testing.T) {
	// 23:30 UTC on 22 November is 00:30 on the 23rd in Paris.
	pl, err := NewPipeline(flexycall(t), strings.NewReader(withHeader(lead(nil))), Options{ReceivedAt: time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	it, err := pl.Next(context.Background())
	if err != nil || it.Record == nil {
		t.Fatalf("Next: %v %+v", err, it)
	}
	if it.Record.ContactID != "261123_1_26" {
		t.Errorf("contact id %q", it.Record.ContactID)
	}
}

func TestMissionOverride(t *testing.T) {
	pl, err := NewPipeline(flexycall(t), strings.NewReader(withHeader(lead(nil))), Options{ReceivedAt: testAt, MissionNumber: 31})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := pl.Next(context.Background())
	if it.Record == nil || it.Record.ContactID != "261123_1_31" {
		t.Errorf("item %+v", it)
	}
}

func TestFileErrors(t *testing.T) {
	header := strings.Join(ingesttest.Header, ";")
	tests := []struct {
		name, in, want string
	}{
		{"empty file", "", "no header line"},
		{"blank lines only", "\r\n\r\n", "no header line"},
		{"wrong column", strings.Replace(header, "surname", "nom", 1) + "\r\n" + lead(nil), `header column 3 does not match the profile, which expects "surname"`},
		{"missing column", strings.TrimSuffix(header, ";hcp_email_address") + "\r\n", "the header has 15 columns, the profile expects 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := NewPipeline(flexycall(t), strings.NewReader(tt.in), Options{ReceivedAt: testAt})
			if err != nil {
				t.Fatal(err)
			}
			_, err = pl.Next(context.Background())
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Next: %v, want a FileError saying %q", err, tt.want)
			}
		})
	}
}

func TestHeaderIsCaseAndBlankInsensitive(t *testing.T) {
	header := strings.ToUpper(strings.Join(ingesttest.Header, " ; "))
	r := runPipeline(t, flexycall(t), header+"\n"+lead(nil)+"\n")
	if r.stats.Loaded != 1 {
		t.Errorf("stats %+v", r.stats)
	}
}

func TestHeaderOnlyFile(t *testing.T) {
	r := runPipeline(t, flexycall(t), withHeader())
	if r.stats.Received != 0 {
		t.Errorf("stats %+v", r.stats)
	}
}

func TestNoHeaderProfile(t *testing.T) {
	p := loadProfile(t, strings.Replace(baseProfile, "header: true", "header: false", 1))
	r := runPipeline(t, p, "A;0612345678;;;;\nB;;;;;\n")
	if len(r.records) != 1 || r.records[0].Line != 1 || r.records[0].N != 1 || len(r.quar) != 1 || r.quar[0].Line != 2 || r.quar[0].N != 2 {
		t.Errorf("records %+v quarantine %+v", r.records, r.quar)
	}
}

func TestPipelineStopsWhenCancelled(t *testing.T) {
	var b strings.Builder
	if _, err := ingesttest.Generate(&b, ingesttest.Options{Records: 5000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	pl, err := NewPipeline(flexycall(t), strings.NewReader(b.String()), Options{ReceivedAt: testAt})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for {
		_, err := pl.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Next: %v, want context.Canceled", err)
			}
			break
		}
		if n++; n == 10 {
			cancel()
		}
		if n > 2000 {
			t.Fatal("the pipeline ignores cancellation")
		}
	}
}

func TestCloneSurvivesNext(t *testing.T) {
	pl, err := NewPipeline(flexycall(t), strings.NewReader(withHeader(lead(nil), lead(map[string]string{"surname": "Martin"}))), Options{ReceivedAt: testAt})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := pl.Next(context.Background())
	kept := first.Record.Clone()
	if _, err := pl.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kept.Values[2].Text != "Dupont" || kept.ContactID != "261123_1_26" {
		t.Errorf("clone changed: %+v", kept)
	}
}

func TestNewPipelineNeedsReceiptTimeAndMission(t *testing.T) {
	p := flexycall(t)
	if _, err := NewPipeline(p, strings.NewReader(""), Options{}); err == nil {
		t.Error("no receipt time accepted")
	}
	q := *p
	q.Mission = MissionInfo{}
	if _, err := NewPipeline(&q, strings.NewReader(""), Options{ReceivedAt: testAt}); err == nil {
		t.Error("no mission number accepted")
	}
	if _, err := NewPipeline(&q, strings.NewReader(""), Options{ReceivedAt: testAt, MissionNumber: 26, MissionName: "Łódź"}); err == nil {
		t.Error("a mission name Windows-1252 cannot hold accepted")
	}
}
