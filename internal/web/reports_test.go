package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/clocktest"
	"plateau/internal/db"
)

// reportT0 is Monday 23 November 2026, 10:30 in Paris: inside the default
// calling windows, not a holiday.
var reportT0 = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// newReportStackOn is newStackOn whose campaign service and web server read
// a test clock set to reportT0.
func newReportStackOn(t testing.TB, d *db.DB) (*stack, *clocktest.Clock) {
	t.Helper()
	return newStackAt(t, d, reportT0)
}

// reportCall is one qualified call of the report tests.
type reportCall struct {
	id, outcome string
}

// reportFixture makes mission 26 with six contacts (five received on 23
// November, one on the 24th), an agent who qualifies the first four, and
// returns the calls made.
func reportFixture(t *testing.T, s *stack, clk *clocktest.Clock) (auth.User, []reportCall) {
	t.Helper()
	ctx := s.ctx()
	if _, err := s.camp.CreateMission(ctx, campaign.NewMission{Number: 26, Name: "Mission Sortant J+3",
		Client: "phonak", Regime: campaign.RegimeB2B}); err != nil {
		t.Fatal(err)
	}
	l, err := s.camp.Loader(ctx, 26)
	if err != nil {
		t.Fatal(err)
	}
	var cs []campaign.NewContact
	for i, id := range []string{"261123_1_26", "261123_2_26", "261123_3_26", "261123_4_26", "261123_5_26", "261124_1_26"} {
		cs = append(cs, campaign.NewContact{ContactID: id, Phone: fmt.Sprintf("+3361234560%d", i), PhoneType: "mobile",
			Fields:   map[string]string{"surname": fmt.Sprintf("Hélène %d", i), "city": "Besançon"},
			Personal: []string{"surname"}})
	}
	if err := s.db.Tx(ctx, func(tx *db.Tx) error { _, err := l.Add(ctx, tx, cs); return err }); err != nil {
		t.Fatal(err)
	}
	agent, _ := s.createUser(t, "agent1", auth.RoleAgent)
	if err := s.camp.Assign(ctx, 26, agent.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.camp.SetPresence(ctx, campaign.PresenceChange{Mission: 26, Agent: agent.ID, State: campaign.PresenceService}); err != nil {
		t.Fatal(err)
	}
	var calls []reportCall
	for _, outcome := range []string{"repondeur", "rdv-pris", "faux-numero", "barrage-assistante"} {
		card, err := s.camp.Claim(ctx, 26, agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Minute)
		if _, err := s.camp.Qualify(ctx, card.Contact.Ref, agent.ID, campaign.Qualification{Outcome: outcome}); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, reportCall{id: card.Contact.ID, outcome: outcome})
	}
	return agent, calls
}

// readCSV checks a CSV download's encoding and returns its rows, decoded.
func readCSV(t *testing.T, r result, enc string) [][]string {
	t.Helper()
	wantStatus(t, r, http.StatusOK, "CSV report")
	body := []byte(r.body)
	var comma rune
	switch enc {
	case "utf-8":
		if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
			t.Fatalf("UTF-8 CSV without a byte order mark: %q", body[:min(20, len(body))])
		}
		body, comma = body[3:], ','
	case "windows-1252":
		if bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) || bytes.Contains(body, []byte("\xC3\xA9")) {
			t.Fatal("Windows-1252 CSV holding UTF-8")
		}
		dec, err := charmap.Windows1252.NewDecoder().Bytes(body)
		if err != nil {
			t.Fatal(err)
		}
		body, comma = dec, ';'
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset="+enc {
		t.Errorf("Content-Type %q", ct)
	}
	cr := csv.NewReader(bytes.NewReader(body))
	cr.Comma = comma
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v\n%s", err, body)
	}
	return rows
}

// column returns the index of a header, failing if absent.
func column(t *testing.T, header []string, name string) int {
	t.Helper()
	i := slices.Index(header, name)
	if i < 0 {
		t.Fatalf("no column %q in %q", name, header)
	}
	return i
}

