package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// State is whether a file is still being worked.
type State string

// The states of a contact.
const (
	StateOpen   State = "open"
	StateClosed State = "closed"
)

// Routing says how a contact is dialled.
type Routing string

// The routings.
const (
	RoutingQueue  Routing = "queue"  // served by Claim
	RoutingManual Routing = "manual" // special numbers, served by ClaimManual
)

// Close reasons.
const (
	CloseOutcome     = "outcome"      // a closing outcome
	CloseMaxAttempts = "max_attempts" // the mission's maximum attempts reached
)

// neverMillis is the due time of a contact a rule holds back until something
// changes (consent recorded, number taken off the opposition list): far
// enough to sort last, still a valid date.
const neverMillis int64 = 253402300799999 // 9999-12-31T23:59:59.999Z

// Ref names a contact: its mission and the id the profile gave it.
type Ref struct {
	Mission int    `json:"mission"`
	ID      string `json:"id"`
}

// String gives "<mission>/<id>", as audit events name contacts.
func (r Ref) String() string { return strconv.Itoa(r.Mission) + "/" + r.ID }

// Consent is a recorded proof of prior consent.
type Consent struct {
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	Text   string    `json:"text"`
}

// Contact is a file of a mission. The personal part (Phone, Fields,
// Personal, Consent's source and text) is only filled by the methods that
// decrypt, which audit the access.
type Contact struct {
	Ref
	RowID          int64     `json:"-"`
	State          State     `json:"state"`
	Routing        Routing   `json:"routing"`
	Priority       int       `json:"priority"`
	DueAt          time.Time `json:"due_at,omitzero"` // zero: held until something changes
	Attempts       int       `json:"attempts"`
	LeaseOwner     int64     `json:"lease_owner,omitempty"`
	LeaseUntil     time.Time `json:"lease_until,omitzero"`
	LeasedAt       time.Time `json:"leased_at,omitzero"`
	CallbackAt     time.Time `json:"callback_at,omitzero"`
	CallbackOwner  int64     `json:"callback_owner,omitempty"` // 0: anyone
	LastOutcome    string    `json:"last_outcome,omitempty"`
	LastAttemptAt  time.Time `json:"last_attempt_at,omitzero"`
	FirstAttemptAt time.Time `json:"first_attempt_at,omitzero"`
	CloseReason    string    `json:"close_reason,omitempty"`
	ClosedAt       time.Time `json:"closed_at,omitzero"`
	HeldRule       Rule      `json:"held_rule,omitempty"`
	BatchID        int64     `json:"batch_id,omitempty"`
	LoadedAt       time.Time `json:"loaded_at"`
	PhoneType      string    `json:"phone_type,omitempty"`
	ConsentAt      time.Time `json:"consent_at,omitzero"`

	// Decrypted personal data.
	Phone    string            `json:"phone,omitempty"` // the dialled number, E.164
	Fields   map[string]string `json:"fields,omitempty"`
	Personal []string          `json:"personal,omitempty"` // which Fields are personal data, sorted
	Consent  *Consent          `json:"consent,omitempty"`  // with ConsentAt

	phoneBidx []byte
	sealed    []byte // the fields blob
	opposed   bool   // set by the claim probes and Why
}

// Attempt is one qualified call of a contact.
type Attempt struct {
	At         time.Time `json:"at"`
	Agent      int64     `json:"agent"`
	Outcome    string    `json:"outcome"`
	Counted    bool      `json:"counted"`
	Attempt    int       `json:"attempt"` // the contact's attempts after this call
	CallbackAt time.Time `json:"callback_at,omitzero"`
	LeasedAt   time.Time `json:"leased_at,omitzero"`
	Comment    string    `json:"comment,omitempty"` // decrypted
}

// Card is what an agent's screen shows: the contact, decrypted, and its
// history.
type Card struct {
	Contact Contact   `json:"contact"`
	History []Attempt `json:"history"`
	// Renewed is set when Claim gave back a lease the agent already held.
	Renewed bool `json:"renewed,omitempty"`
}

