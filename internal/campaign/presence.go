package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// PresenceState is an agent's state on a mission.
type PresenceState string

// The presence states.
const (
	PresenceOffline PresenceState = "offline"
	PresenceService PresenceState = "S" // in service: ready for the next contact
	PresenceCall    PresenceState = "call"
	PresenceWrapUp  PresenceState = "wrapup"
	PresencePause   PresenceState = "pause" // with a pause code
)

// ValidPresence reports whether p is a presence state.
func ValidPresence(p PresenceState) bool {
	switch p {
	case PresenceOffline, PresenceService, PresenceCall, PresenceWrapUp, PresencePause:
		return true
	}
	return false
}

// canClaim says which states may ask for the next contact: in service, and
// an agent finishing a call or its wrap-up (the screen offers the next one
// at once).
func canClaim(p PresenceState) bool {
	return p == PresenceService || p == PresenceCall || p == PresenceWrapUp
}

// AgentPresence is an agent's current state on a mission.
type AgentPresence struct {
	Mission   int           `json:"mission"`
	Agent     int64         `json:"agent"`
	State     PresenceState `json:"state"`
	PauseCode string        `json:"pause_code,omitempty"`
	Site      string        `json:"site,omitempty"`
	Since     time.Time     `json:"since"`
}

// PresenceEvent is one change in the presence history.
type PresenceEvent struct {
	Mission   int           `json:"mission"`
	Agent     int64         `json:"agent"`
	State     PresenceState `json:"state"`
	PauseCode string        `json:"pause_code,omitempty"`
	At        time.Time     `json:"at"`
}

// PauseCode is a reason for a pause.
type PauseCode struct {
	Site     string `json:"site"`
	Code     string `json:"code"`
	Label    string `json:"label"`
	Position int    `json:"position"`
}

// PresenceChange is what SetPresence takes.
type PresenceChange struct {
	Mission   int
	Agent     int64
	State     PresenceState
	PauseCode string // required with PresencePause: one of the site's codes
	Site      string // the agent's site; "" for the default pause codes
}

// SetPresence changes an agent's state on a mission, timestamped in the
// presence history. Only assigned users may be anything but offline; going
// offline releases the agent's leases on the mission. Setting the current
// state again changes nothing.
func (s *Service) SetPresence(ctx context.Context, p PresenceChange) error {
	if !ValidPresence(p.State) {
		return fmt.Errorf("%w: presence state %q", ErrInvalid, p.State)
	}
	site := strings.TrimSpace(p.Site)
	if p.State == PresencePause {
		codes, err := s.PauseCodes(ctx, site)
		if err != nil {
			return err
		}
		found := false
		for _, c := range codes {
			found = found || c.Code == p.PauseCode
		}
		if !found {
			return fmt.Errorf("%w: unknown pause code %q", ErrInvalid, p.PauseCode)
		}
	} else {
		p.PauseCode = ""
	}
	if p.State != PresenceOffline {
		ok, err := s.IsMember(ctx, p.Mission, p.Agent)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotMember
		}
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		return s.setPresenceTx(ctx, tx, p.Mission, p.Agent, p.State, p.PauseCode, site, s.now())
	})
	if err != nil {
		return fmt.Errorf("set presence on mission %d: %w", p.Mission, err)
	}
	return nil
}

func (s *Service) setPresenceTx(ctx context.Context, tx *db.Tx, mission int, agent int64, state PresenceState,
	pause, site string, now time.Time) error {
	var curState, curPause string
	err := tx.QueryRowContext(ctx, sqlPresenceOne+s.q.lockPresence, mission, agent).Scan(&curState, &curPause)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if state == PresenceOffline {
			return nil // never seen: already offline
		}
	case err != nil:
		return fmt.Errorf("read presence: %w", err)
	case PresenceState(curState) == state && curPause == pause:
		return nil
	}
	at := db.Millis(now)
	if _, err := tx.ExecContext(ctx, sqlUpsertPresence, mission, agent, string(state), pause, site, at); err != nil {
		return fmt.Errorf("save presence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlInsertPresenceLog, mission, agent, string(state), pause, at); err != nil {
		return fmt.Errorf("log presence: %w", err)
	}
	if state == PresenceOffline {
		if _, err := tx.ExecContext(ctx, sqlReleaseAgent, at, at, agent, mission, mission); err != nil {
			return fmt.Errorf("release leases: %w", err)
		}
	}
	return nil
}

