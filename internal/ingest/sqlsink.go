package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"plateau/internal/campaign"
)

// sinkMarkerTable is the table, in each sink's database, where a batch's
// delivery is recorded in the transaction that inserts its rows.
const sinkMarkerTable = "plateau_sink_batches"

const (
	sqlSinkMarkerDDL = "CREATE TABLE IF NOT EXISTS `" + sinkMarkerTable + "` (" +
		"`sink` VARCHAR(64) NOT NULL, `batch` BIGINT NOT NULL, `rows` BIGINT NOT NULL, `at` DATETIME(3) NOT NULL, " +
		"PRIMARY KEY (`sink`, `batch`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	sqlSinkDelivered = "SELECT `rows` FROM `" + sinkMarkerTable + "` WHERE `sink` = ? AND `batch` = ?"
	sqlSinkMark      = "INSERT INTO `" + sinkMarkerTable + "` (`sink`, `batch`, `rows`, `at`) VALUES (?, ?, ?, ?)"
)

// Defaults of SQLSinkOptions.
const (
	DefaultSinkMaxOpenConns  = 4
	DefaultSinkRowsPerInsert = 500
)

// mysqlMaxPlaceholders is the most placeholders a MariaDB/MySQL prepared
// statement may hold.
const mysqlMaxPlaceholders = 65535

// SQLSinkOptions configure an SQLSink.
type SQLSinkOptions struct {
	// DSN returns the DSN the server's configuration gives the named sink
	// (e.g. "user:password@tcp(host:3306)/crm"). When it is nil or has
	// none, the environment variable the sink names (dsn_env) is read.
	DSN func(name string) (dsn string, ok bool)
	// LookupEnv reads the environment; os.LookupEnv when nil.
	LookupEnv func(key string) (string, bool)
	// MissionName returns a mission's name for the {mission_name}
	// placeholder; when nil the profile's mission name is used.
	MissionName func(ctx context.Context, mission int) (string, error)
	// Now is the clock of the delivery markers; time.Now when nil.
	Now func() time.Time
	// Logger receives operational messages, never personal data nor DSNs;
	// slog.Default() when nil.
	Logger *slog.Logger
	// MaxOpenConns bounds the connections to one database; 0:
	// DefaultSinkMaxOpenConns.
	MaxOpenConns int
	// RowsPerInsert is how many rows one INSERT carries; 0:
	// DefaultSinkRowsPerInsert.
	RowsPerInsert int
}

// SQLSink is the Sink that inserts each batch's loaded records into the
// MariaDB/MySQL tables its profile declares (the profile's sinks). Pass one
// SQLSink in ServiceOptions.Sinks; Close it when the service stops.
//
// Each declared sink receives a batch's rows in one transaction, through
// prepared multi-row INSERTs, and that transaction also records the batch in
// plateau_sink_batches (created if missing). A pass over a batch whose
// delivery is recorded writes nothing, so a batch is delivered once whatever
// the crashes and replays; nothing is half-written, since a failure rolls
// the whole transaction back.
type SQLSink struct {
	opt SQLSinkOptions
	log *slog.Logger

	mu     sync.Mutex
	pools  map[string]*sinkPool // by DSN
	closed bool
}

// sinkPool is the connection pool of one database.
type sinkPool struct {
	db *sql.DB

	mu    sync.Mutex
	ready bool // the marker table exists
}

