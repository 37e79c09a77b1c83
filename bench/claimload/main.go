// Command claimload is the HTTP load generator of the call queue: N agents,
// each with its own bearer token, loop "next contact" then "outcome" on one
// mission through Plateau's JSON API for a duration, and it reports claims
// and qualifications per second, the claim latency percentiles, the errors,
// and the double leases it saw.
//
//	go run ./bench/claimload -url http://127.0.0.1:8080 -mission 26 -tokens tokens.txt -duration 60s
//
// Each agent first goes in service (POST /api/v1/missions/{number}/presence
// {"state": "S"}), then loops:
//
//	POST /api/v1/missions/{number}/next      200 with the contact ({"id": ...}), or 204
//	POST /api/v1/contacts/{id}/outcome?mission={number}   {"code": "<a retryable code>"}
//
// Double leases are tracked on the client side: an agent holds a contact from
// the moment its claim answer arrives until the answer to its outcome. When a
// claim answer names a contact another agent holds, both claims committed
// while the first agent's lease was live: a double lease. (The first lease may
// have ended with its outcome's commit, before that answer arrived; but the
// outcome code posted is retryable with a delay of an hour or more, so the
// contact cannot be due again meanwhile. Do not use a code without a retry
// delay. Leases that expire, after the mission's lease duration of minutes,
// would be false positives too; no agent here holds one that long.)
//
// Standard library only; the exit status is 1 when a double lease was seen.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// config is what a run needs.
type config struct {
	base     string        // Plateau's base URL, no trailing slash
	mission  int           // mission number
	tokens   []string      // one bearer token per agent
	duration time.Duration // how long agents loop
	code     string        // the outcome code posted (retryable: the contact comes back later)
	presence bool          // go in service first
	timeout  time.Duration // per request
	idle     time.Duration // wait after a 204 before asking again
}

// report is what a run measured.
type report struct {
	Agents          int
	Elapsed         time.Duration
	Claims          int64 // 200 answers to next
	Empty           int64 // 204 answers to next
	Qualifications  int64 // 2xx answers to outcome
	ClaimLatency    []time.Duration
	OutcomeLatency  []time.Duration
	Errors          map[string]int64 // "next 500", "outcome 409", "next: timeout"...
	DoubleLeases    int64
	DoubleLeaseIDs  []string // the first few
	PresenceFailure int64
}

func main() {
	var (
		cfg       config
		tokenFile string
		agents    int
		asJSON    bool
	)
	flag.StringVar(&cfg.base, "url", "http://127.0.0.1:8080", "Plateau's base URL")
	flag.IntVar(&cfg.mission, "mission", 26, "mission number")
	flag.StringVar(&tokenFile, "tokens", "", "file of bearer tokens, one a line, one per agent (required)")
	flag.IntVar(&agents, "agents", 200, "number of agents (at most the number of tokens)")
	flag.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long the agents loop")
	flag.StringVar(&cfg.code, "code", "repondeur", "outcome code to post: a retryable one, so the mission does not run dry")
	flag.BoolVar(&cfg.presence, "presence", true, `put every agent in service first (POST .../presence {"state": "S"})`)
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.DurationVar(&cfg.idle, "idle", 50*time.Millisecond, "pause after a 204 before asking again")
	flag.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	flag.Parse()
	if tokenFile == "" || agents <= 0 || cfg.duration <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	tokens, err := readTokens(tokenFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "claimload:", err)
		os.Exit(2)
	}
	if len(tokens) < agents {
		fmt.Fprintf(os.Stderr, "claimload: %d agents but only %d tokens in %s\n", agents, len(tokens), tokenFile)
		os.Exit(2)
	}
	cfg.tokens = tokens[:agents]
	cfg.base = strings.TrimRight(cfg.base, "/")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := run(ctx, cfg, newClient(agents))
	if asJSON {
		err = json.NewEncoder(os.Stdout).Encode(rep.summary())
	} else {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "claimload:", err)
		os.Exit(2)
	}
	if rep.DoubleLeases > 0 {
		os.Exit(1)
	}
}

func readTokens(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, t)
		}
	}
	return out, sc.Err()
}

// newClient keeps one idle connection per agent, so that a loop reuses its
// connection instead of opening one a request.
func newClient(agents int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = agents + 16
	tr.MaxIdleConnsPerHost = agents + 16
	return &http.Client{Transport: tr}
}

// leases is the client-side view of who holds which contact.
type leases struct {
	mu     sync.Mutex
	holder map[string]int // contact id -> agent index
}

