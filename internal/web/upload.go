package web

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

const (
	// maxFormFieldBytes bounds a text field of a multipart form (the
	// profile's YAML is at most 1 MiB).
	maxFormFieldBytes = 2 << 20
	// loadStartWait is how long the "Load" button waits for the batch to
	// exist before answering with the batches list instead of its page.
	loadStartWait = 30 * time.Second
)

// bodyLimit is how many bytes a request may send: the forms are a few
// fields, except the multipart forms that carry a file (an upload, a
// profile's sample).
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/missions/") &&
		(strings.HasSuffix(r.URL.Path, "/uploads") || strings.HasSuffix(r.URL.Path, "/profile")) {
		if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && ct == "multipart/form-data" {
			return maxUploadBytes + maxFormFieldBytes
		}
	}
	return maxBodyBytes
}

// uploadReadTimeout bounds the reading of one multipart form.
const uploadReadTimeout = 30 * time.Minute

// readMultipart reads a multipart form whose first part must be the CSRF
// token. Text fields are returned; each file part goes to onFile (an empty
// file input arrives as an empty text field).
func (s *Server) readMultipart(w http.ResponseWriter, r *http.Request, onFile func(field, filename string, part io.Reader) error) (url.Values, error) {
	st := stateOf(r)
	r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(r))
	mr, err := r.MultipartReader()
	if err != nil {
		// Not a multipart form: refused, for want of a token first.
		if cerr := s.checkCSRF(r); cerr != nil {
			return nil, cerr
		}
		return nil, badRequest(fmt.Errorf("read multipart form: %w", err))
	}
	csrfRefused := func(why string) error {
		return &httpError{status: http.StatusForbidden, key: "error.forbidden.csrf", err: fmt.Errorf("%w: %s", errCSRF, why)}
	}
	values := url.Values{}
	first := true
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readError("read multipart form", err)
		}
		name := p.FormName()
		if first {
			first = false
			if name != csrfField || p.FileName() != "" || st.session == nil {
				return nil, csrfRefused("the token is not the first part")
			}
			got, err := io.ReadAll(io.LimitReader(p, 512))
			if err != nil {
				return nil, readError("read multipart form", err)
			}
			want := s.csrfToken("session", st.session.ID)
			if len(got) == 0 || !hmac.Equal(got, []byte(want)) {
				return nil, csrfRefused("bad token")
			}
			continue
		}
		if p.FileName() != "" {
			if onFile == nil {
				continue // NextPart skips what is left of it
			}
			if err := onFile(name, p.FileName(), p); err != nil {
				return nil, err
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxFormFieldBytes+1))
		if err != nil {
			return nil, readError("read multipart form", err)
		}
		if len(v) > maxFormFieldBytes {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge, key: "error.too_large",
				err: fmt.Errorf("form field %q over %d bytes", name, maxFormFieldBytes)}
		}
		values.Add(name, string(v))
	}
	if first {
		return nil, csrfRefused("empty form")
	}
	return values, nil
}

// readError keeps a body over its limit recognisable (413) and makes any
// other broken form a bad request.
func readError(what string, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return badRequest(fmt.Errorf("%s: %w", what, err))
}

// handleUpload serves POST /missions/{number}/uploads (IT, administrators):
// step 1 of an upload. The file is kept sealed, and the page shows what the
// mission's profile makes of it, with a "Load" button carrying its id.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.sweepUploads(ctx)
	var pu *pendingUpload
	_, err = s.readMultipart(w, r, func(field, filename string, part io.Reader) error {
		if field != "file" || pu != nil {
			return nil
		}
		stored, err := s.storeUpload(ctx, pendingUpload{Mission: m.Number, Name: ingest.SanitizeName(filename),
			User: stateOf(r).user.ID}, part)
		if err != nil {
			return readError("store upload", err)
		}
		pu = &stored
		return nil
	})
	if err != nil {
		if pu != nil {
			s.dropUpload(ctx, pu.ID, "upload")
		}
		return err
	}
	refuse := func(key string) error {
		if pu != nil {
			s.dropUpload(ctx, pu.ID, "upload")
		}
		return s.renderMission(w, r, http.StatusUnprocessableEntity, key, m, nil, "")
	}
	switch {
	case m.Archived:
		return refuse("upload.error.archived")
	case pu == nil:
		return refuse("upload.error.no_file")
	case pu.Size == 0:
		return refuse("upload.error.empty")
	}
	sp, err := s.ingest.ActiveProfile(ctx, m.Number)
	if errors.Is(err, ingest.ErrNoProfile) {
		return refuse("upload.error.no_profile")
	}
	if err != nil {
		s.dropUpload(ctx, pu.ID, "upload")
		return fmt.Errorf("upload to mission %d: %w", m.Number, err)
	}
	pv, err := s.previewUpload(ctx, sp.Profile, m, pu.ID, "upload")
	if err != nil {
		s.dropUpload(ctx, pu.ID, "upload")
		return fmt.Errorf("upload to mission %d: preview: %w", m.Number, err)
	}
	data := profilePage{Mission: m, Upload: true, Version: sp.Version, Preview: pv,
		UploadID: pu.ID, UploadName: pu.Name, UploadSize: pu.Size, Expires: pu.Created.Add(uploadTTL)}
	if pv.Problem != "" {
		// Nothing to load: the file cannot be read with this profile.
		s.dropUpload(ctx, pu.ID, "upload")
		data.UploadID = ""
	}
	return s.render(w, r, http.StatusOK, "profile", page{Title: "upload.title", Section: "missions", Data: data})
}

