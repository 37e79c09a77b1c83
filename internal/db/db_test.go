package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		engine Engine
		in     string
		want   string
	}{
		{SQLite, "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?"},
		{Postgres, "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{Postgres, "SELECT '?' FROM t WHERE a = ?", "SELECT '?' FROM t WHERE a = $1"},
		{Postgres, `SELECT "odd?col" FROM t WHERE a = ?`, `SELECT "odd?col" FROM t WHERE a = $1`},
		{Postgres, "SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1"},
		{Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		if got := rebind(tt.engine, tt.in); got != tt.want {
			t.Errorf("rebind(%s, %q) = %q, want %q", tt.engine, tt.in, got, tt.want)
		}
	}
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "/tmp/file.db"} {
		if _, err := Open(context.Background(), dsn); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
}

func TestRedactHidesPassword(t *testing.T) {
	got := redact("postgres://plateau:s3cret@db:5432/plateau")
	if got != "postgres://plateau:xxxxx@db:5432/plateau" {
		t.Fatalf("redact = %q", got)
	}
}

func TestMillisRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 123_000_000, time.FixedZone("CET", 3600))
	if got := FromMillis(Millis(now)); !got.Equal(now) || got.Location() != time.UTC {
		t.Fatalf("FromMillis(Millis(%v)) = %v", now, got)
	}
	if Millis(time.Time{}) != 0 || !FromMillis(0).IsZero() {
		t.Fatal("zero time must map to 0 and back")
	}
}

func TestTxCommitsAndRollsBack(t *testing.T) {
	ForEachEngine(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		err := d.Tx(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "a", "1", 1)
			return err
		})
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		boom := errors.New("boom")
		err = d.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "b", "2", 2); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx error = %v, want boom", err)
		}
		var n int
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM settings").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("rows = %d, want 1 (the rolled-back insert must be gone)", n)
		}
		_, err = d.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "a", "dup", 3)
		if !IsUniqueViolation(err) {
			t.Fatalf("duplicate key error = %v, want a unique violation", err)
		}
	})
}

// Concurrent read-modify-write transactions must serialise: no lost update.
func TestTxSerialisesWriters(t *testing.T) {
	ForEachEngine(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		if _, err := d.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('n', '0', 0)"); err != nil {
			t.Fatal(err)
		}
		const workers, each = 4, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					err := d.Tx(ctx, func(tx *Tx) error {
						var v string
						q := "SELECT value FROM settings WHERE key = 'n'"
						if tx.Engine() == Postgres {
							q += " FOR UPDATE"
						}
						if err := tx.QueryRowContext(ctx, q).Scan(&v); err != nil {
							return err
						}
						var n int
						fmt.Sscan(v, &n)
						_, err := tx.ExecContext(ctx, "UPDATE settings SET value = ? WHERE key = 'n'", fmt.Sprint(n+1))
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var v string
		if err := d.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = 'n'").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != fmt.Sprint(workers*each) {
			t.Fatalf("counter = %s, want %d", v, workers*each)
		}
	})
}

// columns lists "table.column" for every table of the schema.
func columns(t *testing.T, d *DB) []string {
	t.Helper()
	q := `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`
	if d.Engine() == SQLite {
		q = `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	}
	rows, err := d.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		out = append(out, table+"."+col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestBothDialectsYieldTheSameSchema(t *testing.T) {
	lite := OpenTestSQLite(t)
	pg := OpenTestPostgres(t)
	a, b := columns(t, lite), columns(t, pg)
	if len(a) < 5 {
		t.Fatalf("SQLite schema has only %d columns: %v", len(a), a)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("schemas differ\nsqlite:   %v\npostgres: %v", a, b)
	}
	va, err := lite.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vb, err := pg.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if va != vb || va == 0 {
		t.Fatalf("schema versions: sqlite %d, postgres %d", va, vb)
	}
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	ForEachEngine(t, func(t *testing.T, d *DB) {
		if err := d.Migrate(context.Background()); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

func TestCopyFromLoadsInsideTheTransaction(t *testing.T) {
	ForEachEngine(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		const n = 5000 // more than one SQLite statement's worth of parameters
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{fmt.Sprintf("k%05d", i), fmt.Sprint(i), int64(i)}
		}
		cols := []string{"key", "value", "updated_at"}
		err := d.Tx(ctx, func(tx *Tx) error {
			got, err := tx.CopyFrom(ctx, "settings", cols, rows)
			if err != nil {
				return err
			}
			if got != n {
				t.Errorf("CopyFrom reported %d rows, want %d", got, n)
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("want the rollback error")
		}
		var count int
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM settings").Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != 0 {
			t.Fatalf("%d rows after rollback, want 0: the copy must be part of the transaction", count)
		}
		if err := d.Tx(ctx, func(tx *Tx) error { _, err := tx.CopyFrom(ctx, "settings", cols, rows); return err }); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := d.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", "k04321").Scan(&v); err != nil || v != "4321" {
			t.Fatalf("value = %q, %v", v, err)
		}
	})
}
