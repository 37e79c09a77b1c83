package vault

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"plateau/internal/db"
)

// The schema allows one live key per scope, and qInsertKey yields no row
// (rather than an error that would abort a PostgreSQL transaction) when a
// live key exists: the path a creator takes when it loses a race.
func TestOneLiveKeyPerScope(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		insert := "INSERT INTO vault_keys (scope, master_key_id, created_at, wrapped_at, destroyed_at) VALUES (?, 'm', 1, 1, ?)"
		if _, err := d.ExecContext(ctx, insert, "mission:1", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, insert, "mission:1", 0); !db.IsUniqueViolation(err) {
			t.Fatalf("second live key: err = %v, want a unique violation", err)
		}
		for range 2 {
			if _, err := d.ExecContext(ctx, insert, "mission:1", 5); err != nil {
				t.Fatalf("destroyed keys of the scope: %v", err)
			}
		}
		err := d.Tx(ctx, func(tx *db.Tx) error {
			var id int64
			err := tx.QueryRowContext(ctx, qInsertKey, "mission:1", "m", 2, 2).Scan(&id)
			if !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("qInsertKey over a live key: id %d, err %v; want no row", id, err)
			}
			// The transaction is still usable.
			return tx.QueryRowContext(ctx, qLiveKey, "mission:1").Scan(&id, new(string), new([]byte))
		})
		if err != nil {
			t.Fatal(err)
		}
		if live, all := countKeys(t, d, "mission:1"); live != 1 || all != 3 {
			t.Fatalf("%d live of %d", live, all)
		}
	})
}
