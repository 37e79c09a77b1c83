package web

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the hand-written OpenAPI 3.1 description of the JSON API.
//
//go:embed openapi.json
var openAPIDoc []byte

// handleOpenAPI serves GET /api/v1/openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}
