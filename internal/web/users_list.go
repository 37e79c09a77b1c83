package web

import (
	"fmt"
	"net/http"
)

// handleUsersList serves GET /users (administrators).
func (s *Server) handleUsersList(w http.ResponseWriter, r *http.Request) error {
	users, err := s.auth.Users(r.Context())
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	return s.render(w, r, http.StatusOK, "users_list", page{Title: "users.title", Section: "users", Data: users})
}
