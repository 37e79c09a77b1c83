package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"plateau/internal/db"
)

// MariaDBTestEnv names the environment variable holding the DSN of the
// MariaDB server the SQL sink tests use, without a database, e.g.
// root@tcp(127.0.0.1:3306)/.
const MariaDBTestEnv = "PLATEAU_TEST_MARIADB"

// testMariaDB is a throwaway database on the test server.
type testMariaDB struct {
	dsn string  // of the database
	db  *sql.DB // for the tests' own queries
}

// openTestMariaDB creates a database of its own on the test server, dropped
// after the test; it skips (fails under CI) when PLATEAU_TEST_MARIADB is
// not set.
func openTestMariaDB(t testing.TB) *testMariaDB {
	t.Helper()
	base := os.Getenv(MariaDBTestEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, but CI must run the MariaDB tests", MariaDBTestEnv)
		}
		t.Skipf("MariaDB tests skipped: set %s='root@tcp(127.0.0.1:3306)/' to run them", MariaDBTestEnv)
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("parse %s: %v", MariaDBTestEnv, err)
	}
	cfg.DBName = ""
	ctx := context.Background()
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "plateau_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if admin, err := sql.Open("mysql", cfg.FormatDSN()); err == nil {
			_, _ = admin.ExecContext(context.Background(), "DROP DATABASE "+name)
			admin.Close()
		}
	})
	cfg.DBName = name
	m := &testMariaDB{dsn: cfg.FormatDSN()}
	if m.db, err = sql.Open("mysql", m.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.db.Close() })
	return m
}

