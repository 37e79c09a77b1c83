package vault

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"plateau/internal/db"
)

// dataKey is an unwrapped data key, or the tombstone of a destroyed one
// (destroyed set, no key).
type dataKey struct {
	id        uint32
	scope     string
	key       []byte
	aead      cipher.AEAD
	destroyed bool
	loaded    time.Time // when it was read from the database

	// blind caches, per purpose, the keyed HMACs of BlindIndex
	// (*blindMACs); it goes with the key.
	blind sync.Map
}

// blindIndex returns the blind index of value for purpose under k.
func (k *dataKey) blindIndex(purpose string, value []byte) []byte {
	m, ok := k.blind.Load(purpose)
	if !ok {
		m, _ = k.blind.LoadOrStore(purpose, newBlindMACs(k.key, purpose))
	}
	return m.(*blindMACs).sum(value)
}

// errMasterMoved: the database's data keys are wrapped with a master key this
// process does not hold (another process rotated it).
var errMasterMoved = errors.New("vault: the master key was rotated by another process, and the key file does not hold the new one: restart Plateau")

// fresh reports whether k may still be used without reading its row again.
func (v *Vault) fresh(k *dataKey) bool {
	age := v.now().Sub(k.loaded)
	return age >= 0 && age < keyCacheTTL
}

func (v *Vault) currentMaster() *masterKey {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.master
}

// remember caches k, unless a tombstone says its key was destroyed meanwhile:
// a load that raced with DestroyScope must not bring the key back. asLive
// makes k the scope's key for sealing; only the paths that read the scope's
// live key say so (a key found by id may have been replaced since).
func (v *Vault) remember(k *dataKey, asLive bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if old := v.byID[k.id]; old != nil && old.destroyed {
		return
	}
	v.byID[k.id] = k
	switch {
	case k.destroyed && v.live[k.scope] == k.id:
		delete(v.live, k.scope)
	case !k.destroyed && asLive:
		v.live[k.scope] = k.id
	}
}

// liveKey returns the scope's live data key, creating it if there is none.
func (v *Vault) liveKey(ctx context.Context, scope string) (*dataKey, error) {
	if k := v.cachedLive(scope); k != nil {
		return k, nil
	}
	k, err := v.loadLive(ctx, scope)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return k, err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	// Another goroutine may have created it while this one waited.
	if k := v.cachedLive(scope); k != nil {
		return k, nil
	}
	return v.createKey(ctx, scope)
}

func (v *Vault) cachedLive(scope string) *dataKey {
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.live[scope]
	if !ok {
		return nil
	}
	if k := v.byID[id]; k != nil && !k.destroyed && v.fresh(k) {
		return k
	}
	return nil
}

// loadLive reads the scope's live key; sql.ErrNoRows when it has none.
func (v *Vault) loadLive(ctx context.Context, scope string) (*dataKey, error) {
	var (
		id       int64
		masterID string
		wrapped  []byte
	)
	err := v.d.QueryRowContext(ctx, qLiveKey, scope).Scan(&id, &masterID, &wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read the data key of a scope: %w", err)
	}
	k, err := v.unwrapRow(id, scope, masterID, wrapped)
	if err != nil {
		return nil, err
	}
	v.remember(k, true)
	return k, nil
}

// keyByID returns the data key a ciphertext names.
func (v *Vault) keyByID(ctx context.Context, id uint32) (*dataKey, error) {
	if id == 0 {
		return nil, fmt.Errorf("%w: id 0", ErrUnknownKey)
	}
	v.mu.RLock()
	k := v.byID[id]
	v.mu.RUnlock()
	if k != nil && k.destroyed {
		return nil, fmt.Errorf("%w: data key %d", ErrDestroyed, id)
	}
	if k != nil && v.fresh(k) {
		return k, nil
	}
	var (
		scope, masterID string
		wrapped         []byte
		destroyedAt     int64
	)
	err := v.d.QueryRowContext(ctx, qKeyByID, int64(id)).Scan(&scope, &masterID, &wrapped, &destroyedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: id %d", ErrUnknownKey, id)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read data key %d: %w", id, err)
	}
	if destroyedAt != 0 {
		v.remember(&dataKey{id: id, scope: scope, destroyed: true}, false)
		return nil, fmt.Errorf("%w: data key %d", ErrDestroyed, id)
	}
	if k, err = v.unwrapRow(int64(id), scope, masterID, wrapped); err != nil {
		return nil, err
	}
	v.remember(k, false)
	return k, nil
}