func fieldsAD(r Ref) vault.AD {
	return vault.AD{Table: "contacts", Column: "fields", Row: r.String()}
}

func commentAD(r Ref, at int64) vault.AD {
	return vault.AD{Table: "contact_attempts", Column: "comment", Row: r.String() + "/" + strconv.FormatInt(at, 10)}
}

func scanContact(sc scanner, withBlobs bool, extra ...any) (Contact, error) {
	var (
		c                                                 Contact
		state, routing, held                              string
		due, until, leased, cb, last, first, closed, load int64
		consentAt                                         int64
	)
	dest := []any{&c.RowID, &c.Mission, &c.ID, &state, &routing, &c.Priority, &due, &c.Attempts,
		&c.LeaseOwner, &until, &leased, &cb, &c.CallbackOwner, &c.LastOutcome, &last, &first,
		&c.CloseReason, &closed, &held, &c.BatchID, &load, &c.PhoneType, &c.phoneBidx, &consentAt}
	if withBlobs {
		dest = append(dest, &c.sealed)
	}
	dest = append(dest, extra...)
	if err := sc.Scan(dest...); err != nil {
		return Contact{}, err
	}
	c.State, c.Routing, c.HeldRule = State(state), Routing(routing), Rule(held)
	if due != neverMillis {
		c.DueAt = db.FromMillis(due)
	}
	c.LeaseUntil, c.LeasedAt, c.CallbackAt = db.FromMillis(until), db.FromMillis(leased), db.FromMillis(cb)
	c.LastAttemptAt, c.FirstAttemptAt, c.ClosedAt = db.FromMillis(last), db.FromMillis(first), db.FromMillis(closed)
	c.LoadedAt, c.ConsentAt = db.FromMillis(load), db.FromMillis(consentAt)
	if c.CallbackAt.IsZero() {
		c.CallbackOwner = 0
	}
	if c.LeaseOwner == 0 {
		// Qualify leaves leased_at behind (its attempt row keeps it).
		c.LeaseUntil, c.LeasedAt = time.Time{}, time.Time{}
	}
	return c, nil
}

// open decrypts c's personal data.
func (s *Service) open(ctx context.Context, c *Contact) error {
	plain, err := s.v.Open(ctx, c.sealed, fieldsAD(c.Ref))
	if err != nil {
		return fmt.Errorf("open contact %s: %w", c.Ref, err)
	}
	p, err := decodePersonal(plain)
	if err != nil {
		return fmt.Errorf("open contact %s: %w", c.Ref, err)
	}
	c.Phone, c.Fields, c.Personal = p.phone, p.fields, p.personal
	if p.consent != nil {
		c.Consent = &Consent{At: c.ConsentAt, Source: p.consent.source, Text: p.consent.text}
	}
	return nil
}

