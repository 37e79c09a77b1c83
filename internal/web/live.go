package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
)

// liveStreamMax ends an event stream after a while: the browser reconnects
// at once (EventSource does), which checks the session again and lets a
// stopping server drain its connections.
const liveStreamMax = 5 * time.Minute

// liveData is the supervisor's live view page.
type liveData struct {
	Missions []campaign.Mission
	Mission  *campaign.Mission
	// Rules and States list the texts the page's script needs, by code.
	Rules  []liveLabel
	States []liveLabel
}

type liveLabel struct {
	Code string
	Key  string
}

// liveMissions are the missions a supervisor watches: an
// administrator sees every mission, a supervisor those they are assigned to.
func (s *Server) liveMissions(ctx context.Context, u *auth.User) ([]campaign.Mission, error) {
	f := campaign.MissionFilter{}
	if !u.Has(auth.RoleAdmin) {
		f.Member = u.ID
	}
	ms, err := s.camp.Missions(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	return ms, nil
}

// liveMission checks that the user may watch the mission.
func (s *Server) liveMission(r *http.Request, number int) (campaign.Mission, error) {
	st := stateOf(r)
	ctx := r.Context()
	m, err := s.camp.Mission(ctx, number)
	if errors.Is(err, campaign.ErrNotFound) {
		return campaign.Mission{}, notFound(err)
	}
	if err != nil {
		return campaign.Mission{}, fmt.Errorf("live: %w", err)
	}
	if st.user.Has(auth.RoleAdmin) {
		return m, nil
	}
	ok, err := s.camp.IsMember(ctx, number, st.user.ID)
	if err != nil {
		return campaign.Mission{}, fmt.Errorf("live: %w", err)
	}
	if !ok {
		return campaign.Mission{}, forbidden(fmt.Errorf("user %d does not supervise mission %d", st.user.ID, number))
	}
	return m, nil
}

// handleLive serves GET /live: the missions the user supervises and, for
// the chosen one, the live view the page's script fills from
// /live/events.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	ms, err := s.liveMissions(r.Context(), st.user)
	if err != nil {
		return err
	}
	data := liveData{Missions: ms}
	number := 0
	if v := r.URL.Query().Get("mission"); v != "" {
		if number, err = floorMissionNumber(v); err != nil {
			return err
		}
	} else if len(ms) == 1 {
		number = ms[0].Number
	}
	if number != 0 {
		m, err := s.liveMission(r, number)
		if err != nil {
			return err
		}
		data.Mission = &m
	}
	for code, key := range floorRuleKeys {
		data.Rules = append(data.Rules, liveLabel{Code: string(code), Key: key})
	}
	for code, key := range floorStateKeys {
		data.States = append(data.States, liveLabel{Code: string(code), Key: key})
	}
	byCode := func(a, b liveLabel) int { return cmp.Compare(a.Code, b.Code) }
	slices.SortFunc(data.Rules, byCode)
	slices.SortFunc(data.States, byCode)
	return s.render(w, r, http.StatusOK, "live", page{Title: "live.title", Section: "live", Data: data})
}

// handleLiveEvents serves GET /live/events?mission=N: the mission's live
// view as Server-Sent Events ("stats", JSON), from the hub every viewer of
// the mission shares.
func (s *Server) handleLiveEvents(w http.ResponseWriter, r *http.Request, hubs *liveHubs) error {
	number, err := floorMissionNumber(r.URL.Query().Get("mission"))
	if err != nil {
		return err
	}
	if _, err := s.liveMission(r, number); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// A server write timeout would cut the stream; this one has its own end.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("live events: flush: %w", err)
	}
	ch, stop := hubs.subscribe(number)
	defer stop()
	end := time.NewTimer(liveStreamMax)
	defer end.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-end.C:
			return nil
		case <-s.closing:
			return nil // the server stops: the browser reconnects elsewhere or later
		case b := <-ch:
			if _, err := fmt.Fprintf(w, "event: stats\ndata: %s\n\n", b); err != nil {
				return nil // the viewer left
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
	}
}

// liveSnapshot is one computation of a mission's live view, shared as is
// by every viewer: codes, not texts (each page translates them).
type liveSnapshot struct {
	Mission     int       `json:"mission"`
	At          time.Time `json:"at"`
	Serving     bool      `json:"serving"`
	ServingRule string    `json:"serving_rule,omitempty"`
	ServingNext time.Time `json:"serving_next,omitzero"`

	Total       int `json:"total"`
	Open        int `json:"open"`
	DueNow      int `json:"due_now"`
	Waiting     int `json:"waiting"`
	Leased      int `json:"leased"`
	HeldTotal   int `json:"held_total"`
	Closed      int `json:"closed"`
	ClosedAtCap int `json:"closed_at_cap"`

	Held            []liveCount `json:"held"`
	ClosedByOutcome []liveCount `json:"closed_by_outcome"`
	Attempts        []liveCount `json:"attempts"`

	CallbacksDue      int `json:"callbacks_due"`
	CallbacksNextHour int `json:"callbacks_next_hour"`

	AgentsByState map[string]int `json:"agents_by_state"`
	Sites         []liveSite     `json:"sites"`

	CallsToday     int         `json:"calls_today"`
	ClosedToday    int         `json:"closed_today"`
	SuccessToday   int         `json:"success_today"`
	TodayByOutcome []liveCount `json:"today_by_outcome"`
}

type liveCount struct {
	Key   string `json:"key"`
	Label string `json:"label,omitempty"`
	Count int    `json:"count"`
}