func (v *Vault) unwrapRow(id int64, scope, masterID string, wrapped []byte) (*dataKey, error) {
	if id < 1 || id > math.MaxUint32 {
		return nil, fmt.Errorf("vault: data key id %d out of range", id)
	}
	m, err := v.masterFor(masterID)
	if err != nil {
		return nil, err
	}
	key, err := unwrapKey(m.aead, uint32(id), scope, wrapped)
	if err != nil {
		return nil, fmt.Errorf("vault: data key %d %w (master key %s)", id, err, m.id)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &dataKey{id: uint32(id), scope: scope, key: key, aead: aead, loaded: v.now()}, nil
}

// masterFor returns the master key whose id is want. When another process
// rotated the master key, the key file (or the rotation's pending file, in
// the moment between the database commit and the rename) holds the new one:
// it is adopted rather than failing until a restart. The files are only read
// here; settling an interrupted rotation is New's job.
func (v *Vault) masterFor(want string) (*masterKey, error) {
	m := v.currentMaster()
	if m.id == want {
		return m, nil
	}
	if v.fromEnv {
		return nil, fmt.Errorf("vault: a data key is wrapped with master key %s, not with the one of %s (%s)", want, MasterKeyEnv, m.id)
	}
	for _, path := range []string{v.opt.KeyFile, v.opt.KeyFile + pendingSuffix} {
		key, err := readKeyFile(path)
		if err != nil || masterKeyID(key) != want {
			continue
		}
		next, err := newMasterKey(key)
		if err != nil {
			return nil, err
		}
		v.mu.Lock()
		v.master = next
		v.mu.Unlock()
		return next, nil
	}
	return nil, errMasterMoved
}

// createKey creates the scope's live key, or returns the one another node
// created first. The caller holds writeMu.
func (v *Vault) createKey(ctx context.Context, scope string) (*dataKey, error) {
	k, err := v.createKeyWith(ctx, scope, v.currentMaster())
	if errors.Is(err, errMasterMoved) {
		// Rotated by another process: adopt its key from the file, once.
		dbID, derr := v.dbMasterID(ctx)
		if derr != nil {
			return nil, derr
		}
		m, merr := v.masterFor(dbID)
		if merr != nil {
			return nil, merr
		}
		k, err = v.createKeyWith(ctx, scope, m)
	}
	if err != nil {
		return nil, err
	}
	v.remember(k, true)
	return k, nil
}

func (v *Vault) createKeyWith(ctx context.Context, scope string, m *masterKey) (*dataKey, error) {
	var (
		id       int64
		masterID string
		wrapped  []byte
		created  []byte // the new key, when this transaction made it
	)
	err := v.d.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, qLockMaster, m.id)
		if err != nil {
			return fmt.Errorf("lock the master key row: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("lock the master key row: %w", err)
		} else if n != 1 {
			return errMasterMoved
		}
		// The lock serialises creators, so a key created by another node
		// is seen here; the ON CONFLICT below is the second line of defence.
		err = tx.QueryRowContext(ctx, qLiveKey, scope).Scan(&id, &masterID, &wrapped)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read the data key of a scope: %w", err)
		}
		now := db.Millis(v.now())
		err = tx.QueryRowContext(ctx, qInsertKey, scope, m.id, now, now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			if err := tx.QueryRowContext(ctx, qLiveKey, scope).Scan(&id, &masterID, &wrapped); err != nil {
				return fmt.Errorf("read the data key of a scope: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert a data key: %w", err)
		}
		if id < 1 || id > math.MaxUint32 {
			return fmt.Errorf("data key id %d does not fit the 4 bytes of a ciphertext", id)
		}
		created = randomKey()
		masterID, wrapped = m.id, wrapKey(m.aead, uint32(id), scope, created)
		if _, err := tx.ExecContext(ctx, qSetWrapped, wrapped, id); err != nil {
			return fmt.Errorf("store a data key: %w", err)
		}
		return nil
	})
	if errors.Is(err, errMasterMoved) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("vault: create the data key of a scope: %w", err)
	}
	if created != nil {
		aead, err := newAEAD(created)
		if err != nil {
			return nil, err
		}
		return &dataKey{id: uint32(id), scope: scope, key: created, aead: aead, loaded: v.now()}, nil
	}
	return v.unwrapRow(id, scope, masterID, wrapped)
}

