package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
)

// routesFloor registers the agent's screen and the supervisor's live view.
// The live view's hubs (one computation per mission shared by every viewer)
// belong to this registration: the handlers capture them, no state lives at
// package level.
func (s *Server) routesFloor(mux *http.ServeMux) {
	agent := []auth.Role{auth.RoleAgent}
	s.route(mux, "GET /floor", signedIn, s.handleFloor, agent...)
	s.route(mux, "POST /floor/presence", signedIn, s.handleFloorPresence, agent...)
	s.route(mux, "POST /floor/offline", signedIn, s.handleFloorOffline, agent...)
	s.route(mux, "POST /floor/next", signedIn, s.handleFloorNext, agent...)
	s.route(mux, "POST /floor/qualify", signedIn, s.handleFloorQualify, agent...)
	s.route(mux, "POST /floor/renew", signedIn, s.handleFloorRenew, agent...)
	s.route(mux, "GET /floor/callback-check", signedIn, s.handleFloorCallbackCheck, agent...)

	hubs := newLiveHubs(s.computeLiveSnapshot, liveInterval, s.log)
	supervisors := []auth.Role{auth.RoleSupervisor, auth.RoleAdmin}
	s.route(mux, "GET /live", signedIn, s.handleLive, supervisors...)
	s.route(mux, "GET /live/events", signedIn, func(w http.ResponseWriter, r *http.Request) error {
		return s.handleLiveEvents(w, r, hubs)
	}, supervisors...)
}

// floorMissionNumber reads a mission number from a form or query value.
func floorMissionNumber(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0, badRequest(fmt.Errorf("mission number %q", v))
	}
	return n, nil
}

// floorAgentMission returns a mission the signed-in agent is assigned to: 404
// for a mission that does not exist, 403 for someone else's.
func (s *Server) floorAgentMission(r *http.Request, number int) (campaign.Mission, error) {
	st := stateOf(r)
	ctx := r.Context()
	ok, err := s.camp.IsMember(ctx, number, st.user.ID)
	if err != nil {
		return campaign.Mission{}, fmt.Errorf("floor: %w", err)
	}
	m, err := s.camp.Mission(ctx, number)
	if errors.Is(err, campaign.ErrNotFound) {
		return campaign.Mission{}, notFound(err)
	}
	if err != nil {
		return campaign.Mission{}, fmt.Errorf("floor: %w", err)
	}
	if !ok {
		return campaign.Mission{}, forbidden(fmt.Errorf("user %d is not assigned to mission %d", st.user.ID, number))
	}
	return m, nil
}

// floorRuleKeys are the catalogue texts of the calling rules.
var floorRuleKeys = map[campaign.Rule]string{
	campaign.RuleClosed:          "floor.rule.closed",
	campaign.RuleArchived:        "floor.rule.archived",
	campaign.RuleOppositionStale: "floor.rule.opposition_stale",
	campaign.RuleOpposition:      "floor.rule.opposition",
	campaign.RuleConsent:         "floor.rule.consent",
	campaign.RuleRefusalSilence:  "floor.rule.refusal_silence",
	campaign.RuleAttemptCap:      "floor.rule.attempt_cap",
	campaign.RulePersonBusy:      "floor.rule.person_busy",
	campaign.RuleLegalHoliday:    "floor.rule.legal_holiday",
	campaign.RuleLegalHours:      "floor.rule.legal_hours",
	campaign.RuleHoliday:         "floor.rule.holiday",
	campaign.RuleWindow:          "floor.rule.window",
	campaign.RuleLeased:          "floor.rule.leased",
	campaign.RuleCallback:        "floor.rule.callback",
	campaign.RuleRetryDelay:      "floor.rule.retry_delay",
	campaign.RuleScheduled:       "floor.rule.scheduled",
}

// ruleKey is the catalogue text of a rule.
func ruleKey(r campaign.Rule) string {
	if k, ok := floorRuleKeys[r]; ok {
		return k
	}
	return "floor.rule.other"
}

// floorStateKeys are the catalogue texts of the presence states.
var floorStateKeys = map[campaign.PresenceState]string{
	campaign.PresenceOffline: "floor.state.offline",
	campaign.PresenceService: "floor.state.service",
	campaign.PresenceCall:    "floor.state.call",
	campaign.PresenceWrapUp:  "floor.state.wrapup",
	campaign.PresencePause:   "floor.state.pause",
}

func floorPresenceKey(p campaign.PresenceState) string {
	if k, ok := floorStateKeys[p]; ok {
		return k
	}
	return "floor.state.offline"
}

// floorRule is a rule that refused something, for a page: its text and,
// when known, when it lets go (in the mission's time zone).
type floorRule struct {
	Key  string
	Next string
}

func newFloorRule(v campaign.Verdict, loc *time.Location) *floorRule {
	rv := &floorRule{Key: ruleKey(v.Rule)}
	if !v.Next.IsZero() {
		rv.Next = floorTime(v.Next, loc)
	}
	return rv
}

// floorTime shows an instant in a mission's time zone.
func floorTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// floorLoc is a mission's time zone (Paris if it cannot be read).
func floorLoc(m campaign.Mission) *time.Location {
	if loc, err := time.LoadLocation(m.TimeZone); err == nil {
		return loc
	}
	if loc, err := time.LoadLocation(campaign.DefaultTimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// floorWantsJSON tells the floor's script calls (fetch) from form posts.
func floorWantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}
