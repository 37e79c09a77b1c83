package web

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// Body limits of the API: JSON requests are small; a contacts array or an
// opposition list is a file.
const (
	apiJSONLimit = 1 << 20
	apiFileLimit = 20 << 20
)

// apiTokenTTL is how long the API trusts a token it authenticated without
// reading it again: a revoked token, or one whose user was disabled, locked
// or given other roles, is refused (or sees its new roles) at most this
// long afterwards.
const apiTokenTTL = 5 * time.Second

// apiCSRFHeader carries the CSRF token of a browser session's unsafe API
// requests (the page's csrf field value); API tokens need none.
const apiCSRFHeader = "X-CSRF-Token"

// apiRoute is one endpoint of the JSON API.
type apiRoute struct {
	pattern string
	limit   int64 // request body limit
	h       handlerFunc
	roles   []auth.Role
}

// apiRoutes lists the JSON API. The OpenAPI document describes each of
// them (a test checks it both ways).
func (s *Server) apiRoutes() []apiRoute {
	agent, sup, it, admin := auth.RoleAgent, auth.RoleSupervisor, auth.RoleIT, auth.RoleAdmin
	return []apiRoute{
		{"GET /api/v1/missions", apiJSONLimit, s.handleAPIMissions, []auth.Role{agent, sup, it, admin}},
		{"GET /api/v1/missions/{number}", apiJSONLimit, s.handleAPIMission, []auth.Role{agent, sup, it, admin}},
		{"PATCH /api/v1/missions/{number}", apiJSONLimit, s.handleAPIMissionUpdate, []auth.Role{sup, admin}},
		{"GET /api/v1/missions/{number}/stats", apiJSONLimit, s.handleAPIStats, []auth.Role{sup, admin}},
		{"POST /api/v1/missions/{number}/presence", apiJSONLimit, s.handleAPIPresence, []auth.Role{agent}},
		{"POST /api/v1/missions/{number}/next", apiJSONLimit, s.handleAPINext, []auth.Role{agent}},
		{"POST /api/v1/missions/{number}/contacts", apiFileLimit, s.handleAPIContactsLoad, []auth.Role{it, admin}},
		{"POST /api/v1/contacts/{id}/outcome", apiJSONLimit, s.handleAPIOutcome, []auth.Role{agent}},
		{"POST /api/v1/contacts/{id}/renew", apiJSONLimit, s.handleAPIRenew, []auth.Role{agent}},
		{"POST /api/v1/contacts/{id}/release", apiJSONLimit, s.handleAPIRelease, []auth.Role{agent}},
		{"GET /api/v1/contacts/{id}/why", apiJSONLimit, s.handleAPIWhy, []auth.Role{agent, sup, admin}},
		{"POST /api/v1/contacts/{id}/consent", apiJSONLimit, s.handleAPIConsent, []auth.Role{it, sup, admin}},
		{"POST /api/v1/clients/{client}/opposition", apiFileLimit, s.handleAPIOpposition, []auth.Role{sup, admin}},
	}
}

// routesAPI registers the JSON API under /api/v1, for bearer tokens (and
// signed-in browsers).
//
// API tokens are authenticated through a cache shared by the API's routes
// (apiTokenTTL): an agent's dialler calls twice a cycle, and the token, user
// and roles read at every call were most of the CPU an API call cost.
func (s *Server) routesAPI(mux *http.ServeMux) {
	tokens := s.auth.NewTokenCache(apiTokenTTL)
	for _, rt := range s.apiRoutes() {
		h, limit := rt.h, rt.limit
		s.routeWith(mux, rt.pattern, apiAccess, tokens.Authenticate, func(w http.ResponseWriter, r *http.Request) error {
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			return h(w, r)
		}, rt.roles...)
	}
	// The document is public: it says what the API is, nothing about data.
	s.raw(mux, "GET /api/v1/openapi.json", s.handleOpenAPI)
	// Anything else under /api/v1 answers in JSON, not with the 404 page.
	s.raw(mux, "/api/v1/", func(w http.ResponseWriter, r *http.Request) error {
		s.failAPI(w, r, apiErr(http.StatusNotFound, "not_found", "No such API endpoint."))
		return nil
	})
}

// apiError is an API answer other than success: the status, a stable code,
// an English message without personal data, and extra members (the rule
// that refused...).
type apiError struct {
	status int
	code   string
	msg    string
	extra  map[string]any
	err    error // for the log only
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.code + ": " + e.err.Error()
	}
	return e.code + ": " + e.msg
}

func (e *apiError) Unwrap() error { return e.err }

