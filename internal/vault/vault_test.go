package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"plateau/internal/db"
)

func TestSealOpenRoundTrip(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := mustNew(t, d, Options{KeyFile: keyFile(t)})
		tests := []struct {
			name      string
			scope     string
			plaintext []byte
			ad        AD
		}{
			{"empty", "mission:26", nil, AD{"contacts", "personal", "1"}},
			{"text", "mission:26", []byte("Jeanne Dupont, +33 6 12 34 56 78"), AD{"contacts", "personal", "2"}},
			{"binary", ScopeAudit, []byte{0, 1, 2, 255, 0}, AD{"audit_events", "before", "99"}},
			{"large", ScopeSystem, bytes.Repeat([]byte("é"), 40_000), AD{"users", "totp_secret", "7"}},
			{"empty ad", "client:acme", []byte("x"), AD{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ct := mustSeal(t, v, tt.scope, tt.plaintext, tt.ad)
				if len(ct) != minSealed+len(tt.plaintext) {
					t.Errorf("len = %d, want %d", len(ct), minSealed+len(tt.plaintext))
				}
				if len(tt.plaintext) > 4 && bytes.Contains(ct, tt.plaintext) {
					t.Error("plaintext visible in the ciphertext")
				}
				got, err := v.Open(ctx, ct, tt.ad)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if !bytes.Equal(got, tt.plaintext) {
					t.Fatalf("Open = %q, want %q", got, tt.plaintext)
				}
				// A vault with an empty cache opens it too.
				got, err = mustNew(t, d, Options{KeyFile: v.opt.KeyFile}).Open(ctx, ct, tt.ad)
				if err != nil || !bytes.Equal(got, tt.plaintext) {
					t.Fatalf("fresh vault Open = %q, %v", got, err)
				}
			})
		}
		// Two seals of the same value differ (random nonce).
		a := mustSeal(t, v, "mission:26", []byte("same"), AD{"t", "c", "r"})
		b := mustSeal(t, v, "mission:26", []byte("same"), AD{"t", "c", "r"})
		if bytes.Equal(a, b) {
			t.Error("two seals of the same value are equal")
		}
	})
}

func TestOpenRejectsMovedValue(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := mustNew(t, d, Options{KeyFile: keyFile(t)})
		sealedAt := AD{Table: "contacts", Column: "personal", Row: "12"}
		ct := mustSeal(t, v, "mission:26", []byte("Jeanne"), sealedAt)
		split := mustSeal(t, v, "mission:26", []byte("Jeanne"), AD{Table: "ab", Column: "c", Row: "1"})
		tests := []struct {
			name string
			ct   []byte
			ad   AD
		}{
			{"other row", ct, AD{"contacts", "personal", "13"}},
			{"other column", ct, AD{"contacts", "notes", "12"}},
			{"other table", ct, AD{"leads", "personal", "12"}},
			{"empty ad", ct, AD{}},
			{"fields re-split", split, AD{Table: "a", Column: "bc", Row: "1"}},
			{"row into column", ct, AD{"contacts", "personal12", ""}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got, err := v.Open(ctx, tt.ct, tt.ad); !errors.Is(err, ErrOpen) {
					t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
				}
			})
		}
		if _, err := v.Open(ctx, ct, sealedAt); err != nil {
			t.Fatalf("Open at the right place: %v", err)
		}
	})
}