// GoOffline sets an agent offline on every mission and gives their leases
// back to the queue (their session ended or timed out).
func (s *Service) GoOffline(ctx context.Context, agent int64) error {
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlAgentMissionsOnline, agent)
		if err != nil {
			return err
		}
		var missions []int
		for rows.Next() {
			var m int
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			missions = append(missions, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := s.now()
		for _, m := range missions {
			if err := s.setPresenceTx(ctx, tx, m, agent, PresenceOffline, "", "", now); err != nil {
				return err
			}
		}
		at := db.Millis(now)
		if _, err := tx.ExecContext(ctx, sqlReleaseAgent, at, at, agent, 0, 0); err != nil {
			return fmt.Errorf("release leases: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("agent %d offline: %w", agent, err)
	}
	return nil
}

// Presence returns the agents' current states on a mission (agents never
// seen there are offline and not listed).
func (s *Service) Presence(ctx context.Context, mission int) ([]AgentPresence, error) {
	return s.presence(ctx, sqlPresence, int64(mission))
}

// AgentPresences returns an agent's state on each mission they were seen on.
func (s *Service) AgentPresences(ctx context.Context, agent int64) ([]AgentPresence, error) {
	return s.presence(ctx, sqlPresenceOfAgent, agent)
}

func (s *Service) presence(ctx context.Context, query string, arg int64) ([]AgentPresence, error) {
	rows, err := s.d.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	defer rows.Close()
	var out []AgentPresence
	for rows.Next() {
		var (
			p     AgentPresence
			state string
			since int64
		)
		if err := rows.Scan(&p.Mission, &p.Agent, &state, &p.PauseCode, &p.Site, &since); err != nil {
			return nil, fmt.Errorf("presence: %w", err)
		}
		p.State, p.Since = PresenceState(state), db.FromMillis(since)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PresenceHistory returns a mission's presence changes in [from, to).
func (s *Service) PresenceHistory(ctx context.Context, mission int, from, to time.Time) ([]PresenceEvent, error) {
	rows, err := s.d.QueryContext(ctx, sqlPresenceLog, mission, db.Millis(from), db.Millis(to))
	if err != nil {
		return nil, fmt.Errorf("presence history of mission %d: %w", mission, err)
	}
	defer rows.Close()
	return scanPresenceEvents(rows)
}

func scanPresenceEvents(rows *sql.Rows) ([]PresenceEvent, error) {
	var out []PresenceEvent
	for rows.Next() {
		var (
			e     PresenceEvent
			state string
			at    int64
		)
		if err := rows.Scan(&e.Mission, &e.Agent, &state, &e.PauseCode, &at); err != nil {
			return nil, fmt.Errorf("presence history: %w", err)
		}
		e.State, e.At = PresenceState(state), db.FromMillis(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PauseCodes returns a site's pause codes: its own, or the default set when
// it has none.
func (s *Service) PauseCodes(ctx context.Context, site string) ([]PauseCode, error) {
	codes, err := s.pauseCodes(ctx, site)
	if err != nil || len(codes) > 0 || site == "" {
		return codes, err
	}
	return s.pauseCodes(ctx, "")
}

func (s *Service) pauseCodes(ctx context.Context, site string) ([]PauseCode, error) {
	rows, err := s.d.QueryContext(ctx, sqlPauseCodes, site)
	if err != nil {
		return nil, fmt.Errorf("pause codes: %w", err)
	}
	defer rows.Close()
	var out []PauseCode
	for rows.Next() {
		var c PauseCode
		if err := rows.Scan(&c.Site, &c.Code, &c.Label, &c.Position); err != nil {
			return nil, fmt.Errorf("pause codes: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetPauseCode adds or changes a pause code of a site ("" is the default
// set). Audited ("pause_code.set").
func (s *Service) SetPauseCode(ctx context.Context, c PauseCode) error {
	if !validCode(c.Code) {
		return fmt.Errorf("%w: pause code %q: a-z, 0-9, '-', '_'", ErrInvalid, c.Code)
	}
	var err error
	if c.Label, err = cleanText("pause label", c.Label, maxNameLen, false); err != nil {
		return err
	}
	if c.Site, err = cleanText("site", c.Site, 64, false); err != nil {
		return err
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlUpsertPauseCode, c.Site, c.Code, c.Label, c.Position); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{Action: "pause_code.set", ObjectType: "pause_code", ObjectID: c.Site + "/" + c.Code,
			After: map[string]any{"label": c.Label, "position": c.Position}})
	})
	if err != nil {
		return fmt.Errorf("set pause code: %w", err)
	}
	return nil
}

// DeletePauseCode removes a pause code of a site. Audited
// ("pause_code.delete").
func (s *Service) DeletePauseCode(ctx context.Context, site, code string) error {
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, sqlDeletePauseCode, site, code)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, audit.Event{Action: "pause_code.delete", ObjectType: "pause_code", ObjectID: site + "/" + code})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("delete pause code: %w", err)
	}
	return nil
}
