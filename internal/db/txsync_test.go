package db

import (
	"context"
	"errors"
	"testing"
)

// TxSync commits or rolls back like Tx; on SQLite its commit runs with
// synchronous=FULL and the writer connection goes back to NORMAL after.
func TestTxSyncCommitsDurablyThenRestoresTheWriter(t *testing.T) {
	ForEachEngine(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		if _, err := d.ExecContext(ctx, "CREATE TABLE sync_probe (a INTEGER)"); err != nil {
			t.Fatal(err)
		}
		level := func(tx *Tx) int {
			var n int
			if err := tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		err := d.TxSync(ctx, func(tx *Tx) error {
			if d.Engine() == SQLite && level(tx) != 2 {
				t.Errorf("synchronous inside TxSync = %d, want 2 (FULL)", level(tx))
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO sync_probe (a) VALUES (?)", 1)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = d.TxSync(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO sync_probe (a) VALUES (?)", 2); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if d.Engine() == SQLite {
			if err := d.Tx(ctx, func(tx *Tx) error {
				if n := level(tx); n != 1 {
					t.Errorf("synchronous after TxSync = %d, want 1 (NORMAL)", n)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		var sum int
		if err := d.QueryRowContext(ctx, "SELECT COALESCE(SUM(a), 0) FROM sync_probe").Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum != 1 {
			t.Fatalf("sum %d: want the committed row only", sum)
		}
	})
}