// NewSQLSink returns the SQL sink; it connects to nothing until a batch
// needs it.
func NewSQLSink(opt SQLSinkOptions) *SQLSink {
	if opt.LookupEnv == nil {
		opt.LookupEnv = os.LookupEnv
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxOpenConns <= 0 {
		opt.MaxOpenConns = DefaultSinkMaxOpenConns
	}
	if opt.RowsPerInsert <= 0 {
		opt.RowsPerInsert = DefaultSinkRowsPerInsert
	}
	return &SQLSink{opt: opt, log: opt.Logger, pools: map[string]*sinkPool{}}
}

// Close closes the connection pools.
func (s *SQLSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for dsn, p := range s.pools {
		errs = append(errs, p.db.Close())
		delete(s.pools, dsn)
	}
	return errors.Join(errs...)
}

// Open prepares the delivery of batch b to the sinks of profile p. A sink
// that cannot be reached, or whose table or columns are missing, fails the
// pass before anything is loaded.
func (s *SQLSink) Open(ctx context.Context, b Batch, p *Profile) (RecordWriter, error) {
	if len(p.Sinks) == 0 {
		return sinkWriters(nil), nil
	}
	name := p.Mission.Name
	if s.opt.MissionName != nil {
		n, err := s.opt.MissionName(ctx, b.Mission)
		if err != nil {
			return nil, fmt.Errorf("mission %d: %w", b.Mission, err)
		}
		name = n
	}
	rc := renderContext{received: b.ReceivedAt.In(p.Location), missionName: name, missionNumber: strconv.Itoa(b.Mission)}
	var ws sinkWriters
	for i := range p.Sinks {
		spec := &p.Sinks[i]
		if name == "" && sinkUses(spec, partMissionName) {
			ws.Abort()
			return nil, &sinkConfigError{fmt.Errorf("sink %s: {mission_name} is used but mission %d has no name", spec.Name, b.Mission)}
		}
		w, err := s.open(ctx, b, spec, &rc)
		if err != nil {
			ws.Abort()
			return nil, fmt.Errorf("sink %s: %w", spec.Name, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func sinkUses(spec *SinkSpec, k partKind) bool {
	for _, c := range spec.Columns {
		if slices.ContainsFunc(c.Value.parts, func(x part) bool { return x.kind == k }) {
			return true
		}
	}
	return false
}

// dsn finds the DSN of a sink: the server's configuration first, then the
// environment variable the profile names.
func (s *SQLSink) dsn(spec *SinkSpec) (string, error) {
	if s.opt.DSN != nil {
		if dsn, ok := s.opt.DSN(spec.Name); ok && dsn != "" {
			return dsn, nil
		}
	}
	if spec.DSNEnv != "" {
		if dsn, ok := s.opt.LookupEnv(spec.DSNEnv); ok && dsn != "" {
			return dsn, nil
		}
		return "", &sinkConfigError{fmt.Errorf("no DSN: set the environment variable %s, or give sink %q a DSN in the server's configuration", spec.DSNEnv, spec.Name)}
	}
	return "", &sinkConfigError{fmt.Errorf("no DSN: give sink %q a DSN in the server's configuration (or name a dsn_env in the profile)", spec.Name)}
}

// pool returns the connection pool of a DSN, made and checked the first
// time, with the marker table created if missing.
func (s *SQLSink) pool(ctx context.Context, dsn string) (*sinkPool, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("the SQL sink is closed")
	}
	p := s.pools[dsn]
	if p == nil {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			s.mu.Unlock()
			// The parser's messages name the problem, not the password.
			return nil, &sinkConfigError{fmt.Errorf("the DSN cannot be read: %w", err)}
		}
		if cfg.DBName == "" {
			s.mu.Unlock()
			return nil, &sinkConfigError{errors.New("the DSN names no database (user:password@tcp(host:3306)/database)")}
		}
		// Whatever the DSN says: no files read from this host, one
		// statement per query, bounded waits.
		cfg.AllowAllFiles = false
		cfg.MultiStatements = false
		cfg.Loc = time.UTC
		if cfg.Timeout == 0 {
			cfg.Timeout = 10 * time.Second
		}
		if cfg.ReadTimeout == 0 {
			cfg.ReadTimeout = 10 * time.Minute
		}
		if cfg.WriteTimeout == 0 {
			cfg.WriteTimeout = 10 * time.Minute
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			s.mu.Unlock()
			return nil, &sinkConfigError{fmt.Errorf("the DSN cannot be used: %w", err)}
		}
		d := sql.OpenDB(conn)
		d.SetMaxOpenConns(s.opt.MaxOpenConns)
		d.SetMaxIdleConns(min(2, s.opt.MaxOpenConns))
		d.SetConnMaxIdleTime(time.Minute)
		d.SetConnMaxLifetime(10 * time.Minute)
		p = &sinkPool{db: d}
		s.pools[dsn] = p
	}
	s.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready {
		if _, err := p.db.ExecContext(ctx, sqlSinkMarkerDDL); err != nil {
			return nil, configured(fmt.Errorf("create table %s: %w", sinkMarkerTable, sinkError(err)))
		}
		p.ready = true
	}
	return p, nil
}

// open opens the writer of one sink.
func (s *SQLSink) open(ctx context.Context, b Batch, spec *SinkSpec, rc *renderContext) (*sinkWriter, error) {
	dsn, err := s.dsn(spec)
	if err != nil {
		return nil, err
	}
	p, err := s.pool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	w := &sinkWriter{spec: spec, batch: b.ID, rc: rc, now: s.opt.Now, log: s.log, pool: p}
	var rows int64
	switch err := p.db.QueryRowContext(ctx, sqlSinkDelivered, spec.Name, b.ID).Scan(&rows); {
	case err == nil:
		s.log.Info("ingest: sink already has the batch; nothing written again", "sink", spec.Name, "batch", b.ID, "rows", rows)
		w.skip = true
		return w, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, configured(fmt.Errorf("read %s: %w", sinkMarkerTable, sinkError(err)))
	}

	if !identRE.MatchString(spec.Table) || len(spec.Columns) == 0 {
		return nil, &sinkConfigError{fmt.Errorf("table %q or its columns cannot be written to", spec.Table)}
	}
	cols := make([]string, len(spec.Columns))
	w.cols = make([]*Template, len(spec.Columns))
	for i, c := range spec.Columns {
		if !identRE.MatchString(c.Name) {
			return nil, &sinkConfigError{fmt.Errorf("column %q cannot be written to", c.Name)}
		}
		cols[i] = quoteIdent(c.Name)
		w.cols[i] = c.Value.bind(rc)
	}
	table := quoteIdent(spec.Table)
	// The table and its columns must exist before contacts are loaded: a
	// sink that cannot take the rows fails the pass at once.
	probe, err := p.db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+table+" WHERE 1 = 0")
	if err != nil {
		return nil, configured(fmt.Errorf("table %s: %w", spec.Table, sinkError(err)))
	}
	probe.Close()

	w.per = max(1, min(s.opt.RowsPerInsert, mysqlMaxPlaceholders/len(cols)))
	w.head = "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	w.tuple = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"

	// The transaction lives across the whole pass, longer than the
	// context Open is given; Commit or Abort ends it.
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if w.tx, err = p.db.BeginTx(w.ctx, nil); err != nil {
		w.cancel()
		return nil, fmt.Errorf("begin: %w", sinkError(err))
	}
	n := w.per * len(cols)
	w.cur = make([]any, 0, n)
	w.full = make(chan []any, 2)
	w.free = make(chan []any, 3)
	w.free <- make([]any, 0, n)
	w.free <- make([]any, 0, n)
	w.done = make(chan struct{})
	go w.insertLoop()
	return w, nil
}

// quoteIdent quotes a name checked against identRE: it holds no backtick.
func quoteIdent(s string) string { return "`" + s + "`" }

// sinkWriters is the writers of a profile's sinks, as one RecordWriter.
type sinkWriters []*sinkWriter

func (ws sinkWriters) Write(rec *Record) error {
	for _, w := range ws {
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// Commit commits each sink in turn. Sinks are separate databases: one that
// fails leaves those committed before it delivered (each exactly once),
// and the next pass delivers the rest.
func (ws sinkWriters) Commit(ctx context.Context) error {
	for i, w := range ws {
		if err := w.Commit(ctx); err != nil {
			for _, x := range ws[i+1:] {
				x.Abort()
			}
			return err
		}
	}
	return nil
}

func (ws sinkWriters) Abort() {
	for _, w := range ws {
		w.Abort()
	}
}

// sinkWriter delivers a batch to one sink: Write renders the rows, a
// goroutine inserts them a chunk at a time in the transaction, Commit
// records the batch and commits. It is not safe for concurrent use.
type sinkWriter struct {
	spec  *SinkSpec
	pool  *sinkPool
	batch int64
	rc    *renderContext
	now   func() time.Time
	log   *slog.Logger
	skip  bool // delivered by an earlier pass: write nothing

	cols        []*Template // bound to the batch
	per         int         // rows per INSERT
	head, tuple string
	ctx         context.Context
	cancel      context.CancelFunc
	tx          *sql.Tx
	ended       bool

	cur   []any // the rows being filled
	buf   []byte
	full  chan []any // chunks to insert
	free  chan []any // chunks inserted, for reuse
	done  chan struct{}
	err   error // insertLoop's, read once done is closed
	sent  bool  // full is closed
	count int   // inserted, insertLoop's
}

func (w *sinkWriter) Write(rec *Record) error {
	if w.skip || !wantsRoute(w.spec.Records, rec.Route) {
		return nil
	}
	for _, t := range w.cols {
		w.buf = t.appendRecord(w.buf[:0], w.rc, rec)
		if len(w.buf) == 0 && w.spec.EmptyAsNull {
			w.cur = append(w.cur, nil)
		} else {
			w.cur = append(w.cur, string(w.buf))
		}
	}
	if len(w.cur) < w.per*len(w.cols) {
		return nil
	}
	if err := w.send(); err != nil {
		return err
	}
	select {
	case c := <-w.free:
		w.cur = c[:0]
	case <-w.done:
		return w.failure()
	}
	return nil
}

// send hands the current chunk to the inserting goroutine.
func (w *sinkWriter) send() error {
	select {
	case w.full <- w.cur:
		w.cur = nil
		return nil
	case <-w.done:
		return w.failure()
	}
}

// failure is the inserting goroutine's verdict once it stopped early; a
// batch another pass delivered meanwhile is no failure: this pass then
// writes nothing more.
func (w *sinkWriter) failure() error {
	switch {
	case errors.Is(w.err, errDeliveredElsewhere):
		w.skip = true
		return nil
	case w.err != nil:
		return w.err
	}
	return fmt.Errorf("sink %s: stopped", w.spec.Name)
}

// errDeliveredElsewhere: an insert failed because another pass committed
// the batch's rows (a unique key of the table saw them).
var errDeliveredElsewhere = errors.New("the batch was delivered by another pass")

// deliveredElsewhere reports whether another pass recorded the batch,
// looking outside this pass's transaction.
func (w *sinkWriter) deliveredElsewhere() bool {
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	var rows int64
	return w.pool.db.QueryRowContext(ctx, sqlSinkDelivered, w.spec.Name, w.batch).Scan(&rows) == nil
}

// insertLoop inserts the chunks in the transaction, a prepared statement
// for full chunks and one for the last.
func (w *sinkWriter) insertLoop() {
	defer close(w.done)
	var stmt *sql.Stmt
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	ncols := len(w.cols)
	for chunk := range w.full {
		n := len(chunk) / ncols
		var err error
		if n == w.per && stmt == nil {
			if stmt, err = w.tx.PrepareContext(w.ctx, w.insertSQL(n)); err != nil {
				w.err = fmt.Errorf("sink %s: prepare the insert into %s: %w", w.spec.Name, w.spec.Table, sinkError(err))
				return
			}
		}
		if n == w.per {
			_, err = stmt.ExecContext(w.ctx, chunk...)
		} else {
			_, err = w.tx.ExecContext(w.ctx, w.insertSQL(n), chunk...)
		}
		if err != nil && w.deliveredElsewhere() {
			w.err = errDeliveredElsewhere
			return
		}
		if err != nil {
			w.err = fmt.Errorf("sink %s: insert rows %d to %d of the batch into %s: %w",
				w.spec.Name, w.count+1, w.count+n, w.spec.Table, sinkError(err))
			return
		}
		w.count += n
		clear(chunk)
		w.free <- chunk[:0]
	}
}

func (w *sinkWriter) insertSQL(rows int) string {
	var b strings.Builder
	b.Grow(len(w.head) + rows*(len(w.tuple)+2))
	b.WriteString(w.head)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(w.tuple)
	}
	return b.String()
}

// Commit inserts the last rows, records the batch in the marker table and
// commits, all or nothing. A marker another pass committed meanwhile rolls
// this one back: the batch was delivered once.
func (w *sinkWriter) Commit(ctx context.Context) error {
	if w.ended || w.tx == nil {
		return nil
	}
	var err error
	if len(w.cur) > 0 && !w.skip {
		err = w.send()
	}
	w.stop()
	if err == nil && w.err != nil {
		err = w.failure()
	}
	if err != nil || w.skip {
		w.end()
		return err
	}
	_, err = w.tx.ExecContext(ctx, sqlSinkMark, w.spec.Name, w.batch, w.count, w.now().UTC())
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		w.end()
		w.log.Info("ingest: another pass delivered the batch to the sink first; this one is rolled back", "sink", w.spec.Name, "batch", w.batch)
		return nil
	}
	if err != nil {
		w.end()
		return fmt.Errorf("sink %s: record the batch in %s: %w", w.spec.Name, sinkMarkerTable, sinkError(err))
	}
	if err := w.tx.Commit(); err != nil {
		w.end()
		return fmt.Errorf("sink %s: commit: %w", w.spec.Name, sinkError(err))
	}
	w.ended = true
	w.cancel()
	w.log.Info("ingest: batch delivered to sink", "sink", w.spec.Name, "batch", w.batch, "rows", w.count)
	return nil
}

// stop closes the chunk channel and waits for the inserting goroutine.
func (w *sinkWriter) stop() {
	if w.tx == nil {
		return
	}
	if !w.sent {
		w.sent = true
		close(w.full)
	}
	<-w.done
}

// end rolls back and releases the connection.
func (w *sinkWriter) end() {
	if w.ended || w.tx == nil {
		return
	}
	w.ended = true
	_ = w.tx.Rollback()
	w.cancel()
}

// Abort rolls everything back; it is safe after Commit.
func (w *sinkWriter) Abort() {
	if w.ended || w.tx == nil {
		return
	}
	w.cancel() // an insert under way stops at once
	w.stop()
	w.end()
}

func wantsRoute(f RecordFilter, r Route) bool {
	switch f {
	case RecordsManual:
		return r == RouteManual
	case RecordsQueue:
		return r == RouteQueue
	}
	return true
}

// sinkConfigError is a sink that cannot work as configured (no DSN, a
// missing table or column, access refused): the batch fails before any
// contact is loaded, with this message, and is run again once the sink is
// fixed (Rerun, or the same file again). It reads as campaign.ErrInvalid,
// which is how a load tells a hopeless batch from an interrupted one.
type sinkConfigError struct{ err error }

func (e *sinkConfigError) Error() string        { return e.err.Error() }
func (e *sinkConfigError) Unwrap() error        { return e.err }
func (e *sinkConfigError) Is(target error) bool { return target == campaign.ErrInvalid }

// sinkConfigNumbers are the server errors a sink's configuration causes,
// which trying again will not cure.
var sinkConfigNumbers = map[uint16]bool{
	1044: true, // access denied to a database
	1045: true, // access denied for a user
	1046: true, // no database selected
	1049: true, // unknown database
	1054: true, // unknown column
	1142: true, // command denied on a table
	1146: true, // table does not exist
}

// configured marks err a configuration error when the server's error says
// so; a connection that failed stays a plain error: the batch is then
// resumed later.
func configured(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && sinkConfigNumbers[me.Number] {
		return &sinkConfigError{err}
	}
	return err
}

// sinkSafeErrors are the MariaDB/MySQL errors whose message names only
// tables, columns, users and hosts, never a row's values.
var sinkSafeErrors = map[uint16]bool{
	1040: true, // too many connections
	1044: true, // access denied to a database
	1045: true, // access denied for a user
	1046: true, // no database selected
	1048: true, // column cannot be null
	1049: true, // unknown database
	1054: true, // unknown column
	1142: true, // command denied on a table
	1146: true, // table does not exist
	1205: true, // lock wait timeout
	1213: true, // deadlock
	1364: true, // field has no default value
	1406: true, // data too long for a column
	1451: true, // foreign key (parent)
	1452: true, // foreign key (child)
}

// sinkError keeps a server message that could quote a row's values (a
// duplicate entry, an incorrect date...) out of errors, which end up in
// logs and batch pages: only its number and SQL state are kept.
func sinkError(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || sinkSafeErrors[me.Number] {
		return err
	}
	return fmt.Errorf("MariaDB/MySQL error %d (SQLSTATE %s; the server's message may quote personal data and is not shown)", me.Number, string(me.SQLState[:]))
}
