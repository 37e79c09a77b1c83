package db

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// PostgresTestEnv names the environment variable holding the PostgreSQL URL
// the tests use, e.g. postgres://postgres@127.0.0.1:5432/plateau_test.
const PostgresTestEnv = "PLATEAU_TEST_POSTGRES"

// ForEachEngine runs fn once per engine against a freshly migrated, empty
// database: SQLite always, PostgreSQL when PLATEAU_TEST_POSTGRES is set (in a
// schema of its own, dropped afterwards). Under CI (CI set) a missing
// PostgreSQL fails the test instead of skipping it.
func ForEachEngine(t *testing.T, fn func(t *testing.T, d *DB)) {
	t.Helper()
	t.Run(string(SQLite), func(t *testing.T) { fn(t, OpenTestSQLite(t)) })
	t.Run(string(Postgres), func(t *testing.T) { fn(t, OpenTestPostgres(t)) })
}

// OpenTestSQLite opens a migrated SQLite database in a temporary folder.
func OpenTestSQLite(t testing.TB) *DB {
	t.Helper()
	d, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "plateau.db"))
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate SQLite: %v", err)
	}
	return d
}

// OpenTestPostgres opens a migrated PostgreSQL database in a fresh schema, or
// skips (fails under CI) when PLATEAU_TEST_POSTGRES is not set.
func OpenTestPostgres(t testing.TB) *DB {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, TestPostgresDSN(t))
	if err != nil {
		t.Fatalf("open PostgreSQL schema: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate PostgreSQL: %v", err)
	}
	return d
}

// TestPostgresDSN returns the URL of a fresh, empty schema of the test
// PostgreSQL database (its search_path), dropped at the end of the test,
// for tests that hand a URL to another process or command; it skips (fails
// under CI) when PLATEAU_TEST_POSTGRES is not set.
func TestPostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresTestEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, but CI must run the PostgreSQL tests", PostgresTestEnv)
		}
		t.Skipf("PostgreSQL tests skipped: set %s=postgres://user@host:5432/db to run them", PostgresTestEnv)
	}
	ctx := context.Background()
	admin, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if admin, err := Open(context.Background(), dsn); err == nil {
			_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresTestEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
