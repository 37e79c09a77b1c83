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
// Sealed values are: 1 version byte | 4-byte big-endian data key id |
// 12-byte random nonce | ciphertext and 16-byte tag. Random nonces allow about
// 2^32 seals per data key, far more than a mission holds.
//
// The key file holds the key in base64 (one line), the same form as
// PLATEAU_MASTER_KEY, so a key can move between the two. A new key for the
// variable can be made with `openssl rand -base64 32`.
package vault

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
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
	ErrOpen       = errors.New("vault: ciphertext does not open (tampered, moved or wrong key)")
	ErrDestroyed  = errors.New("vault: the data key of this scope was destroyed")
	ErrUnknownKey = errors.New("vault: unknown data key")
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

// keyCacheTTL bounds how long an unwrapped data key is used from memory
// before its row is read again. Another node may destroy (and recreate) a
// scope's key; this is how long this node may go on using the old one.
// A key destroyed through this Vault is dropped at once.
const keyCacheTTL = time.Minute

// Vault seals and opens values with per-scope data keys. It is safe for
// concurrent use. Several Vaults (nodes) may share a database; they must
// share the master key too.
type Vault struct {
	d       *db.DB
	opt     Options
	now     func() time.Time
	fromEnv bool // the master key came from Options.MasterKey: no rotation

	// writeMu serialises this Vault's writes to the key tables (creation,
	// destruction, rotation); the database serialises them across nodes.
	writeMu sync.Mutex

	mu     sync.RWMutex
	master *masterKey
	byID   map[uint32]*dataKey // unwrapped keys, and tombstones of destroyed ones
	live   map[string]uint32   // scope -> id of its live key
}

// New loads (or creates) the master key and returns a vault over d's keys.
//
// With Options.MasterKey empty, the key comes from Options.KeyFile, created
// on the first start (mode 0600, folder 0700). A key file that group or
// others may access is refused. A master key rotation interrupted by a crash
// is finished or undone here, whichever the database committed. New fails if
// the database's data keys are wrapped with another master key.
func New(ctx context.Context, d *db.DB, opt Options) (*Vault, error) {
	if d == nil {
		return nil, errors.New("vault: no database")
	}
	v := &Vault{
		d:    d,
		opt:  opt,
		now:  opt.Now,
		byID: make(map[uint32]*dataKey),
		live: make(map[string]uint32),
	}
	if v.now == nil {
		v.now = time.Now
	}
	dbID, err := v.dbMasterID(ctx)
	if err != nil {
		return nil, err
	}
	var key []byte
	switch {
	case opt.MasterKey != "":
		v.fromEnv = true
		if key, err = decodeKey(opt.MasterKey); err != nil {
			return nil, fmt.Errorf("vault: master key from %s: %w", MasterKeyEnv, err)
		}
	case opt.KeyFile != "":
		if key, err = loadKeyFile(opt.KeyFile, dbID); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("vault: no master key: set a key file or %s", MasterKeyEnv)
	}
	if v.master, err = newMasterKey(key); err != nil {
		return nil, err
	}
	if err := v.bindMaster(ctx, dbID); err != nil {
		return nil, err
	}
	return v, nil
}