// previewUpload runs the preview over a pending file.
func (s *Server) previewUpload(ctx context.Context, p *ingest.Profile, m campaign.Mission, id, state string) (*previewData, error) {
	path, err := s.pendingFile(ctx, id, state)
	if err != nil {
		return nil, err
	}
	pr, err := s.openPending(ctx, path, id)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	return s.runPreview(ctx, p, m, pr)
}

// dropUpload removes a pending file.
func (s *Server) dropUpload(ctx context.Context, id, state string) {
	path, err := s.pendingFile(ctx, id, state)
	if err != nil {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.WarnContext(ctx, "web: remove pending upload", "upload", id, "error", err.Error())
	}
}

// handleUploadLoad serves POST /missions/{number}/uploads/{id}/load: step 2
// of an upload. The load runs in the background, detached from the
// request (a large file outlives it), and the browser goes to the batch's
// page, which follows its progress.
func (s *Server) handleUploadLoad(w http.ResponseWriter, r *http.Request) error {
	m, err := s.pathMission(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.sweepUploads(ctx)
	id := r.PathValue("id")
	path, err := s.claimUpload(ctx, id)
	if errors.Is(err, errUploadGone) {
		return s.renderMission(w, r, http.StatusGone, "upload.error.gone", m, nil, "")
	}
	if err != nil {
		return err
	}
	pr, err := s.openPending(ctx, path, id)
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("load upload into mission %d: %w", m.Number, err)
	}
	if pr.meta.Mission != m.Number || pr.meta.User != stateOf(r).user.ID {
		// Someone else's upload (or another mission's): left as it was,
		// and answered as if it did not exist.
		pr.Close()
		_ = os.Rename(path, strings.TrimSuffix(path, ".loading")+".upload")
		return s.renderMission(w, r, http.StatusGone, "upload.error.gone", m, nil, "")
	}
	name := pr.meta.Name
	started := s.inBackground(ctx, "upload", func(bg context.Context, progress func(ingest.Progress)) (*ingest.BatchResult, error) {
		defer func() {
			pr.Close()
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("web: remove loaded upload", "upload", id, "error", err.Error())
			}
		}()
		return s.ingest.Ingest(bg, m.Number, ingest.SourceUpload, name, pr, ingest.IngestOptions{Progress: progress})
	})
	return s.afterStart(w, r, m.Number, started)
}

// loadStarted says which batch a background load is about.
type loadStarted struct {
	batch   int64
	already bool // the content had been loaded as that batch
	err     error
}

// inBackground runs a load in its own goroutine with a context detached
// from the request's end but keeping its values (the audit actor), and
// returns a channel that tells which batch it is about as soon as that is
// known.
func (s *Server) inBackground(ctx context.Context, what string, run func(bg context.Context, progress func(ingest.Progress)) (*ingest.BatchResult, error)) <-chan loadStarted {
	bg := context.WithoutCancel(ctx)
	actor := audit.ActorFrom(ctx)
	started := make(chan loadStarted, 1)
	var once sync.Once
	tell := func(ls loadStarted) { once.Do(func() { started <- ls }) }
	go func() {
		began := time.Now()
		res, err := run(bg, func(p ingest.Progress) {
			// Not while receiving: a batch whose content the mission has
			// already is dropped once received.
			if p.Phase == ingest.PhaseLoading {
				tell(loadStarted{batch: p.Batch})
			}
		})
		var fe *ingest.FailedError
		switch {
		case err == nil:
			tell(loadStarted{batch: res.Batch.ID, already: res.AlreadyLoaded})
			s.log.Info("web: batch loaded", "what", what, "batch", res.Batch.ID, "mission", res.Batch.Mission,
				"already_loaded", res.AlreadyLoaded, "received", res.Summary.Received, "loaded", res.Summary.Loaded,
				"quarantined", res.Summary.Quarantined, "by", actor.Login,
				"duration", time.Since(began).Round(time.Millisecond).String())
		case errors.As(err, &fe):
			tell(loadStarted{batch: fe.Batch})
			s.log.Warn("web: batch failed", "what", what, "batch", fe.Batch, "reason", fe.Reason, "by", actor.Login)
		default:
			tell(loadStarted{err: err})
			s.log.Error("web: batch load stopped", "what", what, "error", err.Error(), "by", actor.Login)
		}
	}()
	return started
}

// afterStart waits for a background load to name its batch, then sends the
// browser to the batch's page.
func (s *Server) afterStart(w http.ResponseWriter, r *http.Request, mission int, started <-chan loadStarted) error {
	timer := time.NewTimer(loadStartWait)
	defer timer.Stop()
	select {
	case ls := <-started:
		switch {
		case ls.err != nil:
			return fmt.Errorf("load into mission %d: %w", mission, ls.err)
		case ls.already:
			return redirect(w, r, fmt.Sprintf("/batches/%d?ok=batch_already_loaded", ls.batch))
		default:
			return redirect(w, r, fmt.Sprintf("/batches/%d", ls.batch))
		}
	case <-timer.C:
		return redirect(w, r, fmt.Sprintf("/batches?mission=%d&ok=batch_started", mission))
	case <-r.Context().Done():
		return r.Context().Err()
	}
}
