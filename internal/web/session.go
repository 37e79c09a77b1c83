package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
)

// Cookie names. The __Host- prefix makes the browser refuse them unless they
// are Secure, host-only and for Path=/, so a sibling subdomain cannot plant one.
const (
	sessionCookie = "__Host-plateau"
	preCookie     = "__Host-plateau-pre"  // anonymous forms' CSRF secret
	totpCookie    = "__Host-plateau-totp" // the pending enrolment, sealed
)

// access is what a route asks of the session.
type access int

const (
	public      access = iota // anyone; the session is loaded when there is one
	withBearer                // public, and an API token in Authorization counts as a session
	pendingTOTP               // a session whose password is checked, TOTP code still due
	enrolling                 // a session at the enrolment stage, or a full one
	signedIn                  // a full session
	leaving                   // logout: any session; without one nothing changes, so no CSRF check
	// apiAccess is the JSON API: an API token, or a full browser session
	// (whose unsafe requests then carry the CSRF token in a header). No
	// credentials answer 401, not a redirect; every error is JSON.
	apiAccess
	// uploading is a full session posting a multipart form with a file:
	// the handler checks the CSRF token as the stream's first part
	// (readMultipart), so the file is read once and never before the token
	// is known good; the request has a longer read deadline.
	uploading
)

// handlerFunc is a page or an action; its error is rendered by fail.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// raw registers a machine endpoint: no session, no CSRF.
func (s *Server) raw(mux *http.ServeMux, pattern string, h handlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		stateOf(r).pattern = pattern
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// route registers a page or an action behind the session, stage, role and
// CSRF checks. With roles, the user must hold at least one of them.
func (s *Server) route(mux *http.ServeMux, pattern string, acc access, h handlerFunc, roles ...auth.Role) {
	s.routeWith(mux, pattern, acc, s.auth.AuthenticateToken, h, roles...)
}

// tokenAuth authenticates an API token (auth.Service.AuthenticateToken, or
// a cache of it).
type tokenAuth func(ctx context.Context, token string) (auth.User, error)

// routeWith is route with the given authentication of bearer tokens (used
// when acc admits them).
func (s *Server) routeWith(mux *http.ServeMux, pattern string, acc access, bearer tokenAuth, h handlerFunc, roles ...auth.Role) {
	if acc != withBearer && acc != apiAccess {
		bearer = nil
	}
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		st.pattern = pattern
		// Pages carry personal data and per-session tokens: never cached.
		w.Header().Set("Cache-Control", "no-store")
		r, err := s.authenticate(w, r, bearer)
		if err == nil {
			err = s.authorise(w, r, acc, roles)
		}
		needsCSRF := !isSafeMethod(r.Method) && !st.viaBearer && (acc != leaving || st.session != nil) && acc != uploading
		if err == nil && needsCSRF {
			if acc == apiAccess {
				err = s.checkAPICSRF(r)
			} else {
				err = s.checkCSRF(r)
			}
		}
		if err == nil && acc == uploading {
			// A file of 200 MiB takes longer than the server's read timeout
			// on a slow link: this request has its own.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadReadTimeout))
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			if acc == apiAccess {
				s.failAPI(w, r, err)
			} else {
				s.fail(w, r, err)
			}
		}
	})
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticate loads the session (or, when bearer is not nil, the user of
// the API token in Authorization), puts the user's login in the audit actor
// and picks the user's language. A cookie whose session ended is cleared,
// and the request goes on as anonymous.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, bearer tokenAuth) (*http.Request, error) {
	st := stateOf(r)
	ctx := r.Context()
	if bearer != nil {
		if token, ok := bearerToken(r); ok {
			u, err := bearer(ctx, token)
			if err != nil {
				if errors.Is(err, auth.ErrInvalidCredentials) || errors.Is(err, auth.ErrDisabled) ||
					errors.Is(err, auth.ErrLocked) || errors.Is(err, auth.ErrNoSession) || errors.Is(err, auth.ErrNotFound) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="plateau"`)
					return r, &httpError{status: http.StatusUnauthorized, key: "error.unauthorized", err: fmt.Errorf("bearer token: %w", err)}
				}
				return r, fmt.Errorf("authenticate bearer token: %w", err)
			}
			st.user, st.viaBearer = &u, true
			return s.withUser(r, u), nil
		}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return r, nil
	}
	sess, u, err := s.auth.Session(ctx, c.Value)
	if err != nil {
		if errors.Is(err, auth.ErrNoSession) || errors.Is(err, auth.ErrNotFound) || errors.Is(err, auth.ErrDisabled) {
			s.clearCookie(w, sessionCookie)
			return r, nil
		}
		return r, fmt.Errorf("load session: %w", err)
	}
	st.token, st.session, st.user = c.Value, &sess, &u
	return s.withUser(r, u), nil
}

// withUser records u as the actor of whatever the request changes.
func (s *Server) withUser(r *http.Request, u auth.User) *http.Request {
	st := stateOf(r)
	st.actor.Login = u.Login
	if u.Locale == "fr" || u.Locale == "en" {
		st.lang = u.Locale
	}
	return r.WithContext(audit.WithActor(r.Context(), st.actor))
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// authorise sends the session to the stage it is at, and checks roles.
func (s *Server) authorise(w http.ResponseWriter, r *http.Request, acc access, roles []auth.Role) error {
	st := stateOf(r)
	var stage auth.Stage
	if st.session != nil {
		stage = st.session.Stage
	}
	switch acc {
	case public, withBearer, leaving:
	case pendingTOTP:
		switch stage {
		case auth.StageTOTP:
		case "":
			return s.toLogin(w, r)
		default:
			return redirect(w, r, stageHome(stage))
		}
	case enrolling:
		switch stage {
		case auth.StageEnrol, auth.StageFull:
		case "":
			return s.toLogin(w, r)
		default:
			return redirect(w, r, stageHome(stage))
		}
	case apiAccess:
		if st.user == nil || (!st.viaBearer && stage != auth.StageFull) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plateau"`)
			return &httpError{status: http.StatusUnauthorized, key: "error.unauthorized", err: errors.New("api: no credentials")}
		}
	case signedIn, uploading:
		switch stage {
		case auth.StageFull:
		case "":
			return s.toLogin(w, r)
		default:
			return redirect(w, r, stageHome(stage))
		}
	}
	if len(roles) > 0 {
		if st.user == nil {
			return s.toLogin(w, r)
		}
		if !slices.ContainsFunc(roles, st.user.Has) {
			return &httpError{status: http.StatusForbidden, key: "error.forbidden",
				err: fmt.Errorf("route %s needs one of the roles %v", st.pattern, roles)}
		}
	}
	return nil
}

