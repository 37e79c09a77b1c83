package web

import (
	"errors"
	"net/http"

	"plateau/internal/auth"
)

// handleMetrics serves GET /metrics, the Prometheus text format, to an
// administrator: a signed-in one, or a scraper holding an administrator's
// API token (Authorization: Bearer ...).
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	full := st.viaBearer || (st.session != nil && st.session.Stage == auth.StageFull)
	if st.user == nil || !full {
		w.Header().Set("WWW-Authenticate", `Bearer realm="plateau"`)
		return &httpError{status: http.StatusUnauthorized, key: "error.unauthorized", err: errors.New("metrics: no credentials")}
	}
	if !st.user.Has(auth.RoleAdmin) {
		return forbidden(errors.New("metrics: not an administrator"))
	}
	s.promHandler.ServeHTTP(w, r)
	return nil
}
