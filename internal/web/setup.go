package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"plateau/internal/auth"
)

// setupData fills the setup form again after a failure (never the password).
type setupData struct {
	Login string
	Name  string
}

// handleSetupForm serves GET /setup/{token}: the first administrator's form,
// or a page saying the link is spent.
func (s *Server) handleSetupForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.auth.CheckSetupToken(r.Context(), r.PathValue("token")); err != nil {
		if errors.Is(err, auth.ErrSetupDone) || errors.Is(err, auth.ErrNotFound) {
			return s.setupGone(w, r)
		}
		return fmt.Errorf("check setup token: %w", err)
	}
	s.ensurePreSession(w, r)
	return s.render(w, r, http.StatusOK, "setup", page{Title: "setup.title", Data: setupData{}})
}

// handleSetup serves POST /setup/{token}: it creates the first administrator
// and signs them in at the enrolment stage, TOTP being mandatory for admins.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) error {
	data := setupData{
		Login: strings.TrimSpace(r.PostForm.Get("login")),
		Name:  strings.TrimSpace(r.PostForm.Get("name")),
	}
	password := r.PostForm.Get("password")
	fail := func(status int, key string) error {
		s.ensurePreSession(w, r)
		return s.render(w, r, status, "setup", page{Title: "setup.title", Error: key, Data: data})
	}
	if data.Name == "" {
		return fail(http.StatusUnprocessableEntity, "user.error.name_required")
	}
	if password != r.PostForm.Get("confirm") {
		return fail(http.StatusUnprocessableEntity, "password.error.mismatch")
	}
	_, token, err := s.auth.CompleteSetup(r.Context(), r.PathValue("token"), auth.NewUser{
		Login:    data.Login,
		Name:     data.Name,
		Roles:    []auth.Role{auth.RoleAdmin},
		Password: password,
	})
	if err != nil {
		if errors.Is(err, auth.ErrSetupDone) || errors.Is(err, auth.ErrNotFound) {
			return s.setupGone(w, r)
		}
		if key, status, ok := authMessage(err); ok {
			return fail(status, key)
		}
		return fmt.Errorf("complete setup: %w", err)
	}
	s.startSession(w, r, token)
	return redirect(w, r, "/account/totp")
}

// setupGone answers a spent or unknown setup link with 410 Gone.
func (s *Server) setupGone(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusGone, "setup_gone", page{Title: "setup.gone.title"})
}