func (m *testMariaDB) exec(t testing.TB, query string) {
	t.Helper()
	if _, err := m.db.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// contactIDs returns the contact_id column of the table, sorted.
func (m *testMariaDB) contactIDs(t testing.TB, table string) []string {
	t.Helper()
	rows, err := m.db.QueryContext(context.Background(), "SELECT contact_id FROM "+table+" ORDER BY contact_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// markers returns the rows recorded per batch for a sink.
func (m *testMariaDB) markers(t testing.TB, sink string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	rows, err := m.db.QueryContext(context.Background(), "SELECT `batch`, `rows` FROM plateau_sink_batches WHERE `sink` = ?", sink)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 {
		return out // never created
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b int64
		var n int
		if err := rows.Scan(&b, &n); err != nil {
			t.Fatal(err)
		}
		out[b] = n
	}
	return out
}

const sinkContactsTable = "CREATE TABLE contacts (" +
	"id INT AUTO_INCREMENT PRIMARY KEY, contact_id VARCHAR(64) NOT NULL, surname VARCHAR(200), " +
	"phone VARCHAR(20) NOT NULL, created DATE NULL, mission VARCHAR(100), received DATETIME, line INT)"

// sinkProfile is the reference profile with an SQL sink.
func sinkProfile(t testing.TB, extra string) []byte {
	t.Helper()
	return append(referenceYAML(t), []byte(`
sinks:
  - name: crm
    driver: mariadb
    dsn_env: PLATEAU_SINK_CRM_DSN
    table: contacts
    empty_as_null: true
    columns:
      contact_id: "{contact_id}"
      surname: "{surname}"
      phone: "{hcp_phone_number:e164}"
      created: "{lead_creation_date}"
      mission: "{mission_name} ({mission_number})"
      received: "{received}"
      line: "{line}"
`+extra)...)
}

// sinkEnv is a database env whose service delivers to the test MariaDB.
func sinkEnv(t *testing.T, d *db.DB, m *testMariaDB, rowsPerInsert int) *dbEnv {
	t.Helper()
	e := newDBEnv(t, d, envOptions{chunk: 50})
	sink := NewSQLSink(SQLSinkOptions{
		LookupEnv: func(k string) (string, bool) {
			if k == "PLATEAU_SINK_CRM_DSN" {
				return m.dsn, true
			}
			return "", false
		},
		MissionName: func(ctx context.Context, n int) (string, error) {
			mi, err := e.camp.Mission(ctx, n)
			return mi.Name, err
		},
		Now:           e.clock.Now,
		RowsPerInsert: rowsPerInsert,
	})
	t.Cleanup(func() { sink.Close() })
	e.svc = NewService(d, e.v, e.log, e.camp, ServiceOptions{OutboxDir: e.outbox, Now: e.clock.Now, ChunkRecords: 50, Sinks: []Sink{sink}})
	e.mission(t, 26, sinkProfile(t, ""))
	return e
}

func TestSQLSinkDeliversEachBatchOnce(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		m := openTestMariaDB(t)
		m.exec(t, sinkContactsTable)
		e := sinkEnv(t, d, m, 7)
		data := leadFile(t, 300, 11)
		res := e.ingest(t, 26, "leads.csv", data, IngestOptions{})
		if res.Batch.Status != StatusDone || res.Batch.Loaded == 0 {
			t.Fatalf("batch %+v", res.Batch)
		}
		want := e.contactIDs(t, 26)
		if got := m.contactIDs(t, "contacts"); !slices.Equal(got, want) {
			t.Fatalf("the sink has %d rows, the mission %d contacts", len(got), len(want))
		}
		if mk := m.markers(t, "crm"); len(mk) != 1 || mk[res.Batch.ID] != res.Batch.Loaded {
			t.Fatalf("markers %v, want batch %d with %d rows", mk, res.Batch.ID, res.Batch.Loaded)
		}
		// The values are the templates' for the batch.
		var surname, phone, mission, received string
		var created sql.NullString
		err := m.db.QueryRow("SELECT surname, phone, created, mission, received FROM contacts WHERE contact_id = ?", want[0]).
			Scan(&surname, &phone, &created, &mission, &received)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(phone, "+33") || mission != "Mission Sortant J+3 (26)" || received != "2026-11-23 08:00:00" {
			t.Errorf("row: phone %q, mission %q, received %q", phone, mission, received)
		}

		again := e.ingest(t, 26, "leads-again.csv", data, IngestOptions{})
		if !again.AlreadyLoaded {
			t.Fatal("the same file loaded twice")
		}
		if got := m.contactIDs(t, "contacts"); len(got) != len(want) {
			t.Fatalf("after the same file again the sink has %d rows, want %d", len(got), len(want))
		}
	})
}

// A crash after the sink committed and before the batch is marked done
// leads to a new pass, which writes nothing to the sink.
func TestSQLSinkResumeAfterCrashWritesNothingTwice(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		m := openTestMariaDB(t)
		m.exec(t, sinkContactsTable)
		e := sinkEnv(t, d, m, 0)
		data := leadFile(t, 200, 12)
		ctx, crash := context.WithCancel(asCLI)
		e.svc.hook = func(point string, _ int64, _ int) {
			if point == "finish" {
				crash() // the transaction marking the batch done never commits
			}
		}
		_, err := e.svc.Ingest(ctx, 26, SourceCLI, "leads.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt})
		if err == nil {
			t.Fatal("the interrupted load reported success")
		}
		e.svc.hook = nil
		rows := m.contactIDs(t, "contacts")
		if len(rows) == 0 {
			t.Fatal("the sink should have committed before the crash")
		}
		bs, err := e.svc.Batches(context.Background(), BatchFilter{Mission: 26})
		if err != nil || len(bs) != 1 || bs[0].Status != StatusLoading {
			t.Fatalf("batches %+v, %v: want one still loading", bs, err)
		}

		res, err := e.svc.Resume(asCLI)
		if err != nil || len(res) != 1 || res[0].Batch.Status != StatusDone {
			t.Fatalf("Resume: %+v, %v", res, err)
		}
		if got := m.contactIDs(t, "contacts"); !slices.Equal(got, rows) || !slices.Equal(got, e.contactIDs(t, 26)) {
			t.Fatalf("after the resume the sink has %d rows, want %d once each", len(got), len(rows))
		}
		if mk := m.markers(t, "crm"); len(mk) != 1 || mk[res[0].Batch.ID] != res[0].Batch.Loaded {
			t.Fatalf("markers %v", mk)
		}
	})
}

// A sink whose table is missing fails the batch before any contact is
// loaded, with a message naming the sink and the table; once the table
// exists, the same file loads and is delivered once.
func TestSQLSinkMissingTableFailsTheBatchCleanly(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		m := openTestMariaDB(t)
		e := sinkEnv(t, d, m, 0)
		data := leadFile(t, 100, 13)
		res, err := e.svc.Ingest(asCLI, 26, SourceCLI, "leads.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt})
		var fe *FailedError
		if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "sink crm") || !strings.Contains(fe.Reason, "table contacts") ||
			!strings.Contains(fe.Reason, "doesn't exist") {
			t.Fatalf("Ingest: %v, want the batch failed, naming the sink and its missing table", err)
		}
		if res.Batch.Status != StatusFailed || !res.Batch.Rerunnable() {
			t.Fatalf("batch %+v: want failed and rerunnable", res.Batch)
		}
		if ids := e.contactIDs(t, 26); len(ids) != 0 {
			t.Fatalf("%d contacts loaded by a pass whose sink cannot take them", len(ids))
		}
		if mk := m.markers(t, "crm"); len(mk) != 0 {
			t.Fatalf("markers %v", mk)
		}

		m.exec(t, sinkContactsTable)
		done := e.ingest(t, 26, "leads.csv", data, IngestOptions{})
		if done.Batch.ID != res.Batch.ID || done.Batch.Status != StatusDone {
			t.Fatalf("after the fix: %+v", done.Batch)
		}
		if got := m.contactIDs(t, "contacts"); !slices.Equal(got, e.contactIDs(t, 26)) || len(got) != done.Batch.Loaded {
			t.Fatalf("the sink has %d rows, want %d", len(got), done.Batch.Loaded)
		}
	})
}

