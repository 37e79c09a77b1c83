package campaign

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"plateau/internal/db"
)

// NewContact is a contact to load.
type NewContact struct {
	// ContactID is the id the profile gave the contact, unique per mission.
	ContactID string
	// Phone is the dialled number, E.164; PhoneType its kind ("mobile",
	// "fixed"...), kept in clear for routing and statistics.
	Phone     string
	PhoneType string
	// Routing: queue (default) or manual.
	Routing Routing
	// Priority: lowest first, 1 to 99; 0 means DefaultPriority (2).
	Priority int
	// BatchID is the ingestion batch the contact came from.
	BatchID int64
	// DueAt is when the contact is first due; zero: at once.
	DueAt time.Time
	// Fields are every named field of the profile.
	Fields map[string]string
	// Personal names the fields that are personal data. Every field is
	// sealed whatever this says (see Loader); the list is kept, sealed
	// too, so that exports and subject requests know which is which.
	Personal []string
	// Consent is the proof of prior consent, when the file carries one.
	Consent *Consent
}

// Loader writes contacts into one mission, in the caller's transactions.
//
// Every field of a contact is sealed, personal or not, in one blob: what is
// personal depends on context (a hearing center's address next to a lead's
// id says something about the lead), one seal per row costs the same as a
// partial one, and crypto-shredding the mission then erases everything the
// client sent. Only operational columns are in clear.
type Loader struct {
	s        *Service
	m        Mission
	scope    string
	cscope   string
	consumer bool
	// bufs holds Row's encoding buffers: Seal copies what it seals, so a
	// buffer serves row after row instead of one allocation of 768 bytes
	// a contact for the GC to collect.
	bufs sync.Pool
}

// loaderColumns are the columns a Loader fills, in the order of Row.
var loaderColumns = []string{"mission", "contact_id", "routing", "priority", "due_at", "held_rule", "batch_id",
	"loaded_at", "phone_type", "phone_bidx", "consent_at", "fields"}

// maxInsertRows bounds the rows of one INSERT statement (12 parameters each,
// well under both engines' limits).
const maxInsertRows = 500

// Loader prepares loading contacts into a mission. It makes sure the vault
// keys the rows are sealed with exist, in transactions of their own, so call
// it before opening the transaction that Add writes in (on SQLite a key
// created inside it would wait for itself).
func (s *Service) Loader(ctx context.Context, mission int) (*Loader, error) {
	m, err := loadMission(ctx, s.d, mission)
	if err != nil {
		return nil, fmt.Errorf("loader for mission %d: %w", mission, err)
	}
	if m.Archived {
		return nil, fmt.Errorf("loader for mission %d: %w", mission, ErrArchived)
	}
	l := &Loader{s: s, m: m, scope: missionScope(mission), cscope: clientScope(m.Client),
		consumer: m.Regime == RegimeConsumer}
	for _, sc := range []string{l.scope, l.cscope} {
		if err := s.v.EnsureScope(ctx, sc); err != nil {
			return nil, fmt.Errorf("loader for mission %d: %w", mission, err)
		}
	}
	return l, nil
}

// Mission returns the mission the loader writes into.
func (l *Loader) Mission() Mission { return l.m }

// Columns returns the contacts columns Row fills, in order (for COPY).
func (l *Loader) Columns() []string { return slices.Clone(loaderColumns) }

// Row validates and seals c and returns its column values, in the order of
// Columns. It only uses keys that already exist; it may run concurrently
// with other Rows, inside or outside a transaction.
func (l *Loader) Row(ctx context.Context, c NewContact) ([]any, error) {
	if err := validContactID(c.ContactID); err != nil {
		return nil, err
	}
	if err := validPhone(c.Phone); err != nil {
		return nil, fmt.Errorf("contact %s: %w", c.ContactID, err)
	}
	routing := c.Routing
	if routing == "" {
		routing = RoutingQueue
	}
	if routing != RoutingQueue && routing != RoutingManual {
		return nil, fmt.Errorf("%w: contact %s: routing: want queue or manual", ErrInvalid, c.ContactID)
	}
	prio := c.Priority
	if prio == 0 {
		prio = DefaultPriority
	}
	if prio < 1 || prio > 99 {
		return nil, fmt.Errorf("%w: contact %s: priority: 1 to 99", ErrInvalid, c.ContactID)
	}
	if len(c.PhoneType) > 32 {
		return nil, fmt.Errorf("%w: contact %s: phone type too long", ErrInvalid, c.ContactID)
	}
	ref := Ref{Mission: l.m.Number, ID: c.ContactID}
	p := personalData{phone: c.Phone, fields: c.Fields, personal: c.Personal}
	now := l.s.now()
	due := db.Millis(now)
	if !c.DueAt.IsZero() {
		due = db.Millis(c.DueAt)
	}
	var (
		consentAt int64
		held      string
	)
	if c.Consent != nil {
		if c.Consent.At.IsZero() {
			return nil, fmt.Errorf("%w: contact %s: consent without a date", ErrInvalid, c.ContactID)
		}
		consentAt = db.Millis(c.Consent.At)
		p.consent = &sealedConsent{source: c.Consent.Source, text: c.Consent.Text}
	} else if l.consumer && !now.Before(ConsentRequiredFrom) {
		// Held from the start rather than found, one claim at a time, by
		// the queue.
		held, due = string(RuleConsent), neverMillis
	}
	buf, _ := l.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	*buf = encodePersonal((*buf)[:0], p)
	sealed, err := l.s.v.Seal(ctx, l.scope, *buf, fieldsAD(ref))
	l.bufs.Put(buf)
	if err != nil {
		return nil, fmt.Errorf("contact %s: %w", c.ContactID, err)
	}
	bidx, err := l.s.v.BlindIndex(ctx, l.cscope, "phone", []byte(c.Phone))
	if err != nil {
		return nil, fmt.Errorf("contact %s: %w", c.ContactID, err)
	}
	return []any{l.m.Number, c.ContactID, string(routing), prio, due, held, c.BatchID, db.Millis(now),
		c.PhoneType, bidx, consentAt, sealed}, nil
}