// DestroyScope erases the scope's data key: its ciphertexts never open again.
//
// The wrapped key is overwritten with NULL and the row marked destroyed (its
// id is never reused, so Open reports ErrDestroyed). Sealing in the scope
// afterwards creates a new key. Other nodes drop their cached copy within
// keyCacheTTL. Old copies of the wrapped key (SQLite free pages and WAL,
// PostgreSQL dead rows, backups) stay unreadable only once the master key that
// wrapped them is gone: rotate the master key to finish the shredding.
func (v *Vault) DestroyScope(ctx context.Context, scope string) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	// 0 means "not destroyed": a clock at the epoch must not undo that.
	at := max(db.Millis(v.now()), 1)
	var ids []uint32
	err := v.d.Tx(ctx, func(tx *db.Tx) error {
		rows, err := tx.QueryContext(ctx, qDestroy, at, scope)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, uint32(id))
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("vault: destroy the data key of a scope: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// Other cached keys of the scope were destroyed earlier by another node,
	// or (in a race) created by one since: forget them rather than guess, so
	// the next use reads their row. A tombstone is only set where this
	// transaction saw the key die, since tombstones are never revisited.
	for id, k := range v.byID {
		if k.scope == scope && !k.destroyed {
			delete(v.byID, id)
		}
	}
	for _, id := range ids {
		v.byID[id] = &dataKey{id: id, scope: scope, destroyed: true}
	}
	delete(v.live, scope)
	return nil
}

// RotateMaster makes a new master key, rewraps every data key with it and
// replaces the key file, crash-safely. It returns the new master key id.
//
// The new key is written (and synced) to KeyFile+".new" before the database
// commits the rewrapped keys, and renamed over KeyFile after; New settles a
// crash in between. A master key from PLATEAU_MASTER_KEY is not rotated.
// Other processes using the same key file pick up the new key from it.
func (v *Vault) RotateMaster(ctx context.Context) (string, error) {
	if v.fromEnv {
		return "", fmt.Errorf("vault: the master key is set by %s and cannot be rotated in place: rotate by "+
			"writing the variable's value to a key file (mode 0600), starting without the variable, "+
			"rotating, then setting the variable to the key file's new content", MasterKeyEnv)
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	old := v.currentMaster()
	key := randomKey()
	next, err := newMasterKey(key)
	if err != nil {
		return "", err
	}
	path, pending := v.opt.KeyFile, v.opt.KeyFile+pendingSuffix
	if err := writeKeyFile(pending, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("vault: %s exists: an earlier master key rotation is unfinished; restart Plateau to settle it", pending)
		}
		return "", err
	}
	txErr := v.d.Tx(ctx, func(tx *db.Tx) error { return v.rewrapAll(ctx, tx, old, next) })
	if txErr != nil {
		// A COMMIT may succeed and still report an error (connection lost):
		// only the database can tell whether the pending file is needed.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		dbID, err := v.dbMasterID(qctx)
		cancel()
		if err != nil {
			return "", fmt.Errorf("vault: rotate the master key: %w (whether it committed is unknown: %s is kept for the next start to settle)", txErr, pending)
		}
		if dbID != next.id {
			if err := os.Remove(pending); err != nil {
				return "", errors.Join(fmt.Errorf("vault: rotate the master key: %w", txErr), err)
			}
			return "", fmt.Errorf("vault: rotate the master key: %w", txErr)
		}
	}
	// The database holds the new key from here on.
	v.mu.Lock()
	v.master = next
	v.mu.Unlock()
	if err := os.Rename(pending, path); err != nil {
		return "", fmt.Errorf("vault: the master key was rotated in the database but the key file was not replaced "+
			"(%s holds the new key; the next start finishes the rename): %w", pending, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return next.id, nil
}

// rewrapAll moves the master row and every live data key from old to next.
func (v *Vault) rewrapAll(ctx context.Context, tx *db.Tx, old, next *masterKey) error {
	now := db.Millis(v.now())
	res, err := tx.ExecContext(ctx, qRotateMaster, next.id, now, old.id)
	if err != nil {
		return fmt.Errorf("switch the master key id: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("switch the master key id: %w", err)
	} else if n != 1 {
		return errMasterMoved
	}
	type row struct {
		id       int64
		scope    string
		masterID string
		wrapped  []byte
	}
	var all []row
	rows, err := tx.QueryContext(ctx, qLiveKeys)
	if err != nil {
		return fmt.Errorf("read the data keys: %w", err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.scope, &r.masterID, &r.wrapped); err != nil {
			rows.Close()
			return fmt.Errorf("read the data keys: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the data keys: %w", err)
	}
	for _, r := range all {
		if r.masterID != old.id {
			return fmt.Errorf("data key %d is wrapped with master key %s, not %s", r.id, r.masterID, old.id)
		}
		if r.id < 1 || r.id > math.MaxUint32 {
			return fmt.Errorf("data key id %d out of range", r.id)
		}
		key, err := unwrapKey(old.aead, uint32(r.id), r.scope, r.wrapped)
		if err != nil {
			return fmt.Errorf("data key %d %w", r.id, err)
		}
		wrapped := wrapKey(next.aead, uint32(r.id), r.scope, key)
		if _, err := tx.ExecContext(ctx, qRewrap, next.id, wrapped, now, r.id); err != nil {
			return fmt.Errorf("rewrap data key %d: %w", r.id, err)
		}
	}
	return nil
}
