package web

import "net/http"

// routesMissions registers missions, their profiles and settings, batches and uploads.
func (s *Server) routesMissions(mux *http.ServeMux) {
}
