package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"plateau/internal/auth"
)

// TestBrowserUploadPreviewLoad drives headless Chromium through an upload:
// an IT technician signs in with password and TOTP, creates mission 26
// with the reference profile, picks a lead file on the mission page, reads the preview (the records as they will be
// loaded, the quarantined lines with their reasons), clicks "Load" and
// lands on the batch page, which follows the load until its counts show.
func TestBrowserUploadPreviewLoad(t *testing.T) {
	allocCtx := newBrowser(t, 90*time.Second, 1280, 900)
	s := newStack(t)
	_, secret := s.createUser(t, "tech1", auth.RoleIT)
	uploads, err := s.srv.uploadDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(uploads) })
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	s.srv.cfg.BaseURL = ts.URL
	file := filepath.Join(t.TempDir(), "leads.csv")
	if err := os.WriteFile(file, leadFile(), 0o600); err != nil {
		t.Fatal(err)
	}

	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	problems := listenBrowserErrors(t, bctx)
	fail := func(step string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(bctx, chromedp.Location())
		html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS(`main`)))
		t.Fatalf("%s: %v (page %s)\n%s", step, err, loc, html)
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			fail(step, err)
		}
	}
	text := func(step, sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail(step, err)
		}
		return v
	}
	submit := chromedp.CSS(`main form button[type="submit"]`)

	do("login",
		chromedp.Navigate(ts.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#login`), "tech1"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	do("TOTP code",
		chromedp.SendKeys(chromedp.CSS(`#code`), s.code(t, secret)),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`#home-it`)),
	)
	do("new mission",
		chromedp.Click(chromedp.CSS(`nav a[href="/missions"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#missions`)),
		chromedp.Click(chromedp.CSS(`#mission-new-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#mission-new`)),
		chromedp.SendKeys(chromedp.CSS(`#number`), "26"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Mission Sortant J+3"),
		chromedp.SendKeys(chromedp.CSS(`#client`), "phonak"),
		chromedp.SetValue(chromedp.CSS(`#yaml`), string(referenceProfileYAML(t))),
		chromedp.Click(chromedp.CSS(`#mission-new button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#upload-file`)),
	)
	if _, err := s.ingest.ActiveProfile(context.Background(), 26); err != nil {
		t.Fatalf("the mission created in the browser has no profile: %v", err)
	}
	do("missions list",
		chromedp.Click(chromedp.CSS(`nav a[href="/missions"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#missions`)),
		chromedp.Click(chromedp.CSS(`#missions a[href="/missions/26"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#upload-file`)),
	)
	do("upload",
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-file`), []string{file}),
		chromedp.Click(chromedp.CSS(`#upload button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#preview-rows`)),
	)
	id := contactIDPrefix()
	if got := text("preview counts", `#preview-loaded`) + "/" + text("preview counts", `#preview-quarantined`); got != "3/2" {
		t.Errorf("preview loaded/quarantined %s, want 3/2", got)
	}
	if rows := text("preview rows", `#preview-rows`); !strings.Contains(rows, id+"_1_26") || !strings.Contains(rows, "+33800123456") {
		t.Errorf("the preview rows lack the first contact id or the toll-free number:\n%s", rows)
	}
	if q := text("preview quarantine", `#preview-quarantine`); !strings.Contains(q, `required field "hcp_phone_number" is empty`) ||
		!strings.Contains(q, "exact duplicate of the record on line 2") {
		t.Errorf("the preview's quarantine lacks its reasons:\n%s", q)
	}

	do("load",
		chromedp.Click(chromedp.CSS(`#load`)),
		chromedp.WaitVisible(chromedp.CSS(`#batch-counts`)),
	)
	// The page follows the load (missions.js) and reloads itself once the
	// batch is done; a check may meet the page while it reloads.
	done := `!!document.getElementById('count-loaded') && !document.getElementById('batch-progress') &&
		document.getElementById('count-loaded').textContent === '3'`
	for deadline := time.Now().Add(30 * time.Second); ; {
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](done))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			fail("batch loaded", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := text("batch counts", `#count-received`) + "/" + text("batch counts", `#count-loaded`) + "/" +
		text("batch counts", `#count-quarantined`) + "/" + text("batch counts", `#count-manual`); got != "5/3/2/1" {
		t.Errorf("batch received/loaded/quarantined/manual %s, want 5/3/2/1", got)
	}
	if q := text("batch quarantine", `#batch-quarantine`); !strings.Contains(q, `required field "hcp_phone_number" is empty`) {
		t.Errorf("the batch page lacks the quarantine reason:\n%s", q)
	}
	for s.pendingFiles(t) != 0 {
		time.Sleep(10 * time.Millisecond) // the background load removes its file as it ends
	}

	// A batch still loading (written here as a slow load leaves it): the
	// page shows its progress, follows it, and reloads once it is done.
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(context.Background(), query, args...); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UnixMilli()
	exec(`INSERT INTO batches (id, mission, profile_version, source, name, received_at, status, progress, received,
		quarantined, size, created_by, created_at, started_at, heartbeat_at)
		VALUES (900, 26, 1, 'upload', 'big.csv', ?, 'loading', 1000, 1000, 3, 123456, 'tech1', ?, ?, ?)`, now, now, now, now)
	do("batch loading",
		chromedp.Navigate(ts.URL+"/batches/900"),
		chromedp.WaitVisible(chromedp.CSS(`#batch-progress`)),
	)
	exec(`UPDATE batches SET progress = 2000, received = 2000, quarantined = 7 WHERE id = 900`)
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
		`document.getElementById('progress-records').textContent === '2000' &&
		 document.getElementById('progress-quarantined').textContent === '7'`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		fail("progress followed", err)
	}
	exec(`UPDATE batches SET status = 'done', progress = 2500, received = 2500, loaded = 2490, quarantined = 10,
		finished_at = ? WHERE id = 900`, now)
	for deadline := time.Now().Add(30 * time.Second); ; {
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](
			`!!document.getElementById('count-loaded') && !document.getElementById('batch-progress') &&
			 document.getElementById('count-loaded').textContent === '2490'`))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			fail("reload once done", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	problems.check(t, "")
}
