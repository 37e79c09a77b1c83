package web

import (
	"fmt"
	"net/http"
	"strings"

	"plateau/internal/auth"
)

// userForm is the new-user form, filled again after a failure (never the
// password).
type userForm struct {
	Login string
	Name  string
	Roles map[auth.Role]bool
	All   []auth.Role
}

// handleUserNewForm serves GET /users/new (administrators).
func (s *Server) handleUserNewForm(w http.ResponseWriter, r *http.Request) error {
	form := userForm{Roles: map[auth.Role]bool{auth.RoleAgent: true}, All: auth.AllRoles}
	return s.render(w, r, http.StatusOK, "user_new", page{Title: "user.new.title", Section: "users", Data: form})
}

// handleUserNew serves POST /users (administrators).
func (s *Server) handleUserNew(w http.ResponseWriter, r *http.Request) error {
	roles := formRoles(r)
	form := userForm{
		Login: strings.TrimSpace(r.PostForm.Get("login")),
		Name:  strings.TrimSpace(r.PostForm.Get("name")),
		Roles: map[auth.Role]bool{},
		All:   auth.AllRoles,
	}
	for _, role := range roles {
		form.Roles[role] = true
	}
	fail := func(status int, key string) error {
		return s.render(w, r, status, "user_new", page{Title: "user.new.title", Section: "users", Error: key, Data: form})
	}
	if form.Name == "" {
		return fail(http.StatusUnprocessableEntity, "user.error.name_required")
	}
	password := r.PostForm.Get("password")
	if password != r.PostForm.Get("confirm") {
		return fail(http.StatusUnprocessableEntity, "password.error.mismatch")
	}
	u, err := s.auth.CreateUser(r.Context(), auth.NewUser{Login: form.Login, Name: form.Name, Roles: roles, Password: password})
	if err != nil {
		if key, status, ok := authMessage(err); ok {
			return fail(status, key)
		}
		return fmt.Errorf("create user: %w", err)
	}
	return redirect(w, r, fmt.Sprintf("/users/%d?ok=user_created", u.ID))
}

// formRoles reads the roles checkboxes; auth refuses unknown ones.
func formRoles(r *http.Request) []auth.Role {
	var roles []auth.Role
	for _, v := range r.PostForm["roles"] {
		roles = append(roles, auth.Role(v))
	}
	return roles
}
