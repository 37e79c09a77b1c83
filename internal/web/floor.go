package web

import "net/http"

// routesFloor registers the agent's screen and the supervisor's live view.
func (s *Server) routesFloor(mux *http.ServeMux) {
}
