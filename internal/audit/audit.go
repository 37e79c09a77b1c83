// Package audit is Plateau's tamper-evident trail: append-only events, each
// row holding the SHA-256 of the previous one, with Ed25519-signed checkpoints
// of the chain head written outside the database.
//
// Appends are serialised by a one-row head table (audit_head) updated in the
// same transaction as the new row, so ids are contiguous (1, 2, 3...) and a
// removed row shows as a gap. Verify recomputes every hash, follows the links,
// compares the head with the last row and checks every signed checkpoint, so
// edited, removed, reordered or truncated rows are found; only the signing key
// (kept outside the database) lets anyone vouch for a rewritten chain.
package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"plateau/internal/db"
	"plateau/internal/vault"
)

// Actor says who acts and from where; it travels in the context.
type Actor struct {
	Login  string // user login, "system", or "cli" for the command line
	Source string // remote address (IP) or "local"
	Agent  string // user agent, or workstation name
}

type actorKey struct{}

// WithActor returns a context carrying the actor of the events recorded
// under it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx (zero Actor if none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Event is one audited action. Empty Actor fields are filled from the
// context's Actor.
type Event struct {
	At         time.Time // zero: now
	Actor      string
	Source     string
	Agent      string
	Action     string // dotted name, e.g. "auth.login.failed", "user.roles.change"
	ObjectType string // e.g. "user", "session", "token", "key"
	ObjectID   string
	Before     map[string]any // nil when not applicable
	After      map[string]any
	// Personal names the keys of Before/After whose values are personal
	// data; they are sealed (vault scope "audit") before being stored.
	Personal []string
}

// Entry is a stored event as the viewer shows it; sealed values appear as
// the string "[sealed]".
type Entry struct {
	ID         int64
	At         time.Time
	Actor      string
	Source     string
	Agent      string
	Action     string
	ObjectType string
	ObjectID   string
	Before     string // JSON, "" when none
	After      string // JSON, "" when none
}

// Filter selects entries for the viewer. Empty fields match everything.
type Filter struct {
	Actor      string
	Action     string // prefix match: "auth." matches every auth event
	ObjectType string
	ObjectID   string
	From, To   time.Time // half-open [From, To)
	BeforeID   int64     // page: entries with ID < BeforeID (0: from the newest)
	Limit      int       // 0: 100
}

// Problem is the first inconsistency Verify found.
type Problem struct {
	Row    int64  // the first bad row id (or the first missing one)
	Reason string // human-readable
}

// Report is what Verify found.
type Report struct {
	Rows        int64    // rows checked
	Checkpoints int      // checkpoints checked
	Problem     *Problem // nil when everything agrees
}

// Options configure a Log.
type Options struct {
	CheckpointFile string           // signed checkpoints, one JSON line each
	SigningKeyFile string           // Ed25519 private key, created 0600 if missing
	Interval       time.Duration    // checkpoint period; 0: one minute
	Now            func() time.Time // clock for event and checkpoint times; nil: time.Now
}

// Log appends and verifies audit events.
type Log struct {
	d   *db.DB
	v   *vault.Vault
	opt Options

	key ed25519.PrivateKey
	pub ed25519.PublicKey
	// cpMu keeps two Checkpoint calls of this process from both deciding
	// the head moved and writing the same checkpoint twice.
	cpMu sync.Mutex
}

// ensureScopeTimeout bounds the vault call New makes without a caller
// context.
const ensureScopeTimeout = 30 * time.Second

// New returns a Log; it loads or creates the signing key.
//
// Both files of opt are required. v may be nil for a Log that only verifies,
// lists or appends events without personal fields. With a vault, New makes
// sure the "audit" scope's data key exists now, in a transaction of its own:
// Record seals inside the caller's transaction, where creating the key would
// be a nested write (on SQLite, a writer waiting for itself).
func New(d *db.DB, v *vault.Vault, opt Options) (*Log, error) {
	if d == nil {
		return nil, errors.New("audit: nil database")
	}
	if opt.CheckpointFile == "" || opt.SigningKeyFile == "" {
		return nil, errors.New("audit: the checkpoint file and the signing key file are required")
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	key, err := loadOrCreateKey(opt.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	if v != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ensureScopeTimeout)
		defer cancel()
		if err := v.EnsureScope(ctx, vault.ScopeAudit); err != nil {
			return nil, fmt.Errorf("audit: ensure the vault's audit scope: %w", err)
		}
	}
	return &Log{d: d, v: v, opt: opt, key: key, pub: key.Public().(ed25519.PublicKey)}, nil
}

// Record appends e inside the caller's transaction, so the change and its
// audit row commit or roll back together.
//
// The audit head stays locked until that transaction ends and every audited
// write waits for it, so call Record last, just before returning from the
// transaction's function. Personal values are sealed inside that
// transaction with the vault's "audit" key, which New (and every Append with
// personal values) makes sure exists beforehand: were the key destroyed
// meanwhile, on SQLite a Record would wait for itself until ctx ends.
func (l *Log) Record(ctx context.Context, tx *db.Tx, e Event) error {
	if tx == nil {
		return errors.New("audit: record: nil transaction")
	}
	return l.record(ctx, tx, e)
}