func TestOpenRejectsTampering(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := mustNew(t, d, Options{KeyFile: keyFile(t)})
		ad := AD{"contacts", "personal", "1"}
		ct := mustSeal(t, v, "mission:1", []byte("Jeanne Dupont"), ad)
		for i := range ct {
			for _, mask := range []byte{0x01, 0x80} {
				bad := bytes.Clone(ct)
				bad[i] ^= mask
				_, err := v.Open(ctx, bad, ad)
				switch {
				case err == nil:
					t.Fatalf("byte %d ^ %#x: tampered value opened", i, mask)
				case i >= 1 && i < headerLen:
					// Another key id: unknown, or a real key that fails the tag.
					if !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrOpen) {
						t.Fatalf("byte %d: err = %v", i, err)
					}
				case !errors.Is(err, ErrOpen):
					t.Fatalf("byte %d: err = %v, want ErrOpen", i, err)
				}
			}
		}
		for _, n := range []int{0, 1, headerLen, minSealed - 1, len(ct) - 1} {
			if _, err := v.Open(ctx, ct[:n], ad); !errors.Is(err, ErrOpen) {
				t.Errorf("truncated to %d: err = %v, want ErrOpen", n, err)
			}
		}
		if _, err := v.Open(ctx, append(bytes.Clone(ct), 0), ad); !errors.Is(err, ErrOpen) {
			t.Errorf("extended: err = %v, want ErrOpen", err)
		}
	})
}

func TestCiphertextCarriesKeyID(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := mustNew(t, d, Options{KeyFile: keyFile(t)})
		scopes := []string{ScopeSystem, ScopeAudit, "mission:26", "mission:27"}
		seen := map[uint32]string{}
		for _, scope := range scopes {
			ct := mustSeal(t, v, scope, []byte("x"), AD{"t", "c", "r"})
			if ct[0] != sealVersion {
				t.Errorf("%s: version byte = %d", scope, ct[0])
			}
			id := binary.BigEndian.Uint32(ct[1:5])
			if want := liveKeyID(t, d, scope); int64(id) != want {
				t.Errorf("%s: ciphertext key id = %d, want %d", scope, id, want)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("%s and %s share key id %d", scope, other, id)
			}
			seen[id] = scope
		}
		// An id that names no key.
		ct := mustSeal(t, v, "mission:26", []byte("x"), AD{"t", "c", "r"})
		binary.BigEndian.PutUint32(ct[1:5], 0xfffffff0)
		if _, err := v.Open(ctx, ct, AD{"t", "c", "r"}); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown key id: err = %v, want ErrUnknownKey", err)
		}
	})
}

func TestBlindIndex(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		v := mustNew(t, d, Options{KeyFile: path})
		bi := func(v *Vault, scope, purpose, value string) string {
			t.Helper()
			b, err := v.BlindIndex(ctx, scope, purpose, []byte(value))
			if err != nil {
				t.Fatalf("BlindIndex: %v", err)
			}
			if len(b) != 32 {
				t.Fatalf("BlindIndex length = %d", len(b))
			}
			return string(b)
		}
		base := bi(v, "mission:1", "phone", "+33612345678")
		tests := []struct {
			name                  string
			scope, purpose, value string
			same                  bool
		}{
			{"same input", "mission:1", "phone", "+33612345678", true},
			{"other value", "mission:1", "phone", "+33612345679", false},
			{"other purpose", "mission:1", "email", "+33612345678", false},
			{"other scope", "mission:2", "phone", "+33612345678", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := bi(v, tt.scope, tt.purpose, tt.value); (got == base) != tt.same {
					t.Fatalf("equal to the base index: %v, want %v", got == base, tt.same)
				}
			})
		}
		// Stable for another vault instance and across a master rotation.
		if _, err := v.RotateMaster(ctx); err != nil {
			t.Fatal(err)
		}
		if got := bi(mustNew(t, d, Options{KeyFile: path}), "mission:1", "phone", "+33612345678"); got != base {
			t.Fatal("blind index changed after a master key rotation")
		}
		if _, err := v.BlindIndex(ctx, "mission:1", "", []byte("x")); err == nil {
			t.Fatal("empty purpose accepted")
		}
		if _, err := v.BlindIndex(ctx, "", "phone", []byte("x")); err == nil {
			t.Fatal("empty scope accepted")
		}
	})
}

