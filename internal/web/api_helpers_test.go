package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// apiEnv is a whole stack driven through the JSON API with API tokens.
type apiEnv struct {
	*stack
	t      testing.TB
	tokens map[string]string // login -> API token
	users  map[string]auth.User
}

func newAPIEnv(t testing.TB, d *db.DB) *apiEnv {
	t.Helper()
	return &apiEnv{stack: newStackOn(t, d), t: t, tokens: map[string]string{}, users: map[string]auth.User{}}
}

// apiUser creates a user with the roles and an API token, returned.
func (e *apiEnv) apiUser(login string, roles ...auth.Role) string {
	e.t.Helper()
	u, _ := e.createUser(e.t, login, roles...)
	token, _, err := e.auth.CreateToken(e.ctx(), u.ID, "test "+login)
	if err != nil {
		e.t.Fatalf("token for %s: %v", login, err)
	}
	e.tokens[login], e.users[login] = token, u
	return token
}

// apiMission creates a mission with the reference profile; the calling
// windows and holidays are open around the clock unless windows says
// otherwise, so that tests do not depend on the day they run.
func (e *apiEnv) apiMission(number int, client string, regime campaign.Regime, windows string, members ...string) {
	e.t.Helper()
	y, err := os.ReadFile("../../examples/profiles/flexycall.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	y = bytes.Replace(y, []byte("  number: 26\n"), fmt.Appendf(nil, "  number: %d\n", number), 1)
	if windows == "" {
		windows = "mon-sun 00:00-24:00"
	}
	_, _, err = e.ingest.CreateMission(e.ctx(), campaign.NewMission{Number: number, Name: "Mission API",
		Client: client, Regime: regime, Windows: windows, HolidaysOpen: true}, y)
	if err != nil {
		e.t.Fatalf("create mission %d: %v", number, err)
	}
	ids := make([]int64, 0, len(members))
	for _, m := range members {
		ids = append(ids, e.users[m].ID)
	}
	if len(ids) > 0 {
		if err := e.camp.Assign(e.ctx(), number, ids...); err != nil {
			e.t.Fatal(err)
		}
	}
}

// apiResult is an answer of the API.
type apiResult struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with the token (none when ""); body is sent as is
// when it is a string or []byte, as JSON otherwise.
func (e *apiEnv) call(method, path, token string, body any) apiResult {
	e.t.Helper()
	return apiDo(e.t, e.srv, method, path, token, body, nil)
}

func apiDo(t testing.TB, h http.Handler, method, path, token string, body any, header http.Header) apiResult {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return apiResult{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// want fails unless the status is status, and decodes the body into v
// (when not nil).
func (r apiResult) want(t testing.TB, status int, what string, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body: %s", what, r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: %v; body: %s", what, err, r.body)
		}
	}
}

// wantError fails unless the answer is the JSON error with status and code.
func (r apiResult) wantError(t testing.TB, status int, code, what string) map[string]any {
	t.Helper()
	var body struct {
		Error map[string]any `json:"error"`
	}
	r.want(t, status, what, &body)
	m := body.Error
	if m["code"] != code || m["message"] == "" || m["message"] == nil {
		t.Fatalf("%s: error %s, want code %q with a message", what, r.body, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	return m
}

// apiLeadItem is a valid item of the reference profile, with its dialled number
// made from i, and changes applied.
func apiLeadItem(i int, changes map[string]any) map[string]any {
	it := map[string]any{
		"type": "Lead", "name": "Marie", "surname": fmt.Sprintf("Durand %d", i), "email_address": "marie@example.org",
		"phone_number": "33612345678", "statut_de_la_piste": "Nouveau", "proprietaire_de_la_piste": "Paul",
		"mc_form_id": "F-1", "lead_creation_date": "18/05/2021", "hearing_center": "Audition Centre",
		"hcp_erp_number": "ERP1", "hcp_postal_code": "75001", "hcp_phone_number": fmt.Sprintf("3314567%04d", i),
		"hcp_address": "1 rue de la Paix", "hcp_city": "Paris", "hcp_email_address": "centre@example.org",
	}
	maps.Copy(it, changes)
	return it
}

// loadLeads loads n leads into a mission through the API and returns their
// contact ids.
func (e *apiEnv) loadLeads(mission, n int, token string) []string {
	e.t.Helper()
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = apiLeadItem(i+1, nil)
	}
	var ans apiLoadAnswer
	e.call(http.MethodPost, fmt.Sprintf("/api/v1/missions/%d/contacts", mission), token, items).
		want(e.t, http.StatusCreated, "load leads", &ans)
	ids := make([]string, 0, n)
	for _, it := range ans.Items {
		if it.Status != "loaded" {
			e.t.Fatalf("lead %d: %+v", it.Index, it)
		}
		ids = append(ids, it.ID)
	}
	return ids
}

// inService puts an agent in service on a mission through the API.
func (e *apiEnv) inService(mission int, login string) {
	e.t.Helper()
	e.call(http.MethodPost, fmt.Sprintf("/api/v1/missions/%d/presence", mission), e.tokens[login],
		map[string]string{"state": "S"}).want(e.t, http.StatusOK, "presence of "+login, nil)
}
