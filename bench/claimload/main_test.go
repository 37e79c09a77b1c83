package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is an in-memory stand-in for Plateau's API: bearer tokens, a
// presence call, a queue of contacts leased to one agent at a time, and
// outcomes accepted from the lease holder only (409 otherwise).
type fakeAPI struct {
	t       *testing.T
	mission int
	tokens  map[string]bool

	mu        sync.Mutex
	next      int // next contact number handed out
	limit     int // contacts in the queue (0: endless)
	inService map[string]bool
	leased    map[string]string // contact id -> token
	used      map[string]int    // token -> claims
	code      string            // the last outcome code posted

	// dup makes the first claims of tokens t0 and t1 both get contact "dup",
	// and holds each outcome on it until both were posted (so both agents
	// took it before either was answered).
	dup       bool
	dupClaims int
	dupPosted int
	dupBoth   chan struct{}
}

func newFakeAPI(t *testing.T, agents int) *fakeAPI {
	f := &fakeAPI{t: t, mission: 26, tokens: map[string]bool{}, inService: map[string]bool{},
		leased: map[string]string{}, used: map[string]int{}, dupBoth: make(chan struct{})}
	for i := range agents {
		f.tokens["t"+strconv.Itoa(i)] = true
	}
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[tok] {
		http.Error(w, "unauthorised", http.StatusUnauthorized)
		return
	}
	mission := "/api/v1/missions/" + strconv.Itoa(f.mission)
	switch {
	case r.Method == http.MethodPost && r.URL.Path == mission+"/presence":
		var body struct{ State string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.State != "S" {
			http.Error(w, "bad presence", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.inService[tok] = true
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"state": "S"}`)
	case r.Method == http.MethodPost && r.URL.Path == mission+"/next":
		f.mu.Lock()
		if !f.inService[tok] {
			f.mu.Unlock()
			http.Error(w, "not in service", http.StatusConflict)
			return
		}
		var id string
		switch {
		case f.dup && (tok == "t0" || tok == "t1") && f.used[tok] == 0:
			id = "dup"
			f.dupClaims++
		case f.limit > 0 && f.next >= f.limit:
			f.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			f.next++
			id = fmt.Sprintf("261123_%d_26", f.next)
			if _, taken := f.leased[id]; taken {
				f.t.Errorf("fake handed out %s twice", id)
			}
		}
		f.leased[id] = tok
		f.used[tok]++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": %q, "mission": 26, "phone": "+33612345678", "attempts": 0, "state": "open", "fields": {}}`, id)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/contacts/") && strings.HasSuffix(r.URL.Path, "/outcome"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/contacts/"), "/outcome")
		if r.URL.Query().Get("mission") != strconv.Itoa(f.mission) {
			http.Error(w, "mission missing", http.StatusBadRequest)
			return
		}
		var body struct{ Code string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Code == "" {
			http.Error(w, "bad outcome", http.StatusBadRequest)
			return
		}
		if id == "dup" {
			f.mu.Lock()
			if f.dupPosted++; f.dupPosted == 2 {
				close(f.dupBoth)
			}
			f.mu.Unlock()
			select {
			case <-f.dupBoth:
			case <-r.Context().Done():
				return
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		f.mu.Lock()
		holder, ok := f.leased[id]
		if ok && holder == tok {
			delete(f.leased, id)
			f.code = body.Code
		}
		f.mu.Unlock()
		if !ok || holder != tok {
			http.Error(w, "not leased to you", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": %q, "outcome": %q}`, id, body.Code)
	default:
		http.NotFound(w, r)
	}
}

func testConfig(url string, agents int, d time.Duration) config {
	cfg := config{base: url, mission: 26, duration: d, code: "repondeur", presence: true,
		timeout: 5 * time.Second, idle: time.Millisecond}
	for i := range agents {
		cfg.tokens = append(cfg.tokens, "t"+strconv.Itoa(i))
	}
	return cfg
}

func TestAgentsClaimAndQualifyWithTheirOwnTokens(t *testing.T) {
	const agents = 20
	f := newFakeAPI(t, agents)
	srv := httptest.NewServer(f)
	defer srv.Close()
	rep := run(context.Background(), testConfig(srv.URL, agents, 300*time.Millisecond), newClient(agents))
	if len(rep.Errors) != 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	if rep.Claims == 0 || rep.Qualifications == 0 || rep.Qualifications > rep.Claims {
		t.Fatalf("claims %d, qualifications %d", rep.Claims, rep.Qualifications)
	}
	if rep.DoubleLeases != 0 || rep.PresenceFailure != 0 {
		t.Fatalf("double leases %d, presence failures %d on a correct server", rep.DoubleLeases, rep.PresenceFailure)
	}
	if int64(len(rep.ClaimLatency)) != rep.Claims+rep.Empty {
		t.Fatalf("%d claim latencies for %d answers", len(rep.ClaimLatency), rep.Claims+rep.Empty)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.used) != agents {
		t.Fatalf("%d agents claimed, want %d: every agent uses its own token", len(f.used), agents)
	}
	if f.code != "repondeur" {
		t.Fatalf("outcome code %q", f.code)
	}
	s := rep.summary()
	if s.ClaimsPerSec <= 0 || s.ClaimP50 > s.ClaimP99 || s.ClaimP99 > s.ClaimMax {
		t.Fatalf("summary %+v", s)
	}
}

func TestNothingToCallIsCountedNotAnError(t *testing.T) {
	f := newFakeAPI(t, 4)
	f.limit = 10
	srv := httptest.NewServer(f)
	defer srv.Close()
	rep := run(context.Background(), testConfig(srv.URL, 4, 200*time.Millisecond), newClient(4))
	if rep.Claims != 10 || rep.Qualifications != 10 || rep.Empty == 0 || len(rep.Errors) != 0 {
		t.Fatalf("claims %d, qualifications %d, empty %d, errors %v", rep.Claims, rep.Qualifications, rep.Empty, rep.Errors)
	}
}

func TestADoubleLeaseIsDetected(t *testing.T) {
	f := newFakeAPI(t, 2)
	f.dup = true
	srv := httptest.NewServer(f)
	defer srv.Close()
	rep := run(context.Background(), testConfig(srv.URL, 2, 300*time.Millisecond), newClient(2))
	if rep.DoubleLeases != 1 || len(rep.DoubleLeaseIDs) != 1 || rep.DoubleLeaseIDs[0] != "dup" {
		t.Fatalf("double leases %d %v, want exactly contact dup", rep.DoubleLeases, rep.DoubleLeaseIDs)
	}
}

func TestErrorsAreCountedByKind(t *testing.T) {
	f := newFakeAPI(t, 2)
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(srv.URL, 2, 100*time.Millisecond)
	cfg.tokens = []string{"t0", "stranger"}
	rep := run(context.Background(), cfg, newClient(2))
	if rep.PresenceFailure != 1 || rep.Errors["presence 401"] != 1 || rep.Errors["next 401"] == 0 {
		t.Fatalf("presence failures %d, errors %v", rep.PresenceFailure, rep.Errors)
	}
}

func TestContactIDStringOrNumber(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{`{"id": "261123_1_26", "mission": 26}`, "261123_1_26", true},
		{`{"id": 42}`, "42", true},
		{`{"mission": 26}`, "", false},
		{`{"id": null}`, "", false},
		{`not json`, "", false},
	}
	for _, tt := range tests {
		got, err := contactID([]byte(tt.body))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("contactID(%s) = %q, %v", tt.body, got, err)
		}
	}
}