func apiErr(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

// apiMessages are the messages of the errors the API shares with the pages.
var apiMessages = map[string]string{
	"unauthorized": "Authentication required: send an API token (Authorization: Bearer ...).",
	"forbidden":    "Your roles do not allow this request.",
	"csrf":         "Missing or invalid CSRF token (header " + apiCSRFHeader + ").",
	"not_found":    "Not found.",
	"bad_request":  "The request is not valid.",
	"too_large":    "The request body is too large.",
	"internal":     "The server could not handle the request.",
}

// classify turns any error into the API's answer.
func classify(err error) *apiError {
	var (
		ae      *apiError
		he      *httpError
		tooBig  *http.MaxBytesError
		rule    *campaign.RuleError
		item    *ingest.ItemError
		failed  *ingest.FailedError
		profile *ingest.ProfileError
	)
	known := func(status int, code string) *apiError {
		return &apiError{status: status, code: code, msg: apiMessages[code], err: err}
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &tooBig), errors.Is(err, ingest.ErrTooLarge):
		return known(http.StatusRequestEntityTooLarge, "too_large")
	case errors.As(err, &he):
		code := strings.TrimPrefix(he.key, "error.")
		if code == "forbidden.csrf" {
			code = "csrf"
		}
		if _, ok := apiMessages[code]; !ok {
			code = "bad_request"
			if he.status >= 500 {
				code = "internal"
			}
		}
		return known(he.status, code)
	case errors.As(err, &rule):
		v := rule.Verdict
		extra := map[string]any{"rule": v.Rule}
		if !v.Next.IsZero() {
			extra["next"] = v.Next.UTC().Format(time.RFC3339)
		}
		return &apiError{status: http.StatusUnprocessableEntity, code: "rule", msg: v.Message, extra: extra, err: err}
	case errors.As(err, &item):
		extra := map[string]any{"index": item.Index}
		if item.Key != "" {
			extra["key"] = item.Key
		}
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid_item", msg: item.Error(), extra: extra, err: err}
	case errors.As(err, &failed):
		return &apiError{status: http.StatusUnprocessableEntity, code: "batch_failed", msg: failed.Error(),
			extra: map[string]any{"batch": failed.Batch}, err: err}
	case errors.As(err, &profile):
		return &apiError{status: http.StatusConflict, code: "invalid_profile", msg: "The mission's profile does not load: fix it first.", err: err}
	case errors.Is(err, campaign.ErrNotFound), errors.Is(err, auth.ErrNotFound), errors.Is(err, ingest.ErrBatchNotFound):
		return known(http.StatusNotFound, "not_found")
	case errors.Is(err, campaign.ErrNotLeased):
		return &apiError{status: http.StatusConflict, code: "not_leased", msg: "The contact is not leased to you.", err: err}
	case errors.Is(err, campaign.ErrLeasedByOther):
		return &apiError{status: http.StatusConflict, code: "leased_by_other", msg: "Another agent holds the contact.", err: err}
	case errors.Is(err, campaign.ErrClosed):
		return &apiError{status: http.StatusConflict, code: "closed", msg: "The contact is closed.", err: err}
	case errors.Is(err, campaign.ErrNotInService):
		return &apiError{status: http.StatusConflict, code: "not_in_service", msg: "You are not in service on this mission: set your presence to S first.", err: err}
	case errors.Is(err, campaign.ErrArchived):
		return &apiError{status: http.StatusConflict, code: "archived", msg: "The mission is archived.", err: err}
	case errors.Is(err, campaign.ErrAmbiguous):
		return &apiError{status: http.StatusConflict, code: "ambiguous", msg: "Several missions have a contact with this id: add ?mission=N.", err: err}
	case errors.Is(err, campaign.ErrNotMember):
		return &apiError{status: http.StatusForbidden, code: "not_member", msg: "You are not assigned to this mission.", err: err}
	case errors.Is(err, campaign.ErrUnknownOutcome):
		return &apiError{status: http.StatusUnprocessableEntity, code: "unknown_outcome", msg: "Unknown outcome code for this mission.", err: err}
	case errors.Is(err, campaign.ErrCallbackRequired):
		return &apiError{status: http.StatusUnprocessableEntity, code: "callback_required", msg: "This outcome needs callback_at.", err: err}
	case errors.Is(err, ingest.ErrNoProfile):
		return &apiError{status: http.StatusConflict, code: "no_profile", msg: "The mission has no profile: store one first.", err: err}
	case errors.Is(err, ingest.ErrNoItems):
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid", msg: "The array has no items.", err: err}
	case errors.Is(err, campaign.ErrInvalid):
		// The domain's validation messages name the setting and the rule,
		// never a person's data.
		msg := err.Error()
		if i := strings.Index(msg, campaign.ErrInvalid.Error()+": "); i >= 0 {
			msg = msg[i+len(campaign.ErrInvalid.Error())+2:]
		}
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid", msg: msg, err: err}
	}
	return known(http.StatusInternalServerError, "internal")
}