// stageHome is where a session of that stage belongs.
func stageHome(stage auth.Stage) string {
	switch stage {
	case auth.StageTOTP:
		return "/login/totp"
	case auth.StageEnrol:
		return "/account/totp"
	default:
		return "/"
	}
}

// toLogin sends an anonymous GET to the login page (coming back afterwards)
// and answers anything else with 401.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &httpError{status: http.StatusUnauthorized, key: "error.unauthorized", err: errors.New("no session")}
	}
	target := "/login"
	if next := r.URL.RequestURI(); next != "/" && safeNext(next) == next {
		target += "?next=" + url.QueryEscape(next)
	}
	return redirect(w, r, target)
}

// errRedirected tells route that the handler answered with a redirect.
var errRedirected = errors.New("redirected")

// redirect answers with 303 See Other (a POST becomes a GET) and returns
// errRedirected so the caller stops.
func redirect(w http.ResponseWriter, r *http.Request, target string) error {
	http.Redirect(w, r, target, http.StatusSeeOther)
	return errRedirected
}

// safeNext returns next when it is a path on this site, "/" otherwise: the
// login form must not become an open redirect ("//evil", "/\evil",
// "https://evil" are all refused).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// cookie builds a cookie with the attributes every Plateau cookie carries.
// No Max-Age: it lives as long as the browser session; the server-side
// session has its own idle and absolute timeouts.
func cookie(name, value string) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string) {
	http.SetCookie(w, cookie(name, value))
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	c := cookie(name, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// startSession sets the cookie of a session token auth just issued (a new
// one at login and at every stage change).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, token string) {
	s.setCookie(w, sessionCookie, token)
	stateOf(r).token = token
}