// Add writes contacts in tx, skipping those whose id the mission already
// has, and returns how many it inserted: a resumed batch never duplicates a
// contact. Rows are sealed (in parallel, on every core) before they are
// written, with keys that Loader made sure exist, and go in multi-row
// INSERT statements of up to 500 rows; sealing the next chunk overlaps
// writing the previous one. A contact that does not validate fails the
// call (nothing of this call is written if the caller then rolls back).
func (l *Loader) Add(ctx context.Context, tx *db.Tx, cs []NewContact) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	chunks := (len(cs) + maxInsertRows - 1) / maxInsertRows
	type built struct {
		rows [][]any
		err  error
	}
	ready := make([]chan built, chunks)
	for i := range ready {
		ready[i] = make(chan built, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	defer func() {
		cancel() // workers stop at their next chunk
		wg.Wait()
	}()
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= chunks || ctx.Err() != nil {
					return
				}
				part := cs[i*maxInsertRows : min((i+1)*maxInsertRows, len(cs))]
				b := built{rows: make([][]any, len(part))}
				for j := range part {
					if b.rows[j], b.err = l.Row(ctx, part[j]); b.err != nil {
						break
					}
				}
				ready[i] <- b
			}
		}()
	}
	inserted := 0
	for i := range chunks {
		var b built
		select {
		case b = <-ready[i]:
		case <-ctx.Done():
			return inserted, ctx.Err()
		}
		if b.err != nil {
			return inserted, b.err
		}
		n, err := l.Insert(ctx, tx, b.rows)
		inserted += n
		if err != nil {
			return inserted, err
		}
	}
	return inserted, nil
}

// Insert writes rows built by Row in tx (ON CONFLICT DO NOTHING) and returns
// how many were new.
func (l *Loader) Insert(ctx context.Context, tx *db.Tx, rows [][]any) (int, error) {
	inserted := 0
	for start := 0; start < len(rows); start += maxInsertRows {
		chunk := rows[start:min(start+maxInsertRows, len(rows))]
		args := make([]any, 0, len(chunk)*len(loaderColumns))
		for _, r := range chunk {
			if len(r) != len(loaderColumns) {
				return inserted, fmt.Errorf("insert contacts: a row has %d values, want %d", len(r), len(loaderColumns))
			}
			args = append(args, r...)
		}
		res, err := tx.ExecContext(ctx, insertContactsSQL(len(chunk)), args...)
		if err != nil {
			return inserted, fmt.Errorf("insert contacts into mission %d: %w", l.m.Number, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return inserted, fmt.Errorf("insert contacts into mission %d: %w", l.m.Number, err)
		}
		inserted += int(n)
	}
	if inserted > 0 {
		if err := l.countLoaded(ctx, tx, inserted); err != nil {
			return 0, err
		}
		// New priorities may have appeared; this node sees them at once,
		// others within CacheTTL.
		l.s.forget(l.m.Number)
	}
	return inserted, nil
}

// insertContactsSQL returns the INSERT statement for n rows (placeholders
// only; values are always bound).
func insertContactsSQL(n int) string {
	var b strings.Builder
	one := "(" + strings.Repeat("?, ", len(loaderColumns)-1) + "?)"
	b.Grow(80 + n*(len(one)+2))
	b.WriteString("INSERT INTO contacts (")
	b.WriteString(strings.Join(loaderColumns, ", "))
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	b.WriteString(" ON CONFLICT (contact_id, mission) DO NOTHING")
	return b.String()
}

// AddContacts is Loader(ctx, mission) then Add: for callers that load one
// chunk; ingestion, which loads many, keeps one Loader. Call it outside
// any transaction of the caller's if the mission's keys may not exist yet.
func (s *Service) AddContacts(ctx context.Context, tx *db.Tx, mission int, cs []NewContact) (int, error) {
	l, err := s.Loader(ctx, mission)
	if err != nil {
		return 0, err
	}
	return l.Add(ctx, tx, cs)
}

// countLoaded adds n new open files to the mission's counts, in tx.
func (l *Loader) countLoaded(ctx context.Context, tx *db.Tx, n int) error {
	var c counter
	c.file(countKey{mission: l.m.Number, state: StateOpen}, int64(n))
	return c.apply(ctx, tx)
}
