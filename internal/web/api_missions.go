package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"plateau/internal/campaign"
)

// handleAPIMissions serves GET /api/v1/missions: the missions the caller
// may see (an agent: those they are assigned to), with their settings and
// outcome codes. ?client= filters, ?archived=true includes archived ones.
func (s *Server) handleAPIMissions(w http.ResponseWriter, r *http.Request) error {
	u := stateOf(r).user
	q := r.URL.Query()
	f := campaign.MissionFilter{Client: q.Get("client"), IncludeArchived: q.Get("archived") == "true"}
	if !privileged(u) {
		f.Member = u.ID
	}
	ms, err := s.camp.Missions(r.Context(), f)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []campaign.Mission{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"missions": ms})
}

// handleAPIMission serves GET /api/v1/missions/{number}.
func (s *Server) handleAPIMission(w http.ResponseWriter, r *http.Request) error {
	n, err := pathMission(r)
	if err != nil {
		return err
	}
	if err := s.missionAccess(r, n); err != nil {
		return err
	}
	m, err := s.camp.Mission(r.Context(), n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

// apiMissionPatch is the body of PATCH /api/v1/missions/{number}: absent
// members are left as they are.
type apiMissionPatch struct {
	Name         *string `json:"name"`
	Windows      *string `json:"windows"`
	Holidays     *string `json:"holidays"` // "open" or "closed", as the command line says it
	HolidaysOpen *bool   `json:"holidays_open"`
	TimeZone     *string `json:"timezone"`
	MaxAttempts  *int    `json:"max_attempts"`
	LeaseSeconds *int    `json:"lease_seconds"`
	Script       *string `json:"script"`
}

// handleAPIMissionUpdate serves PATCH /api/v1/missions/{number}: the
// mission's settings (calling windows, holidays, time zone, attempts...).
func (s *Server) handleAPIMissionUpdate(w http.ResponseWriter, r *http.Request) error {
	n, err := pathMission(r)
	if err != nil {
		return err
	}
	var p apiMissionPatch
	if err := decodeJSON(r, &p, false); err != nil {
		return err
	}
	u := campaign.MissionUpdate{Name: p.Name, Windows: p.Windows, HolidaysOpen: p.HolidaysOpen,
		TimeZone: p.TimeZone, MaxAttempts: p.MaxAttempts, Script: p.Script}
	if p.Holidays != nil {
		var open bool
		switch *p.Holidays {
		case "open":
			open = true
		case "closed":
		default:
			return apiErr(http.StatusUnprocessableEntity, "invalid", `holidays: want "open" or "closed".`)
		}
		if p.HolidaysOpen != nil && *p.HolidaysOpen != open {
			return apiErr(http.StatusUnprocessableEntity, "invalid", "holidays and holidays_open disagree.")
		}
		u.HolidaysOpen = &open
	}
	if p.LeaseSeconds != nil {
		d := time.Duration(*p.LeaseSeconds) * time.Second
		u.Lease = &d
	}
	m, err := s.camp.UpdateMission(r.Context(), n, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

// handleAPIStats serves GET /api/v1/missions/{number}/stats: the live view's
// figures.
func (s *Server) handleAPIStats(w http.ResponseWriter, r *http.Request) error {
	n, err := pathMission(r)
	if err != nil {
		return err
	}
	st, err := s.camp.Stats(r.Context(), n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// apiPresence is the body of POST /api/v1/missions/{number}/presence.
type apiPresence struct {
	State     campaign.PresenceState `json:"state"`
	PauseCode string                 `json:"pause_code"`
	Site      string                 `json:"site"`
}

// handleAPIPresence serves POST /api/v1/missions/{number}/presence: the
// caller goes in service ("S"), on pause (with a pause code), offline...
// Only a user assigned to the mission may be anything but offline.
func (s *Server) handleAPIPresence(w http.ResponseWriter, r *http.Request) error {
	n, err := pathMission(r)
	if err != nil {
		return err
	}
	var p apiPresence
	if err := decodeJSON(r, &p, false); err != nil {
		return err
	}
	u := stateOf(r).user
	err = s.camp.SetPresence(r.Context(), campaign.PresenceChange{Mission: n, Agent: u.ID, State: p.State,
		PauseCode: p.PauseCode, Site: p.Site})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"mission": n, "state": p.State, "pause_code": p.PauseCode})
}

// apiContact is a contact as the API gives it: the operational data, the
// dialled number and the named fields, decrypted, and its history.
type apiContact struct {
	campaign.Contact
	History []campaign.Attempt `json:"history"`
	// Renewed: the caller already held this lease; it was renewed.
	Renewed bool `json:"renewed,omitempty"`
}

// handleAPINext serves POST /api/v1/missions/{number}/next: the most urgent
// callable contact, leased to the caller (200), or 204 when nothing is
// callable now. When the mission itself may not be served now (outside its
// windows...), the 204 says why in the headers Plateau-Rule and
// Retry-After. Claiming needs the caller in service on the mission, which
// only an assigned user can be.
func (s *Server) handleAPINext(w http.ResponseWriter, r *http.Request) error {
	n, err := pathMission(r)
	if err != nil {
		return err
	}
	u := stateOf(r).user
	card, err := s.camp.Claim(r.Context(), n, u.ID)
	var rule *campaign.RuleError
	switch {
	case errors.Is(err, campaign.ErrNothingToCall):
		w.WriteHeader(http.StatusNoContent)
		return nil
	case errors.As(err, &rule):
		h := w.Header()
		h.Set("Plateau-Rule", string(rule.Verdict.Rule))
		if next := rule.Verdict.Next; !next.IsZero() {
			h.Set("Plateau-Next", next.UTC().Format(time.RFC3339))
			h.Set("Retry-After", strconv.FormatInt(max(1, int64(next.Sub(s.now()).Seconds())), 10))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case errors.Is(err, campaign.ErrNotInService):
		// Tell an agent who is not assigned apart from one who is not in
		// service; only this rare path pays the membership query.
		if merr := s.missionAccess(r, n); merr != nil {
			return merr
		}
		return err
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusOK, apiContact{Contact: card.Contact, History: card.History, Renewed: card.Renewed})
}