// failAPI answers err as JSON, {"error": {"code", "message", ...}}, and
// logs it once.
func (s *Server) failAPI(w http.ResponseWriter, r *http.Request, err error) {
	if s.abandoned(r, err) {
		return
	}
	st := stateOf(r)
	ae := classify(err)
	level := slog.LevelWarn
	if ae.status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "api error",
		slog.String("request_id", st.id),
		slog.String("route", st.pattern),
		slog.Int("status", ae.status),
		slog.String("code", ae.code),
		slog.String("error", err.Error()),
	)
	if rec, ok := w.(*recorder); ok && rec.written() {
		return
	}
	detail := make(map[string]any, len(ae.extra)+3)
	for k, v := range ae.extra {
		detail[k] = v
	}
	detail["code"], detail["message"], detail["request_id"] = ae.code, ae.msg, st.id
	w.Header().Set("Cache-Control", "no-store")
	_ = writeJSON(w, ae.status, map[string]any{"error": detail})
}

// writeJSON answers v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("encode JSON answer: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

// decodeJSON reads the body as one JSON value into v; unknown members are
// refused, so that a misspelt setting is not silently ignored. An empty
// body leaves v as it is when emptyOK.
func decodeJSON(r *http.Request, v any, emptyOK bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.Is(err, io.EOF):
			if emptyOK {
				return nil
			}
			return apiErr(http.StatusBadRequest, "bad_request", "A JSON body is required.")
		}
		return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "The body is not valid JSON for this request: " + jsonProblem(err), err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, "bad_request", "The body holds more than one JSON value.")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the data.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return fmt.Sprintf("member %q must be %s", typ.Field, typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown member " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed"
}

// checkAPICSRF verifies the CSRF header of a browser session's unsafe API
// request, in constant time.
func (s *Server) checkAPICSRF(r *http.Request) error {
	st := stateOf(r)
	got := r.Header.Get(apiCSRFHeader)
	if st.session == nil || got == "" || !hmac.Equal([]byte(got), []byte(s.csrfToken("session", st.session.ID))) {
		return &httpError{status: http.StatusForbidden, key: "error.forbidden.csrf", err: errCSRF}
	}
	return nil
}

// pathMission reads the {number} of the path.
func pathMission(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || n <= 0 {
		return 0, apiErr(http.StatusNotFound, "not_found", "No mission has this number.")
	}
	return n, nil
}

// privileged says whether the user sees every mission: supervisors,
// IT and administrators; agents see the missions they are assigned to.
func privileged(u *auth.User) bool {
	return u.Has(auth.RoleSupervisor) || u.Has(auth.RoleAdmin) || u.Has(auth.RoleIT)
}

// missionAccess checks that the caller may see the mission: an agent only
// one they are assigned to (an unknown mission reads the same, so that
// numbers cannot be probed).
func (s *Server) missionAccess(r *http.Request, number int) error {
	u := stateOf(r).user
	if privileged(u) {
		return nil
	}
	ok, err := s.camp.IsMember(r.Context(), number, u.ID)
	if err != nil {
		return err
	}
	if !ok {
		return campaign.ErrNotMember
	}
	return nil
}

// contactRef names the contact of the path: {id}, in the mission given by
// ?mission=N or else the only mission that has that id.
func (s *Server) contactRef(r *http.Request) (campaign.Ref, error) {
	id := r.PathValue("id")
	if m := r.URL.Query().Get("mission"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n <= 0 {
			return campaign.Ref{}, apiErr(http.StatusBadRequest, "bad_request", "mission must be a mission number.")
		}
		return campaign.Ref{Mission: n, ID: id}, nil
	}
	return s.camp.Resolve(r.Context(), id)
}

// queryTime reads an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil && strings.Contains(v, " ") {
		// An unescaped '+' of the offset reads as a space.
		t, err = time.Parse(time.RFC3339, strings.ReplaceAll(v, " ", "+"))
	}
	if err != nil {
		return time.Time{}, apiErr(http.StatusBadRequest, "bad_request", name+" must be an RFC 3339 time, e.g. 2026-11-23T10:00:00+01:00.")
	}
	return t, nil
}

// rfc3339 writes a time for the API, "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
