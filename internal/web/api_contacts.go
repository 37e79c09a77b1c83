package web

import (
	"net/http"
	"time"

	"plateau/internal/campaign"
)

// apiOutcome is the body of POST /api/v1/contacts/{id}/outcome.
type apiOutcome struct {
	Code          string `json:"code"`
	Comment       string `json:"comment"`
	CallbackAt    string `json:"callback_at"` // RFC 3339, for a callback outcome
	CallbackOwner string `json:"callback_owner"`
}

// parseAPITime reads an RFC 3339 member ("" is the zero time).
func parseAPITime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, apiErr(http.StatusBadRequest, "bad_request", name+" must be an RFC 3339 time, e.g. 2026-11-23T10:00:00+01:00.")
	}
	return t, nil
}

// Lease-bound actions (outcome, renew, release) need no membership check:
// only the holder of the lease may do them, and only an agent in service
// on the mission, so assigned to it, can have claimed it.

// handleAPIOutcome serves POST /api/v1/contacts/{id}/outcome: the caller
// qualifies the call of a contact they hold. 409 when they do not hold it
// (or it is closed), 422 for an unknown code or a callback time the rules
// forbid (with the rule and when it becomes allowed).
func (s *Server) handleAPIOutcome(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.contactRef(r)
	if err != nil {
		return err
	}
	var o apiOutcome
	if err := decodeJSON(r, &o, false); err != nil {
		return err
	}
	cb, err := parseAPITime("callback_at", o.CallbackAt)
	if err != nil {
		return err
	}
	q := campaign.Qualification{Outcome: o.Code, Comment: o.Comment, CallbackAt: cb,
		CallbackOwner: campaign.CallbackOwner(o.CallbackOwner)}
	res, err := s.camp.Qualify(r.Context(), ref, stateOf(r).user.ID, q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// handleAPIRenew serves POST /api/v1/contacts/{id}/renew: the caller's
// lease is extended by the mission's lease duration.
func (s *Server) handleAPIRenew(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.contactRef(r)
	if err != nil {
		return err
	}
	until, err := s.camp.Renew(r.Context(), ref, stateOf(r).user.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"mission": ref.Mission, "id": ref.ID, "lease_until": rfc3339(until)})
}

// handleAPIRelease serves POST /api/v1/contacts/{id}/release: the caller
// gives the contact back to the queue without qualifying it.
func (s *Server) handleAPIRelease(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.contactRef(r)
	if err != nil {
		return err
	}
	if err := s.camp.Release(r.Context(), ref, stateOf(r).user.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiWhy is the answer of GET /api/v1/contacts/{id}/why.
type apiWhy struct {
	Mission  int           `json:"mission"`
	ID       string        `json:"id"`
	At       string        `json:"at"`
	Callable bool          `json:"callable"`
	Rule     campaign.Rule `json:"rule,omitempty"`
	Message  string        `json:"message,omitempty"`
	// Next is when the contact becomes callable; absent when something must
	// change first (consent, opposition list, a closed file).
	Next string `json:"next,omitempty"`
}

// handleAPIWhy serves GET /api/v1/contacts/{id}/why[?at=RFC3339]: whether
// the contact is callable at that instant (now by default) and, if not,
// the rule that holds it back and when it becomes callable.
func (s *Server) handleAPIWhy(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.contactRef(r)
	if err != nil {
		return err
	}
	at, err := queryTime(r, "at")
	if err != nil {
		return err
	}
	if err := s.missionAccess(r, ref.Mission); err != nil {
		return err
	}
	if at.IsZero() {
		at = s.now()
	}
	v, err := s.camp.Why(r.Context(), ref, at)
	if err != nil {
		return err
	}
	out := apiWhy{Mission: ref.Mission, ID: ref.ID, At: rfc3339(at), Callable: v.Callable}
	if !v.Callable {
		out.Rule, out.Message, out.Next = v.Rule, v.Message, rfc3339(v.Next)
	}
	return writeJSON(w, http.StatusOK, out)
}

// apiConsent is the body of POST /api/v1/contacts/{id}/consent.
type apiConsent struct {
	At     string `json:"at"`
	Source string `json:"source"`
	Text   string `json:"text"`
}

// handleAPIConsent serves POST /api/v1/contacts/{id}/consent: the proof of
// the person's prior consent (date, source, wording), required to call
// them in consumer prospecting since 11 August 2026.
func (s *Server) handleAPIConsent(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.contactRef(r)
	if err != nil {
		return err
	}
	var c apiConsent
	if err := decodeJSON(r, &c, false); err != nil {
		return err
	}
	at, err := parseAPITime("at", c.At)
	if err != nil {
		return err
	}
	if err := s.camp.SetConsent(r.Context(), ref, campaign.Consent{At: at, Source: c.Source, Text: c.Text}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"mission": ref.Mission, "id": ref.ID, "consent_at": rfc3339(at)})
}
