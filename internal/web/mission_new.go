package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// missionNew is the new mission form, as typed.
type missionNew struct {
	Number, Name, Client, Regime, YAML string
	Problems                           []ingest.Problem
}

// handleMissionNewForm serves GET /missions/new (IT, administrators).
func (s *Server) handleMissionNewForm(w http.ResponseWriter, r *http.Request) error {
	return s.renderMissionNew(w, r, http.StatusOK, "", missionNew{Regime: string(campaign.RegimeB2B)})
}

func (s *Server) renderMissionNew(w http.ResponseWriter, r *http.Request, status int, errKey string, data missionNew) error {
	return s.render(w, r, status, "mission_new", page{Title: "mission.new.title", Section: "missions", Error: errKey, Data: data})
}

// handleMissionNew serves POST /missions: a mission with the default
// settings and outcome codes, and its first profile when one is given.
func (s *Server) handleMissionNew(w http.ResponseWriter, r *http.Request) error {
	form := missionNew{
		Number: strings.TrimSpace(r.PostForm.Get("number")),
		Name:   strings.TrimSpace(r.PostForm.Get("name")),
		Client: strings.TrimSpace(r.PostForm.Get("client")),
		Regime: r.PostForm.Get("regime"),
		YAML:   strings.ReplaceAll(r.PostForm.Get("yaml"), "\r\n", "\n"),
	}
	refuse := func(key string) error { return s.renderMissionNew(w, r, http.StatusUnprocessableEntity, key, form) }
	number, err := strconv.Atoi(form.Number)
	switch {
	case err != nil || number <= 0:
		return refuse("mission.error.number")
	case form.Name == "":
		return refuse("mission.error.name")
	case !campaign.ValidRegime(campaign.Regime(form.Regime)):
		return refuse("mission.error.regime")
	}
	n := campaign.NewMission{Number: number, Name: form.Name, Client: form.Client, Regime: campaign.Regime(form.Regime)}
	if strings.TrimSpace(form.YAML) == "" {
		_, err = s.camp.CreateMission(r.Context(), n)
	} else {
		_, _, err = s.ingest.CreateMission(r.Context(), n, []byte(form.YAML))
	}
	var pe *ingest.ProfileError
	switch {
	case errors.As(err, &pe):
		form.Problems = pe.Problems
		return refuse("mission.error.profile")
	case errors.Is(err, campaign.ErrMissionExists):
		return refuse("mission.error.exists")
	case errors.Is(err, campaign.ErrInvalid):
		return refuse("mission.error.new_invalid")
	case err != nil:
		return fmt.Errorf("create mission %d: %w", number, err)
	}
	return redirect(w, r, fmt.Sprintf("/missions/%d?ok=mission_created", number))
}
