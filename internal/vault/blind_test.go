package vault

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"plateau/internal/db"
)

// The pooled, cached HMACs give exactly the index computed from scratch,
// from many goroutines at once, for every purpose.
func TestBlindIndexCacheMatchesDerivation(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := mustNew(t, d, Options{KeyFile: keyFile(t)})
		if err := v.EnsureScope(ctx, "client:acme"); err != nil {
			t.Fatal(err)
		}
		key := v.byID[uint32(liveKeyID(t, d, "client:acme"))].key
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				purpose := []string{"phone", "email"}[g%2]
				for i := range 200 {
					value := []byte("+336" + strconv.Itoa(g*1000+i))
					got, err := v.BlindIndex(ctx, "client:acme", purpose, value)
					if err != nil {
						errs <- err.Error()
						return
					}
					if want := blindIndex(key, purpose, value); !bytes.Equal(got, want) {
						errs <- "cached blind index differs from the derivation for " + purpose
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
	})
}

func BenchmarkBlindIndex(b *testing.B) {
	d := db.OpenTestSQLite(b)
	ctx := context.Background()
	v, err := New(ctx, d, Options{KeyFile: filepath.Join(b.TempDir(), "keys", "master.key")})
	if err != nil {
		b.Fatal(err)
	}
	value := []byte("+33612345678")
	for b.Loop() {
		if _, err := v.BlindIndex(ctx, "client:acme", "phone", value); err != nil {
			b.Fatal(err)
		}
	}
}
