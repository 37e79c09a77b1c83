package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"plateau/internal/auth"
)

// handleLoginTOTPForm serves GET /login/totp: the second step of login.
func (s *Server) handleLoginTOTPForm(w http.ResponseWriter, r *http.Request) error {
	next := nextParam(r.URL.Query().Get("next"))
	return s.render(w, r, http.StatusOK, "login_totp", page{Title: "totp.login.title", Data: loginData{Next: next}})
}

// handleLoginTOTP serves POST /login/totp: the code turns the session into a
// full one, under a new token.
func (s *Server) handleLoginTOTP(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	next := nextParam(r.PostForm.Get("next"))
	token, sess, err := s.auth.VerifyTOTP(r.Context(), st.token, code)
	if err != nil {
		if errors.Is(err, auth.ErrNoSession) {
			s.clearCookie(w, sessionCookie)
			return redirect(w, r, "/login")
		}
		key, status, ok := authMessage(err)
		if !ok {
			return fmt.Errorf("verify TOTP: %w", err)
		}
		return s.render(w, r, status, "login_totp", page{Title: "totp.login.title", Error: key, Data: loginData{Next: next}})
	}
	s.startSession(w, r, token)
	return redirect(w, r, afterLogin(sess.Stage, next))
}
