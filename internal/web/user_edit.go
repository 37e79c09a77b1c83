package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"plateau/internal/auth"
)

// userEdit is the user administration page.
type userEdit struct {
	User  auth.User
	Roles map[auth.Role]bool
	All   []auth.Role
	Self  bool // the administrator is looking at their own account
}

// handleUserEdit serves GET /users/{id} (administrators).
func (s *Server) handleUserEdit(w http.ResponseWriter, r *http.Request) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	return s.renderUserEdit(w, r, http.StatusOK, "", u)
}

func (s *Server) renderUserEdit(w http.ResponseWriter, r *http.Request, status int, errKey string, u auth.User) error {
	data := userEdit{User: u, Roles: map[auth.Role]bool{}, All: auth.AllRoles, Self: stateOf(r).user.ID == u.ID}
	for _, role := range u.Roles {
		data.Roles[role] = true
	}
	return s.render(w, r, status, "user_edit", page{Title: "user.edit.title", Section: "users", Error: errKey, Data: data})
}

// pathUser loads the user named by {id}.
func (s *Server) pathUser(r *http.Request) (auth.User, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return auth.User{}, notFound(fmt.Errorf("user id %q", r.PathValue("id")))
	}
	u, err := s.auth.User(r.Context(), id)
	if err != nil {
		return auth.User{}, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}

// userAction runs one administrative change on the user of {id}, then
// shows the page again: with the confirmation on success, or with the
// catalogue's message for an error auth explains (the last administrator,
// the password policy...).
// notice is the catalogue key of the confirmation ("notice.name_changed").
func (s *Server) userAction(w http.ResponseWriter, r *http.Request, what, notice string, do func(u auth.User) error) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if err := do(u); err != nil {
		if key, status, ok := authMessage(err); ok {
			return s.renderUserEdit(w, r, status, key, u)
		}
		var he *httpError
		if errors.As(err, &he) && he.status == http.StatusUnprocessableEntity {
			return s.renderUserEdit(w, r, he.status, he.key, u)
		}
		return fmt.Errorf("%s user %d: %w", what, u.ID, err)
	}
	return redirect(w, r, fmt.Sprintf("/users/%d?ok=%s", u.ID, strings.TrimPrefix(notice, "notice.")))
}

// invalidForm is a form error shown on the page, not an error page.
func invalidForm(key string) error {
	return &httpError{status: http.StatusUnprocessableEntity, key: key}
}

// handleUserName serves POST /users/{id}/name.
func (s *Server) handleUserName(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "rename", "notice.name_changed", func(u auth.User) error {
		name := strings.TrimSpace(r.PostForm.Get("name"))
		if name == "" {
			return invalidForm("user.error.name_required")
		}
		return s.auth.SetName(r.Context(), u.ID, name)
	})
}

// handleUserRoles serves POST /users/{id}/roles.
func (s *Server) handleUserRoles(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "set roles of", "notice.roles_changed", func(u auth.User) error {
		return s.auth.SetRoles(r.Context(), u.ID, formRoles(r))
	})
}

// handleUserDisable serves POST /users/{id}/disable: the user's sessions
// end and their tokens stop working.
func (s *Server) handleUserDisable(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "disable", "notice.user_disabled", func(u auth.User) error {
		return s.auth.SetDisabled(r.Context(), u.ID, true)
	})
}

// handleUserEnable serves POST /users/{id}/enable.
func (s *Server) handleUserEnable(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "enable", "notice.user_enabled", func(u auth.User) error {
		return s.auth.SetDisabled(r.Context(), u.ID, false)
	})
}

// handleUserPassword serves POST /users/{id}/password: an administrator sets
// a new password (the user's sessions end).
func (s *Server) handleUserPassword(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "reset password of", "notice.password_reset", func(u auth.User) error {
		password := r.PostForm.Get("password")
		if password != r.PostForm.Get("confirm") {
			return invalidForm("password.error.mismatch")
		}
		return s.auth.ResetPassword(r.Context(), u.ID, password)
	})
}

// handleUserUnlock serves POST /users/{id}/unlock.
func (s *Server) handleUserUnlock(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "unlock", "notice.user_unlocked", func(u auth.User) error {
		return s.auth.Unlock(r.Context(), u.ID)
	})
}

// handleUserEndSessions serves POST /users/{id}/sessions/end.
func (s *Server) handleUserEndSessions(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "end sessions of", "notice.sessions_ended", func(u auth.User) error {
		return s.auth.EndSessions(r.Context(), u.ID)
	})
}

// handleUserResetTOTP serves POST /users/{id}/totp/reset: the user enrols
// again at their next login.
func (s *Server) handleUserResetTOTP(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(w, r, "reset TOTP of", "notice.totp_reset", func(u auth.User) error {
		return s.auth.ResetTOTP(r.Context(), u.ID)
	})
}
