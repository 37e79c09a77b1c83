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
	// An agent who signs out leaves every mission: their leases go back to
	// the queue at once instead of when they expire.
	if st.user != nil && st.user.Has(auth.RoleAgent) {
		if err := s.camp.GoOffline(r.Context(), st.user.ID); err != nil {
			s.log.Warn("logout: put the agent offline", "user", st.user.ID, "err", err)
		}
	}
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
