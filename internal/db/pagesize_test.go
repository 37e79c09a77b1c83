package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// A new SQLite database gets 16 KiB pages and WAL; an existing one keeps
// the page size it was created with.
func TestSQLitePageSize(t *testing.T) {
	ctx := context.Background()
	old := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, "PRAGMA page_size = 4096; CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for _, tc := range []struct {
		name string
		path string
		want int
	}{
		{"new", filepath.Join(t.TempDir(), "new.db"), sqlitePageSize},
		{"existing", old, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(ctx, "sqlite:"+tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var size int
			var mode string
			if err := d.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
				t.Fatal(err)
			}
			if err := d.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if size != tc.want || mode != "wal" {
				t.Errorf("page_size %d, journal_mode %s; want %d, wal", size, mode, tc.want)
			}
		})
	}
}
