package web

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/ingest"
	"plateau/internal/ingest/ingesttest"
)

// referenceProfilePath is the FlexyCall profile of mission 26.
const referenceProfilePath = "../../examples/profiles/flexycall.yaml"

func referenceProfileYAML(t testing.TB) []byte {
	t.Helper()
	y, err := os.ReadFile(referenceProfilePath)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// mission26 creates the reference mission with its profile, and removes
// the stack's pending uploads folder when the test ends.
func (s *stack) mission26(t testing.TB) campaign.Mission {
	t.Helper()
	m, _, err := s.ingest.CreateMission(s.ctx(), campaign.NewMission{Number: 26, Name: "Mission Sortant J+3",
		Client: "phonak", Regime: campaign.RegimeB2B}, referenceProfileYAML(t))
	if err != nil {
		t.Fatalf("create mission 26: %v", err)
	}
	dir, err := s.srv.uploadDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return m
}

// missionUser creates a user and signs a new client in as them.
func (s *stack) missionUser(t testing.TB, login string, roles ...auth.Role) (*client, auth.User) {
	t.Helper()
	u, secret := s.createUser(t, login, roles...)
	c := s.client(t)
	s.signIn(t, c, login, secret)
	return c, u
}

// The lines of the small lead file the tests upload (UTF-8, ';').
var (
	leadHeader = strings.Join(ingesttest.Header, ";")
	// Two leads for the autodialer, one on a toll-free number (manual
	// dialling), one without the dialled number (quarantined), and the
	// first one again (a duplicate).
	leadGood1   = "RDV;Jean;Martin;jean.martin@orange.fr;33612345678;Nouveau;Équipe Lyon;F1;18/05/2021;Audika;ERP1;69001;33478123456;1 rue Pasteur;Lyon;lyon@audika.fr"
	leadGood2   = "Rappel;Zoé;Dupont;zoe.dupont@free.fr;33698765432;Qualifié;Équipe Paris;F2;44333;Amplifon;ERP2;1000;33145678901;2 rue Victor Hugo;Bourg-en-Bresse;bourg@amplifon.fr"
	leadManual  = "Devis;Loïc;Bernard;loic@sfr.fr;33611223344;Nouveau;Service client;F3;01/02/2022;Entendre;ERP3;75011;33800123456;3 place de l'Église;Paris;paris@entendre.fr"
	leadNoPhone = "RDV;Inès;Petit;ines@gmail.com;33655667788;Nouveau;Équipe Lyon;F4;02/03/2022;Audika;ERP4;13001;;4 allée des Tilleuls;Marseille;marseille@audika.fr"
)

// leadFile is the test file: 5 records, 3 loaded (1 to manual dialling),
// 2 quarantined (line 5: no dialled number; line 6: duplicate of line 2).
func leadFile() []byte {
	return []byte(strings.Join([]string{leadHeader, leadGood1, leadGood2, leadManual, leadNoPhone, leadGood1}, "\r\n") + "\r\n")
}

// formPart is one part of a multipart form, in order.
type formPart struct {
	name, filename string // a file when filename is set
	value          []byte
}

// multipart posts a multipart form built from parts, in their order.
func (c *client) multipart(target string, parts []formPart) result {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := w.Write(p.value); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for name, value := range c.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return result{Response: res, body: string(b)}
}

// csrfFrom fetches a page and returns its CSRF token.
func (c *client) csrfFrom(page string) string {
	c.t.Helper()
	r := c.get(page)
	token := csrfOf(r.body)
	if token == "" {
		c.t.Fatalf("GET %s (%d): no CSRF field", page, r.StatusCode)
	}
	return token
}

// upload sends a file to the mission's upload form and returns the
// preview page.
func (c *client) upload(mission, name string, data []byte) result {
	c.t.Helper()
	token := c.csrfFrom("/missions/" + mission)
	return c.multipart("/missions/"+mission+"/uploads", []formPart{
		{name: csrfField, value: []byte(token)},
		{name: "file", filename: name, value: data},
	})
}

var loadFormRE = regexp.MustCompile(`action="(/missions/\d+/uploads/[0-9a-f]{32}/load)"`)

// loadAction finds the "Load" form of a preview page.
func loadAction(t testing.TB, r result) string {
	t.Helper()
	m := loadFormRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no Load form on the preview page (%d):\n%s", r.StatusCode, r.body)
	}
	return m[1]
}

var batchLocationRE = regexp.MustCompile(`^/batches/(\d+)(\?.*)?$`)

// batchOf returns the batch id a redirect points to.
func batchOf(t testing.TB, r result) string {
	t.Helper()
	m := batchLocationRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("status %d, Location %q: want a redirect to a batch page\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	return m[1]
}

// waitBatch waits for a background load to finish the batch and remove
// its pending file. It waits for an outcome; it asserts nothing on time.
func (s *stack) waitBatch(t testing.TB, id int64) ingest.Batch {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, err := s.ingest.Batch(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if (b.Status == ingest.StatusDone || b.Status == ingest.StatusFailed) && s.pendingFiles(t) == 0 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %d still %s", id, b.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pendingFiles counts the files in the pending uploads folder.
func (s *stack) pendingFiles(t testing.TB) int {
	t.Helper()
	dir, err := s.srv.uploadDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// rowCount counts the rows of a table.
func (s *stack) rowCount(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// wantIn fails unless the page holds every text, HTML-escaped as the
// templates write it.
func wantIn(t testing.TB, r result, what string, texts ...string) {
	t.Helper()
	for _, x := range texts {
		if !strings.Contains(r.body, x) {
			t.Errorf("%s: the page lacks %q", what, x)
		}
	}
}

// shown is s as html/template writes it in a page's text.
func shown(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;", "+", "&#43;").Replace(s)
}
