package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// csrfField is the hidden form field holding the token.
const csrfField = "csrf"

// errCSRF is the refusal of a state-changing request without a valid token.
var errCSRF = errors.New("missing or invalid CSRF token")

// csrfToken is base64url(HMAC-SHA256(key, scope+":"+value)): signed-in
// forms use the session id (so a token dies with its session), anonymous
// forms the pre-session cookie.
func (s *Server) csrfToken(scope, value string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(scope + ":" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// formCSRF is the token the request's forms carry ("" when there is none:
// an anonymous page without a form).
func (s *Server) formCSRF(r *http.Request) string {
	st := stateOf(r)
	switch {
	case st.session != nil:
		return s.csrfToken("session", st.session.ID)
	case st.pre != "":
		return s.csrfToken("pre", st.pre)
	}
	if c, err := r.Cookie(preCookie); err == nil && c.Value != "" {
		return s.csrfToken("pre", c.Value)
	}
	return ""
}

// ensurePreSession gives an anonymous visitor the pre-session cookie its
// forms' token is bound to, keeping the one it already has.
func (s *Server) ensurePreSession(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r)
	if st.session != nil || st.pre != "" {
		return
	}
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == base64.RawURLEncoding.EncodedLen(32) {
		st.pre = c.Value
		return
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	st.pre = base64.RawURLEncoding.EncodeToString(b[:])
	s.setCookie(w, preCookie, st.pre)
}

// checkCSRF verifies the form token of a state-changing request, in
// constant time.
func (s *Server) checkCSRF(r *http.Request) error {
	st := stateOf(r)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("read form: %w", err)
	}
	got := r.PostForm.Get(csrfField)
	var want string
	switch {
	case st.session != nil:
		want = s.csrfToken("session", st.session.ID)
	default:
		c, err := r.Cookie(preCookie)
		if err != nil || c.Value == "" {
			return &httpError{status: http.StatusForbidden, key: "error.forbidden.csrf", err: fmt.Errorf("%w: no pre-session cookie", errCSRF)}
		}
		want = s.csrfToken("pre", c.Value)
	}
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return &httpError{status: http.StatusForbidden, key: "error.forbidden.csrf", err: errCSRF}
	}
	return nil
}
