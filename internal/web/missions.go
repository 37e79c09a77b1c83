package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// routesMissions registers missions, their profiles and settings, batches and uploads.
func (s *Server) routesMissions(mux *http.ServeMux) {
	viewers := []auth.Role{auth.RoleSupervisor, auth.RoleIT, auth.RoleAdmin}
	managers := []auth.Role{auth.RoleSupervisor, auth.RoleAdmin} // settings and members
	loaders := []auth.Role{auth.RoleIT, auth.RoleAdmin}          // profiles, uploads, quarantine, re-runs

	s.route(mux, "GET /missions", signedIn, s.handleMissions, viewers...)
	s.route(mux, "GET /missions/new", signedIn, s.handleMissionNewForm, loaders...)
	s.route(mux, "POST /missions", signedIn, s.handleMissionNew, loaders...)
	s.route(mux, "GET /missions/{number}", signedIn, s.handleMission, viewers...)
	s.route(mux, "POST /missions/{number}/settings", signedIn, s.handleMissionSettings, managers...)
	s.route(mux, "POST /missions/{number}/members", signedIn, s.handleMissionMemberAdd, managers...)
	s.route(mux, "POST /missions/{number}/members/{id}/remove", signedIn, s.handleMissionMemberRemove, managers...)

	s.route(mux, "GET /missions/{number}/profile", signedIn, s.handleProfileForm, loaders...)
	// Multipart forms (a sample file, an upload): their CSRF token is the
	// first part of the stream (the uploading access).
	s.route(mux, "POST /missions/{number}/profile", uploading, s.handleProfilePost, loaders...)
	s.route(mux, "POST /missions/{number}/uploads", uploading, s.handleUpload, loaders...)
	s.route(mux, "POST /missions/{number}/uploads/{id}/load", signedIn, s.handleUploadLoad, loaders...)

	s.route(mux, "GET /batches", signedIn, s.handleBatches, viewers...)
	s.route(mux, "GET /batches/{id}", signedIn, s.handleBatch, viewers...)
	s.route(mux, "GET /batches/{id}/progress.json", signedIn, s.handleBatchProgress, viewers...)
	s.route(mux, "GET /batches/{id}/quarantine.csv", signedIn, s.handleQuarantineCSV, loaders...)
	s.route(mux, "POST /batches/{id}/rerun", signedIn, s.handleBatchRerun, loaders...)
}

// missionRow is one line of the missions list.
type missionRow struct {
	campaign.Mission
	Stats     *campaign.MissionStats // nil when they could not be computed
	LastBatch *ingest.Batch
}

// handleMissions serves GET /missions: every mission with its counts and
// its latest batch.
func (s *Server) handleMissions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// Uploads left waiting are swept here too, not only at the next upload.
	s.sweepUploads(ctx)
	missions, err := s.camp.Missions(ctx, campaign.MissionFilter{IncludeArchived: true})
	if err != nil {
		return fmt.Errorf("list missions: %w", err)
	}
	rows := make([]missionRow, 0, len(missions))
	for _, m := range missions {
		row := missionRow{Mission: m}
		if st, err := s.camp.Stats(ctx, m.Number); err == nil {
			row.Stats = &st
		} else {
			// The list stays useful without the counts of one mission.
			s.log.WarnContext(ctx, "web: mission stats", "mission", m.Number, "error", err.Error())
		}
		last, err := s.ingest.Batches(ctx, ingest.BatchFilter{Mission: m.Number, Limit: 1})
		if err != nil {
			return fmt.Errorf("list missions: %w", err)
		}
		if len(last) > 0 {
			row.LastBatch = &last[0]
		}
		rows = append(rows, row)
	}
	return s.render(w, r, http.StatusOK, "missions", page{Title: "missions.title", Section: "missions", Data: rows})
}

// pathMission loads the mission named by {number}.
func (s *Server) pathMission(r *http.Request) (campaign.Mission, error) {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || n <= 0 {
		return campaign.Mission{}, notFound(fmt.Errorf("mission number %q", r.PathValue("number")))
	}
	m, err := s.camp.Mission(r.Context(), n)
	if errors.Is(err, campaign.ErrNotFound) {
		return campaign.Mission{}, notFound(err)
	}
	if err != nil {
		return campaign.Mission{}, fmt.Errorf("load mission %d: %w", n, err)
	}
	return m, nil
}
