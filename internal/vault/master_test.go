package vault

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"plateau/internal/db"
)

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s: mode %04o, want %04o", path, got, want)
	}
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: want no such file, got %v", path, err)
	}
}

func TestKeyFile(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		v := mustNew(t, d, Options{KeyFile: path})
		assertMode(t, filepath.Dir(path), 0o700)
		assertMode(t, path, 0o600)
		key := readKey(t, path)
		if v.master.id != masterKeyID(key) || len(v.master.id) != 16 {
			t.Fatalf("master id %q", v.master.id)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("key folder holds %d entries, want only the key file", len(entries))
		}
		// A restart reuses it.
		if v2 := mustNew(t, d, Options{KeyFile: path}); v2.master.id != v.master.id {
			t.Fatal("restart made a new master key")
		}

		t.Run("readable by others is refused", func(t *testing.T) {
			if runtime.GOOS == "windows" {
				t.Skip("no permission bits")
			}
			for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				_, err := New(ctx, d, Options{KeyFile: path})
				if err == nil || !strings.Contains(err.Error(), "chmod 600") {
					t.Fatalf("mode %04o: err = %v", mode, err)
				}
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("missing file with keys in the database is refused", func(t *testing.T) {
			_, err := New(ctx, d, Options{KeyFile: filepath.Join(t.TempDir(), "other.key")})
			if err == nil || !strings.Contains(err.Error(), "missing") {
				t.Fatalf("err = %v", err)
			}
			assertMissing(t, filepath.Join(t.TempDir(), "other.key"))
		})
		t.Run("another key file is refused", func(t *testing.T) {
			other := filepath.Join(t.TempDir(), "other.key")
			writeKey(t, other, randomKey())
			if _, err := New(ctx, d, Options{KeyFile: other}); err == nil {
				t.Fatal("a key file with another master key was accepted")
			}
		})
		t.Run("garbage is refused", func(t *testing.T) {
			other := filepath.Join(t.TempDir(), "bad.key")
			if err := os.WriteFile(other, []byte("c2VjcmV0LXZhbHVl\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(ctx, d, Options{KeyFile: other})
			if err == nil || strings.Contains(err.Error(), "c2VjcmV0LXZhbHVl") {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("no key at all", func(t *testing.T) {
			if _, err := New(ctx, d, Options{}); err == nil {
				t.Fatal("no key source accepted")
			}
		})
	})
}

func TestMasterKeyOption(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		key := randomKey()
		unused := keyFile(t)
		v := mustNew(t, d, Options{MasterKey: b64(key), KeyFile: unused})
		assertMissing(t, unused) // the variable wins; no file is made
		ad := AD{"t", "c", "r"}
		ct := mustSeal(t, v, "mission:1", []byte("x"), ad)
		if got, err := mustNew(t, d, Options{MasterKey: b64(key) + "\n"}).Open(ctx, ct, ad); err != nil || string(got) != "x" {
			t.Fatalf("%q, %v", got, err)
		}
		_, err := v.RotateMaster(ctx)
		if err == nil || !strings.Contains(err.Error(), MasterKeyEnv) {
			t.Fatalf("RotateMaster with %s: err = %v", MasterKeyEnv, err)
		}
		assertMissing(t, unused+pendingSuffix)

		// The same key moved to a key file keeps working (and may rotate).
		path := keyFile(t)
		if err := writeKeyFile(path, key); err != nil {
			t.Fatal(err)
		}
		fv := mustNew(t, d, Options{KeyFile: path})
		if _, err := fv.Open(ctx, ct, ad); err != nil {
			t.Fatal(err)
		}

		tests := []struct{ name, value string }{
			{"not base64", "this is not base64 at all!!"},
			{"16 bytes", b64(key[:16])},
			{"33 bytes", b64(append(key, 1))},
			{"another key", b64(randomKey())},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := New(ctx, d, Options{MasterKey: tt.value})
				if err == nil {
					t.Fatal("accepted")
				}
				if strings.Contains(err.Error(), tt.value) {
					t.Fatalf("the error quotes the key: %v", err)
				}
			})
		}
	})
}

// A crash between writing KeyFile.new and renaming it: New settles it by the
// database's master key id.
func TestRotationCrashRecovery(t *testing.T) {
	tests := []struct {
		name      string
		committed bool // the database holds the new key
	}{
		{"database committed", true},
		{"database not committed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
				ctx := context.Background()
				path := keyFile(t)
				v := mustNew(t, d, Options{KeyFile: path})
				ad := AD{"contacts", "personal", "1"}
				ct := mustSeal(t, v, "mission:1", []byte("Jeanne"), ad)
				oldKey := readKey(t, path)

				var want []byte
				if tt.committed {
					// Rotate, then put the files back as they were just
					// before the rename.
					if _, err := v.RotateMaster(ctx); err != nil {
						t.Fatal(err)
					}
					want = readKey(t, path)
					writeKey(t, path+pendingSuffix, want)
					writeKey(t, path, oldKey)
				} else {
					want = oldKey
					writeKey(t, path+pendingSuffix, randomKey())
				}

				v2 := mustNew(t, d, Options{KeyFile: path})
				assertMissing(t, path+pendingSuffix)
				if got := readKey(t, path); string(got) != string(want) {
					t.Fatal("the key file is not the database's master key")
				}
				assertMode(t, path, 0o600)
				if got, err := v2.Open(ctx, ct, ad); err != nil || string(got) != "Jeanne" {
					t.Fatalf("Open after recovery: %q, %v", got, err)
				}
				// Rotation works again afterwards.
				if _, err := v2.RotateMaster(ctx); err != nil {
					t.Fatalf("RotateMaster after recovery: %v", err)
				}
			})
		})
	}
	t.Run("neither key matches", func(t *testing.T) {
		db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
			path := keyFile(t)
			mustNew(t, d, Options{KeyFile: path})
			a, b := randomKey(), randomKey()
			writeKey(t, path, a)
			writeKey(t, path+pendingSuffix, b)
			if _, err := New(context.Background(), d, Options{KeyFile: path}); err == nil {
				t.Fatal("New accepted two foreign keys")
			}
			// Nothing is deleted when the database cannot tell.
			if string(readKey(t, path)) != string(a) || string(readKey(t, path+pendingSuffix)) != string(b) {
				t.Fatal("key files changed")
			}
		})
	})
	t.Run("unfinished rotation blocks another", func(t *testing.T) {
		db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
			path := keyFile(t)
			v := mustNew(t, d, Options{KeyFile: path})
			writeKey(t, path+pendingSuffix, randomKey())
			before := v.master.id
			if _, err := v.RotateMaster(context.Background()); err == nil {
				t.Fatal("RotateMaster ran over a pending key file")
			}
			if v.master.id != before {
				t.Fatal("master key changed")
			}
		})
	})
}

func TestWriteKeyFileNeverReplaces(t *testing.T) {
	path := keyFile(t)
	first := randomKey()
	if err := writeKeyFile(path, first); err != nil {
		t.Fatal(err)
	}
	if err := writeKeyFile(path, randomKey()); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: err = %v, want fs.ErrExist", err)
	}
	if string(readKey(t, path)) != string(first) {
		t.Fatal("key file replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %d entries", len(entries))
	}
}
