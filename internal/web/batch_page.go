package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// batchQuarantineShown bounds the quarantined records the batch page
// lists; the CSV has them all.
const batchQuarantineShown = 500

// batchStatusKey is the catalogue key of a batch status.
func batchStatusKey(st ingest.BatchStatus) string {
	switch st {
	case ingest.StatusReceiving:
		return "batch.status.receiving"
	case ingest.StatusLoading:
		return "batch.status.loading"
	case ingest.StatusDone:
		return "batch.status.done"
	default:
		return "batch.status.failed"
	}
}

// batchView is a batch as the pages show it.
type batchView struct {
	ingest.Batch
	MissionName string
	StatusKey   string
	Active      bool          // receiving or loading: the page follows it
	Duration    time.Duration // from the start of the load to its end (or now)
}

func (s *Server) batchView(b ingest.Batch, missionName string) batchView {
	v := batchView{Batch: b, MissionName: missionName, StatusKey: batchStatusKey(b.Status),
		Active: b.Status == ingest.StatusReceiving || b.Status == ingest.StatusLoading}
	if !b.StartedAt.IsZero() {
		end := b.FinishedAt
		if end.IsZero() {
			end = b.HeartbeatAt
		}
		if end.After(b.StartedAt) {
			v.Duration = end.Sub(b.StartedAt).Round(100 * time.Millisecond)
		}
	}
	return v
}

// codeCount is a warning code and how many records had it.
type codeCount struct {
	Code string
	N    int
}

// batchPage is the batch page.
type batchPage struct {
	Batch          batchView
	Warnings       []codeCount
	Quarantine     []ingest.QuarantineLine
	QuarantineMore int
	CanLoad        bool // IT and administrators: the quarantine CSV, re-runs
}

// pathBatch loads the batch named by {id}.
func (s *Server) pathBatch(r *http.Request) (ingest.Batch, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return ingest.Batch{}, notFound(fmt.Errorf("batch id %q", r.PathValue("id")))
	}
	b, err := s.ingest.Batch(r.Context(), id)
	if errors.Is(err, ingest.ErrBatchNotFound) {
		return ingest.Batch{}, notFound(err)
	}
	if err != nil {
		return ingest.Batch{}, fmt.Errorf("load batch %d: %w", id, err)
	}
	return b, nil
}

// missionName is the name of a mission, "" when it cannot be read.
func (s *Server) missionName(ctx context.Context, number int) string {
	m, err := s.camp.Mission(ctx, number)
	if err != nil {
		return ""
	}
	return m.Name
}

// handleBatch serves GET /batches/{id}: counts, timing, state, the
// quarantined records with their reasons (not their content).
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pathBatch(r)
	if err != nil {
		return err
	}
	return s.renderBatch(w, r, http.StatusOK, "", b)
}

func (s *Server) renderBatch(w http.ResponseWriter, r *http.Request, status int, errKey string, b ingest.Batch) error {
	ctx := r.Context()
	u := stateOf(r).user
	data := batchPage{Batch: s.batchView(b, s.missionName(ctx, b.Mission)), CanLoad: u.Has(auth.RoleIT) || u.Has(auth.RoleAdmin)}
	for code, n := range b.WarningsByCode {
		data.Warnings = append(data.Warnings, codeCount{Code: code, N: n})
	}
	slices.SortFunc(data.Warnings, func(a, b codeCount) int { return b.N - a.N })
	if !data.Batch.Active {
		q, err := s.ingest.Quarantine(ctx, b.ID)
		if err != nil {
			return fmt.Errorf("batch page %d: %w", b.ID, err)
		}
		if len(q) > batchQuarantineShown {
			data.QuarantineMore = len(q) - batchQuarantineShown
			q = q[:batchQuarantineShown]
		}
		data.Quarantine = q
	}
	return s.render(w, r, status, "batch", page{Title: "batch.title", Section: "missions", Error: errKey, Data: data})
}

// batchProgress is what the batch page polls while a batch loads.
type batchProgress struct {
	ID          int64  `json:"id"`
	Status      string `json:"status"`
	Active      bool   `json:"active"`
	Progress    int    `json:"progress"`
	Received    int    `json:"received"`
	Loaded      int    `json:"loaded"`
	Quarantined int    `json:"quarantined"`
	Bytes       int64  `json:"bytes"`
}

