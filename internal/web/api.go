package web

import "net/http"

// routesAPI registers the JSON API under /api/v1, for bearer tokens.
func (s *Server) routesAPI(mux *http.ServeMux) {
}
