package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// profilePage is the profile editor, and the preview of an upload (the
// same preview, with a "Load" button instead of the editor).
type profilePage struct {
	Mission campaign.Mission
	Upload  bool // the upload's preview
	Version int  // the active profile's version; 0: none yet
	YAML    string
	// Problems are the profile's validation messages (line and key);
	// Checked says the YAML was checked and is valid.
	Problems []ingest.Problem
	Checked  bool
	Preview  *previewData
	// SampleName is the sample file the editor's preview ran on.
	SampleName string
	// The upload waiting for its "Load"; UploadID is empty when the file
	// cannot be loaded with this profile.
	UploadID   string
	UploadName string
	UploadSize int64
	Expires    time.Time
}

// handleProfileForm serves GET /missions/{number}/profile (IT,
// administrators): the active profile's YAML in the editor.
func (s *Server) handleProfileForm(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	data := profilePage{Mission: m}
	sp, err := s.ingest.ActiveProfile(r.Context(), m.Number)
	switch {
	case err == nil:
		data.Version, data.YAML = sp.Version, sp.YAML
	case !errors.Is(err, ingest.ErrNoProfile):
		return fmt.Errorf("profile of mission %d: %w", m.Number, err)
	}
	return s.render(w, r, http.StatusOK, "profile", page{Title: "profile.title", Section: "missions", Data: data})
}

// handleProfilePost serves POST /missions/{number}/profile (multipart):
// action "save" stores the YAML as the mission's next version; action
// "preview" checks it and, with a sample file, shows what it makes of the
// file without writing anything.
func (s *Server) handleProfilePost(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.sweepUploads(ctx)
	var sample *pendingUpload
	values, err := s.readMultipart(w, r, func(field, filename string, part io.Reader) error {
		if field != "sample" || sample != nil {
			return nil
		}
		// The sample is kept sealed like an upload while it is read.
		stored, err := s.storeUpload(ctx, pendingUpload{Mission: m.Number, Name: ingest.SanitizeName(filename),
			User: stateOf(r).user.ID}, part)
		if err != nil {
			return readError("store sample", err)
		}
		sample = &stored
		return nil
	})
	if sample != nil {
		defer s.dropUpload(ctx, sample.ID, "upload")
	}
	if err != nil {
		return err
	}
	yaml := strings.ReplaceAll(values.Get("yaml"), "\r\n", "\n") // a textarea sends CRLF
	data := profilePage{Mission: m, YAML: yaml}
	if sp, err := s.ingest.ActiveProfile(ctx, m.Number); err == nil {
		data.Version = sp.Version
	} else if !errors.Is(err, ingest.ErrNoProfile) {
		return fmt.Errorf("profile of mission %d: %w", m.Number, err)
	}
	invalid := func(err error) error {
		var pe *ingest.ProfileError
		if !errors.As(err, &pe) {
			return err
		}
		data.Problems = pe.Problems
		return s.render(w, r, http.StatusUnprocessableEntity, "profile",
			page{Title: "profile.title", Section: "missions", Error: "profile.error.invalid", Data: data})
	}
	switch values.Get("action") {
	case "save":
		_, err := s.ingest.StoreProfile(ctx, m.Number, []byte(yaml))
		if err != nil {
			if err := invalid(err); err != nil {
				return fmt.Errorf("store the profile of mission %d: %w", m.Number, err)
			}
			return nil
		}
		return redirect(w, r, fmt.Sprintf("/missions/%d/profile?ok=profile_saved", m.Number))
	case "preview":
		p, err := ingest.LoadProfile([]byte(yaml))
		if err == nil && p.Mission.Number != 0 && p.Mission.Number != m.Number {
			err = &ingest.ProfileError{Problems: []ingest.Problem{{Path: "mission.number",
				Message: fmt.Sprintf("the profile is for mission %d, not mission %d", p.Mission.Number, m.Number)}}}
		}
		if err != nil {
			return invalid(err)
		}
		data.Checked = true
		if sample != nil && sample.Size > 0 {
			data.SampleName = sample.Name
			if data.Preview, err = s.previewUpload(ctx, p, m, sample.ID, "upload"); err != nil {
				return fmt.Errorf("preview the profile of mission %d: %w", m.Number, err)
			}
		}
		return s.render(w, r, http.StatusOK, "profile", page{Title: "profile.title", Section: "missions", Data: data})
	default:
		return badRequest(fmt.Errorf("profile action %q", values.Get("action")))
	}
}