func TestDeriveKey(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		v := mustNew(t, d, Options{KeyFile: path})
		csrf, err := v.DeriveKey(ctx, "csrf")
		if err != nil {
			t.Fatal(err)
		}
		if len(csrf) != 32 {
			t.Fatalf("len = %d", len(csrf))
		}
		other, _ := v.DeriveKey(ctx, "session")
		if bytes.Equal(csrf, other) {
			t.Fatal("two purposes derive the same key")
		}
		if _, err := v.RotateMaster(ctx); err != nil {
			t.Fatal(err)
		}
		again, err := mustNew(t, d, Options{KeyFile: path}).DeriveKey(ctx, "csrf")
		if err != nil || !bytes.Equal(again, csrf) {
			t.Fatalf("derived key changed across a rotation and a restart (err %v)", err)
		}
		// No purpose string reaches a blind index key of the system scope.
		bi, _ := v.BlindIndex(ctx, ScopeSystem, "phone", nil)
		dk, _ := v.DeriveKey(ctx, "blind-index:phone")
		if bytes.Equal(bi, dk) || bytes.Equal(dk, subKey(v.byID[uint32(liveKeyID(t, d, ScopeSystem))].key, blindIndexInfo+"phone")) {
			t.Fatal("DeriveKey reproduces a blind index key")
		}
	})
}

func TestDestroyScope(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		clock := newTestClock()
		v := mustNew(t, d, Options{KeyFile: path, Now: clock.Now})
		ad := AD{"contacts", "personal", "1"}
		doomed := mustSeal(t, v, "mission:1", []byte("Jeanne"), ad)
		kept := mustSeal(t, v, "mission:2", []byte("Paul"), ad)
		oldIndex, _ := v.BlindIndex(ctx, "mission:1", "phone", []byte("+33612345678"))
		oldID := liveKeyID(t, d, "mission:1")

		if err := v.DestroyScope(ctx, "mission:1"); err != nil {
			t.Fatalf("DestroyScope: %v", err)
		}
		if _, err := v.Open(ctx, doomed, ad); !errors.Is(err, ErrDestroyed) {
			t.Fatalf("Open after destroy: err = %v, want ErrDestroyed", err)
		}
		if got, err := v.Open(ctx, kept, ad); err != nil || string(got) != "Paul" {
			t.Fatalf("other scope: %q, %v", got, err)
		}
		var wrapped []byte
		var destroyedAt int64
		err := d.QueryRowContext(ctx, "SELECT wrapped, destroyed_at FROM vault_keys WHERE id = ?", oldID).Scan(&wrapped, &destroyedAt)
		if err != nil {
			t.Fatal(err)
		}
		if len(wrapped) != 0 || db.FromMillis(destroyedAt) != clock.Now() {
			t.Fatalf("destroyed row: wrapped %d bytes, destroyed_at %v", len(wrapped), db.FromMillis(destroyedAt))
		}
		// For good: a restarted vault (empty cache) agrees, and so after a rotation.
		v2 := mustNew(t, d, Options{KeyFile: path, Now: clock.Now})
		if _, err := v2.Open(ctx, doomed, ad); !errors.Is(err, ErrDestroyed) {
			t.Fatalf("fresh vault: err = %v, want ErrDestroyed", err)
		}
		// Destroying twice is harmless.
		if err := v.DestroyScope(ctx, "mission:1"); err != nil {
			t.Fatal(err)
		}

		// The scope lives again with a new key; the old values stay dead.
		fresh := mustSeal(t, v, "mission:1", []byte("Marie"), ad)
		newID := liveKeyID(t, d, "mission:1")
		if newID == oldID || int64(binary.BigEndian.Uint32(fresh[1:5])) != newID {
			t.Fatalf("new key id %d (old %d, in ciphertext %d)", newID, oldID, binary.BigEndian.Uint32(fresh[1:5]))
		}
		for _, vv := range []*Vault{v, v2} {
			if got, err := vv.Open(ctx, fresh, ad); err != nil || string(got) != "Marie" {
				t.Fatalf("new key: %q, %v", got, err)
			}
			if _, err := vv.Open(ctx, doomed, ad); !errors.Is(err, ErrDestroyed) {
				t.Fatalf("old value after the new key: err = %v", err)
			}
		}
		if err := v2.EnsureScope(ctx, "mission:1"); err != nil {
			t.Fatal(err)
		}
		if live, all := countKeys(t, d, "mission:1"); live != 1 || all != 2 {
			t.Fatalf("keys of mission:1: %d live of %d", live, all)
		}
		if idx, _ := v.BlindIndex(ctx, "mission:1", "phone", []byte("+33612345678")); bytes.Equal(idx, oldIndex) {
			t.Fatal("blind index survived the destruction of its key")
		}
		if _, err := v.RotateMaster(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := mustNew(t, d, Options{KeyFile: path}).Open(ctx, doomed, ad); !errors.Is(err, ErrDestroyed) {
			t.Fatalf("after rotation: err = %v, want ErrDestroyed", err)
		}
	})
}