// handleBatchProgress serves GET /batches/{id}/progress.json.
func (s *Server) handleBatchProgress(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pathBatch(r)
	if err != nil {
		return err
	}
	v := s.batchView(b, "")
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(batchProgress{ID: b.ID, Status: string(b.Status), Active: v.Active,
		Progress: b.Progress, Received: b.Received, Loaded: b.Loaded, Quarantined: b.Quarantined, Bytes: b.Size})
}

// handleQuarantineCSV serves GET /batches/{id}/quarantine.csv (IT,
// administrators): the quarantined records as received, to send back to
// the client, each followed by its line number, reason code and reason;
// UTF-8 with a BOM and ';' for French Excel. Reading them is audited by
// the ingest service.
func (s *Server) handleQuarantineCSV(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pathBatch(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	sp, err := s.ingest.ProfileVersion(ctx, b.Mission, b.ProfileVersion)
	if err != nil {
		return fmt.Errorf("quarantine of batch %d: %w", b.ID, err)
	}
	header := append(slices.Clone(sp.Profile.Source.Columns), "line", "code", "reason")
	cw := csv.NewWriter(w)
	cw.Comma, cw.UseCRLF = ';', true
	started := false
	start := func() error {
		if started {
			return nil
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="batch-%d-quarantine.csv"`, b.ID))
		if _, err := w.Write([]byte("\uFEFF")); err != nil {
			return err
		}
		return cw.Write(header)
	}
	err = s.ingest.QuarantineRecords(ctx, b.ID, func(q ingest.QuarantineLine) error {
		if err := start(); err != nil {
			return err
		}
		return cw.Write(append(q.Fields, strconv.Itoa(q.Line), q.Code, q.Reason))
	})
	if err == nil {
		err = start()
	}
	if err != nil {
		return fmt.Errorf("quarantine of batch %d: %w", b.ID, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("quarantine of batch %d: %w", b.ID, err)
	}
	return nil
}

// handleBatchRerun serves POST /batches/{id}/rerun (IT, administrators): a
// batch that failed before loading anything is read again from its sealed
// original with the mission's active profile, in the background.
func (s *Server) handleBatchRerun(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pathBatch(r)
	if err != nil {
		return err
	}
	if !b.Rerunnable() {
		return s.renderBatch(w, r, http.StatusConflict, "batch.error.not_rerunnable", b)
	}
	started := s.inBackground(r.Context(), "rerun", func(bg context.Context, progress func(ingest.Progress)) (*ingest.BatchResult, error) {
		return s.ingest.Rerun(bg, b.ID, ingest.IngestOptions{Progress: progress})
	})
	return s.afterStart(w, r, b.Mission, started)
}

// batchesPage is the batches list.
type batchesPage struct {
	Mission  int // the filter; 0: every mission
	Missions []campaign.Mission
	Batches  []batchView
	Older    string // URL of the next (older) page
}

// batchesPageSize is how many batches one page lists.
const batchesPageSize = 50

// handleBatches serves GET /batches[?mission=N][&before=ID].
func (s *Server) handleBatches(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	var data batchesPage
	f := ingest.BatchFilter{Limit: batchesPageSize + 1}
	if v := q.Get("mission"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest(fmt.Errorf("batches of mission %q", v))
		}
		data.Mission, f.Mission = n, n
	}
	if v := q.Get("before"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 0 {
			return badRequest(fmt.Errorf("batches before %q", v))
		}
		f.BeforeID = id
	}
	missions, err := s.camp.Missions(ctx, campaign.MissionFilter{IncludeArchived: true})
	if err != nil {
		return fmt.Errorf("list batches: %w", err)
	}
	data.Missions = missions
	names := map[int]string{}
	for _, m := range missions {
		names[m.Number] = m.Name
	}
	list, err := s.ingest.Batches(ctx, f)
	if err != nil {
		return fmt.Errorf("list batches: %w", err)
	}
	if len(list) > batchesPageSize {
		list = list[:batchesPageSize]
		older := fmt.Sprintf("/batches?before=%d", list[len(list)-1].ID)
		if data.Mission != 0 {
			older += fmt.Sprintf("&mission=%d", data.Mission)
		}
		data.Older = older
	}
	for _, b := range list {
		data.Batches = append(data.Batches, s.batchView(b, names[b.Mission]))
	}
	return s.render(w, r, http.StatusOK, "batches", page{Title: "batches.title", Section: "missions", Data: data})
}
