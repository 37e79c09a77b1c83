package web

import (
	"net/http"

	"plateau/internal/campaign"
)

// handleAPIOpposition serves POST /api/v1/clients/{client}/opposition: a
// text body, one phone number per line (blank lines and # comments
// ignored), added to the client's opposition list (?replace=true replaces
// it). Either way the list counts as checked now. The answer counts the
// numbers and lists the lines that are not numbers, by line number only.
func (s *Server) handleAPIOpposition(w http.ResponseWriter, r *http.Request) error {
	client := r.PathValue("client")
	replace := r.URL.Query().Get("replace") == "true"
	numbers, problems, err := campaign.ParseOppositionList(r.Body)
	if err != nil {
		return err
	}
	res, err := s.camp.LoadOpposition(r.Context(), client, numbers, replace)
	if err != nil {
		return err
	}
	if problems == nil {
		problems = []campaign.LineProblem{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"client": client, "replace": replace, "numbers": len(numbers),
		"added": res.Added, "entries": res.Entries, "problems": problems,
	})
}