func TestReportsMatchTheOutcomesRecorded(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s, clk := newReportStackOn(t, d)
		_, calls := reportFixture(t, s, clk)
		_, secret := s.createUser(t, "sup1", auth.RoleSupervisor)
		c := s.client(t)
		s.signIn(t, c, "sup1", secret)
		label := func(code string) string {
			m, err := s.camp.Mission(context.Background(), 26)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := m.Outcome(code)
			return o.Label
		}

		// Closed files, with names, in both encodings: the same rows.
		var closed [][]string
		for _, enc := range []string{"utf-8", "windows-1252"} {
			rows := readCSV(t, c.get("/reports/closed.csv?mission=26&prefix=261123&fields=1&encoding="+enc), enc)
			if closed == nil {
				closed = rows
			} else if !slices.EqualFunc(rows, closed, slices.Equal) {
				t.Fatalf("the encodings disagree:\n%q\n%q", rows, closed)
			}
		}
		h := closed[0]
		idc, outc, surc := column(t, h, "Identifiant"), column(t, h, "Dernière qualification"), column(t, h, "surname")
		var got []reportCall
		for _, row := range closed[1:] {
			got = append(got, reportCall{id: row[idc], outcome: row[outc]})
			if !strings.HasPrefix(row[surc], "Hélène") {
				t.Errorf("surname %q", row[surc])
			}
		}
		want := []reportCall{{calls[1].id, label("rdv-pris")}, {calls[2].id, label("faux-numero")}}
		if !slices.Equal(got, want) {
			t.Fatalf("closed files %v, want %v", got, want)
		}
		// The Windows-1252 bytes themselves: ';' and é as 0xE9.
		raw := c.get("/reports/closed.csv?mission=26&encoding=windows-1252").body
		if !strings.Contains(raw, "Faux num\xE9ro") || !strings.Contains(raw, ";") {
			t.Errorf("Windows-1252 CSV %q", raw)
		}

		// Open files: the retryable outcomes and the files not called yet,
		// only those of the prefix.
		open := readCSV(t, c.get("/reports/open.csv?mission=26&prefix=261123"), "utf-8")
		h = open[0]
		idc, outc, att := column(t, h, "Identifiant"), column(t, h, "Dernière qualification"), column(t, h, "Tentatives")
		wantOpen := map[string][2]string{
			calls[0].id: {label("repondeur"), "1"}, calls[3].id: {label("barrage-assistante"), "1"},
			"261123_5_26": {"", "0"},
		}
		if len(open)-1 != len(wantOpen) {
			t.Fatalf("open files %q", open)
		}
		for _, row := range open[1:] {
			if w, ok := wantOpen[row[idc]]; !ok || w != [2]string{row[outc], row[att]} {
				t.Errorf("open file %q", row)
			}
		}

		// Calls per outcome and per agent over the day.
		rows := readCSV(t, c.get("/reports/outcomes.csv?mission=26&from=2026-11-23&to=2026-11-23&encoding=windows-1252"), "windows-1252")
		byOutcome := map[string]string{}
		for _, row := range rows[1:] {
			byOutcome[row[1]] = row[2]
		}
		for _, call := range calls {
			if byOutcome[call.outcome] != "1" {
				t.Errorf("outcome %s: %q calls, want 1 (%q)", call.outcome, byOutcome[call.outcome], rows)
			}
		}
		rows = readCSV(t, c.get("/reports/calls.csv?mission=26&from=2026-11-23&to=2026-11-23"), "utf-8")
		if len(rows) != 1+len(calls) || !strings.HasPrefix(rows[1][0], "agent1") {
			t.Errorf("calls per agent %q", rows)
		}
		rows = readCSV(t, c.get("/reports/outcomes.csv?mission=26&from=2026-11-24&to=2026-11-30"), "utf-8")
		if len(rows) != 1 {
			t.Errorf("a period without calls has rows: %q", rows)
		}

		// Reached within 3 days: 6 loaded, 4 called at once.
		rows = readCSV(t, c.get("/reports/reach.csv?mission=26&from=2026-11-23&to=2026-11-23&within=3"), "utf-8")
		if len(rows) != 2 || !slices.Equal(rows[1], []string{"6", "4", "0", "2"}) {
			t.Errorf("reach %q", rows)
		}

		// Agents in service that day.
		r := c.get("/reports/presence?mission=26&day=2026-11-23&start=09:00&end=19:00")
		wantStatus(t, r, http.StatusOK, "presence report")
		if !strings.Contains(r.body, "agent1") {
			t.Errorf("the agent in service is not on the page:\n%s", r.body)
		}

		// On screen too.
		r = c.get("/reports/closed?mission=26")
		wantStatus(t, r, http.StatusOK, "closed files on screen")
		for _, w := range want {
			if !strings.Contains(r.body, w.id) {
				t.Errorf("closed file %s not on the page", w.id)
			}
		}

		// The exports with names were audited.
		entries, err := s.audit.List(context.Background(), audit.Filter{Action: "contacts.export"})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) < 2 || entries[0].Actor != "sup1" {
			t.Errorf("export audit entries %+v", entries)
		}
		// Bad parameters are refused.
		wantStatus(t, c.get("/reports/outcomes.csv?mission=26&from=2026-11-24&to=2026-11-23"), http.StatusBadRequest, "reversed period")
		wantStatus(t, c.get("/reports/open.csv?mission=26&encoding=latin-9"), http.StatusBadRequest, "unknown encoding")
		wantStatus(t, c.get("/reports/open?mission=999"), http.StatusNotFound, "unknown mission")
	})
}

func TestReportsAreForSupervisorsAndAdmins(t *testing.T) {
	s, clk := newReportStackOn(t, db.OpenTestSQLite(t))
	agent, _ := reportFixture(t, s, clk)
	c := s.client(t)
	s.signIn(t, c, agent.Login, "")
	for _, target := range []string{"/reports", "/reports/open?mission=26", "/reports/closed.csv?mission=26&fields=1"} {
		wantStatus(t, c.get(target), http.StatusForbidden, "agent: "+target)
	}
	_, secret := s.createUser(t, "admin1", auth.RoleAdmin)
	a := s.client(t)
	s.signIn(t, a, "admin1", secret)
	r := a.get("/reports")
	wantStatus(t, r, http.StatusOK, "admin: /reports")
	if !strings.Contains(r.body, `href="/reports/open"`) {
		t.Errorf("the index does not link the reports:\n%s", r.body)
	}
}

func TestSpreadsheetSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"Durand":        "Durand",
		"+33612345678":  "+33612345678",
		"-12.5":         "-12.5",
		"=HYPERLINK(1)": "'=HYPERLINK(1)",
		"@SUM(A1)":      "'@SUM(A1)",
		"+cmd|x":        "'+cmd|x",
		"-":             "'-",
	} {
		if got := spreadsheetSafe(in); got != want {
			t.Errorf("spreadsheetSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCP1252WriterReplacesWhatItCannotHold(t *testing.T) {
	var b bytes.Buffer
	w := &cp1252Writer{w: &b}
	s := []byte("é€ł😀x")
	// Cut inside the euro sign: the writer must join the halves.
	if _, err := w.Write(s[:3]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(s[3:]); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Bytes(), []byte{0xE9, 0x80, '?', '?', 'x'}; !bytes.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
}
