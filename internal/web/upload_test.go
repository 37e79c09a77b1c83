package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/db"
	"plateau/internal/ingest"
	"plateau/internal/ingest/ingesttest"
)

// contactIDPrefix is the contact id of a record read now in Paris.
func contactIDPrefix() string {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		loc = time.UTC
	}
	return time.Now().In(loc).Format("060102")
}

func TestUploadPreviewThenLoad(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s := newStackOn(t, d)
		s.mission26(t)
		c, _ := s.missionUser(t, "tech1", auth.RoleIT)
		contacts, batches := s.rowCount(t, "contacts"), s.rowCount(t, "batches")

		// Step 1: the preview, and nothing written.
		pv := c.upload("26", `C:\Users\client\leads 2026.csv`, leadFile())
		wantStatus(t, pv, http.StatusOK, "upload preview")
		id := contactIDPrefix()
		wantIn(t, pv, "upload preview",
			"leads 2026.csv", // the name without the client's path
			`<code>`+id+`_1_26</code>`, `<code>`+id+`_2_26</code>`, `<code>`+id+`_3_26</code>`,
			shown("+33478123456"), shown("+33800123456"), "toll_free", shown(s.srv.cat.text("fr", "preview.route.manual")),
			"01000", // the postal code given its leading zero back
			`id="preview-received">5<`, `id="preview-loaded">3<`, `id="preview-quarantined">2<`,
			shown(`required field "hcp_phone_number" is empty`), shown("exact duplicate of the record on line 2"),
			"mission.csv", "Automate.csv", "Call Centers.csv",
		)
		if strings.Contains(pv.body, id+"_4_26") || strings.Contains(pv.body, id+"_5_26") {
			t.Error("a quarantined record got a contact id in the preview")
		}
		if got := s.rowCount(t, "contacts"); got != contacts {
			t.Fatalf("the preview wrote %d contacts", got-contacts)
		}
		if got := s.rowCount(t, "batches"); got != batches {
			t.Fatalf("the preview wrote %d batches", got-batches)
		}
		if n := s.pendingFiles(t); n != 1 {
			t.Fatalf("%d pending files, want the upload's", n)
		}
		// The pending file is sealed: no lead in clear on disk.
		dir, _ := s.srv.uploadDir(context.Background())
		entries, _ := os.ReadDir(dir)
		raw, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := entries[0].Info()
		if bytes.Contains(raw, []byte("33478123456")) || bytes.Contains(raw, []byte("Martin")) || info.Mode().Perm() != 0o600 {
			t.Fatalf("the pending file (mode %v) holds the lead in clear or is readable by others", info.Mode().Perm())
		}

		// Step 2: load, in the background; the browser goes to the batch.
		action := loadAction(t, pv)
		r := c.post("/missions/26", action, nil)
		batchID := batchOf(t, r)
		bid, _ := strconv.ParseInt(batchID, 10, 64)
		b := s.waitBatch(t, bid)
		if b.Status != ingest.StatusDone || b.Received != 5 || b.Loaded != 3 || b.Quarantined != 2 || b.Duplicates != 1 ||
			b.Manual != 1 || b.Source != ingest.SourceUpload || b.Name != "leads 2026.csv" || b.CreatedBy != "tech1" {
			t.Fatalf("batch after the load: %+v", b)
		}
		if got := s.rowCount(t, "contacts"); got != contacts+3 {
			t.Fatalf("%d contacts loaded, want 3", got-contacts)
		}
		if n := s.pendingFiles(t); n != 0 {
			t.Fatalf("%d pending files left after the load", n)
		}
		// The same "Load" again: the upload is gone.
		wantStatus(t, c.post("/missions/26", action, nil), http.StatusGone, "second load of the same upload")

		page := c.get("/batches/" + batchID)
		wantStatus(t, page, http.StatusOK, "batch page")
		wantIn(t, page, "batch page", `id="count-received">5<`, `id="count-loaded">3<`, `id="count-quarantined">2<`,
			`id="count-manual">1<`, "postal_code_padded", "date_excel_serial", shown(`required field "hcp_phone_number" is empty`),
			`href="/batches/`+batchID+`/quarantine.csv"`)
		var progress batchProgress
		pr := c.get("/batches/" + batchID + "/progress.json")
		if err := json.Unmarshal([]byte(pr.body), &progress); err != nil || progress.Active || progress.Status != "done" || progress.Loaded != 3 {
			t.Fatalf("progress.json: %s (%v)", pr.body, err)
		}
		wantIn(t, c.get("/batches?mission=26"), "batches list", `href="/batches/`+batchID+`"`, "leads 2026.csv")
		wantIn(t, c.get("/missions"), "missions list", `href="/batches/`+batchID+`"`)

		// The quarantine for the client: the records as received, then
		// line, code and reason; UTF-8 with a BOM, ';'.
		q := c.get("/batches/" + batchID + "/quarantine.csv")
		wantStatus(t, q, http.StatusOK, "quarantine CSV")
		if ct := q.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(q.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("quarantine CSV headers: %q, %q", ct, q.Header.Get("Content-Disposition"))
		}
		if !strings.HasPrefix(q.body, "\uFEFF") {
			t.Fatal("the quarantine CSV has no BOM")
		}
		cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(q.body, "\uFEFF")))
		cr.Comma, cr.FieldsPerRecord = ';', -1
		recs, err := cr.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			append(strings.Split(leadHeader, ";"), "line", "code", "reason"),
			append(strings.Split(leadNoPhone, ";"), "5", "required", `required field "hcp_phone_number" is empty`),
			append(strings.Split(leadGood1, ";"), "6", "duplicate", "exact duplicate of the record on line 2"),
		}
		if len(recs) != len(want) {
			t.Fatalf("quarantine CSV:\n%s", q.body)
		}
		for i := range want {
			if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
				t.Errorf("quarantine CSV row %d:\n got %q\nwant %q", i, recs[i], want[i])
			}
		}
		entries2, err := s.audit.List(context.Background(), audit.Filter{Action: "batch.quarantine.read", ObjectID: batchID})
		if err != nil || len(entries2) != 1 || entries2[0].Actor != "tech1" {
			t.Fatalf("the quarantine download is not audited: %+v, %v", entries2, err)
		}

		// The same file again: nothing new, the browser lands on the batch
		// that has it.
		again := c.upload("26", "leads again.csv", leadFile())
		r = c.post("/missions/26", loadAction(t, again), nil)
		wantRedirect(t, r, "/batches/"+batchID+"?ok=batch_already_loaded", "same content again")
		for s.pendingFiles(t) != 0 {
			time.Sleep(10 * time.Millisecond) // the background load removes its file as it ends
		}
		if got := s.rowCount(t, "contacts"); got != contacts+3 {
			t.Fatalf("loading the same content again added %d contacts", got-contacts-3)
		}
	})
}

