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
	"plateau/internal/ingest"
)

// missionBatches is how many batches the mission page lists.
const missionBatches = 10

// missionSettings is the settings form, as typed.
type missionSettings struct {
	Windows      string
	HolidaysOpen bool
	TimeZone     string
	MaxAttempts  string
}

// outcomeRow is an outcome code with its retry delay written for people.
type outcomeRow struct {
	campaign.Outcome
	Retry string // "24 h", "90 min"; "" when none
}

func retryText(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	default:
		return fmt.Sprintf("%d min", (d+time.Minute-1)/time.Minute)
	}
}

// missionPage is the mission page.
type missionPage struct {
	Mission  campaign.Mission
	Outcomes []outcomeRow
	Stats    *campaign.MissionStats
	Settings missionSettings
	Members  []auth.User
	Login    string // the add-member form, filled again after a failure
	Profile  *ingest.StoredProfile
	Batches  []batchView
	// CanManage: settings and members (supervisors, administrators);
	// CanLoad: profile and uploads (IT, administrators).
	CanManage, CanLoad bool
	MaxUploadMiB       int
}

// handleMission serves GET /missions/{number}.
func (s *Server) handleMission(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	return s.renderMission(w, r, http.StatusOK, "", m, nil, "")
}

// renderMission shows the mission page; settings and login, when given,
// are the forms as the user typed them (after a refusal).
func (s *Server) renderMission(w http.ResponseWriter, r *http.Request, status int, errKey string, m campaign.Mission, settings *missionSettings, login string) error {
	ctx := r.Context()
	u := stateOf(r).user
	data := missionPage{
		Mission:      m,
		Login:        login,
		CanManage:    u.Has(auth.RoleSupervisor) || u.Has(auth.RoleAdmin),
		CanLoad:      u.Has(auth.RoleIT) || u.Has(auth.RoleAdmin),
		MaxUploadMiB: maxUploadBytes >> 20,
	}
	for _, o := range m.Outcomes {
		data.Outcomes = append(data.Outcomes, outcomeRow{Outcome: o, Retry: retryText(o.RetryAfter)})
	}
	if settings != nil {
		data.Settings = *settings
	} else {
		data.Settings = missionSettings{Windows: m.Windows.String(), HolidaysOpen: m.HolidaysOpen, TimeZone: m.TimeZone,
			MaxAttempts: strconv.Itoa(m.MaxAttempts)}
	}
	if st, err := s.camp.Stats(ctx, m.Number); err == nil {
		data.Stats = &st
	} else {
		s.log.WarnContext(ctx, "web: mission stats", "mission", m.Number, "error", err.Error())
	}
	ids, err := s.camp.Members(ctx, m.Number)
	if err != nil {
		return fmt.Errorf("mission page %d: %w", m.Number, err)
	}
	for _, id := range ids {
		mu, err := s.auth.User(ctx, id)
		if err != nil {
			return fmt.Errorf("mission page %d: member %d: %w", m.Number, id, err)
		}
		data.Members = append(data.Members, mu)
	}
	sp, err := s.ingest.ActiveProfile(ctx, m.Number)
	switch {
	case err == nil:
		data.Profile = &sp
	case !errors.Is(err, ingest.ErrNoProfile):
		return fmt.Errorf("mission page %d: %w", m.Number, err)
	}
	batches, err := s.ingest.Batches(ctx, ingest.BatchFilter{Mission: m.Number, Limit: missionBatches})
	if err != nil {
		return fmt.Errorf("mission page %d: %w", m.Number, err)
	}
	for _, b := range batches {
		data.Batches = append(data.Batches, s.batchView(b, m.Name))
	}
	return s.render(w, r, status, "mission", page{Title: "mission.title", Section: "missions", Error: errKey, Data: data})
}

// handleMissionSettings serves POST /missions/{number}/settings: the
// calling windows, holidays, time zone and maximum attempts.
func (s *Server) handleMissionSettings(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	form := missionSettings{
		Windows:      strings.TrimSpace(r.PostForm.Get("windows")),
		HolidaysOpen: r.PostForm.Get("holidays") == "open",
		TimeZone:     strings.TrimSpace(r.PostForm.Get("timezone")),
		MaxAttempts:  strings.TrimSpace(r.PostForm.Get("max_attempts")),
	}
	refuse := func(key string) error {
		return s.renderMission(w, r, http.StatusUnprocessableEntity, key, m, &form, "")
	}
	if h := r.PostForm.Get("holidays"); h != "open" && h != "closed" {
		return refuse("mission.error.holidays")
	}
	if _, err := campaign.ParseWindows(form.Windows); err != nil {
		return refuse("mission.error.windows")
	}
	if _, err := time.LoadLocation(form.TimeZone); err != nil || form.TimeZone == "" || form.TimeZone == "Local" {
		return refuse("mission.error.timezone")
	}
	attempts, err := strconv.Atoi(form.MaxAttempts)
	if err != nil || attempts < 1 || attempts > 100 {
		return refuse("mission.error.max_attempts")
	}
	_, err = s.camp.UpdateMission(r.Context(), m.Number, campaign.MissionUpdate{
		Windows: &form.Windows, HolidaysOpen: &form.HolidaysOpen, TimeZone: &form.TimeZone, MaxAttempts: &attempts,
	})
	if errors.Is(err, campaign.ErrInvalid) {
		return refuse("mission.error.invalid")
	}
	if err != nil {
		return fmt.Errorf("update mission %d: %w", m.Number, err)
	}
	return redirect(w, r, fmt.Sprintf("/missions/%d?ok=mission_saved", m.Number))
}

// handleMissionMemberAdd serves POST /missions/{number}/members: assigns
// an agent or a supervisor, by login.
func (s *Server) handleMissionMemberAdd(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	login := strings.TrimSpace(r.PostForm.Get("login"))
	u, err := s.auth.UserByLogin(r.Context(), login)
	if errors.Is(err, auth.ErrNotFound) || (err == nil && u.Disabled) {
		return s.renderMission(w, r, http.StatusUnprocessableEntity, "mission.error.member_unknown", m, nil, login)
	}
	if err != nil {
		return fmt.Errorf("assign to mission %d: %w", m.Number, err)
	}
	if !u.Has(auth.RoleAgent) && !u.Has(auth.RoleSupervisor) {
		return s.renderMission(w, r, http.StatusUnprocessableEntity, "mission.error.member_role", m, nil, login)
	}
	if err := s.camp.Assign(r.Context(), m.Number, u.ID); err != nil {
		return fmt.Errorf("assign user %d to mission %d: %w", u.ID, m.Number, err)
	}
	return redirect(w, r, fmt.Sprintf("/missions/%d?ok=mission_member_added#members", m.Number))
}

// handleMissionMemberRemove serves POST /missions/{number}/members/{id}/remove.
func (s *Server) handleMissionMemberRemove(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound(fmt.Errorf("user id %q", r.PathValue("id")))
	}
	if err := s.camp.Unassign(r.Context(), m.Number, id); err != nil {
		return fmt.Errorf("unassign user %d from mission %d: %w", id, m.Number, err)
	}
	return redirect(w, r, fmt.Sprintf("/missions/%d?ok=mission_member_removed#members", m.Number))
}