// Append appends e in a transaction of its own.
func (l *Log) Append(ctx context.Context, e Event) error {
	if l.v != nil && len(e.Personal) > 0 {
		// Cheap once the key is cached; and should the scope's key have been
		// destroyed since New, its successor is made here rather than by Seal
		// inside the transaction.
		if err := l.v.EnsureScope(ctx, vault.ScopeAudit); err != nil {
			return fmt.Errorf("audit: append %s: %w", e.Action, err)
		}
	}
	return l.d.Tx(ctx, func(tx *db.Tx) error { return l.record(ctx, tx, e) })
}

// RecordAll appends events, in order, inside the caller's transaction, as
// Record would one after the other, but holding the chain head for one read
// and one update and inserting the rows a few dozen at a time. Group commits
// (the campaign queue's batches) record every operation's events this way.
// Empty Actor fields of an event are filled from ctx's Actor, as in Record;
// callers mixing actors set them on each event.
func (l *Log) RecordAll(ctx context.Context, tx *db.Tx, events []Event) error {
	if tx == nil {
		return errors.New("audit: record: nil transaction")
	}
	if len(events) == 0 {
		return nil
	}
	return l.recordAll(ctx, tx, events)
}

func (l *Log) record(ctx context.Context, tx *db.Tx, e Event) error {
	return l.recordAll(ctx, tx, []Event{e})
}

// insertChunk bounds the rows of one multi-row INSERT (12 parameters each).
const insertChunk = 50

func (l *Log) recordAll(ctx context.Context, tx *db.Tx, events []Event) error {
	a := ActorFrom(ctx)
	rows := make([]row, len(events))
	var now time.Time
	for i, e := range events {
		if e.Action == "" {
			return errors.New("audit: record: empty action")
		}
		r := &rows[i]
		*r = row{
			actor:      clean(firstNonEmpty(e.Actor, a.Login)),
			source:     clean(firstNonEmpty(e.Source, a.Source)),
			agent:      clean(firstNonEmpty(e.Agent, a.Agent)),
			action:     clean(e.Action),
			objectType: clean(e.ObjectType),
			objectID:   clean(e.ObjectID),
		}
		at := e.At
		if at.IsZero() {
			if now.IsZero() {
				now = l.opt.Now()
			}
			at = now
		}
		r.at = db.Millis(at)
	}
	first := rows[0].action

	// Updating the head first takes its row lock on PostgreSQL (held until
	// the transaction ends), so concurrent appenders queue here and each
	// reads the hash its predecessor committed. SQLite's single writer
	// connection serialises them anyway.
	var lastID int64
	var prevHash []byte
	if err := tx.QueryRowContext(ctx, qClaimHead, len(rows)).Scan(&lastID, &prevHash); err != nil {
		return fmt.Errorf("audit: record %s: claim the chain head: %w", first, err)
	}
	id := lastID - int64(len(rows))
	for i := range rows {
		r, e := &rows[i], &events[i]
		id++
		r.id, r.prevHash = id, prevHash
		var err error
		if r.before, err = l.encodeValues(ctx, e.Before, e.Personal, "before", r.id); err != nil {
			return fmt.Errorf("audit: record %s: %w", r.action, err)
		}
		if r.after, err = l.encodeValues(ctx, e.After, e.Personal, "after", r.id); err != nil {
			return fmt.Errorf("audit: record %s: %w", r.action, err)
		}
		r.hash = r.computeHash()
		prevHash = r.hash
	}
	for start := 0; start < len(rows); start += insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		args := make([]any, 0, len(chunk)*12)
		for _, r := range chunk {
			args = append(args, r.id, r.at, r.actor, r.source, r.agent, r.action,
				r.objectType, r.objectID, r.before, r.after, r.prevHash, r.hash)
		}
		if _, err := tx.ExecContext(ctx, insertEvents(len(chunk)), args...); err != nil {
			return fmt.Errorf("audit: record %s: insert rows %d to %d: %w", chunk[0].action, chunk[0].id, chunk[len(chunk)-1].id, err)
		}
	}
	if _, err := tx.ExecContext(ctx, qSetHeadHash, prevHash); err != nil {
		return fmt.Errorf("audit: record %s: move the chain head: %w", first, err)
	}
	return nil
}

// insertEvents returns the INSERT of n audit rows.
func insertEvents(n int) string {
	if n == 1 {
		return qInsertEvent
	}
	var b strings.Builder
	b.Grow(len(qInsertEvent) + (n-1)*30)
	b.WriteString(qInsertEvent)
	for range n - 1 {
		b.WriteString(", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// maxField bounds the free-text columns: a user agent or an address comes
// from the client, and an audit row must neither fail nor bloat because of it.
const maxField = 1024

// clean makes s storable on both engines (PostgreSQL refuses invalid UTF-8
// and NUL bytes in TEXT) and bounds its length, so that a hostile header
// cannot make an audited transaction fail.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= maxField {
		return s
	}
	cut := maxField
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
