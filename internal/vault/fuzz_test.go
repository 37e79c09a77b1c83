package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"plateau/internal/db"
)

// FuzzOpen: Open never panics, and only the value Seal made opens.
func FuzzOpen(f *testing.F) {
	d := db.OpenTestSQLite(f)
	ctx := context.Background()
	v, err := New(ctx, d, Options{KeyFile: f.TempDir() + "/master.key"})
	if err != nil {
		f.Fatal(err)
	}
	ad := AD{"contacts", "personal", "1"}
	sealed, err := v.Seal(ctx, "mission:1", []byte("Jeanne Dupont"), ad)
	if err != nil {
		f.Fatal(err)
	}
	if err := v.DestroyScope(ctx, "mission:1"); err != nil {
		f.Fatal(err)
	}
	live, err := v.Seal(ctx, "mission:1", []byte("Marie"), ad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(live)
	f.Add(sealed) // its key is destroyed
	f.Add(live[:minSealed])
	f.Add([]byte{})
	f.Add([]byte{sealVersion, 0, 0, 0, 0})
	f.Add(append([]byte{2}, live[1:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := v.Open(ctx, data, ad)
		if err == nil {
			if !bytes.Equal(data, live) || string(got) != "Marie" {
				t.Fatalf("forged value opened: %x", data)
			}
			return
		}
		if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrDestroyed) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}