// history reads (and decrypts) the attempts of a contact.
func (s *Service) history(ctx context.Context, q db.Querier, c Contact) ([]Attempt, error) {
	rows, err := q.QueryContext(ctx, sqlHistory, c.RowID)
	if err != nil {
		return nil, fmt.Errorf("history of contact %s: %w", c.Ref, err)
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		var (
			a              Attempt
			at, cb, leased int64
			comment        []byte
		)
		if err := rows.Scan(&at, &a.Agent, &a.Outcome, &a.Counted, &a.Attempt, &cb, &leased, &comment); err != nil {
			return nil, fmt.Errorf("history of contact %s: %w", c.Ref, err)
		}
		a.At, a.CallbackAt, a.LeasedAt = db.FromMillis(at), db.FromMillis(cb), db.FromMillis(leased)
		if comment != nil {
			plain, err := s.v.Open(ctx, comment, commentAD(c.Ref, at))
			if err != nil {
				return nil, fmt.Errorf("history of contact %s: comment: %w", c.Ref, err)
			}
			a.Comment = string(plain)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// contactByRef reads a contact (with its sealed blobs, not decrypted).
func contactByRef(ctx context.Context, q db.Querier, r Ref, suffix string) (Contact, error) {
	c, err := scanContact(q.QueryRowContext(ctx, sqlContactByRef+suffix, r.ID, r.Mission), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, ErrNotFound
	}
	if err != nil {
		return Contact{}, fmt.Errorf("read contact %s: %w", r, err)
	}
	return c, nil
}

// Info returns a contact's operational data, without decrypting anything
// (not audited: it holds no personal data).
func (s *Service) Info(ctx context.Context, r Ref) (Contact, error) {
	c, err := contactByRef(ctx, s.d, r, "")
	if err != nil {
		return Contact{}, err
	}
	c.sealed = nil
	return c, nil
}

// Contact returns a contact with its personal data decrypted; the access is
// audited ("contact.read"). The caller has checked that the user may see
// the mission.
func (s *Service) Contact(ctx context.Context, r Ref) (Contact, error) {
	card, err := s.card(ctx, r, false)
	return card.Contact, err
}

// Card returns a contact decrypted with its history (comments decrypted);
// the access is audited ("contact.read").
func (s *Service) Card(ctx context.Context, r Ref) (Card, error) {
	return s.card(ctx, r, true)
}

func (s *Service) card(ctx context.Context, r Ref, withHistory bool) (Card, error) {
	c, err := contactByRef(ctx, s.d, r, "")
	if err != nil {
		return Card{}, err
	}
	if err := s.open(ctx, &c); err != nil {
		return Card{}, err
	}
	card := Card{Contact: c, History: []Attempt{}}
	if withHistory {
		if card.History, err = s.history(ctx, s.d, c); err != nil {
			return Card{}, err
		}
	}
	err = s.a.Append(ctx, audit.Event{At: s.now(), Action: "contact.read", ObjectType: "contact",
		ObjectID: r.String(), After: map[string]any{"history": withHistory}})
	if err != nil {
		return Card{}, fmt.Errorf("audit contact read: %w", err)
	}
	return card, nil
}

// Resolve finds the mission of a contact known only by its id (the API's
// /contacts/{id}); ErrAmbiguous when two missions have that id.
func (s *Service) Resolve(ctx context.Context, id string) (Ref, error) {
	rows, err := s.d.QueryContext(ctx, sqlResolveContact, id)
	if err != nil {
		return Ref{}, fmt.Errorf("resolve contact: %w", err)
	}
	defer rows.Close()
	var missions []int
	for rows.Next() {
		var m int
		if err := rows.Scan(&m); err != nil {
			return Ref{}, fmt.Errorf("resolve contact: %w", err)
		}
		missions = append(missions, m)
	}
	if err := rows.Err(); err != nil {
		return Ref{}, fmt.Errorf("resolve contact: %w", err)
	}
	switch len(missions) {
	case 0:
		return Ref{}, ErrNotFound
	case 1:
		return Ref{Mission: missions[0], ID: id}, nil
	}
	return Ref{}, ErrAmbiguous
}

// History returns a contact's attempts with their comments decrypted; the
// access is audited ("contact.history.read").
func (s *Service) History(ctx context.Context, r Ref) ([]Attempt, error) {
	c, err := contactByRef(ctx, s.d, r, "")
	if err != nil {
		return nil, err
	}
	h, err := s.history(ctx, s.d, c)
	if err != nil {
		return nil, err
	}
	err = s.a.Append(ctx, audit.Event{At: s.now(), Action: "contact.history.read", ObjectType: "contact",
		ObjectID: r.String()})
	if err != nil {
		return nil, fmt.Errorf("audit history read: %w", err)
	}
	return h, nil
}

// ContactsByPhone lists the files of a client's missions whose dialled
// number is e164 (subject requests, deduplication), without decrypting.
func (s *Service) ContactsByPhone(ctx context.Context, client, e164 string) ([]Contact, error) {
	if err := validPhone(e164); err != nil {
		return nil, err
	}
	bidx, err := s.v.BlindIndex(ctx, clientScope(client), "phone", []byte(e164))
	if err != nil {
		return nil, fmt.Errorf("contacts by phone: %w", err)
	}
	rows, err := s.d.QueryContext(ctx, sqlContactsByPhone, bidx, client)
	if err != nil {
		return nil, fmt.Errorf("contacts by phone: %w", err)
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := scanContact(rows, false)
		if err != nil {
			return nil, fmt.Errorf("contacts by phone: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetConsent records a proof of prior consent for a contact (from the API or
// a supervisor); a contact held back for the lack of one becomes due.
// Audited ("contact.consent", the source and wording sealed).
func (s *Service) SetConsent(ctx context.Context, r Ref, c Consent) error {
	if c.At.IsZero() || c.At.After(s.now().Add(time.Minute)) {
		return fmt.Errorf("%w: consent: a date, not in the future, is required", ErrInvalid)
	}
	var err error
	if c.Source, err = cleanText("consent source", c.Source, 1000, false); err != nil {
		return err
	}
	if c.Text, err = cleanText("consent text", c.Text, 8000, true); err != nil {
		return err
	}
	if c.Source == "" || c.Text == "" {
		return fmt.Errorf("%w: consent: the source and the wording are required", ErrInvalid)
	}
	if err := s.v.EnsureScope(ctx, missionScope(r.Mission)); err != nil {
		return fmt.Errorf("set consent of %s: %w", r, err)
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		cur, err := contactByRef(ctx, tx, r, s.q.lockRow)
		if err != nil {
			return err
		}
		plain, err := s.v.Open(ctx, cur.sealed, fieldsAD(r))
		if err != nil {
			return fmt.Errorf("open contact: %w", err)
		}
		p, err := decodePersonal(plain)
		if err != nil {
			return fmt.Errorf("open contact: %w", err)
		}
		p.consent = &sealedConsent{source: c.Source, text: c.Text}
		blob, err := s.v.Seal(ctx, missionScope(r.Mission), encodePersonal(nil, p), fieldsAD(r))
		if err != nil {
			return fmt.Errorf("seal contact: %w", err)
		}
		now := db.Millis(s.now())
		if _, err := tx.ExecContext(ctx, sqlSetConsent, db.Millis(c.At), blob, now, cur.RowID); err != nil {
			return fmt.Errorf("save consent: %w", err)
		}
		return s.record(ctx, tx, audit.Event{Action: "contact.consent", ObjectType: "contact", ObjectID: r.String(),
			Before:   map[string]any{"consent_at": db.Millis(cur.ConsentAt)},
			After:    map[string]any{"consent_at": db.Millis(c.At), "source": c.Source, "text": c.Text},
			Personal: []string{"source", "text"}})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("set consent of %s: %w", r, err)
	}
	return nil
}

// validPhone checks the E.164 shape: '+', then 8 to 15 digits.
func validPhone(p string) error {
	if len(p) < 9 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return fmt.Errorf("%w: phone: want E.164, e.g. +33612345678", ErrInvalid)
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return fmt.Errorf("%w: phone: want E.164, e.g. +33612345678", ErrInvalid)
		}
	}
	return nil
}

// validContactID checks a profile-given id: 1 to 128 bytes of printable
// UTF-8, no '/' (it is a path segment of the API) and no spaces at the ends.
func validContactID(id string) error {
	if id == "" || len(id) > 128 || !utf8.ValidString(id) || strings.TrimSpace(id) != id ||
		strings.ContainsAny(id, "/\\") {
		return fmt.Errorf("%w: contact id: 1 to 128 characters, no '/'", ErrInvalid)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: contact id: control characters are not allowed", ErrInvalid)
		}
	}
	return nil
}
