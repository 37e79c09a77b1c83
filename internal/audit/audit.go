// Package audit is Plateau's tamper-evident trail: append-only events, each
// row holding the SHA-256 of the previous one, with Ed25519-signed checkpoints
// of the chain head written outside the database.
//
// STUB: the signatures below are the contract other packages code against;
// the bodies are being written.
package audit

import (
	"context"
	"errors"
	"time"

	"plateau/internal/db"
	"plateau/internal/vault"
)

var errNotYetBuilt = errors.New("audit: not implemented yet")

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
	CheckpointFile string        // signed checkpoints, one JSON line each
	SigningKeyFile string        // Ed25519 private key, created 0600 if missing
	Interval       time.Duration // checkpoint period; 0: one minute
	Now            func() time.Time
}

// Log appends and verifies audit events.
type Log struct {
	d   *db.DB
	v   *vault.Vault
	opt Options
}

// New returns a Log; it loads or creates the signing key.
func New(d *db.DB, v *vault.Vault, opt Options) (*Log, error) { return nil, errNotYetBuilt }

// Record appends e inside the caller's transaction, so the change and its
// audit row commit or roll back together.
func (l *Log) Record(ctx context.Context, tx *db.Tx, e Event) error { return errNotYetBuilt }

// Append appends e in a transaction of its own.
func (l *Log) Append(ctx context.Context, e Event) error { return errNotYetBuilt }

// Run writes a checkpoint every Interval when events arrived, and a last one
// when ctx ends.
func (l *Log) Run(ctx context.Context) {}

// Checkpoint signs and writes the current chain head if it moved since the
// last checkpoint.
func (l *Log) Checkpoint(ctx context.Context) error { return errNotYetBuilt }

// Verify checks the whole chain and every checkpoint.
func (l *Log) Verify(ctx context.Context) (Report, error) { return Report{}, errNotYetBuilt }

// List returns entries matching f, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) { return nil, errNotYetBuilt }