// take records that agent holds id and reports whether another agent
// already did.
func (l *leases) take(id string, agent int) (double bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if other, ok := l.holder[id]; ok && other != agent {
		double = true
	}
	l.holder[id] = agent
	return double
}

// give ends agent's hold on id (once its outcome is answered).
func (l *leases) give(id string, agent int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder[id] == agent {
		delete(l.holder, id)
	}
}

// agentStats is one agent's share of the report, merged at the end.
type agentStats struct {
	claims, empty, quals int64
	claimLat, outLat     []time.Duration
	errors               map[string]int64
	doubles              []string
	presenceFailed       bool
}

func (s *agentStats) fail(what string) {
	if s.errors == nil {
		s.errors = make(map[string]int64)
	}
	s.errors[what]++
}

// run makes the agents loop until cfg.duration has passed or ctx ends.
func run(ctx context.Context, cfg config, client *http.Client) report {
	ls := &leases{holder: make(map[string]int)}
	stats := make([]agentStats, len(cfg.tokens))
	var wg sync.WaitGroup
	// Every agent goes in service before the clock starts.
	if cfg.presence {
		for i, tok := range cfg.tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := fmt.Sprintf("/api/v1/missions/%d/presence", cfg.mission)
				status, _, err := post(ctx, client, cfg, tok, path, []byte(`{"state": "S"}`))
				if err != nil || status/100 != 2 {
					stats[i].presenceFailed = true
					stats[i].fail(describe("presence", status, err))
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, start.Add(cfg.duration))
	defer cancel()
	for i, tok := range cfg.tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			agentLoop(runCtx, cfg, client, ls, i, tok, &stats[i])
		}()
	}
	wg.Wait()
	rep := report{Agents: len(cfg.tokens), Elapsed: time.Since(start), Errors: make(map[string]int64)}
	for _, s := range stats {
		rep.Claims += s.claims
		rep.Empty += s.empty
		rep.Qualifications += s.quals
		rep.ClaimLatency = append(rep.ClaimLatency, s.claimLat...)
		rep.OutcomeLatency = append(rep.OutcomeLatency, s.outLat...)
		for k, n := range s.errors {
			rep.Errors[k] += n
		}
		rep.DoubleLeases += int64(len(s.doubles))
		if len(rep.DoubleLeaseIDs) < 10 {
			rep.DoubleLeaseIDs = append(rep.DoubleLeaseIDs, s.doubles[:min(len(s.doubles), 10-len(rep.DoubleLeaseIDs))]...)
		}
		if s.presenceFailed {
			rep.PresenceFailure++
		}
	}
	slices.Sort(rep.ClaimLatency)
	slices.Sort(rep.OutcomeLatency)
	return rep
}

// agentLoop is one agent: next, outcome, next... A request cut by the end of
// the run is not counted, neither as a success nor as an error.
func agentLoop(ctx context.Context, cfg config, client *http.Client, ls *leases, agent int, token string, s *agentStats) {
	next := fmt.Sprintf("/api/v1/missions/%d/next", cfg.mission)
	body, _ := json.Marshal(map[string]string{"code": cfg.code})
	for ctx.Err() == nil {
		t := time.Now()
		status, resp, err := post(ctx, client, cfg, token, next, nil)
		lat := time.Since(t)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && status == http.StatusNoContent:
			s.empty++
			s.claimLat = append(s.claimLat, lat)
			sleep(ctx, cfg.idle)
			continue
		case err == nil && status == http.StatusOK:
		default:
			s.fail(describe("next", status, err))
			sleep(ctx, cfg.idle)
			continue
		}
		id, err := contactID(resp)
		if err != nil {
			s.fail("next: " + err.Error())
			continue
		}
		s.claims++
		s.claimLat = append(s.claimLat, lat)
		if ls.take(id, agent) {
			s.doubles = append(s.doubles, id)
		}
		t = time.Now()
		status, _, err = post(ctx, client, cfg, token, outcome(cfg.mission, id), body)
		lat = time.Since(t)
		ls.give(id, agent)
		if ctx.Err() != nil {
			return
		}
		if err != nil || status/100 != 2 {
			s.fail(describe("outcome", status, err))
			continue
		}
		s.quals++
		s.outLat = append(s.outLat, lat)
	}
}

