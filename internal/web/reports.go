package web

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
)

// routesReports registers the reports, on screen and as CSV.
func (s *Server) routesReports(mux *http.ServeMux) {
	readers := []auth.Role{auth.RoleSupervisor, auth.RoleAdmin}
	s.route(mux, "GET /reports", signedIn, s.handleReports, readers...)
	for _, k := range reportKinds() {
		s.route(mux, "GET /reports/"+k.name, signedIn, s.reportPage(k), readers...)
		s.route(mux, "GET /reports/"+k.name+".csv", signedIn, s.reportCSV(k), readers...)
	}
}

// reportKind is one report: its name in the URL, its title, and how it is
// built from a request.
type reportKind struct {
	name  string
	title string // catalogue key
	about string // catalogue key
	build func(ctx context.Context, rq *reportRequest) (*reportTable, error)
}

// reportKinds lists the reports, in the order of the index page.
func reportKinds() []reportKind {
	return []reportKind{
		{name: "open", title: "report.open.title", about: "report.open.about", build: buildOpenFiles},
		{name: "closed", title: "report.closed.title", about: "report.closed.about", build: buildClosedFiles},
		{name: "presence", title: "report.presence.title", about: "report.presence.about", build: buildPresence},
		{name: "calls", title: "report.calls.title", about: "report.calls.about", build: buildCallsByAgent},
		{name: "outcomes", title: "report.outcomes.title", about: "report.outcomes.about", build: buildCallsByOutcome},
		{name: "reach", title: "report.reach.title", about: "report.reach.about", build: buildReach},
	}
}

// reportParams are a report's parameters as typed; each report reads the
// ones it needs.
type reportParams struct {
	Mission    int
	Prefix     string // open, closed: contact id prefix
	Fields     bool   // open, closed: with names and numbers
	Day        string // presence: YYYY-MM-DD
	Start, End string // presence: HH:MM
	From, To   string // calls, outcomes, reach: YYYY-MM-DD, both included
	Within     int    // reach: days
}

// reportRequest is a parsed report request.
type reportRequest struct {
	s       *Server
	lang    string
	p       reportParams
	mission campaign.Mission
	loc     *time.Location // the mission's time zone
}

// text returns a catalogue text in the request's language.
func (rq *reportRequest) text(key string, args ...any) string {
	return rq.s.cat.text(rq.lang, key, args...)
}

// reportTable is a built report: facts shown above the table, the column
// headers (in the user's language) and the rows, streamed.
type reportTable struct {
	Facts    []reportFact
	Columns  []string
	Personal bool // the rows hold contacts' personal data
	rows     func(emit func([]string) error) error
}

// reportFact is one figure of a report's summary.
type reportFact struct {
	Label, Value string
}

// reportView is the report page.
type reportView struct {
	Kind      string
	About     string // catalogue key
	Missions  []campaign.Mission
	P         reportParams
	Ran       bool // a mission was chosen and the report built
	Table     *reportTable
	Rows      [][]string
	Truncated bool
	Limit     int
	CSVFields []reportField // the parameters of the CSV download, but the encoding
}

// reportField is a hidden field of the CSV download form.
type reportField struct {
	Name, Value string
}

// reportScreenRows bounds the rows shown on screen; the CSV has them all.
const reportScreenRows = 500

// maxPrefixLen bounds a contact id prefix.
const maxPrefixLen = 64

// handleReports serves GET /reports: the list of reports.
func (s *Server) handleReports(w http.ResponseWriter, r *http.Request) error {
	missions, err := s.camp.Missions(r.Context(), campaign.MissionFilter{IncludeArchived: true})
	if err != nil {
		return fmt.Errorf("reports: list missions: %w", err)
	}
	type entry struct{ Name, Title, About string }
	kinds := make([]entry, 0, len(reportKinds()))
	for _, k := range reportKinds() {
		kinds = append(kinds, entry{Name: k.name, Title: k.title, About: k.about})
	}
	return s.render(w, r, http.StatusOK, "reports", page{Title: "reports.title", Section: "reports",
		Data: map[string]any{"Kinds": kinds, "Missions": missions}})
}

// reportPage serves GET /reports/<kind>: the form, and the report on screen
// once a mission is chosen (at most reportScreenRows rows).
func (s *Server) reportPage(k reportKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		missions, err := s.camp.Missions(ctx, campaign.MissionFilter{IncludeArchived: true})
		if err != nil {
			return fmt.Errorf("report %s: list missions: %w", k.name, err)
		}
		view := reportView{Kind: k.name, About: k.about, Missions: missions, Limit: reportScreenRows}
		rq, errKey, err := s.reportRequest(r, k)
		if err != nil {
			return err
		}
		view.P = rq.p
		status := http.StatusOK
		if errKey == "" && rq.p.Mission != 0 {
			t, err := k.build(ctx, rq)
			switch {
			case errors.Is(err, campaign.ErrInvalid):
				errKey = "report.error.period"
			case err != nil:
				return fmt.Errorf("report %s of mission %d: %w", k.name, rq.p.Mission, err)
			default:
				view.Ran, view.Table = true, t
				err := t.rows(func(row []string) error {
					if len(view.Rows) == reportScreenRows {
						view.Truncated = true
						return errEnough
					}
					view.Rows = append(view.Rows, row)
					return nil
				})
				if err != nil && !errors.Is(err, errEnough) {
					return fmt.Errorf("report %s of mission %d: %w", k.name, rq.p.Mission, err)
				}
				q := rq.p.query(k.name)
				for _, name := range slices.Sorted(maps.Keys(q)) {
					view.CSVFields = append(view.CSVFields, reportField{Name: name, Value: q.Get(name)})
				}
			}
		}
		if errKey != "" {
			status = http.StatusUnprocessableEntity
		}
		return s.render(w, r, status, "report", page{Title: k.title, Section: "reports", Error: errKey, Data: view})
	}
}

