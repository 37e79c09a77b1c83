// Package db opens Plateau's database (SQLite or PostgreSQL), applies the
// embedded migrations and gives every domain package the same small API:
// queries written once with '?' placeholders, rebound for the engine, and
// write transactions that serialise correctly on both engines.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Engine names a database engine.
type Engine string

// The two supported engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

//go:embed migrations
var migrations embed.FS

// DB is an open Plateau database.
//
// On SQLite, reads go through a pool of read-only connections and every write
// through a single writer connection, so writers queue in Go instead of
// failing with SQLITE_BUSY. On PostgreSQL both are the same pool.
type DB struct {
	engine Engine
	read   *sql.DB
	write  *sql.DB

	// rebound caches Rebind's results (query -> rebound query) on
	// PostgreSQL: the same few hundred statements run again and again.
	// Bounded: dynamic statements beyond maxRebound are rebound each time.
	rebound  sync.Map
	nRebound atomic.Int64
}

// maxRebound bounds the statements DB.rebound keeps, and maxReboundLen the
// length of one.
const (
	maxRebound    = 4096
	maxReboundLen = 16 << 10
)

// Querier is what both *DB and *Tx offer; store functions that can run
// inside or outside a transaction take one.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	Engine() Engine
}

// Open opens the database named by dsn: "sqlite:PATH" (the file and its
// folder are created if needed) or a "postgres://" / "postgresql://" URL.
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		return nil, fmt.Errorf("open database: unsupported DSN %q (want sqlite:PATH or postgres://...)", redact(dsn))
	}
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open database: create folder: %w", err)
		}
	}
	// Create the file owner-only before SQLite does (it would use the umask);
	// SQLite gives its -wal and -shm files the same permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if fi.Size() == 0 {
		if err := initSQLite(ctx, path); err != nil {
			return nil, err
		}
	}
	common := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	write, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_txlock=immediate&"+common)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// The writer connection sets WAL mode on the file before any reader opens it.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&"+common)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{engine: SQLite, read: read, write: write}, nil
}

// sqlitePageSize is the page size of a new SQLite database. Contacts are
// rows of about 700 bytes (most of it the sealed fields) and the originals
// 1 MiB blobs: with SQLite's default 4 KiB pages a bulk load writes four
// times as many WAL frames, each with its own write call and checksum, and
// splits b-tree pages four times as often. 16 KiB pages cut the CPU time
// of a 1,000,000-line ingestion by about 8 % (bench/RESULTS.md). The page
// size of an existing database is left alone (changing it takes a VACUUM).
const sqlitePageSize = 16384

// initSQLite gives a new, empty database file its page size, then WAL mode:
// the page size must be set before the first page is written, and the
// writer pool's DSN would turn WAL on first (the driver runs its pragmas in
// lexical order).
func initSQLite(ctx context.Context, path string) error {
	setup, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer setup.Close()
	setup.SetMaxOpenConns(1)
	conn, err := setup.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer conn.Close()
	for _, q := range []string{"PRAGMA page_size = " + strconv.Itoa(sqlitePageSize), "PRAGMA journal_mode = WAL"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("open database %s: %s: %w", path, q, err)
		}
	}
	return nil
}

// PostgreSQL pools. Writes (transactions, ExecContext) and reads get pools
// of their own, as on SQLite: under load, requests waiting to read (a
// hundred agents asking for their next contact, each authenticated first)
// would otherwise queue ahead of the transactions that serve them all (the
// queue's group commits). Idle connections are kept up to the pool's size:
// opening one costs the server a process.
const (
	pgReadConns  = 32
	pgWriteConns = 8
)

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	var pools [2]*sql.DB
	for i, size := range []int{pgReadConns, pgWriteConns} {
		pool, err := sql.Open("pgx", dsn)
		if err != nil {
			if pools[0] != nil {
				pools[0].Close()
			}
			return nil, fmt.Errorf("open database: %w", err)
		}
		pool.SetMaxOpenConns(size)
		pool.SetMaxIdleConns(size)
		pool.SetConnMaxIdleTime(time.Minute)
		pools[i] = pool
	}
	d := &DB{engine: Postgres, read: pools[0], write: pools[1]}
	if err := d.write.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("open database %s: %w", redact(dsn), err)
	}
	return d, nil
}

// redact hides a password in a URL-shaped DSN so it can be logged.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Engine reports which engine the database runs on.
func (d *DB) Engine() Engine { return d.engine }

// Close closes every connection.
func (d *DB) Close() error {
	err := d.write.Close()
	if d.read != d.write {
		err = errors.Join(err, d.read.Close())
	}
	return err
}

