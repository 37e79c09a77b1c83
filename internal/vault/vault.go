// Package vault keeps Plateau's keys and seals personal data.
//
// A master key (a file created with mode 0600 on first start, or
// PLATEAU_MASTER_KEY) wraps one data key per scope ("system", "audit",
// "mission:26", "client:acme"...). Data keys live wrapped in the database.
// Seal/Open use AES-256-GCM; every ciphertext carries the id of its data key
// and is bound by associated data to its table, column and row, so a value
// copied elsewhere does not open. Destroying a scope's data key makes every
// ciphertext of that scope unreadable for good (crypto-shredding).
//
// STUB: the signatures below are the contract other packages code against;
// the bodies are being written.
package vault

import (
	"context"
	"errors"
	"time"

	"plateau/internal/db"
)

// Well-known scopes.
const (
	ScopeSystem = "system" // TOTP secrets, derived server secrets
	ScopeAudit  = "audit"  // personal fields in audit before/after values
)

// MasterKeyEnv is the environment variable that may hold the master key
// (base64, 32 bytes) instead of the key file.
const MasterKeyEnv = "PLATEAU_MASTER_KEY"

// Errors callers may test with errors.Is.
var (
	ErrOpen        = errors.New("vault: ciphertext does not open (tampered, moved or wrong key)")
	ErrDestroyed   = errors.New("vault: the data key of this scope was destroyed")
	ErrUnknownKey  = errors.New("vault: unknown data key")
	errNotYetBuilt = errors.New("vault: not implemented yet")
)

// AD binds a ciphertext to where it is stored.
type AD struct {
	Table, Column, Row string
}

// Options configure a Vault.
type Options struct {
	// KeyFile is the master key file; created with mode 0600 if missing.
	KeyFile string
	// MasterKey, when not empty, is the base64 master key and takes
	// precedence over KeyFile (from PLATEAU_MASTER_KEY).
	MasterKey string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Vault seals and opens values with per-scope data keys.
type Vault struct {
	d   *db.DB
	opt Options
}

// New loads (or creates) the master key and returns a vault over d's keys.
func New(ctx context.Context, d *db.DB, opt Options) (*Vault, error) {
	return nil, errNotYetBuilt
}

// EnsureScope creates the scope's data key if it does not exist yet, in its
// own transaction. Call it before opening a write transaction that seals
// values of a new scope (on SQLite a nested write would wait for itself).
func (v *Vault) EnsureScope(ctx context.Context, scope string) error { return errNotYetBuilt }

// Seal encrypts plaintext with the scope's data key, bound to ad.
func (v *Vault) Seal(ctx context.Context, scope string, plaintext []byte, ad AD) ([]byte, error) {
	return nil, errNotYetBuilt
}

// Open decrypts a ciphertext made by Seal with the same ad.
func (v *Vault) Open(ctx context.Context, ciphertext []byte, ad AD) ([]byte, error) {
	return nil, errNotYetBuilt
}

// BlindIndex returns a keyed HMAC-SHA256 of value for equality search within
// scope; purpose separates kinds of values ("phone", "email").
func (v *Vault) BlindIndex(ctx context.Context, scope, purpose string, value []byte) ([]byte, error) {
	return nil, errNotYetBuilt
}

// DeriveKey returns a 32-byte secret for purpose, derived from the system
// data key (stable across master-key rotations), e.g. for CSRF tokens.
func (v *Vault) DeriveKey(ctx context.Context, purpose string) ([]byte, error) {
	return nil, errNotYetBuilt
}

// DestroyScope erases the scope's data key: its ciphertexts never open again.
func (v *Vault) DestroyScope(ctx context.Context, scope string) error { return errNotYetBuilt }

// RotateMaster makes a new master key, rewraps every data key with it and
// replaces the key file, crash-safely. It returns the new master key id.
func (v *Vault) RotateMaster(ctx context.Context) (string, error) { return "", errNotYetBuilt }
