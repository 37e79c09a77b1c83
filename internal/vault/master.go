package vault

import (
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// masterKey is the key that wraps the data keys. Only its AEAD and public id
// are kept once loaded.
type masterKey struct {
	id   string
	aead cipher.AEAD
}

func newMasterKey(key []byte) (*masterKey, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &masterKey{id: masterKeyID(key), aead: aead}, nil
}

// maxKeyFile bounds what is read from a key file (a key is 45 bytes).
const maxKeyFile = 4096

// pendingSuffix names the file a rotation writes the new master key to before
// the database commits it.
const pendingSuffix = ".new"

var errKeyEncoding = errors.New("not the base64 encoding of 32 bytes")

// decodeKey reads a base64 master key. Errors never quote the input.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == keyLen {
			return k, nil
		}
	}
	return nil, errKeyEncoding
}

// encodeKey is the key file's content (and what PLATEAU_MASTER_KEY accepts).
func encodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) + "\n" }

// readKeyFile reads a master key file, refusing one that group or others may
// read or write: a master key readable by another account is a leaked key.
// A missing file gives an error matching fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: read key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: read key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: key file %s is not a regular file", path)
	}
	// Windows has no such permission bits (its ACLs are the administrator's
	// business).
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("vault: key file %s has mode %04o: group or others may access the master key; "+
			"check who read it, then run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("vault: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("vault: key file %s: %w", path, errKeyEncoding)
	}
	key, err := decodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("vault: key file %s: %w", path, err)
	}
	return key, nil
}

// writeKeyFile writes key to path atomically (temporary file in the same
// folder, fsync, then into place, then fsync of the folder), with mode 0600,
// creating the folder with mode 0700 if needed. It never replaces an existing
// file (the error then matches fs.ErrExist): the temporary file is put in
// place with a hard link, which unlike rename fails on an existing name, so
// two processes creating a key at once cannot each keep their own.
func writeKeyFile(path string, key []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("vault: create key folder: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("vault: write key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the link, only the temporary name goes
	// CreateTemp already uses 0600; Chmod says so explicitly and survives a
	// future change of its default.
	werr := f.Chmod(0o600)
	if werr == nil {
		_, werr = f.WriteString(encodeKey(key))
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("vault: write key file %s: %w", path, werr)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("vault: write key file: %w", err)
		}
		// Some file systems have no hard links: rename instead, after one
		// more look for a file created meanwhile.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("vault: write key file %s: %w", path, fs.ErrExist)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("vault: write key file: %w", err)
		}
	}
	return syncDir(dir)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("vault: sync key folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("vault: sync key folder: %w", err)
	}
	return nil
}

// loadKeyFile returns the master key of the key file, creating the file when
// neither it nor the database has a master key yet. dbID is the database's
// master key id ("" for a fresh database). It first settles a rotation
// interrupted by a crash (path+".new" present).
func loadKeyFile(path, dbID string) ([]byte, error) {
	pending := path + pendingSuffix
	cur, curErr := readKeyFile(path)
	next, nextErr := readKeyFile(pending)
	if !errors.Is(nextErr, fs.ErrNotExist) {
		return settleRotation(path, cur, curErr, next, nextErr, dbID)
	}
	if curErr == nil {
		return cur, nil
	}
	if !errors.Is(curErr, fs.ErrNotExist) {
		return nil, curErr
	}
	if dbID != "" {
		// Making a new key would not open anything: the data keys need the
		// lost one.
		return nil, fmt.Errorf("vault: key file %s is missing, but the database's data keys are wrapped with master key %s: "+
			"restore that key file (or set %s)", path, dbID, MasterKeyEnv)
	}
	key := randomKey()
	err := writeKeyFile(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		return readKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// settleRotation finishes or undoes a master key rotation interrupted between
// writing path+".new" and renaming it over path. The database decides: the
// rotation wrote the new file (and synced it) before committing, so if the
// database's master key id is the new key's, the rename is finished; if it is
// still the current key's, the commit never happened and the new file goes.
func settleRotation(path string, cur []byte, curErr error, next []byte, nextErr error, dbID string) ([]byte, error) {
	pending := path + pendingSuffix
	switch {
	case nextErr == nil && dbID != "" && masterKeyID(next) == dbID:
		if err := os.Rename(pending, path); err != nil {
			return nil, fmt.Errorf("vault: finish the interrupted master key rotation: %w", err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		return next, nil
	case curErr == nil && dbID != "" && masterKeyID(cur) == dbID:
		if err := os.Remove(pending); err != nil {
			return nil, fmt.Errorf("vault: undo the interrupted master key rotation: %w", err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		return cur, nil
	case nextErr != nil:
		return nil, fmt.Errorf("vault: %s is left by an interrupted master key rotation and cannot be used: %w", pending, nextErr)
	case curErr != nil && !errors.Is(curErr, fs.ErrNotExist):
		return nil, curErr
	default:
		return nil, fmt.Errorf("vault: an interrupted master key rotation left %s, and the database's master key id %q "+
			"matches neither it nor %s: restore the right key file; remove neither file before it is found", pending, dbID, path)
	}
}