// A sink that cannot be reached leaves the batch to be resumed, not
// failed: the server may be back later.
func TestSQLSinkUnreachableLeavesTheBatchResumable(t *testing.T) {
	d := db.OpenTestSQLite(t)
	e := newDBEnv(t, d, envOptions{})
	sink := NewSQLSink(SQLSinkOptions{DSN: func(string) (string, bool) { return "root@tcp(127.0.0.1:1)/nowhere?timeout=2s", true }})
	defer sink.Close()
	e.svc = NewService(d, e.v, e.log, e.camp, ServiceOptions{OutboxDir: e.outbox, Now: e.clock.Now, Sinks: []Sink{sink}})
	e.mission(t, 26, sinkProfile(t, ""))
	_, err := e.svc.Ingest(asCLI, 26, SourceCLI, "leads.csv", bytes.NewReader(leadFile(t, 20, 17)), IngestOptions{ReceivedAt: receivedAt})
	var fe *FailedError
	if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), "sink crm") {
		t.Fatalf("Ingest: %v, want a plain error naming the sink", err)
	}
	bs, err := e.svc.Batches(context.Background(), BatchFilter{Mission: 26})
	if err != nil || len(bs) != 1 || bs[0].Status != StatusLoading {
		t.Fatalf("batches %+v, %v: want one still loading", bs, err)
	}
}

// A row the table refuses, after earlier inserts succeeded, rolls the
// whole delivery back, and the server's message (which may quote the row)
// is not in the error.
func TestSQLSinkRefusedRowLeavesNothing(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		m := openTestMariaDB(t)
		m.exec(t, sinkContactsTable)
		m.exec(t, "ALTER TABLE contacts ADD CONSTRAINT early CHECK (line < 150)")
		e := sinkEnv(t, d, m, 10)
		data := leadFile(t, 200, 14)
		_, err := e.svc.Ingest(asCLI, 26, SourceCLI, "leads.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt})
		if err == nil || !strings.Contains(err.Error(), "sink crm: insert rows") || !strings.Contains(err.Error(), "not shown") {
			t.Fatalf("Ingest: %v, want the refused insert, without the server's message", err)
		}
		if got := m.contactIDs(t, "contacts"); len(got) != 0 {
			t.Fatalf("%d rows left in the sink by a failed delivery", len(got))
		}
		if mk := m.markers(t, "crm"); len(mk) != 0 {
			t.Fatalf("markers %v", mk)
		}
	})
}

// sinkRecords runs a file through the profile and keeps its records.
func sinkRecords(t *testing.T, p *Profile, data []byte) []*Record {
	t.Helper()
	pl, err := NewPipeline(p, bytes.NewReader(data), Options{ReceivedAt: receivedAt, MissionNumber: 26, MissionName: "M"})
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	for {
		it, err := pl.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Record != nil {
			recs = append(recs, it.Record.Clone())
		}
	}
}