type liveSite struct {
	Site   string      `json:"site"`
	Agents []liveAgent `json:"agents"`
}

type liveAgent struct {
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Pause   string    `json:"pause,omitempty"` // the pause code's label
	Since   time.Time `json:"since"`
	Seconds int64     `json:"seconds"` // in this state, at the snapshot
}

// computeLiveSnapshot computes a mission's live view as JSON: campaign's Stats,
// with the outcome labels, pause labels and agent names it needs.
func (s *Server) computeLiveSnapshot(ctx context.Context, mission int) ([]byte, error) {
	st, err := s.camp.Stats(ctx, mission)
	if err != nil {
		return nil, err
	}
	m, err := s.camp.Mission(ctx, mission)
	if err != nil {
		return nil, err
	}
	snap := liveSnapshot{
		Mission: mission, At: st.At.UTC(), Serving: st.Serving.Callable,
		Total: st.Total, Open: st.Open, DueNow: st.DueNow, Waiting: st.Waiting, Leased: st.Leased,
		Closed: st.Closed, ClosedAtCap: st.ClosedAtCap,
		CallbacksDue: st.CallbacksDue, CallbacksNextHour: st.CallbacksNextHour,
		CallsToday: st.CallsToday, ClosedToday: st.ClosedToday, SuccessToday: st.SuccessToday,
		AgentsByState: map[string]int{}, Held: []liveCount{}, ClosedByOutcome: []liveCount{},
		Attempts: []liveCount{}, TodayByOutcome: []liveCount{}, Sites: []liveSite{},
	}
	if !st.Serving.Callable {
		snap.ServingRule, snap.ServingNext = string(st.Serving.Rule), st.Serving.Next
	}
	for rule, n := range st.Held {
		snap.Held = append(snap.Held, liveCount{Key: string(rule), Count: n})
		snap.HeldTotal += n
	}
	labels := map[string]string{}
	order := map[string]int{}
	for i, o := range m.Outcomes {
		labels[o.Code], order[o.Code] = o.Label, i
	}
	for code, n := range st.ClosedByOutcome {
		snap.ClosedByOutcome = append(snap.ClosedByOutcome, liveCount{Key: code, Label: labels[code], Count: n})
	}
	for code, n := range st.TodayByOutcome {
		snap.TodayByOutcome = append(snap.TodayByOutcome, liveCount{Key: code, Label: labels[code], Count: n})
	}
	for a, n := range st.Attempts {
		snap.Attempts = append(snap.Attempts, liveCount{Key: strconv.Itoa(a), Count: n})
	}
	byKey := func(a, b liveCount) int { return cmp.Compare(a.Key, b.Key) }
	byOutcome := func(a, b liveCount) int {
		oa, ok := order[a.Key]
		if !ok {
			oa = len(order)
		}
		ob, ok := order[b.Key]
		if !ok {
			ob = len(order)
		}
		if oa != ob {
			return oa - ob
		}
		return cmp.Compare(a.Key, b.Key)
	}
	slices.SortFunc(snap.Held, byKey)
	slices.SortFunc(snap.ClosedByOutcome, byOutcome)
	slices.SortFunc(snap.TodayByOutcome, byOutcome)
	slices.SortFunc(snap.Attempts, func(a, b liveCount) int {
		x, _ := strconv.Atoi(a.Key)
		y, _ := strconv.Atoi(b.Key)
		return x - y
	})
	for state, n := range st.AgentsByState {
		snap.AgentsByState[string(state)] = n
	}
	if len(st.Agents) > 0 {
		if err := s.liveAgents(ctx, st, &snap); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("live view of mission %d: %w", mission, err)
	}
	return b, nil
}

// liveAgents groups the agents on the mission (offline ones left out) by
// site, with their names and pause labels.
func (s *Server) liveAgents(ctx context.Context, st campaign.MissionStats, snap *liveSnapshot) error {
	users, err := s.auth.Users(ctx)
	if err != nil {
		return fmt.Errorf("live view: users: %w", err)
	}
	names := make(map[int64]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Name
	}
	pauses := map[string]map[string]string{} // site -> code -> label
	sites := map[string]*liveSite{}
	for _, a := range st.Agents {
		if a.State == campaign.PresenceOffline {
			continue
		}
		la := liveAgent{Name: names[a.Agent], State: string(a.State), Since: a.Since.UTC(),
			Seconds: int64(max(0, st.At.Sub(a.Since)) / time.Second)}
		if la.Name == "" {
			la.Name = "#" + strconv.FormatInt(a.Agent, 10)
		}
		if a.State == campaign.PresencePause {
			codes, ok := pauses[a.Site]
			if !ok {
				list, err := s.camp.PauseCodes(ctx, a.Site)
				if err != nil {
					return fmt.Errorf("live view: %w", err)
				}
				codes = map[string]string{}
				for _, c := range list {
					codes[c.Code] = c.Label
				}
				pauses[a.Site] = codes
			}
			la.Pause = a.PauseCode
			if l, ok := codes[a.PauseCode]; ok {
				la.Pause = l
			}
		}
		site := sites[a.Site]
		if site == nil {
			site = &liveSite{Site: a.Site}
			sites[a.Site] = site
		}
		site.Agents = append(site.Agents, la)
	}
	for _, site := range sites {
		slices.SortFunc(site.Agents, func(a, b liveAgent) int { return cmp.Compare(a.Name, b.Name) })
		snap.Sites = append(snap.Sites, *site)
	}
	slices.SortFunc(snap.Sites, func(a, b liveSite) int { return cmp.Compare(a.Site, b.Site) })
	return nil
}