// A node that did not destroy the key stops using it within keyCacheTTL.
func TestDestroySeenByAnotherNode(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		a := mustNew(t, d, Options{KeyFile: path})
		clockB := newTestClock()
		b := mustNew(t, d, Options{KeyFile: path, Now: clockB.Now})
		ad := AD{"contacts", "personal", "1"}
		ct := mustSeal(t, b, "mission:5", []byte("Jeanne"), ad) // b caches the key
		if err := a.DestroyScope(ctx, "mission:5"); err != nil {
			t.Fatal(err)
		}
		clockB.Advance(keyCacheTTL)
		if _, err := b.Open(ctx, ct, ad); !errors.Is(err, ErrDestroyed) {
			t.Fatalf("other node after the cache TTL: err = %v, want ErrDestroyed", err)
		}
		ct2 := mustSeal(t, b, "mission:5", []byte("Marie"), ad)
		if got, err := a.Open(ctx, ct2, ad); err != nil || string(got) != "Marie" {
			t.Fatalf("value sealed by the other node after the destruction: %q, %v", got, err)
		}
	})
}

func TestSealInsideTransactionOnceScopeExists(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v := mustNew(t, d, Options{KeyFile: keyFile(t)})
		if err := v.EnsureScope(ctx, "mission:9"); err != nil {
			t.Fatal(err)
		}
		v2 := mustNew(t, d, Options{KeyFile: v.opt.KeyFile}) // nothing cached
		err := d.Tx(ctx, func(tx *db.Tx) error {
			ct, err := v2.Seal(ctx, "mission:9", []byte("x"), AD{"settings", "value", "k"})
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "k", fmt.Sprintf("%x", ct), 1)
			return err
		})
		if err != nil {
			t.Fatalf("Seal inside a transaction: %v", err)
		}
	})
}