func TestUploadFormChecksCSRFAndInput(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	c, _ := s.missionUser(t, "tech1", auth.RoleIT)
	token := c.csrfFrom("/missions/26")
	file := formPart{name: "file", filename: "leads.csv", value: leadFile()}
	cases := []struct {
		name   string
		parts  []formPart
		status int
	}{
		{"no token", []formPart{file}, http.StatusForbidden},
		{"wrong token", []formPart{{name: csrfField, value: []byte("forged")}, file}, http.StatusForbidden},
		{"token after the file", []formPart{file, {name: csrfField, value: []byte(token)}}, http.StatusForbidden},
		{"no file", []formPart{{name: csrfField, value: []byte(token)}}, http.StatusUnprocessableEntity},
		{"empty file", []formPart{{name: csrfField, value: []byte(token)}, {name: "file", filename: "empty.csv"}}, http.StatusUnprocessableEntity},
	}
	for _, tc := range cases {
		r := c.multipart("/missions/26/uploads", tc.parts)
		wantStatus(t, r, tc.status, tc.name)
		if n := s.pendingFiles(t); n != 0 {
			t.Fatalf("%s: %d pending files left", tc.name, n)
		}
	}
	// A form that is not multipart: refused without its token, a bad
	// request with it.
	wantStatus(t, c.do(http.MethodPost, "/missions/26/uploads", url.Values{"file": {"x"}}), http.StatusForbidden, "url-encoded upload without a token")
	wantStatus(t, c.post("/missions/26", "/missions/26/uploads", nil), http.StatusBadRequest, "url-encoded upload")

	// A file whose header is not the profile's: the preview says why, and
	// there is nothing to load.
	bad := bytes.Replace(leadFile(), []byte("hcp_city"), []byte("hcp_town"), 1)
	r := c.upload("26", "renamed.csv", bad)
	wantStatus(t, r, http.StatusOK, "preview of a file with a renamed column")
	wantIn(t, r, "preview of a file with a renamed column", `id="preview-problem"`, "hcp_city")
	if loadFormRE.MatchString(r.body) || s.pendingFiles(t) != 0 {
		t.Error("a file that cannot be read with the profile can still be loaded")
	}

	// Only the uploader loads an upload; another's attempt leaves it be.
	other, _ := s.missionUser(t, "tech2", auth.RoleIT)
	action := loadAction(t, c.upload("26", "leads.csv", leadFile()))
	wantStatus(t, other.post("/missions/26", action, nil), http.StatusGone, "another user's upload")
	bid, _ := strconv.ParseInt(batchOf(t, c.post("/missions/26", action, nil)), 10, 64)
	if b := s.waitBatch(t, bid); b.Status != ingest.StatusDone || b.CreatedBy != "tech1" {
		t.Fatalf("the uploader's load after another's attempt: %+v", b)
	}
}

