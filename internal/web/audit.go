package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"plateau/internal/audit"
)

// auditPageSize is how many entries one page of the viewer shows.
const auditPageSize = 50

// auditData is the audit viewer: the filters as typed, the entries, and the
// links to the other pages.
type auditData struct {
	Actor, Action, ObjectType, ObjectID, From, To string
	Entries                                       []audit.Entry
	Older                                         string // URL of the next (older) page, "" on the last
	Newest                                        string // URL of the first page when not on it
}

// handleAudit serves GET /audit (administrators and the DPO): the trail,
// newest first, filtered by actor, action prefix, object and dates.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	data := auditData{
		Actor:      strings.TrimSpace(q.Get("actor")),
		Action:     strings.TrimSpace(q.Get("action")),
		ObjectType: strings.TrimSpace(q.Get("type")),
		ObjectID:   strings.TrimSpace(q.Get("id")),
		From:       strings.TrimSpace(q.Get("from")),
		To:         strings.TrimSpace(q.Get("to")),
	}
	f := audit.Filter{
		Actor:      data.Actor,
		Action:     data.Action,
		ObjectType: data.ObjectType,
		ObjectID:   data.ObjectID,
		Limit:      auditPageSize + 1, // one more tells whether an older page exists
	}
	var errKey string
	var err error
	if f.From, err = s.parseDay(data.From); err != nil {
		errKey = "audit.error.date"
	}
	to, err := s.parseDay(data.To)
	if err != nil {
		errKey = "audit.error.date"
	} else if !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // the "to" day is included
	}
	if b := q.Get("before"); b != "" {
		if f.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || f.BeforeID < 0 {
			return badRequest(fmt.Errorf("audit page %q", b))
		}
	}
	status := http.StatusOK
	if errKey != "" {
		status = http.StatusUnprocessableEntity
	} else {
		entries, err := s.audit.List(r.Context(), f)
		if err != nil {
			return fmt.Errorf("list audit entries: %w", err)
		}
		filters := url.Values{}
		for k, v := range map[string]string{"actor": data.Actor, "action": data.Action, "type": data.ObjectType,
			"id": data.ObjectID, "from": data.From, "to": data.To} {
			if v != "" {
				filters.Set(k, v)
			}
		}
		if len(entries) > auditPageSize {
			entries = entries[:auditPageSize]
			older := url.Values{}
			for k, v := range filters {
				older[k] = v
			}
			older.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
			data.Older = "/audit?" + older.Encode()
		}
		if f.BeforeID != 0 {
			data.Newest = "/audit?" + filters.Encode()
		}
		data.Entries = entries
	}
	return s.render(w, r, status, "audit", page{Title: "audit.title", Section: "audit", Error: errKey, Data: data})
}

// parseDay reads a YYYY-MM-DD date (an HTML date input) as midnight in the
// displayed time zone; "" is the zero time (no bound).
func (s *Server) parseDay(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, s.loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", v, err)
	}
	return t, nil
}