func TestConcurrentEnsureScopeMakesOneKey(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		// Two vaults stand for two nodes; each has several goroutines.
		nodes := []*Vault{mustNew(t, d, Options{KeyFile: path}), mustNew(t, d, Options{KeyFile: path})}
		const perNode = 8
		var wg sync.WaitGroup
		errs := make(chan error, 2*perNode)
		for _, v := range nodes {
			for range perNode {
				wg.Go(func() {
					if err := v.EnsureScope(ctx, "mission:7"); err != nil {
						errs <- err
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if live, all := countKeys(t, d, "mission:7"); live != 1 || all != 1 {
			t.Fatalf("keys of mission:7: %d live, %d in all; want 1", live, all)
		}
		ad := AD{"t", "c", "r"}
		ct := mustSeal(t, nodes[0], "mission:7", []byte("x"), ad)
		if got, err := nodes[1].Open(ctx, ct, ad); err != nil || string(got) != "x" {
			t.Fatalf("other node: %q, %v", got, err)
		}
	})
}

func TestRotateMaster(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		v := mustNew(t, d, Options{KeyFile: path})
		oldKey := readKey(t, path)
		ad := AD{"contacts", "personal", "1"}
		values := map[string][]byte{}
		for _, scope := range []string{ScopeSystem, ScopeAudit, "mission:1", "mission:2"} {
			values[scope] = mustSeal(t, v, scope, []byte("value of "+scope), ad)
		}
		if err := v.DestroyScope(ctx, "mission:2"); err != nil {
			t.Fatal(err)
		}

		newID, err := v.RotateMaster(ctx)
		if err != nil {
			t.Fatalf("RotateMaster: %v", err)
		}
		newKey := readKey(t, path)
		if bytes.Equal(newKey, oldKey) || newID != masterKeyID(newKey) || newID == masterKeyID(oldKey) {
			t.Fatalf("key file not replaced by the new key (id %s)", newID)
		}
		assertMode(t, path, 0o600)
		assertMissing(t, path+pendingSuffix)

		// Every live key is rewrapped; the destroyed one stays empty.
		rows, err := d.QueryContext(ctx, "SELECT id, scope, master_key_id, wrapped, destroyed_at FROM vault_keys")
		if err != nil {
			t.Fatal(err)
		}
		oldMaster, _ := newMasterKey(oldKey)
		newMaster, _ := newMasterKey(newKey)
		for rows.Next() {
			var (
				id              int64
				scope, masterID string
				wrapped         []byte
				destroyedAt     int64
			)
			if err := rows.Scan(&id, &scope, &masterID, &wrapped, &destroyedAt); err != nil {
				t.Fatal(err)
			}
			if destroyedAt != 0 {
				if wrapped != nil {
					t.Errorf("destroyed key %d got key material back", id)
				}
				continue
			}
			if masterID != newID {
				t.Errorf("key %d: master_key_id %s, want %s", id, masterID, newID)
			}
			if _, err := unwrapKey(oldMaster.aead, uint32(id), scope, wrapped); err == nil {
				t.Errorf("key %d still unwraps with the old master key", id)
			}
			if _, err := unwrapKey(newMaster.aead, uint32(id), scope, wrapped); err != nil {
				t.Errorf("key %d does not unwrap with the new master key", id)
			}
		}
		rows.Close()

		// The old values open, in this vault and in one started from the new file.
		for _, vv := range []*Vault{v, mustNew(t, d, Options{KeyFile: path})} {
			for scope, ct := range values {
				got, err := vv.Open(ctx, ct, ad)
				if scope == "mission:2" {
					if !errors.Is(err, ErrDestroyed) {
						t.Errorf("%s: err = %v, want ErrDestroyed", scope, err)
					}
					continue
				}
				if err != nil || string(got) != "value of "+scope {
					t.Errorf("%s after rotation: %q, %v", scope, got, err)
				}
			}
		}
		// Sealing with a new scope works after rotation.
		ct := mustSeal(t, v, "mission:3", []byte("y"), ad)
		if _, err := mustNew(t, d, Options{KeyFile: path}).Open(ctx, ct, ad); err != nil {
			t.Fatal(err)
		}
		// The old master key is refused.
		if _, err := New(ctx, d, Options{MasterKey: b64(oldKey)}); err == nil || !strings.Contains(err.Error(), newID) {
			t.Fatalf("New with the old master key: err = %v", err)
		}
	})
}

// Another process sharing the key file picks up the rotated key.
func TestRotationSeenByAnotherProcess(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := keyFile(t)
		a := mustNew(t, d, Options{KeyFile: path})
		b := mustNew(t, d, Options{KeyFile: path})
		if _, err := a.RotateMaster(ctx); err != nil {
			t.Fatal(err)
		}
		ad := AD{"t", "c", "r"}
		ct := mustSeal(t, a, "mission:1", []byte("x"), ad)
		if got, err := b.Open(ctx, ct, ad); err != nil || string(got) != "x" {
			t.Fatalf("Open of a key wrapped after the rotation: %q, %v", got, err)
		}
		c := mustNew(t, d, Options{KeyFile: path})
		if _, err := a.RotateMaster(ctx); err != nil {
			t.Fatal(err)
		}
		// c still holds the key before the last rotation: creating a key
		// must not wrap it with that one.
		if err := c.EnsureScope(ctx, "mission:2"); err != nil {
			t.Fatalf("EnsureScope after a rotation by another process: %v", err)
		}
		ct = mustSeal(t, c, "mission:2", []byte("y"), ad)
		if got, err := mustNew(t, d, Options{KeyFile: path}).Open(ctx, ct, ad); err != nil || string(got) != "y" {
			t.Fatalf("%q, %v", got, err)
		}
	})
}