// Two passes over the same batch that overlap: the one that commits second
// writes nothing, whether the table has a unique key or not.
func TestSQLSinkOverlappingPassesDeliverOnce(t *testing.T) {
	m := openTestMariaDB(t)
	p, err := LoadProfile(sinkProfile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	recs := sinkRecords(t, p, leadFile(t, 120, 15))
	sink := NewSQLSink(SQLSinkOptions{DSN: func(name string) (string, bool) { return m.dsn, name == "crm" }, RowsPerInsert: 16})
	defer sink.Close()
	for _, unique := range []bool{false, true} {
		m.exec(t, "DROP TABLE IF EXISTS contacts")
		m.exec(t, sinkContactsTable)
		if unique {
			m.exec(t, "ALTER TABLE contacts ADD UNIQUE (contact_id)")
		}
		b := Batch{ID: 100, Mission: 26, ReceivedAt: receivedAt}
		if unique {
			b.ID = 101
		}
		ctx := context.Background()
		w1, err := sink.Open(ctx, b, p)
		if err != nil {
			t.Fatal(err)
		}
		w2, err := sink.Open(ctx, b, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w1.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w1.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w2.Write(r); err != nil {
				t.Fatalf("unique %v: second pass: %v", unique, err)
			}
		}
		if err := w2.Commit(ctx); err != nil {
			t.Fatalf("unique %v: second pass: %v", unique, err)
		}
		if got := m.contactIDs(t, "contacts"); len(got) != len(recs) {
			t.Fatalf("unique %v: %d rows, want %d", unique, len(got), len(recs))
		}
		// A third pass, after both, finds the marker at once.
		w3, err := sink.Open(ctx, b, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w3.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w3.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := m.contactIDs(t, "contacts"); len(got) != len(recs) {
			t.Fatalf("unique %v: %d rows after a third pass, want %d", unique, len(got), len(recs))
		}
	}
}

// An aborted writer leaves nothing, and records filters apply.
func TestSQLSinkAbortAndRecordFilter(t *testing.T) {
	m := openTestMariaDB(t)
	m.exec(t, sinkContactsTable)
	p, err := LoadProfile(sinkProfile(t, "    records: manual\n"))
	if err != nil {
		t.Fatal(err)
	}
	recs := sinkRecords(t, p, leadFile(t, 400, 16))
	manual := 0
	for _, r := range recs {
		if r.Route == RouteManual {
			manual++
		}
	}
	if manual == 0 {
		t.Fatal("test broken: no record routed to manual dialling")
	}
	sink := NewSQLSink(SQLSinkOptions{DSN: func(string) (string, bool) { return m.dsn, true }, RowsPerInsert: 3})
	defer sink.Close()
	ctx := context.Background()
	write := func(id int64) RecordWriter {
		w, err := sink.Open(ctx, Batch{ID: id, Mission: 26, ReceivedAt: receivedAt}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		return w
	}
	write(1).Abort()
	if got := m.contactIDs(t, "contacts"); len(got) != 0 {
		t.Fatalf("an aborted delivery left %d rows", len(got))
	}
	if err := write(2).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.contactIDs(t, "contacts"); len(got) != manual {
		t.Fatalf("%d rows, want the %d routed to manual dialling", len(got), manual)
	}
}

func TestSQLSinkWithoutDSN(t *testing.T) {
	p, err := LoadProfile(sinkProfile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	sink := NewSQLSink(SQLSinkOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	defer sink.Close()
	_, err = sink.Open(context.Background(), Batch{ID: 1, Mission: 26, ReceivedAt: receivedAt}, p)
	if err == nil || !strings.Contains(err.Error(), "PLATEAU_SINK_CRM_DSN") {
		t.Fatalf("Open: %v, want the environment variable to set", err)
	}
	sink = NewSQLSink(SQLSinkOptions{DSN: func(string) (string, bool) { return "root@tcp(127.0.0.1:1)/", true }})
	defer sink.Close()
	_, err = sink.Open(context.Background(), Batch{ID: 1, Mission: 26, ReceivedAt: receivedAt}, p)
	if err == nil || !strings.Contains(err.Error(), "names no database") {
		t.Fatalf("Open: %v, want a DSN without a database refused", err)
	}
}

// A spec built by hand, bypassing the profile loader, cannot inject SQL
// through a name either.
func TestSQLSinkRefusesUncheckedNames(t *testing.T) {
	m := openTestMariaDB(t)
	m.exec(t, sinkContactsTable)
	p, err := LoadProfile(sinkProfile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	sink := NewSQLSink(SQLSinkOptions{DSN: func(string) (string, bool) { return m.dsn, true }})
	defer sink.Close()
	for _, mod := range []func(s *SinkSpec){
		func(s *SinkSpec) { s.Table = "contacts` WHERE 1; DROP TABLE contacts; --" },
		func(s *SinkSpec) { s.Columns[0].Name = "contact_id`) SELECT 1; --" },
	} {
		q := *p
		q.Sinks = []SinkSpec{p.Sinks[0]}
		q.Sinks[0].Columns = slices.Clone(p.Sinks[0].Columns)
		mod(&q.Sinks[0])
		if _, err := sink.Open(context.Background(), Batch{ID: 1, Mission: 26, ReceivedAt: receivedAt}, &q); err == nil ||
			!strings.Contains(err.Error(), "cannot be written to") {
			t.Errorf("Open: %v, want the name refused", err)
		}
	}
	m.exec(t, "SELECT 1 FROM contacts") // still there
}
