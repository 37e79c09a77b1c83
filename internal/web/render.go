package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"plateau/internal/auth"
)

//go:embed templates
var templateFS embed.FS

// views holds, per language, one template set per page (the layout plus the
// page), parsed once at start. Binding the catalogue per language at parse
// time keeps `t "key"` a plain function call at render time.
type views struct {
	pages map[string]map[string]*template.Template // lang -> page -> set
}

// page is what every template receives.
type page struct {
	Lang      string
	Title     string // catalogue key
	User      *auth.User
	Full      bool   // fully signed in: the navigation is shown
	CSRF      string // the hidden field's value for this page's forms
	RequestID string
	Version   string
	Section   string // the navigation entry to highlight
	Notice    string // catalogue key of a confirmation
	Error     string // catalogue key of an error
	Data      any
}

// Has reports whether the signed-in user holds role r (false for anonymous).
func (p page) Has(r string) bool { return p.User != nil && p.User.Has(auth.Role(r)) }

func (s *Server) parseViews() (*views, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	v := &views{pages: map[string]map[string]*template.Template{}}
	for _, lang := range s.cat.langs {
		v.pages[lang] = map[string]*template.Template{}
		for _, name := range names {
			base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
			if base == "layout" {
				continue
			}
			t, err := template.New(base).Funcs(s.funcs(lang)).ParseFS(templateFS, "templates/layout.html", name)
			if err != nil {
				return nil, fmt.Errorf("parse template %s: %w", base, err)
			}
			v.pages[lang][base] = t
		}
	}
	return v, nil
}

// funcs are the template functions for one language.
func (s *Server) funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"t": func(key string, args ...any) string { return s.cat.text(lang, key, args...) },
		// code labels an ingestion code (a quarantine reason, a fix) in the
		// page's language; an unknown code shows as itself.
		"code": func(code string) string {
			if key := "code." + code; s.cat.has(key) {
				return s.cat.text(lang, key)
			}
			return code
		},
		"static": func(name string) string {
			return "/static/" + name + "?v=" + s.static.version
		},
		"role": func(r auth.Role) string { return s.cat.text(lang, "role."+string(r)) },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return s.cat.text(lang, "common.never")
			}
			return t.In(s.loc).Format("2006-01-02 15:04:05 MST")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.loc).Format("2006-01-02")
		},
	}
}

// render writes a page with its status. The page is executed into a buffer
// first, so a template error becomes an error page, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	st := stateOf(r)
	set, ok := s.views.pages[st.lang][name]
	if !ok {
		return fmt.Errorf("render: no template %q", name)
	}
	p.Lang = st.lang
	p.User = st.user
	p.Full = st.session != nil && st.session.Stage == auth.StageFull
	p.CSRF = s.formCSRF(r)
	p.RequestID = st.id
	if p.Full {
		p.Version = s.cfg.Version
	}
	if p.Notice == "" {
		p.Notice = s.notice(r)
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", st.lang)
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

// notice turns the ?ok= of a redirect after a successful action into its
// message; only keys of the "notice." family are honoured, so a link cannot
// make the page say anything else.
func (s *Server) notice(r *http.Request) string {
	ok := r.URL.Query().Get("ok")
	if ok == "" {
		return ""
	}
	key := "notice." + ok
	if !s.cat.has(key) {
		return ""
	}
	return key
}

// httpError is an error with the status and the message the user sees.
type httpError struct {
	status int
	key    string // catalogue key of the message
	err    error  // for the log only
}

func (e *httpError) Error() string {
	if e.err == nil {
		return http.StatusText(e.status)
	}
	return e.err.Error()
}

func (e *httpError) Unwrap() error { return e.err }

func notFound(err error) error {
	return &httpError{status: http.StatusNotFound, key: "error.not_found", err: err}
}

func badRequest(err error) error {
	return &httpError{status: http.StatusBadRequest, key: "error.bad_request", err: err}
}

func forbidden(err error) error {
	return &httpError{status: http.StatusForbidden, key: "error.forbidden", err: err}
}

// abandoned reports (and logs) a request whose client went away while it was
// served: the error is the cancellation, not the server's fault, and nobody
// reads the answer.
func (s *Server) abandoned(r *http.Request, err error) bool {
	if r.Context().Err() == nil || !errors.Is(err, context.Canceled) {
		return false
	}
	st := stateOf(r)
	st.abandoned = true
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request abandoned by the client",
		slog.String("request_id", st.id), slog.String("route", st.pattern))
	return true
}

// fail renders err once: the friendly error page with the request id, and a
// log line with the wrapped error. Users never see the error's text.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errRedirected) || s.abandoned(r, err) {
		return
	}
	st := stateOf(r)
	status, key := http.StatusInternalServerError, "error.internal"
	var he *httpError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status, key = he.status, he.key
	case errors.As(err, &tooBig):
		status, key = http.StatusRequestEntityTooLarge, "error.too_large"
	case errors.Is(err, auth.ErrNotFound):
		status, key = http.StatusNotFound, "error.not_found"
	}
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "http error",
		slog.String("request_id", st.id),
		slog.String("route", st.pattern),
		slog.Int("status", status),
		slog.String("error", err.Error()),
	)
	if rec, ok := w.(*recorder); ok && rec.written() {
		return // the response has started; the log line is all we can do
	}
	w.Header().Set("Cache-Control", "no-store")
	if rerr := s.render(w, r, status, "error", page{Title: "error.title", Error: key, Data: status}); rerr != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "render error page",
			slog.String("request_id", st.id), slog.String("error", rerr.Error()))
		http.Error(w, http.StatusText(status), status)
	}
}
