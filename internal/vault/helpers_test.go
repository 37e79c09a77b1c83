package vault

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"plateau/internal/clocktest"
	"plateau/internal/db"
)

// newTestClock is a clock the tests move by hand.
func newTestClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
}

// keyFile names a key file in a folder that does not exist yet.
func keyFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "keys", "master.key")
}

func mustNew(t *testing.T, d *db.DB, opt Options) *Vault {
	t.Helper()
	v, err := New(context.Background(), d, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func mustSeal(t *testing.T, v *Vault, scope string, plaintext []byte, ad AD) []byte {
	t.Helper()
	ct, err := v.Seal(context.Background(), scope, plaintext, ad)
	if err != nil {
		t.Fatalf("Seal(%s): %v", scope, err)
	}
	return ct
}

// readKey reads a key file the way New does.
func readKey(t *testing.T, path string) []byte {
	t.Helper()
	k, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKey puts key in path (mode 0600), replacing it.
func writeKey(t *testing.T, path string, key []byte) {
	t.Helper()
	if err := os.WriteFile(path, []byte(encodeKey(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

func liveKeyID(t *testing.T, d *db.DB, scope string) int64 {
	t.Helper()
	var id int64
	if err := d.QueryRowContext(context.Background(),
		"SELECT id FROM vault_keys WHERE scope = ? AND destroyed_at = 0", scope).Scan(&id); err != nil {
		t.Fatalf("live key of %s: %v", scope, err)
	}
	return id
}

func countKeys(t *testing.T, d *db.DB, scope string) (live, all int) {
	t.Helper()
	err := d.QueryRowContext(context.Background(),
		"SELECT COALESCE(SUM(CASE WHEN destroyed_at = 0 THEN 1 ELSE 0 END), 0), COUNT(*) FROM vault_keys WHERE scope = ?",
		scope).Scan(&live, &all)
	if err != nil {
		t.Fatal(err)
	}
	return live, all
}