// Ping checks that the database answers (readiness probe).
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations of the engine, in order. It is safe
// to run from several nodes at once on PostgreSQL (a session lock serialises
// them).
func (d *DB) Migrate(ctx context.Context) error {
	dir, err := fs.Sub(migrations, "migrations/"+string(d.engine))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if d.engine == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, d.write, dir, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Version returns the highest applied migration version.
func (d *DB) Version(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := d.read.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v.Int64, nil
}

// Rebind turns '?' placeholders into the engine's own ($1, $2... on
// PostgreSQL). Question marks inside quoted strings or identifiers are left
// alone.
func (d *DB) Rebind(query string) string {
	if d.engine != Postgres || !strings.Contains(query, "?") {
		return query
	}
	if v, ok := d.rebound.Load(query); ok {
		return v.(string)
	}
	out := rebind(d.engine, query)
	if len(query) <= maxReboundLen && d.nRebound.Add(1) <= maxRebound {
		d.rebound.Store(query, out)
	}
	return out
}

func rebind(e Engine, query string) string {
	if e != Postgres || !strings.Contains(query, "?") {
		return query
	}
	b := make([]byte, 0, len(query)+16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b = append(b, '$')
			b = strconv.AppendInt(b, int64(n), 10)
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// ExecContext runs a write statement outside an explicit transaction.
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.write.ExecContext(ctx, d.Rebind(query), args...)
}

// QueryContext runs a read query.
func (d *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.read.QueryContext(ctx, d.Rebind(query), args...)
}

// QueryRowContext runs a read query returning at most one row.
func (d *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.read.QueryRowContext(ctx, d.Rebind(query), args...)
}

// Tx runs fn in a write transaction and commits it when fn returns nil.
// On SQLite the transaction starts with BEGIN IMMEDIATE on the single writer
// connection, so two transactions never interleave. Do not call Tx, or any
// DB write method, from inside fn: on SQLite it would wait for itself.
//
// On SQLite (WAL, synchronous=NORMAL) a commit survives the process being
// killed but not a power loss or an operating system crash: the WAL is only
// synced at checkpoints. Use TxSync for what must survive those too.
func (d *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	return d.tx(ctx, false, fn)
}

// TxSync is Tx for a transaction that must be on disk once it returns,
// whatever happens next (an outcome of a call, say). On SQLite its commit
// syncs the WAL (synchronous=FULL for this transaction: a fraction of a
// millisecond to a few milliseconds, depending on the disk); on PostgreSQL
// it is Tx, whose commits wait for the WAL flush unless the transaction sets
// synchronous_commit off.
func (d *DB) TxSync(ctx context.Context, fn func(tx *Tx) error) error {
	return d.tx(ctx, true, fn)
}

func (d *DB) tx(ctx context.Context, durable bool, fn func(tx *Tx) error) (err error) {
	// A dedicated connection lets CopyFrom reach the driver inside the
	// transaction.
	conn, err := d.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer conn.Close()
	if durable && d.engine == SQLite {
		// The safety level cannot change inside a transaction: set it on
		// the writer connection around this one.
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
			return fmt.Errorf("begin transaction: synchronous commit: %w", err)
		}
		defer func() {
			// A connection left at FULL is slower, not wrong: the error
			// of the transaction itself matters more.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = NORMAL")
		}()
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{tx: sqlTx, conn: conn, engine: d.engine, d: d}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Tx is a write transaction; its methods rebind '?' placeholders like DB's.
type Tx struct {
	tx     *sql.Tx
	conn   *sql.Conn
	engine Engine
	d      *DB
}

// Engine reports which engine the transaction runs on.
func (t *Tx) Engine() Engine { return t.engine }

// ExecContext runs a statement in the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.Rebind(query), args...)
}

// QueryContext runs a query in the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.Rebind(query), args...)
}

// QueryRowContext runs a query returning at most one row in the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.Rebind(query), args...)
}

// Millis is how Plateau stores an instant: Unix milliseconds, UTC. The zero
// time is stored as 0.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis is the inverse of Millis; 0 gives the zero time.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// IsUniqueViolation reports whether err is a unique-constraint violation on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || // SQLite
		strings.Contains(msg, "SQLSTATE 23505") // PostgreSQL
}

// IsTransient reports whether err is a transaction PostgreSQL rolled back to
// break a deadlock or a serialization conflict: running the same
// transaction again is the remedy.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 40P01") || strings.Contains(msg, "SQLSTATE 40001")
}

// CopyFrom inserts rows into table's columns in bulk inside the transaction:
// COPY on PostgreSQL, multi-row INSERT statements on SQLite. It is for
// loading many fresh rows fast; it does not skip conflicts, so callers make
// their loads idempotent by other means (e.g. progress recorded in the same
// transaction). Table and column names must be trusted identifiers.
func (t *Tx) CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	if t.engine == Postgres {
		var n int64
		err := t.conn.Raw(func(driverConn any) error {
			c, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", driverConn)
			}
			var err error
			n, err = c.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			return n, fmt.Errorf("copy into %s: %w", table, err)
		}
		return n, nil
	}
	// SQLite allows 32766 host parameters per statement.
	per := max(1, 32000/len(columns))
	row := "(" + strings.Repeat("?,", len(columns)-1) + "?)"
	head := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES "
	var total int64
	args := make([]any, 0, per*len(columns))
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		args = args[:0]
		for _, r := range chunk {
			if len(r) != len(columns) {
				return total, fmt.Errorf("copy into %s: row has %d values for %d columns", table, len(r), len(columns))
			}
			args = append(args, r...)
		}
		q := head + strings.Repeat(row+",", len(chunk)-1) + row
		res, err := t.tx.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("insert into %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
