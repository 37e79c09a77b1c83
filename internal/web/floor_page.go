package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"plateau/internal/campaign"
)

// floorMission is one of the agent's missions with their state on it.
type floorMission struct {
	Number    int
	Name      string
	State     campaign.PresenceState
	StateKey  string
	PauseCode string
	Since     time.Time
	Selected  bool
}

// InService says whether the agent may ask for the next contact.
func (m floorMission) InService() bool {
	return m.State == campaign.PresenceService || m.State == campaign.PresenceCall || m.State == campaign.PresenceWrapUp
}

// floorData is the agent's screen.
type floorData struct {
	Missions   []floorMission
	Mission    *floorMission // the chosen one
	PauseCodes []campaign.PauseCode
	Card       *floorCard
	// Done names the outcome just recorded (its label).
	Done string
	// Nothing says why no contact is shown after a claim (catalogue key).
	Nothing string
	// Rule is the calling rule that stopped a claim or a callback.
	Rule *floorRule
	// Problem is an error about the card (catalogue key), shown with it.
	Problem string
}

// handleFloor serves GET /floor: the agent's missions, their presence on
// the chosen one, and the button for the next contact.
func (s *Server) handleFloor(w http.ResponseWriter, r *http.Request) error {
	number := 0
	if v := r.URL.Query().Get("mission"); v != "" {
		n, err := floorMissionNumber(v)
		if err != nil {
			return err
		}
		number = n
	}
	return s.renderFloor(w, r, http.StatusOK, number, "", floorData{})
}

// renderFloor fills the missions and presence of the page and renders it
// with status; number is the chosen mission (0: guess one).
func (s *Server) renderFloor(w http.ResponseWriter, r *http.Request, status, number int, errKey string, data floorData) error {
	st := stateOf(r)
	ctx := r.Context()
	missions, err := s.camp.Missions(ctx, campaign.MissionFilter{Member: st.user.ID})
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	pres, err := s.camp.AgentPresences(ctx, st.user.ID)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	byMission := make(map[int]campaign.AgentPresence, len(pres))
	for _, p := range pres {
		byMission[p.Mission] = p
	}
	data.Missions = make([]floorMission, 0, len(missions))
	found := false
	for _, m := range missions {
		fm := floorMission{Number: m.Number, Name: m.Name, State: campaign.PresenceOffline}
		if p, ok := byMission[m.Number]; ok {
			fm.State, fm.PauseCode, fm.Since = p.State, p.PauseCode, p.Since
		}
		fm.StateKey = floorPresenceKey(fm.State)
		data.Missions = append(data.Missions, fm)
		found = found || m.Number == number
	}
	if number != 0 && !found {
		return notFound(fmt.Errorf("mission %d is not one of the agent's", number))
	}
	if number == 0 {
		// The mission the agent works on, else the only one.
		for _, m := range data.Missions {
			if m.State != campaign.PresenceOffline {
				number = m.Number
				break
			}
		}
		if number == 0 && len(data.Missions) == 1 {
			number = data.Missions[0].Number
		}
	}
	for i := range data.Missions {
		if data.Missions[i].Number == number {
			data.Missions[i].Selected = true
			m := data.Missions[i]
			data.Mission = &m
		}
	}
	if data.Mission != nil {
		// The pause codes of the agent's site (the default set without one).
		if data.PauseCodes, err = s.camp.PauseCodes(ctx, byMission[data.Mission.Number].Site); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	return s.render(w, r, status, "floor", page{Title: "floor.title", Section: "floor", Error: errKey, Data: data})
}

// floorPresenceStates are the states the agent's screen may set.
var floorPresenceStates = map[string]campaign.PresenceState{
	"service": campaign.PresenceService,
	"pause":   campaign.PresencePause,
	"offline": campaign.PresenceOffline,
	"call":    campaign.PresenceCall,
	"wrapup":  campaign.PresenceWrapUp,
}

// handleFloorPresence serves POST /floor/presence: in service, on pause
// (with a pause code), back, or offline on one mission. The screen's
// script posts here too (wrap-up) and gets 204.
func (s *Server) handleFloorPresence(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	number, err := floorMissionNumber(r.PostForm.Get("mission"))
	if err != nil {
		return err
	}
	if _, err := s.floorAgentMission(r, number); err != nil {
		return err
	}
	state, ok := floorPresenceStates[r.PostForm.Get("state")]
	if !ok {
		return badRequest(fmt.Errorf("presence state %q", r.PostForm.Get("state")))
	}
	site, err := s.floorSite(r.Context(), number, st.user.ID)
	if err != nil {
		return err
	}
	err = s.camp.SetPresence(r.Context(), campaign.PresenceChange{Mission: number, Agent: st.user.ID, State: state,
		PauseCode: strings.TrimSpace(r.PostForm.Get("pause_code")), Site: site})
	switch {
	case errors.Is(err, campaign.ErrInvalid):
		if floorWantsJSON(r) {
			return badRequest(err)
		}
		return s.renderFloor(w, r, http.StatusUnprocessableEntity, number, "floor.error.pause_code", floorData{})
	case errors.Is(err, campaign.ErrNotMember):
		return forbidden(err)
	case err != nil:
		return fmt.Errorf("floor presence: %w", err)
	}
	if floorWantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return redirect(w, r, "/floor?mission="+strconv.Itoa(number)+"&ok=floor_presence")
}

// handleFloorOffline serves POST /floor/offline: the agent ends their shift,
// offline on every mission, their leases back in the queue.
func (s *Server) handleFloorOffline(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	if err := s.camp.GoOffline(r.Context(), st.user.ID); err != nil {
		return fmt.Errorf("floor offline: %w", err)
	}
	return redirect(w, r, "/floor?ok=floor_offline")
}

// floorSite is the site the agent's presence on the mission carries ("":
// the default); the screen keeps it as it changes the state.
func (s *Server) floorSite(ctx context.Context, mission int, agent int64) (string, error) {
	pres, err := s.camp.AgentPresences(ctx, agent)
	if err != nil {
		return "", fmt.Errorf("floor: presence: %w", err)
	}
	for _, p := range pres {
		if p.Mission == mission {
			return p.Site, nil
		}
	}
	return "", nil
}
