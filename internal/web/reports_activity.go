package web

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"plateau/internal/auth"
	"plateau/internal/campaign"
)

// agentName is how a report names an agent: "login (name)", or the id of
// a user since removed.
func agentName(users map[int64]auth.User, id int64) string {
	u, ok := users[id]
	if !ok {
		return "#" + strconv.FormatInt(id, 10)
	}
	if u.Name == "" {
		return u.Login
	}
	return u.Login + " (" + u.Name + ")"
}

// rowsOf streams rows already built.
func rowsOf(rows [][]string) func(emit func([]string) error) error {
	return func(emit func([]string) error) error {
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// buildPresence is seed 000's "agents disponibles": the agents in service
// on a mission over a day and a time range, and each one's time per state.
func buildPresence(ctx context.Context, rq *reportRequest) (*reportTable, error) {
	day, err := time.ParseInLocation("2006-01-02", rq.p.Day, rq.loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", campaign.ErrInvalid, err)
	}
	from, to, err := campaign.DayRange(rq.loc, day.Year(), day.Month(), day.Day(), rq.p.Start, rq.p.End)
	if err != nil {
		return nil, err
	}
	rep, err := rq.s.camp.AgentsInService(ctx, rq.p.Mission, from, to)
	if err != nil {
		return nil, err
	}
	users, err := rq.agents(ctx)
	if err != nil {
		return nil, err
	}
	t := &reportTable{
		Facts: []reportFact{{Label: rq.text("report.presence.in_service"), Value: strconv.Itoa(rep.InService)}},
		Columns: []string{rq.text("report.col.agent"), rq.text("report.col.service"), rq.text("report.col.call"),
			rq.text("report.col.wrapup"), rq.text("report.col.pause")},
	}
	var rows [][]string
	for _, a := range rep.Agents {
		rows = append(rows, []string{agentName(users, a.Agent), hms(a.ByState[campaign.PresenceService]),
			hms(a.ByState[campaign.PresenceCall]), hms(a.ByState[campaign.PresenceWrapUp]),
			hms(a.ByState[campaign.PresencePause])})
	}
	t.rows = rowsOf(rows)
	return t, nil
}

// buildCallsByAgent counts the calls of a period per agent and outcome,
// with the handling time (claim to qualification).
func buildCallsByAgent(ctx context.Context, rq *reportRequest) (*reportTable, error) {
	from, to, err := rq.period()
	if err != nil {
		return nil, err
	}
	counts, err := rq.s.camp.CallsByAgent(ctx, rq.p.Mission, from, to)
	if err != nil {
		return nil, err
	}
	users, err := rq.agents(ctx)
	if err != nil {
		return nil, err
	}
	t := &reportTable{Columns: []string{rq.text("report.col.agent"), rq.text("report.col.outcome"),
		rq.text("report.col.code"), rq.text("report.col.calls"), rq.text("report.col.handling")}}
	total := 0
	var rows [][]string
	for _, c := range counts {
		total += c.Calls
		rows = append(rows, []string{agentName(users, c.Agent), rq.outcomeLabel(c.Outcome), c.Outcome,
			strconv.Itoa(c.Calls), hms(c.Handling)})
	}
	t.Facts = []reportFact{{Label: rq.text("report.calls.total"), Value: strconv.Itoa(total)}}
	t.rows = rowsOf(rows)
	return t, nil
}

// buildCallsByOutcome counts the calls of a period per outcome.
func buildCallsByOutcome(ctx context.Context, rq *reportRequest) (*reportTable, error) {
	from, to, err := rq.period()
	if err != nil {
		return nil, err
	}
	counts, err := rq.s.camp.CallsByOutcome(ctx, rq.p.Mission, from, to)
	if err != nil {
		return nil, err
	}
	t := &reportTable{Columns: []string{rq.text("report.col.outcome"), rq.text("report.col.code"),
		rq.text("report.col.calls"), rq.text("report.col.files"), rq.text("report.col.closed_by"),
		rq.text("report.col.agents")}}
	total := 0
	var rows [][]string
	for _, c := range counts {
		total += c.Calls
		rows = append(rows, []string{rq.outcomeLabel(c.Outcome), c.Outcome, strconv.Itoa(c.Calls),
			strconv.Itoa(c.Contacts), strconv.Itoa(c.Closed), strconv.Itoa(c.Agents)})
	}
	t.Facts = []reportFact{{Label: rq.text("report.calls.total"), Value: strconv.Itoa(total)}}
	t.rows = rowsOf(rows)
	return t, nil
}

// buildReach is seed 000's "everyone called within 3 days": of the files
// loaded in a period, how many were first called within N days.
func buildReach(ctx context.Context, rq *reportRequest) (*reportTable, error) {
	from, to, err := rq.period()
	if err != nil {
		return nil, err
	}
	within := time.Duration(rq.p.Within) * 24 * time.Hour
	r, err := rq.s.camp.ReachedWithin(ctx, rq.p.Mission, within, from, to, 0)
	if err != nil {
		return nil, err
	}
	rate := "-"
	if r.Loaded > 0 {
		rate = strconv.FormatFloat(100*float64(r.Reached)/float64(r.Loaded), 'f', 1, 64) + " %"
		if rq.lang == "fr" {
			rate = strings.Replace(rate, ".", ",", 1)
		}
	}
	t := &reportTable{
		Facts: []reportFact{{Label: rq.text("report.reach.rate", rq.p.Within), Value: rate}},
		Columns: []string{rq.text("report.col.loaded_files"), rq.text("report.col.reached", rq.p.Within),
			rq.text("report.col.late"), rq.text("report.col.never")},
	}
	t.rows = rowsOf([][]string{{strconv.Itoa(r.Loaded), strconv.Itoa(r.Reached), strconv.Itoa(r.Late), strconv.Itoa(r.Never)}})
	return t, nil
}