func TestPendingUploadsExpire(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	c, _ := s.missionUser(t, "tech1", auth.RoleIT)
	pv := c.upload("26", "leads.csv", leadFile())
	action := loadAction(t, pv)
	if s.pendingFiles(t) != 1 {
		t.Fatal("no pending file")
	}
	// An hour later the upload is swept at the next upload request.
	now := time.Now()
	s.srv.now = func() time.Time { return now.Add(uploadTTL + time.Minute) }
	wantStatus(t, c.post("/missions/26", action, nil), http.StatusGone, "load after the expiry")
	if n := s.pendingFiles(t); n != 0 {
		t.Fatalf("%d pending files after the expiry", n)
	}
	if n := s.rowCount(t, "batches"); n != 0 {
		t.Fatalf("%d batches after an expired upload", n)
	}
}

func TestPendingUploadRoundTrip(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), uploadChunk/16*2+100) // three chunks, the last short
	pu, err := s.srv.storeUpload(ctx, pendingUpload{Mission: 26, Name: "big.csv", User: 1}, bytes.NewReader(data))
	if err != nil || pu.Size != int64(len(data)) {
		t.Fatalf("store: %+v, %v", pu, err)
	}
	path, _ := s.srv.pendingFile(ctx, pu.ID, "upload")
	read := func() ([]byte, error) {
		pr, err := s.srv.openPending(ctx, path, pu.ID)
		if err != nil {
			return nil, err
		}
		defer pr.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(pr)
		return b.Bytes(), err
	}
	got, err := read()
	if err != nil || !bytes.Equal(got, data) || got == nil {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	// A truncated file is refused, never taken for a shorter upload.
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, raw[:len(raw)-40], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := read(); err == nil {
		t.Fatal("a truncated pending file was read without an error")
	}
	if _, err := s.srv.pendingFile(ctx, "../../etc/passwd", "upload"); err == nil {
		t.Fatal("a path as an upload id")
	}
}

func TestLargeUploadThroughThePreview(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	c, _ := s.missionUser(t, "tech1", auth.RoleIT)
	var file bytes.Buffer
	st, err := ingesttest.Generate(&file, ingesttest.Options{Records: 20000, Seed: 7, Tricky: true})
	if err != nil {
		t.Fatal(err)
	}
	if file.Len() < 3*uploadChunk {
		t.Fatalf("the file is only %d bytes: it should span several sealed chunks", file.Len())
	}
	pv := c.upload("26", "big.csv", file.Bytes())
	wantStatus(t, pv, http.StatusOK, "preview of a large file")
	wantIn(t, pv, "preview of a large file", `id="preview-received">`+strconv.Itoa(st.Records)+`<`)
	bid, _ := strconv.ParseInt(batchOf(t, c.post("/missions/26", loadAction(t, pv), nil)), 10, 64)
	b := s.waitBatch(t, bid)
	if b.Status != ingest.StatusDone || b.Received != st.Records || b.Loaded+b.Quarantined != st.Records || b.Size != int64(file.Len()) {
		t.Fatalf("large batch: %+v, generated %+v", b, st)
	}
}

func TestBodyLimitFollowsTheRoute(t *testing.T) {
	cases := []struct {
		method, path, contentType string
		want                      int64
	}{
		{"POST", "/missions/26/uploads", "multipart/form-data; boundary=x", maxUploadBytes + maxFormFieldBytes},
		{"POST", "/missions/26/profile", "multipart/form-data; boundary=x", maxUploadBytes + maxFormFieldBytes},
		{"POST", "/missions/26/uploads", "application/x-www-form-urlencoded", maxBodyBytes},
		{"POST", "/missions/26/settings", "multipart/form-data; boundary=x", maxBodyBytes},
		{"POST", "/login", "multipart/form-data; boundary=x", maxBodyBytes},
		{"GET", "/missions/26/uploads", "multipart/form-data; boundary=x", maxBodyBytes},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Header.Set("Content-Type", tc.contentType)
		if got := bodyLimit(r); got != tc.want {
			t.Errorf("%s %s (%s): limit %d, want %d", tc.method, tc.path, tc.contentType, got, tc.want)
		}
	}
}

// endless is an endless run of CSV-looking bytes.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "0123456789;\n"[i%12]
	}
	return len(p), nil
}

func TestUploadOverTheLimitIsRefusedAndLeavesNothing(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	c, _ := s.missionUser(t, "tech1", auth.RoleIT)
	token := c.csrfFrom("/missions/26")
	const boundary = "plateau-test-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + token + "\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.csv\"\r\n" +
		"Content-Type: text/csv\r\n\r\n"
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(endless{}, maxUploadBytes+maxFormFieldBytes+1<<20),
		strings.NewReader("\r\n--"+boundary+"--\r\n"))
	req := httptest.NewRequest(http.MethodPost, "/missions/26/uploads", body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	for name, value := range c.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("an upload over %d bytes: status %d, want 413", maxUploadBytes, rec.Code)
	}
	if n := s.pendingFiles(t); n != 0 {
		t.Fatalf("a refused upload left %d files", n)
	}
}
