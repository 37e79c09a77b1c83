package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// Errors callers may test with errors.Is.
var (
	// ErrNoProfile: the mission has no profile stored yet.
	ErrNoProfile = errors.New("the mission has no profile")
	// ErrTooLarge: the file is larger than ServiceOptions.MaxSize.
	ErrTooLarge = errors.New("the file is too large")
	// ErrInvalidSource: the source is not one of cli, upload, api,
	// sftp:<name>, folder:<name>.
	ErrInvalidSource = errors.New("invalid batch source")
	// ErrBatchNotFound: no batch with this id.
	ErrBatchNotFound = errors.New("no such batch")
)

// FailedError says a batch could not be processed at all: an empty file, a
// header that is not the profile's, an original that no longer opens. Its
// message never holds personal data. Quarantined records are not failures.
type FailedError struct {
	Batch  int64
	Reason string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("batch %d could not be processed: %s", e.Batch, e.Reason)
}

// Sink receives a batch's loaded records, e.g. an SQL sink writing them into
// a client's MariaDB table. Open is called at the start of every pass over
// the batch; a pass that resumes an interrupted load still replays every
// loaded record from the first, so a sink must make its delivery idempotent
// per batch (commit a marker with the rows, and return a writer that writes
// nothing when the marker is there). Writers are committed after the last
// contact is committed and before the batch is marked done: a crash in
// between leads to a new pass.
type Sink interface {
	Open(ctx context.Context, b Batch, p *Profile) (RecordWriter, error)
}

// RecordWriter takes a batch's loaded records in file order. Records are
// reused after Write returns; Clone what is kept.
type RecordWriter interface {
	Write(rec *Record) error
	Commit(ctx context.Context) error
	Abort()
}

// ServiceOptions configure a Service.
type ServiceOptions struct {
	// OutboxDir is where the legacy files of a batch are written, in a
	// folder per batch (<OutboxDir>/<batch id>/), unless the batch names
	// its own folder. Required when a profile asks for outputs.
	OutboxDir string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives operational messages, never personal data;
	// slog.Default() when nil.
	Logger *slog.Logger
	// ChunkRecords is how many records commit together with the batch's
	// progress; 0: 5,000.
	ChunkRecords int
	// Workers is how many goroutines seal contacts; 0: GOMAXPROCS.
	Workers int
	// MaxSize bounds a file, in bytes; 0: 2 GiB.
	MaxSize int64
	// StaleAfter is how long a batch may go without a heartbeat before it
	// is taken for dead: a file being received is then abandoned by Resume,
	// a load is taken over by whoever waits for it. 0: 10 minutes.
	StaleAfter time.Duration
	// Sinks receive every loaded record of each batch (see Sink).
	Sinks []Sink
	// Finished, when set, runs inside the transaction that marks a batch
	// done or failed, e.g. to enqueue the summary alert: it is then sent
	// once per batch, never lost. It must not open another transaction.
	Finished func(ctx context.Context, tx *db.Tx, b Batch) error
}

// Defaults of ServiceOptions.
const (
	DefaultChunkRecords = 5000
	DefaultMaxSize      = 2 << 30
	DefaultStaleAfter   = 10 * time.Minute
)

// Service turns incoming files into batches loaded into missions, exactly
// once.
//
// A file is first received: streamed into an archive of sealed chunks while
// its SHA-256 is computed, so a file of any size costs bounded memory.
// Content already loaded into the mission is recognised by that hash and
// loads nothing. Otherwise the batch is registered and loaded from its
// archive: the mission's profile (the version active at registration) reads
// it, and its contacts (package campaign), quarantined records and progress
// commit together, chunk by chunk. A load cut short at any point — process
// killed, machine stopped — is finished by Resume or by ingesting the same
// file again: the pipeline numbers records deterministically, so the second
// pass skips every record already committed.
type Service struct {
	d   *db.DB
	v   *vault.Vault
	a   *audit.Log
	c   *campaign.Service
	opt ServiceOptions
	log *slog.Logger
	q   dialect

	// bulkMu guards bulkLoads, the loads running in this process, and
	// bulkRestore, the writer's page cache size to restore after the last.
	bulkMu      sync.Mutex
	bulkLoads   int
	bulkRestore int64

	// hook, set by tests, runs at the points where a crash matters most:
	// "receive", "register", "commit" and "finish" inside those
	// transactions just before they commit, "outputs" before the legacy
	// files are renamed into place.
	hook func(point string, batch int64, progress int)
}

