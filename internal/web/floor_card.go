package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
)

// The lease is renewed while the card is open: every 3 minutes, or more
// often when the mission's leases are short.
const (
	floorRenewEvery    = 3 * time.Minute
	floorRenewMinEvery = 20 * time.Second
)

// floorCallbackLayout is the value of a datetime-local input.
const floorCallbackLayout = "2006-01-02T15:04"

// floorMaxShortcuts is how many outcomes get a key (1 to 9).
const floorMaxShortcuts = 9

// floorCard is the contact card of the agent's screen.
type floorCard struct {
	Mission      int
	MissionName  string
	ID           string
	Phone        string
	PhoneType    string
	Attempts     int
	MaxAttempts  int
	LastOutcome  string
	Callback     string // when the contact is a callback
	CallbackMine bool
	Consent      string
	Fields       []floorField
	Script       []floorScriptPart
	// DefaultScript: the mission has no script; a greeting built from the
	// catalogue is shown, with the fields.
	DefaultScript bool
	AgentName     string
	History       []floorAttempt
	Outcomes      []floorOutcome
	Renewed       bool
	Manual        bool // dialled by hand: the next one comes from the same list
	RenewSeconds  int
	LeaseUntil    string
	TimeZone      string
	MinCallback   string
	// The qualification form, filled again after a refusal.
	Comment       string
	CallbackAt    string
	CallbackOwner string
}

type floorField struct {
	Name     string
	Value    string
	Personal bool
}

// floorScriptPart is a piece of the call script: text, or a field's value.
type floorScriptPart struct {
	Text    string
	Field   bool
	Missing bool // a placeholder naming no field
}

type floorAttempt struct {
	At       string
	Agent    string
	Outcome  string
	Attempt  int
	Counted  bool
	Callback string
	Comment  string
}

type floorOutcome struct {
	Code     string
	Label    string
	Key      string // keyboard shortcut, "" for none
	Closes   bool
	Callback bool
	Success  bool
}

// handleFloorNext serves POST /floor/next: the next contact of the mission
// (or of its manual-dialling list), leased to the agent, on its card.
func (s *Server) handleFloorNext(w http.ResponseWriter, r *http.Request) error {
	number, err := floorMissionNumber(r.PostForm.Get("mission"))
	if err != nil {
		return err
	}
	m, err := s.floorAgentMission(r, number)
	if err != nil {
		return err
	}
	return s.floorClaim(w, r, m, r.PostForm.Get("manual") == "1", floorData{})
}

// floorClaim claims the next contact and renders its card, or the
// reason there is none.
func (s *Server) floorClaim(w http.ResponseWriter, r *http.Request, m campaign.Mission, manual bool, data floorData) error {
	st := stateOf(r)
	ctx := r.Context()
	claim := s.camp.Claim
	if manual {
		claim = s.camp.ClaimManual
	}
	card, err := claim(ctx, m.Number, st.user.ID)
	var re *campaign.RuleError
	switch {
	case err == nil:
	case errors.Is(err, campaign.ErrNothingToCall):
		data.Nothing = "floor.nothing"
	case errors.As(err, &re):
		data.Nothing, data.Rule = "floor.nothing.rule", newFloorRule(re.Verdict, floorLoc(m))
	case errors.Is(err, campaign.ErrNotInService):
		data.Nothing = "floor.error.not_in_service"
	case errors.Is(err, campaign.ErrArchived):
		data.Nothing = "floor.error.archived"
	default:
		return fmt.Errorf("floor: claim on mission %d: %w", m.Number, err)
	}
	if err != nil {
		// Nothing in hand: the agent waits in service, not in a call.
		if data.Nothing != "floor.error.not_in_service" {
			if err := s.floorSetPresenceIf(ctx, m.Number, st.user.ID, campaign.PresenceService, campaign.PresenceCall, campaign.PresenceWrapUp); err != nil {
				return err
			}
		}
		return s.renderFloor(w, r, http.StatusOK, m.Number, "", data)
	}
	// A card in hand: the agent is in a call.
	if err := s.floorSetPresenceIf(ctx, m.Number, st.user.ID, campaign.PresenceCall, campaign.PresenceService, campaign.PresenceWrapUp); err != nil {
		return err
	}
	data.Card = s.buildFloorCard(ctx, st.user, m, card)
	return s.renderFloor(w, r, http.StatusOK, m.Number, "", data)
}

