package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"plateau/internal/auth"
)

// loginData fills the login form again after a failure (never the password).
type loginData struct {
	Login string
	Next  string
}

// nextParam is the page to return to after login, when it is a local one.
func nextParam(v string) string {
	if v == "" || safeNext(v) != v {
		return ""
	}
	return v
}

// handleLoginForm serves GET /login.
func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	next := nextParam(r.URL.Query().Get("next"))
	if st.session != nil {
		return redirect(w, r, afterLogin(st.session.Stage, next))
	}
	s.ensurePreSession(w, r)
	return s.render(w, r, http.StatusOK, "login", page{Title: "login.title", Data: loginData{Next: next}})
}

// handleLogin serves POST /login: the password step.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	login := strings.TrimSpace(r.PostForm.Get("login"))
	password := r.PostForm.Get("password")
	next := nextParam(r.PostForm.Get("next"))
	token, sess, err := s.auth.Login(r.Context(), login, password)
	if err != nil {
		key, status, ok := authMessage(err)
		if !ok {
			return fmt.Errorf("login: %w", err)
		}
		s.ensurePreSession(w, r)
		return s.render(w, r, status, "login", page{Title: "login.title", Error: key, Data: loginData{Login: login, Next: next}})
	}
	s.startSession(w, r, token)
	return redirect(w, r, afterLogin(sess.Stage, next))
}

// afterLogin is where a session of that stage goes next: the TOTP code, the
// enrolment, or the page the user first asked for.
func afterLogin(stage auth.Stage, next string) string {
	switch stage {
	case auth.StageTOTP:
		if next != "" {
			return "/login/totp?next=" + url.QueryEscape(next)
		}
		return "/login/totp"
	case auth.StageEnrol:
		return "/account/totp"
	default:
		return safeNext(next)
	}
}
