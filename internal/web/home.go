package web

import (
	"errors"
	"net/http"
)

// handleHome serves GET /: one section per role the user holds.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "home", page{Title: "home.title", Section: "home"})
}

// handleNotFound answers every path no route claims.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	return notFound(errors.New("no route"))
}