// errEnough stops a report's rows once the screen has its share.
var errEnough = errors.New("enough rows")

// reportRequest reads the parameters of a report; errKey names what is
// wrong with them (the page says it), err is a failure.
func (s *Server) reportRequest(r *http.Request, k reportKind) (*reportRequest, string, error) {
	q := r.URL.Query()
	rq := &reportRequest{s: s, lang: stateOf(r).lang, loc: s.loc}
	p := &rq.p
	now := s.now().In(s.loc)
	if v := strings.TrimSpace(q.Get("mission")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, "", badRequest(fmt.Errorf("report mission %q", v))
		}
		m, err := s.camp.Mission(r.Context(), n)
		if errors.Is(err, campaign.ErrNotFound) {
			return nil, "", notFound(err)
		}
		if err != nil {
			return nil, "", fmt.Errorf("report: load mission %d: %w", n, err)
		}
		p.Mission, rq.mission = n, m
		if loc, err := time.LoadLocation(m.TimeZone); err == nil && m.TimeZone != "" {
			rq.loc = loc
			now = now.In(loc)
		}
	}
	today := now.Format("2006-01-02")
	p.Prefix = strings.TrimSpace(q.Get("prefix"))
	p.Fields = q.Get("fields") == "1"
	p.Day = valueOr(q.Get("day"), today)
	p.Start = valueOr(q.Get("start"), "09:00")
	p.End = valueOr(q.Get("end"), "19:00")
	p.To = valueOr(q.Get("to"), today)
	from := today
	if k.name == "reach" {
		from = now.AddDate(0, 0, -30).Format("2006-01-02")
	}
	p.From = valueOr(q.Get("from"), from)
	p.Within = 3
	errKey := ""
	if v := strings.TrimSpace(q.Get("within")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 366 {
			errKey = "report.error.within"
		} else {
			p.Within = n
		}
	}
	if len(p.Prefix) > maxPrefixLen || strings.ContainsFunc(p.Prefix, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errKey = "report.error.prefix"
	}
	for _, d := range []string{p.Day, p.From, p.To} {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			errKey = "report.error.date"
		}
	}
	return rq, errKey, nil
}

func valueOr(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

// query is the report's parameters as a query string, for the CSV link.
func (p reportParams) query(kind string) url.Values {
	v := url.Values{"mission": {strconv.Itoa(p.Mission)}}
	switch kind {
	case "open", "closed":
		if p.Prefix != "" {
			v.Set("prefix", p.Prefix)
		}
		if p.Fields {
			v.Set("fields", "1")
		}
	case "presence":
		v.Set("day", p.Day)
		v.Set("start", p.Start)
		v.Set("end", p.End)
	case "reach":
		v.Set("from", p.From)
		v.Set("to", p.To)
		v.Set("within", strconv.Itoa(p.Within))
	default:
		v.Set("from", p.From)
		v.Set("to", p.To)
	}
	return v
}

// period returns [from 00:00, the day after to 00:00) in the mission's
// time zone.
func (rq *reportRequest) period() (time.Time, time.Time, error) {
	from, err := time.ParseInLocation("2006-01-02", rq.p.From, rq.loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %w", campaign.ErrInvalid, err)
	}
	to, err := time.ParseInLocation("2006-01-02", rq.p.To, rq.loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %w", campaign.ErrInvalid, err)
	}
	to = to.AddDate(0, 0, 1)
	if !to.After(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: the period ends before it starts", campaign.ErrInvalid)
	}
	return from, to, nil
}

// outcomeLabel is an outcome's label in the mission, or its code.
func (rq *reportRequest) outcomeLabel(code string) string {
	if code == "" {
		return ""
	}
	if o, ok := rq.mission.Outcome(code); ok {
		return o.Label
	}
	return code
}

// when formats an instant in the mission's time zone; "" for none.
func (rq *reportRequest) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(rq.loc).Format("2006-01-02 15:04:05")
}

// agents returns the users by id, for the agents' names.
func (rq *reportRequest) agents(ctx context.Context) (map[int64]auth.User, error) {
	us, err := rq.s.auth.Users(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make(map[int64]auth.User, len(us))
	for _, u := range us {
		out[u.ID] = u
	}
	return out, nil
}

// hms writes a duration as H:MM:SS.
func hms(d time.Duration) string {
	sec := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
}
