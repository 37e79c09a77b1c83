package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// Regime is the legal frame of a mission; it decides which rules apply.
type Regime string

// The regimes.
const (
	RegimeB2B      Regime = "b2b"
	RegimeConsumer Regime = "consumer-prospecting"
	RegimeSurvey   Regime = "survey"
)

// Mission defaults.
const (
	DefaultTimeZone    = "Europe/Paris"
	DefaultMaxAttempts = 5
	DefaultLease       = 10 * time.Minute
	DefaultPriority    = 2
)

// Mission is a client's campaign and its settings.
type Mission struct {
	Number       int           `json:"number"`
	Name         string        `json:"name"`
	Client       string        `json:"client"`
	Regime       Regime        `json:"regime"`
	TimeZone     string        `json:"timezone"`
	Windows      Windows       `json:"windows"`
	HolidaysOpen bool          `json:"holidays_open"`
	MaxAttempts  int           `json:"max_attempts"`
	Lease        time.Duration `json:"-"`
	LeaseSeconds int           `json:"lease_seconds"` // Lease, for JSON
	Script       string        `json:"script"`
	Archived     bool          `json:"archived"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
	Outcomes     []Outcome     `json:"outcomes"` // in display order
}

// Outcome returns the mission's outcome code, if it has it.
func (m Mission) Outcome(code string) (Outcome, bool) {
	for _, o := range m.Outcomes {
		if o.Code == code {
			return o, true
		}
	}
	return Outcome{}, false
}

// NewMission is what creating a mission takes. Zero values take the
// defaults: time zone Europe/Paris, windows "mon-fri 09:00-20:00", holidays
// closed, 5 attempts, 10-minute leases.
type NewMission struct {
	Number       int
	Name         string
	Client       string
	Regime       Regime
	TimeZone     string
	Windows      string // text form, see Windows
	HolidaysOpen bool
	MaxAttempts  int
	Lease        time.Duration
	Script       string
	// Outcomes replace the default French catalogue when not empty.
	Outcomes []Outcome
}

// MissionUpdate changes some settings of a mission; nil fields are left as
// they are.
type MissionUpdate struct {
	Name         *string
	Client       *string
	Regime       *Regime
	TimeZone     *string
	Windows      *string // text form
	HolidaysOpen *bool
	MaxAttempts  *int
	Lease        *time.Duration
	Script       *string
}

// MissionFilter selects missions. Zero fields match everything.
type MissionFilter struct {
	Client          string
	Member          int64 // only the missions this user is assigned to
	IncludeArchived bool
}

const (
	maxNameLen   = 200
	maxScriptLen = 64 << 10
	maxLease     = 24 * time.Hour
)

// ValidRegime reports whether r is one of the regimes.
func ValidRegime(r Regime) bool {
	return r == RegimeB2B || r == RegimeConsumer || r == RegimeSurvey
}

// validClient checks a client key: 1 to 64 characters among a-z, 0-9, '.',
// '-', '_' (it names a vault scope).
func validClient(c string) error {
	if len(c) < 1 || len(c) > 64 {
		return fmt.Errorf("%w: client key: 1 to 64 characters among a-z, 0-9, '.', '-', '_'", ErrInvalid)
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '_') {
			return fmt.Errorf("%w: client key: 1 to 64 characters among a-z, 0-9, '.', '-', '_'", ErrInvalid)
		}
	}
	return nil
}

// cleanText trims s and refuses invalid UTF-8, control characters (newlines
// allowed when multiline) and texts longer than limit bytes.
func cleanText(what, s string, limit int, multiline bool) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || len(s) > limit {
		return "", fmt.Errorf("%w: %s: at most %d bytes of UTF-8 text", ErrInvalid, what, limit)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return "", fmt.Errorf("%w: %s: control characters are not allowed", ErrInvalid, what)
		}
	}
	return s, nil
}

// validate fills the defaults of m and checks it.
func (m *Mission) validate() error {
	if m.Number <= 0 || m.Number > 1<<31-1 {
		return fmt.Errorf("%w: mission number must be a positive integer", ErrInvalid)
	}
	var err error
	if m.Name, err = cleanText("mission name", m.Name, maxNameLen, false); err != nil {
		return err
	}
	if m.Name == "" {
		return fmt.Errorf("%w: mission name is required", ErrInvalid)
	}
	if err := validClient(m.Client); err != nil {
		return err
	}
	if !ValidRegime(m.Regime) {
		return fmt.Errorf("%w: regime: want b2b, consumer-prospecting or survey", ErrInvalid)
	}
	if m.TimeZone == "" {
		m.TimeZone = DefaultTimeZone
	}
	if _, err := time.LoadLocation(m.TimeZone); err != nil || m.TimeZone == "Local" {
		return fmt.Errorf("%w: time zone %q: want an IANA name such as Europe/Paris", ErrInvalid, m.TimeZone)
	}
	if m.MaxAttempts <= 0 || m.MaxAttempts > 100 {
		return fmt.Errorf("%w: max attempts: 1 to 100", ErrInvalid)
	}
	if m.Lease < time.Minute || m.Lease > maxLease {
		return fmt.Errorf("%w: lease duration: 1 minute to 24 hours", ErrInvalid)
	}
	m.LeaseSeconds = int(m.Lease / time.Second)
	if m.Script, err = cleanText("call script", m.Script, maxScriptLen, true); err != nil {
		return err
	}
	return nil
}

// CreateMission creates a mission with its outcome codes (the default French
// catalogue unless n.Outcomes says otherwise) and its vault scope.
func (s *Service) CreateMission(ctx context.Context, n NewMission) (Mission, error) {
	m := Mission{
		Number: n.Number, Name: n.Name, Client: strings.TrimSpace(n.Client), Regime: n.Regime,
		TimeZone: n.TimeZone, HolidaysOpen: n.HolidaysOpen, MaxAttempts: n.MaxAttempts,
		Lease: n.Lease, Script: n.Script,
	}
	if m.MaxAttempts == 0 {
		m.MaxAttempts = DefaultMaxAttempts
	}
	if m.Lease == 0 {
		m.Lease = DefaultLease
	}
	spec := n.Windows
	if spec == "" {
		spec = DefaultWindows
	}
	var err error
	if m.Windows, err = ParseWindows(spec); err != nil {
		return Mission{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := m.validate(); err != nil {
		return Mission{}, err
	}
	outcomes := n.Outcomes
	if len(outcomes) == 0 {
		outcomes = DefaultOutcomes()
	}
	for i := range outcomes {
		if err := outcomes[i].validate(); err != nil {
			return Mission{}, err
		}
		if outcomes[i].Position == 0 {
			outcomes[i].Position = i + 1
		}
	}
	if err := checkUniqueCodes(outcomes); err != nil {
		return Mission{}, err
	}
	// The scopes' keys are created in transactions of their own: inside the
	// write transaction below, on SQLite, that would wait for itself.
	if err := s.v.EnsureScope(ctx, missionScope(m.Number)); err != nil {
		return Mission{}, fmt.Errorf("create mission %d: %w", m.Number, err)
	}
	if err := s.v.EnsureScope(ctx, clientScope(m.Client)); err != nil {
		return Mission{}, fmt.Errorf("create mission %d: %w", m.Number, err)
	}
	now := s.now()
	m.CreatedAt, m.UpdatedAt = now.UTC().Truncate(time.Millisecond), now.UTC().Truncate(time.Millisecond)
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, sqlInsertMission, m.Number, m.Name, m.Client, string(m.Regime), m.TimeZone,
			m.Windows.String(), m.HolidaysOpen, m.MaxAttempts, m.Lease.Milliseconds(), m.Script, db.Millis(now), db.Millis(now))
		if db.IsUniqueViolation(err) {
			return ErrMissionExists
		}
		if err != nil {
			return fmt.Errorf("insert mission: %w", err)
		}
		for _, o := range outcomes {
			if err := upsertOutcome(ctx, tx, m.Number, o); err != nil {
				return err
			}
		}
		codes := make([]string, len(outcomes))
		for i, o := range outcomes {
			codes[i] = o.Code
		}
		return s.record(ctx, tx, audit.Event{
			Action: "mission.create", ObjectType: "mission", ObjectID: strconv.Itoa(m.Number),
			After: m.auditValues(map[string]any{"outcomes": codes}),
		})
	})
	if err != nil {
		return Mission{}, fmt.Errorf("create mission %d: %w", m.Number, err)
	}
	m.Outcomes = outcomes
	s.forget(m.Number)
	return m, nil
}

func (m Mission) auditValues(extra map[string]any) map[string]any {
	v := map[string]any{
		"name": m.Name, "client": m.Client, "regime": string(m.Regime), "timezone": m.TimeZone,
		"windows": m.Windows.String(), "holidays_open": m.HolidaysOpen, "max_attempts": m.MaxAttempts,
		"lease_seconds": int(m.Lease / time.Second), "script": m.Script, "archived": m.Archived,
	}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

// Mission returns a mission with its outcome codes.
func (s *Service) Mission(ctx context.Context, number int) (Mission, error) {
	m, err := loadMission(ctx, s.d, number)
	if err != nil {
		return Mission{}, fmt.Errorf("mission %d: %w", number, err)
	}
	return m, nil
}

func loadMission(ctx context.Context, q db.Querier, number int) (Mission, error) {
	m, err := scanMission(q.QueryRowContext(ctx, sqlMission, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Mission{}, ErrNotFound
	}
	if err != nil {
		return Mission{}, fmt.Errorf("read mission: %w", err)
	}
	if m.Outcomes, err = loadOutcomes(ctx, q, number); err != nil {
		return Mission{}, err
	}
	return m, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanMission(sc scanner) (Mission, error) {
	var (
		m                 Mission
		regime, windows   string
		leaseMS, cre, upd int64
	)
	err := sc.Scan(&m.Number, &m.Name, &m.Client, &regime, &m.TimeZone, &windows, &m.HolidaysOpen,
		&m.MaxAttempts, &leaseMS, &m.Script, &m.Archived, &cre, &upd)
	if err != nil {
		return Mission{}, err
	}
	m.Regime = Regime(regime)
	if m.Windows, err = ParseWindows(windows); err != nil {
		return Mission{}, fmt.Errorf("mission %d: stored windows: %w", m.Number, err)
	}
	m.Lease = time.Duration(leaseMS) * time.Millisecond
	m.LeaseSeconds = int(m.Lease / time.Second)
	m.CreatedAt, m.UpdatedAt = db.FromMillis(cre), db.FromMillis(upd)
	return m, nil
}

// Missions lists missions by number, with their outcome codes.
func (s *Service) Missions(ctx context.Context, f MissionFilter) ([]Mission, error) {
	rows, err := s.d.QueryContext(ctx, sqlMissions, f.Client, f.Client, f.IncludeArchived, f.Member, f.Member)
	if err != nil {
		return nil, fmt.Errorf("list missions: %w", err)
	}
	var out []Mission
	for rows.Next() {
		m, err := scanMission(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list missions: %w", err)
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list missions: %w", err)
	}
	for i := range out {
		if out[i].Outcomes, err = loadOutcomes(ctx, s.d, out[i].Number); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateMission changes a mission's settings.
func (s *Service) UpdateMission(ctx context.Context, number int, u MissionUpdate) (Mission, error) {
	if u.Client != nil {
		// The new client's blind-index key must exist before the transaction.
		if err := validClient(strings.TrimSpace(*u.Client)); err != nil {
			return Mission{}, err
		}
		if err := s.v.EnsureScope(ctx, clientScope(strings.TrimSpace(*u.Client))); err != nil {
			return Mission{}, fmt.Errorf("update mission %d: %w", number, err)
		}
	}
	var m Mission
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		before, err := lockMission(ctx, tx, number)
		if err != nil {
			return err
		}
		m = before
		if u.Name != nil {
			m.Name = *u.Name
		}
		if u.Client != nil {
			m.Client = strings.TrimSpace(*u.Client)
		}
		if u.Regime != nil {
			m.Regime = *u.Regime
		}
		if u.TimeZone != nil {
			m.TimeZone = *u.TimeZone
		}
		if u.Windows != nil {
			w, err := ParseWindows(*u.Windows)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			m.Windows = w
		}
		if u.HolidaysOpen != nil {
			m.HolidaysOpen = *u.HolidaysOpen
		}
		if u.MaxAttempts != nil {
			m.MaxAttempts = *u.MaxAttempts
		}
		if u.Lease != nil {
			m.Lease = *u.Lease
		}
		if u.Script != nil {
			m.Script = *u.Script
		}
		if err := m.validate(); err != nil {
			return err
		}
		if m.Client != before.Client {
			// Blind indexes are keyed per client: moving a loaded mission to
			// another client would make its numbers unfindable.
			var n int
			if err := tx.QueryRowContext(ctx, sqlCountContacts, number).Scan(&n); err != nil {
				return fmt.Errorf("count contacts: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("%w: the client of a mission with contacts cannot change", ErrInvalid)
			}
		}
		now := s.now()
		m.UpdatedAt = db.FromMillis(db.Millis(now))
		if _, err := tx.ExecContext(ctx, sqlUpdateMission, m.Name, m.Client, string(m.Regime), m.TimeZone,
			m.Windows.String(), m.HolidaysOpen, m.MaxAttempts, m.Lease.Milliseconds(), m.Script,
			db.Millis(now), number); err != nil {
			return fmt.Errorf("update mission: %w", err)
		}
		if m.Outcomes, err = loadOutcomes(ctx, tx, number); err != nil {
			return err
		}
		before.Outcomes = nil
		return s.record(ctx, tx, audit.Event{
			Action: "mission.update", ObjectType: "mission", ObjectID: strconv.Itoa(number),
			Before: before.auditValues(nil), After: m.auditValues(nil),
		})
	})
	if err != nil {
		return Mission{}, fmt.Errorf("update mission %d: %w", number, err)
	}
	s.forget(number)
	return m, nil
}

// lockMission reads a mission inside tx and, on PostgreSQL, locks its row so
// that concurrent read-modify-write sequences on it are serialised.
func lockMission(ctx context.Context, tx *db.Tx, number int) (Mission, error) {
	m, err := scanMission(tx.QueryRowContext(ctx, sqlLockMission, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Mission{}, ErrNotFound
	}
	if err != nil {
		return Mission{}, fmt.Errorf("read mission: %w", err)
	}
	return m, nil
}

// SetArchived archives (or brings back) a mission. An archived mission is
// not served; GoOffline-like, its leases are released.
func (s *Service) SetArchived(ctx context.Context, number int, archived bool) error {
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		m, err := lockMission(ctx, tx, number)
		if err != nil {
			return err
		}
		if m.Archived == archived {
			return nil
		}
		now := db.Millis(s.now())
		if _, err := tx.ExecContext(ctx, sqlSetArchived, archived, now, number); err != nil {
			return fmt.Errorf("archive mission: %w", err)
		}
		if archived {
			if _, err := tx.ExecContext(ctx, sqlReleaseMission, now, number); err != nil {
				return fmt.Errorf("release leases: %w", err)
			}
		}
		action := "mission.archive"
		if !archived {
			action = "mission.unarchive"
		}
		return s.record(ctx, tx, audit.Event{Action: action, ObjectType: "mission", ObjectID: strconv.Itoa(number),
			Before: map[string]any{"archived": m.Archived}, After: map[string]any{"archived": archived}})
	})
	if err != nil {
		return fmt.Errorf("archive mission %d: %w", number, err)
	}
	s.forget(number)
	return nil
}

// Assign adds users (agents or supervisors; the caller checks their roles)
// to a mission. Users already assigned are left as they are.
func (s *Service) Assign(ctx context.Context, number int, userIDs ...int64) error {
	return s.changeMembers(ctx, number, userIDs, true)
}

// Unassign removes users from a mission, setting them offline on it (which
// releases their leases there).
func (s *Service) Unassign(ctx context.Context, number int, userIDs ...int64) error {
	return s.changeMembers(ctx, number, userIDs, false)
}

func (s *Service) changeMembers(ctx context.Context, number int, userIDs []int64, add bool) error {
	ids := slices.Clone(userIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := lockMission(ctx, tx, number); err != nil {
			return err
		}
		now := s.now()
		var changed []int64
		for _, id := range ids {
			var res sql.Result
			var err error
			if add {
				res, err = tx.ExecContext(ctx, sqlAddMember, number, id, db.Millis(now))
			} else {
				res, err = tx.ExecContext(ctx, sqlDelMember, number, id)
			}
			if err != nil {
				if add && isForeignKeyViolation(err) {
					return fmt.Errorf("%w: user %d", ErrNotFound, id)
				}
				return fmt.Errorf("assign user %d: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				changed = append(changed, id)
			}
			if !add {
				if err := s.setPresenceTx(ctx, tx, number, id, PresenceOffline, "", "", now); err != nil {
					return err
				}
			}
		}
		if len(changed) == 0 {
			return nil
		}
		action := "mission.assign"
		if !add {
			action = "mission.unassign"
		}
		return s.record(ctx, tx, audit.Event{Action: action, ObjectType: "mission", ObjectID: strconv.Itoa(number),
			After: map[string]any{"users": changed}})
	})
	if err != nil {
		return fmt.Errorf("assign users to mission %d: %w", number, err)
	}
	return nil
}

func isForeignKeyViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "FOREIGN KEY constraint failed") || strings.Contains(msg, "SQLSTATE 23503")
}

// Members returns the ids of the users assigned to a mission.
func (s *Service) Members(ctx context.Context, number int) ([]int64, error) {
	rows, err := s.d.QueryContext(ctx, sqlMembers, number)
	if err != nil {
		return nil, fmt.Errorf("members of mission %d: %w", number, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("members of mission %d: %w", number, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// IsMember reports whether a user is assigned to a mission.
func (s *Service) IsMember(ctx context.Context, number int, userID int64) (bool, error) {
	var n int
	if err := s.d.QueryRowContext(ctx, sqlIsMember, number, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("membership in mission %d: %w", number, err)
	}
	return n > 0, nil
}