// NewService returns the ingestion service. The campaign service writes the
// contacts; the vault seals the archives and quarantined records with each
// mission's data key; every change is audited.
func NewService(d *db.DB, v *vault.Vault, a *audit.Log, c *campaign.Service, opt ServiceOptions) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ChunkRecords <= 0 {
		opt.ChunkRecords = DefaultChunkRecords
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.MaxSize <= 0 {
		opt.MaxSize = DefaultMaxSize
	}
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = DefaultStaleAfter
	}
	return &Service{d: d, v: v, a: a, c: c, opt: opt, log: opt.Logger, q: dialectOf(d.Engine())}
}

func (s *Service) now() time.Time { return s.opt.Now() }

func (s *Service) at(point string, batch int64, progress int) {
	if s.hook != nil {
		s.hook(point, batch, progress)
	}
}

// missionScope is the vault scope of a mission's personal data, the one
// package campaign seals its contacts with.
func missionScope(mission int) string { return fmt.Sprintf("mission:%d", mission) }

// record audits e inside tx.
func (s *Service) record(ctx context.Context, tx *db.Tx, e audit.Event) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.a.Record(ctx, tx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// The sources of a batch.
const (
	SourceCLI    = "cli"
	SourceUpload = "upload"
	SourceAPI    = "api"
)

// SourceSFTP is the source of the batches of an SFTP inbox: "sftp:<name>".
func SourceSFTP(name string) string { return "sftp:" + name }

// SourceFolder is the source of the batches of a watched folder:
// "folder:<name>".
func SourceFolder(name string) string { return "folder:" + name }

// checkSource accepts cli, upload, api, sftp:<name> and folder:<name>
// (name: 1 to 64 printable characters).
func checkSource(src string) error {
	switch src {
	case SourceCLI, SourceUpload, SourceAPI:
		return nil
	}
	kind, name, ok := strings.Cut(src, ":")
	if ok && (kind == "sftp" || kind == "folder") && name != "" && len(name) <= 64 && utf8.ValidString(name) {
		for _, r := range name {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				return fmt.Errorf("%w: %q", ErrInvalidSource, src)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %q (want cli, upload, api, sftp:<name> or folder:<name>)", ErrInvalidSource, src)
}

// maxNameBytes bounds a stored file name.
const maxNameBytes = 255

// SanitizeName returns the file name as a batch stores and shows it: the
// last path element (a client's or a browser's path says nothing useful
// and may say too much), without control or format characters (which can
// make a name display as another), valid UTF-8, at most 255 bytes.
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > maxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		cut := maxNameBytes - len(ext)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + ext
	}
	if name == "" || name == "." || name == ".." {
		return "unnamed"
	}
	return name
}

// bulkStart gives the SQLite writer the page cache of a bulk load (see
// dialect.bulkCacheKiB) while at least one load runs; bulkEnd gives the
// previous size back after the last.
func (s *Service) bulkStart(ctx context.Context) {
	if s.q.bulkCacheKiB == 0 {
		return
	}
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	if s.bulkLoads++; s.bulkLoads > 1 {
		return
	}
	// The pragma is per connection: run it on the writer, in a transaction.
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&s.bulkRestore); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", s.q.bulkCacheKiB))
		return err
	})
	if err != nil {
		// Slower, not wrong.
		s.log.Warn("ingest: could not enlarge the SQLite page cache", "error", err.Error())
		s.bulkRestore = 0
	}
}

func (s *Service) bulkEnd(ctx context.Context) {
	if s.q.bulkCacheKiB == 0 {
		return
	}
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	if s.bulkLoads--; s.bulkLoads > 0 || s.bulkRestore == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", s.bulkRestore))
		return err
	})
	if err != nil {
		s.log.Warn("ingest: could not restore the SQLite page cache", "error", err.Error())
	}
}
