package web

import "net/http"

// routesReports registers the reports, on screen and as CSV.
func (s *Server) routesReports(mux *http.ServeMux) {
}