// floorSetPresenceIf moves the agent from one of the states in from to to,
// on the site they are on.
func (s *Server) floorSetPresenceIf(ctx context.Context, mission int, agent int64, to campaign.PresenceState, from ...campaign.PresenceState) error {
	pres, err := s.camp.AgentPresences(ctx, agent)
	if err != nil {
		return fmt.Errorf("floor: presence: %w", err)
	}
	for _, p := range pres {
		if p.Mission == mission && p.State != to && slices.Contains(from, p.State) {
			if err := s.camp.SetPresence(ctx, campaign.PresenceChange{Mission: mission, Agent: agent, State: to,
				Site: p.Site}); err != nil {
				return fmt.Errorf("floor: presence: %w", err)
			}
		}
	}
	return nil
}

// handleFloorQualify serves POST /floor/qualify: the outcome of the call,
// then at once the next contact. A callback at a time the rules forbid, or
// a missing or malformed one, keeps the card with the reason.
func (s *Server) handleFloorQualify(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	ctx := r.Context()
	f := r.PostForm
	number, err := floorMissionNumber(f.Get("mission"))
	if err != nil {
		return err
	}
	m, err := s.floorAgentMission(r, number)
	if err != nil {
		return err
	}
	ref := campaign.Ref{Mission: number, ID: f.Get("contact")}
	if ref.ID == "" {
		return badRequest(errors.New("qualify: no contact"))
	}
	loc := floorLoc(m)
	kept := floorCard{Comment: f.Get("comment"), CallbackAt: f.Get("callback_at"), CallbackOwner: f.Get("callback_owner")}
	q := campaign.Qualification{Outcome: f.Get("outcome"), Comment: kept.Comment}
	switch kept.CallbackOwner {
	case "me":
		q.CallbackOwner = campaign.CallbackMe
	case "anyone", "":
		q.CallbackOwner = campaign.CallbackAnyone
	default:
		return badRequest(fmt.Errorf("callback owner %q", kept.CallbackOwner))
	}
	if v := strings.TrimSpace(kept.CallbackAt); v != "" {
		at, err := time.ParseInLocation(floorCallbackLayout, v, loc)
		if err != nil {
			return s.floorKeepCard(w, r, m, ref, kept, floorData{Problem: "floor.error.callback_time"})
		}
		q.CallbackAt = at
	}
	res, err := s.camp.Qualify(ctx, ref, st.user.ID, q)
	var re *campaign.RuleError
	switch {
	case err == nil:
	case errors.As(err, &re):
		return s.floorKeepCard(w, r, m, ref, kept, floorData{Rule: newFloorRule(re.Verdict, loc)})
	case errors.Is(err, campaign.ErrCallbackRequired):
		return s.floorKeepCard(w, r, m, ref, kept, floorData{Problem: "floor.error.callback_required"})
	case errors.Is(err, campaign.ErrUnknownOutcome):
		return s.floorKeepCard(w, r, m, ref, kept, floorData{Problem: "floor.error.outcome"})
	case errors.Is(err, campaign.ErrInvalid):
		return s.floorKeepCard(w, r, m, ref, kept, floorData{Problem: "floor.error.invalid"})
	case errors.Is(err, campaign.ErrNotLeased), errors.Is(err, campaign.ErrLeasedByOther), errors.Is(err, campaign.ErrNotFound):
		return s.renderFloor(w, r, http.StatusConflict, number, "floor.error.not_leased", floorData{})
	case errors.Is(err, campaign.ErrClosed):
		return s.renderFloor(w, r, http.StatusConflict, number, "floor.error.closed", floorData{})
	default:
		return fmt.Errorf("floor: qualify: %w", err)
	}
	data := floorData{Done: res.Outcome}
	if o, ok := m.Outcome(res.Outcome); ok {
		data.Done = o.Label
	}
	return s.floorClaim(w, r, m, r.PostForm.Get("manual") == "1", data)
}