// bindMaster records the master key in a fresh database, or checks that it is
// the one the database's keys are wrapped with.
func (v *Vault) bindMaster(ctx context.Context, dbID string) error {
	if dbID == "" {
		err := v.d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, qInitMaster, v.master.id, db.Millis(v.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("vault: record the master key id: %w", err)
		}
		// Another node may have recorded its own first.
		if dbID, err = v.dbMasterID(ctx); err != nil {
			return err
		}
	}
	if dbID != v.master.id {
		source := "key file " + v.opt.KeyFile
		if v.fromEnv {
			source = MasterKeyEnv
		}
		return fmt.Errorf("vault: the master key of %s (id %s) is not the database's (id %s): "+
			"start with the master key this database was made with", source, v.master.id, dbID)
	}
	var n int
	if err := v.d.QueryRowContext(ctx, qForeignKeys, v.master.id).Scan(&n); err != nil {
		return fmt.Errorf("vault: check the data keys: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("vault: %d data keys are not wrapped with the database's master key %s (inconsistent vault tables)", n, v.master.id)
	}
	return nil
}

func (v *Vault) dbMasterID(ctx context.Context) (string, error) {
	var id string
	err := v.d.QueryRowContext(ctx, qMasterID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("vault: read the master key id: %w", err)
	}
	return id, nil
}

func checkScope(scope string) error {
	if scope == "" {
		return errors.New("vault: empty scope")
	}
	return nil
}

// EnsureScope creates the scope's data key if it does not exist yet, in its
// own transaction. Call it before opening a write transaction that seals
// values of a new scope (on SQLite a nested write would wait for itself).
// After DestroyScope, it creates a new key (with a new id) for the scope.
func (v *Vault) EnsureScope(ctx context.Context, scope string) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	_, err := v.liveKey(ctx, scope)
	return err
}

// Seal encrypts plaintext with the scope's data key, bound to ad.
//
// A scope without a live key gets one, in a transaction of its own: on SQLite,
// calling Seal from inside db.Tx for a scope whose key does not exist yet
// would wait for itself forever, hence EnsureScope first.
func (v *Vault) Seal(ctx context.Context, scope string, plaintext []byte, ad AD) ([]byte, error) {
	if err := checkScope(scope); err != nil {
		return nil, err
	}
	k, err := v.liveKey(ctx, scope)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerLen+nonceLen, minSealed+len(plaintext))
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:headerLen], k.id)
	_, _ = rand.Read(out[headerLen:]) // never fails, see randomKey
	return k.aead.Seal(out, out[headerLen:], plaintext, sealAD(out[:headerLen], ad)), nil
}

// Open decrypts a ciphertext made by Seal with the same ad.
//
// It fails with ErrOpen when the value was altered or sealed for another
// place, ErrDestroyed when its scope's key was destroyed and ErrUnknownKey when
// its key id is not in the database.
func (v *Vault) Open(ctx context.Context, ciphertext []byte, ad AD) ([]byte, error) {
	if len(ciphertext) < minSealed {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	if ciphertext[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format %d", ErrOpen, ciphertext[0])
	}
	k, err := v.keyByID(ctx, binary.BigEndian.Uint32(ciphertext[1:headerLen]))
	if err != nil {
		return nil, err
	}
	nonce := ciphertext[headerLen : headerLen+nonceLen]
	plaintext, err := k.aead.Open(nil, nonce, ciphertext[headerLen+nonceLen:], sealAD(ciphertext[:headerLen], ad))
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}

// BlindIndex returns a keyed HMAC-SHA256 of value for equality search within
// scope; purpose separates kinds of values ("phone", "email").
//
// The HMAC key is derived (HKDF-SHA256) from the scope's data key, so it
// survives master key rotations and dies with DestroyScope; the derived key
// is kept with the cached data key, not derived again at every call. Like
// Seal, it creates a missing scope key.
func (v *Vault) BlindIndex(ctx context.Context, scope, purpose string, value []byte) ([]byte, error) {
	if err := checkScope(scope); err != nil {
		return nil, err
	}
	if purpose == "" {
		return nil, errors.New("vault: blind index: empty purpose")
	}
	k, err := v.liveKey(ctx, scope)
	if err != nil {
		return nil, err
	}
	return k.blindIndex(purpose, value), nil
}

// DeriveKey returns a 32-byte secret for purpose, derived from the system
// data key (stable across master-key rotations), e.g. for CSRF tokens.
func (v *Vault) DeriveKey(ctx context.Context, purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("vault: derive key: empty purpose")
	}
	k, err := v.liveKey(ctx, ScopeSystem)
	if err != nil {
		return nil, err
	}
	return subKey(k.key, deriveInfo+purpose), nil
}
