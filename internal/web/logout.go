package web

import (
	"errors"
	"fmt"
	"net/http"

	"plateau/internal/auth"
)

// handleLogout serves POST /logout: the session ends on the server, then the
// browser forgets its cookies.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	if st.token != "" {
		if err := s.auth.Logout(r.Context(), st.token); err != nil && !errors.Is(err, auth.ErrNoSession) {
			return fmt.Errorf("logout: %w", err)
		}
	}
	s.clearCookie(w, sessionCookie)
	if _, err := r.Cookie(totpCookie); err == nil {
		s.clearCookie(w, totpCookie)
	}
	return redirect(w, r, "/login?ok=logged_out")
}