// outcome is the path of a contact's outcome. The mission is given, as an
// agent's screen knows it: the server need not look the id up among every
// mission's contacts.
func outcome(mission int, id string) string {
	return "/api/v1/contacts/" + url.PathEscape(id) + "/outcome?mission=" + strconv.Itoa(mission)
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// contactID reads the "id" of a contact, a string or a number.
func contactID(body []byte) (string, error) {
	var c struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return "", fmt.Errorf("contact JSON: %w", err)
	}
	if len(c.ID) == 0 || string(c.ID) == "null" {
		return "", errors.New("contact without id")
	}
	var s string
	if json.Unmarshal(c.ID, &s) == nil {
		return s, nil
	}
	return string(c.ID), nil
}

// post sends a JSON POST and returns the status and the body.
func post(ctx context.Context, client *http.Client, cfg config, token, path string, body []byte) (int, []byte, error) {
	rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, cfg.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// describe names an error for the report's counts.
func describe(what string, status int, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return what + ": timeout"
	case err != nil:
		return what + ": " + err.Error()
	}
	return what + " " + strconv.Itoa(status)
}

// pct returns the p-th quantile (0..1) of sorted durations, in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(float64(len(sorted)-1)*p)].Microseconds()) / 1000
}

// summary is the report in figures.
type summary struct {
	Agents         int              `json:"agents"`
	Seconds        float64          `json:"seconds"`
	Claims         int64            `json:"claims"`
	ClaimsPerSec   float64          `json:"claims_per_s"`
	Empty          int64            `json:"empty"`
	Quals          int64            `json:"qualifications"`
	QualsPerSec    float64          `json:"qualifications_per_s"`
	ClaimP50       float64          `json:"claim_p50_ms"`
	ClaimP95       float64          `json:"claim_p95_ms"`
	ClaimP99       float64          `json:"claim_p99_ms"`
	ClaimMax       float64          `json:"claim_max_ms"`
	OutcomeP50     float64          `json:"outcome_p50_ms"`
	OutcomeP99     float64          `json:"outcome_p99_ms"`
	Errors         map[string]int64 `json:"errors"`
	DoubleLeases   int64            `json:"double_leases"`
	DoubleLeaseIDs []string         `json:"double_lease_ids,omitempty"`
	NotInService   int64            `json:"presence_failures"`
}

func (r report) summary() summary {
	secs := r.Elapsed.Seconds()
	return summary{
		Agents: r.Agents, Seconds: secs,
		Claims: r.Claims, ClaimsPerSec: float64(r.Claims) / secs, Empty: r.Empty,
		Quals: r.Qualifications, QualsPerSec: float64(r.Qualifications) / secs,
		ClaimP50: pct(r.ClaimLatency, 0.50), ClaimP95: pct(r.ClaimLatency, 0.95),
		ClaimP99: pct(r.ClaimLatency, 0.99), ClaimMax: pct(r.ClaimLatency, 1),
		OutcomeP50: pct(r.OutcomeLatency, 0.50), OutcomeP99: pct(r.OutcomeLatency, 0.99),
		Errors: r.Errors, DoubleLeases: r.DoubleLeases, DoubleLeaseIDs: r.DoubleLeaseIDs,
		NotInService: r.PresenceFailure,
	}
}

func (r report) print(w io.Writer) {
	s := r.summary()
	fmt.Fprintf(w, "agents %d, %.1f s\n", s.Agents, s.Seconds)
	fmt.Fprintf(w, "claims %d (%.0f/s), nothing to call (204) %d, qualifications %d (%.0f/s)\n",
		s.Claims, s.ClaimsPerSec, s.Empty, s.Quals, s.QualsPerSec)
	fmt.Fprintf(w, "claim latency ms: p50 %.1f, p95 %.1f, p99 %.1f, max %.1f\n", s.ClaimP50, s.ClaimP95, s.ClaimP99, s.ClaimMax)
	fmt.Fprintf(w, "outcome latency ms: p50 %.1f, p99 %.1f\n", s.OutcomeP50, s.OutcomeP99)
	var total int64
	keys := make([]string, 0, len(s.Errors))
	for k, n := range s.Errors {
		keys = append(keys, k)
		total += n
	}
	slices.Sort(keys)
	fmt.Fprintf(w, "errors %d\n", total)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %d\n", k, s.Errors[k])
	}
	if s.NotInService > 0 {
		fmt.Fprintf(w, "agents whose presence call failed: %d\n", s.NotInService)
	}
	fmt.Fprintf(w, "double leases %d", s.DoubleLeases)
	if len(s.DoubleLeaseIDs) > 0 {
		fmt.Fprintf(w, " (e.g. %s)", strings.Join(s.DoubleLeaseIDs, ", "))
	}
	fmt.Fprintln(w)
}
