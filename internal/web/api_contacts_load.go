package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"plateau/internal/ingest"
)

// apiLoadAnswer is the answer of POST /api/v1/missions/{number}/contacts.
type apiLoadAnswer struct {
	Batch         int64               `json:"batch"`
	Status        ingest.BatchStatus  `json:"status"`
	AlreadyLoaded bool                `json:"already_loaded"`
	Message       string              `json:"message,omitempty"`
	Received      int                 `json:"received"`
	Loaded        int                 `json:"loaded"`
	Quarantined   int                 `json:"quarantined"`
	Duplicates    int                 `json:"duplicates"`
	Warnings      int                 `json:"warnings"`
	Manual        int                 `json:"manual"`
	Items         []ingest.ItemResult `json:"items"`
}

// handleAPIContactsLoad serves POST /api/v1/missions/{number}/contacts: a
// JSON array of objects whose keys are the profile's source column names
// (or its field names), loaded as one batch exactly as a file would be
// (source "api"), with one answer per item. The same array again loads
// nothing and answers "already loaded as batch N" with the same items.
func (s *Server) handleAPIContactsLoad(w http.ResponseWriter, r *http.Request) error {
	n, err := pathMission(r)
	if err != nil {
		return err
	}
	if _, err := s.camp.Mission(r.Context(), n); err != nil {
		return err
	}
	enc, err := s.ingest.ItemsEncoder(r.Context(), n)
	if err != nil {
		return err
	}
	if err := decodeItems(r.Body, enc.Add); err != nil {
		return err
	}
	res, err := s.ingest.IngestEncoded(r.Context(), n, enc, ingest.IngestOptions{})
	if err != nil {
		return err
	}
	b := res.Batch
	out := apiLoadAnswer{Batch: b.ID, Status: b.Status, AlreadyLoaded: res.AlreadyLoaded, Received: b.Received,
		Loaded: b.Loaded, Quarantined: b.Quarantined, Duplicates: b.Duplicates, Warnings: b.Warnings,
		Manual: b.Manual, Items: res.Items}
	status := http.StatusCreated
	if res.AlreadyLoaded {
		status = http.StatusOK
		out.Message = fmt.Sprintf("already loaded as batch %d", b.ID)
	}
	return writeJSON(w, status, out)
}

// decodeItems streams a JSON array of flat objects to add, one item at a
// time, so that a large array is never held whole as maps; a value is a
// string, a number (its JSON text) or null (empty).
func decodeItems(body io.Reader, add func(map[string]string) error) error {
	dec := json.NewDecoder(body)
	dec.UseNumber()
	malformed := func(err error) error {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return apiErr(http.StatusBadRequest, "bad_request", "The body must be a JSON array of objects; it ends too soon.")
		}
		return &apiError{status: http.StatusBadRequest, code: "bad_request",
			msg: "The body must be a JSON array of objects: " + jsonProblem(err), err: err}
	}
	tok, err := dec.Token()
	if err != nil {
		return malformed(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return apiErr(http.StatusBadRequest, "bad_request", "The body must be a JSON array of objects.")
	}
	for i := 0; dec.More(); i++ {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return &ingest.ItemError{Index: i, Msg: "an item must be an object"}
			}
			return malformed(err)
		}
		if obj == nil {
			return &ingest.ItemError{Index: i, Msg: "an item must be an object"}
		}
		it := make(map[string]string, len(obj))
		for k, v := range obj {
			switch x := v.(type) {
			case string:
				it[k] = x
			case json.Number:
				it[k] = x.String()
			case nil:
				it[k] = ""
			default:
				return &ingest.ItemError{Index: i, Key: k, Msg: "a value must be a string, a number or null"}
			}
		}
		if err := add(it); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return malformed(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, "bad_request", "The body holds more than one JSON value.")
	}
	return nil
}