// floorKeepCard shows the card again after a refused qualification, with what
// the agent typed, provided the agent still holds the contact (a refused
// qualification must not open someone else's card).
func (s *Server) floorKeepCard(w http.ResponseWriter, r *http.Request, m campaign.Mission, ref campaign.Ref, kept floorCard, data floorData) error {
	st := stateOf(r)
	ctx := r.Context()
	info, err := s.camp.Info(ctx, ref)
	if errors.Is(err, campaign.ErrNotFound) {
		return s.renderFloor(w, r, http.StatusConflict, m.Number, "floor.error.not_leased", floorData{})
	}
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	if info.State != campaign.StateOpen || info.LeaseOwner != st.user.ID {
		return s.renderFloor(w, r, http.StatusConflict, m.Number, "floor.error.not_leased", floorData{})
	}
	card, err := s.camp.Card(ctx, ref)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	cv := s.buildFloorCard(ctx, st.user, m, card)
	cv.Comment, cv.CallbackAt, cv.CallbackOwner = kept.Comment, kept.CallbackAt, kept.CallbackOwner
	data.Card = cv
	return s.renderFloor(w, r, http.StatusUnprocessableEntity, m.Number, "", data)
}

// handleFloorRenew serves POST /floor/renew (the screen's script, while a
// card is open): the lease is extended; 409 when the agent lost it.
func (s *Server) handleFloorRenew(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	number, err := floorMissionNumber(r.PostForm.Get("mission"))
	if err != nil {
		return err
	}
	if _, err := s.floorAgentMission(r, number); err != nil {
		return err
	}
	ref := campaign.Ref{Mission: number, ID: r.PostForm.Get("contact")}
	until, err := s.camp.Renew(r.Context(), ref, st.user.ID)
	if errors.Is(err, campaign.ErrNotLeased) || errors.Is(err, campaign.ErrNotFound) {
		return floorJSON(w, http.StatusConflict, map[string]any{"renewed": false})
	}
	if err != nil {
		return fmt.Errorf("floor: renew: %w", err)
	}
	return floorJSON(w, http.StatusOK, map[string]any{"renewed": true, "lease_until": until.UTC().Format(time.RFC3339)})
}

// handleFloorCallbackCheck serves GET /floor/callback-check: whether the
// rules accept a callback on the contact at the time typed in the picker,
// so that the screen refuses it before the agent qualifies.
func (s *Server) handleFloorCallbackCheck(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	number, err := floorMissionNumber(q.Get("mission"))
	if err != nil {
		return err
	}
	m, err := s.floorAgentMission(r, number)
	if err != nil {
		return err
	}
	loc := floorLoc(m)
	at, err := time.ParseInLocation(floorCallbackLayout, q.Get("at"), loc)
	if err != nil {
		return floorJSON(w, http.StatusOK, map[string]any{"callable": false,
			"message": s.cat.text(stateOf(r).lang, "floor.error.callback_time")})
	}
	v, err := s.camp.CheckCallback(r.Context(), campaign.Ref{Mission: number, ID: q.Get("contact")}, at)
	if errors.Is(err, campaign.ErrNotFound) {
		return notFound(err)
	}
	if err != nil {
		return fmt.Errorf("floor: check callback: %w", err)
	}
	out := map[string]any{"callable": v.Callable}
	if !v.Callable {
		lang := stateOf(r).lang
		msg := s.cat.text(lang, ruleKey(v.Rule))
		if !v.Next.IsZero() {
			msg += " " + s.cat.text(lang, "floor.rule.next", floorTime(v.Next, loc))
		}
		out["message"] = msg
	}
	return floorJSON(w, http.StatusOK, out)
}

func floorJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// floorCard builds the card of a claimed (decrypted) contact.
func (s *Server) buildFloorCard(ctx context.Context, user *auth.User, m campaign.Mission, card campaign.Card) *floorCard {
	c := card.Contact
	loc := floorLoc(m)
	cv := &floorCard{
		Mission: m.Number, MissionName: m.Name, ID: c.ID, Phone: c.Phone, PhoneType: c.PhoneType,
		Attempts: c.Attempts, MaxAttempts: m.MaxAttempts, Renewed: card.Renewed, Manual: c.Routing == campaign.RoutingManual,
		LeaseUntil: floorTime(c.LeaseUntil, loc), TimeZone: m.TimeZone,
		MinCallback: s.now().In(loc).Add(time.Minute).Format(floorCallbackLayout),
	}
	if user != nil {
		cv.AgentName = user.Name
	}
	every := min(floorRenewEvery, m.Lease/3)
	cv.RenewSeconds = int(max(every, floorRenewMinEvery) / time.Second)
	labels := make(map[string]string, len(m.Outcomes))
	for i, o := range m.Outcomes {
		labels[o.Code] = o.Label
		ov := floorOutcome{Code: o.Code, Label: o.Label, Closes: o.Closes, Callback: o.Callback, Success: o.Success}
		if i < floorMaxShortcuts {
			ov.Key = strconv.Itoa(i + 1)
		}
		cv.Outcomes = append(cv.Outcomes, ov)
	}
	label := func(code string) string {
		if l, ok := labels[code]; ok {
			return l
		}
		return code
	}
	if c.LastOutcome != "" {
		cv.LastOutcome = label(c.LastOutcome)
	}
	if !c.CallbackAt.IsZero() {
		cv.Callback = floorTime(c.CallbackAt, loc)
		cv.CallbackMine = user != nil && c.CallbackOwner == user.ID
	}
	if c.Consent != nil {
		cv.Consent = floorTime(c.Consent.At, loc) + " — " + c.Consent.Source
	}
	personal := make(map[string]bool, len(c.Personal))
	for _, p := range c.Personal {
		personal[p] = true
	}
	names := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		cv.Fields = append(cv.Fields, floorField{Name: k, Value: c.Fields[k], Personal: personal[k]})
	}
	if strings.TrimSpace(m.Script) == "" {
		cv.DefaultScript = true
	} else {
		cv.Script = floorFillScript(m.Script, func(name string) (string, bool) {
			switch v, ok := c.Fields[name]; {
			case ok:
				return v, true
			case name == "phone":
				return c.Phone, true
			case name == "agent":
				return cv.AgentName, true
			case name == "mission":
				return m.Name, true
			}
			return "", false
		})
	}
	agents := map[int64]string{}
	for _, a := range card.History {
		h := floorAttempt{At: floorTime(a.At, loc), Agent: s.floorAgentName(ctx, a.Agent, agents), Outcome: label(a.Outcome),
			Attempt: a.Attempt, Counted: a.Counted, Comment: a.Comment}
		if !a.CallbackAt.IsZero() {
			h.Callback = floorTime(a.CallbackAt, loc)
		}
		cv.History = append(cv.History, h)
	}
	return cv
}

// floorAgentName is a user's display name, read once per card; "#id" when the
// user is gone.
func (s *Server) floorAgentName(ctx context.Context, id int64, cache map[int64]string) string {
	if n, ok := cache[id]; ok {
		return n
	}
	n := "#" + strconv.FormatInt(id, 10)
	if u, err := s.auth.User(ctx, id); err == nil {
		n = u.Name
	}
	cache[id] = n
	return n
}

// floorFillScript splits a call script into text and the values of its
// placeholders, written {{field}} (spaces allowed inside the braces). The
// template escapes every part; a placeholder naming nothing shows as is.
func floorFillScript(script string, value func(name string) (string, bool)) []floorScriptPart {
	var parts []floorScriptPart
	rest := script
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			break
		}
		if i > 0 {
			parts = append(parts, floorScriptPart{Text: rest[:i]})
		}
		name := strings.TrimSpace(rest[i+2 : i+2+j])
		if v, ok := value(name); ok {
			parts = append(parts, floorScriptPart{Text: v, Field: true})
		} else {
			parts = append(parts, floorScriptPart{Text: rest[i : i+2+j+2], Missing: true})
		}
		rest = rest[i+2+j+2:]
	}
	if rest != "" {
		parts = append(parts, floorScriptPart{Text: rest})
	}
	return parts
}
