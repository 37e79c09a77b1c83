package ingest

import "plateau/internal/db"

// The SQL of this package's tables (migration 0006), written once for both
// engines.

const (
	sqlInsertProfile = `INSERT INTO mission_profiles (mission, version, yaml, created_at, created_by)
		VALUES (?, (SELECT COALESCE(MAX(version), 0) + 1 FROM mission_profiles WHERE mission = ?), ?, ?, ?)
		RETURNING version`
	sqlActiveProfile = `SELECT version, yaml, created_at, created_by FROM mission_profiles
		WHERE mission = ? ORDER BY version DESC LIMIT 1`
	sqlProfileVersion = `SELECT version, yaml, created_at, created_by FROM mission_profiles
		WHERE mission = ? AND version = ?`

	batchColumns = `id, mission, profile_version, source, name, sha256, size, chunks, received_at, status,
		progress, received, loaded, quarantined, duplicates, warnings, manual, queue, blank_lines, encoding,
		warnings_by_code, out_dir, no_outputs, outputs, error, created_by, created_at, started_at,
		heartbeat_at, finished_at`

	sqlInsertBatch = `INSERT INTO batches (mission, profile_version, source, name, received_at, status, out_dir,
		no_outputs, created_by, created_at, heartbeat_at)
		VALUES (?, ?, ?, ?, ?, 'receiving', ?, ?, ?, ?, ?) RETURNING id`
	sqlInsertChunk = `INSERT INTO batch_archive (batch, seq, chunk) VALUES (?, ?, ?)`
	// A receiving batch's heartbeat; no row means Resume took the batch
	// for dead and removed it.
	sqlReceiving       = `UPDATE batches SET heartbeat_at = ? WHERE id = ? AND status = 'receiving'`
	sqlBatchByContent  = `SELECT ` + batchColumns + ` FROM batches WHERE mission = ? AND sha256 = ?`
	sqlRegister        = `UPDATE batches SET sha256 = ?, size = ?, chunks = ?, status = 'loading', started_at = ?, heartbeat_at = ? WHERE id = ? AND status = 'receiving'`
	sqlDeleteArchive   = `DELETE FROM batch_archive WHERE batch = ?`
	sqlDeleteReceiving = `DELETE FROM batches WHERE id = ? AND status = 'receiving'`
	sqlStaleReceiving  = `SELECT id, mission FROM batches WHERE status = 'receiving' AND heartbeat_at < ? ORDER BY id`
	sqlDeleteStale     = `DELETE FROM batches WHERE id = ? AND status = 'receiving' AND heartbeat_at < ?`

	// Progress moves only from the value this loader last saw: a second
	// loader of the same batch finds no row and stops, so two processes
	// never commit the same records.
	sqlProgress = `UPDATE batches SET progress = ?, received = ?, loaded = ?, quarantined = ?, duplicates = ?,
		warnings = ?, manual = ?, queue = ?, blank_lines = ?, encoding = ?, heartbeat_at = ?
		WHERE id = ? AND status = 'loading' AND progress = ?`
	sqlFinish = `UPDATE batches SET status = 'done', received = ?, loaded = ?, quarantined = ?, duplicates = ?,
		warnings = ?, manual = ?, queue = ?, blank_lines = ?, encoding = ?, warnings_by_code = ?, outputs = ?,
		finished_at = ?, heartbeat_at = ?
		WHERE id = ? AND status = 'loading' AND progress = ?`
	sqlFail = `UPDATE batches SET status = 'failed', error = ?, finished_at = ?, heartbeat_at = ?
		WHERE id = ? AND status = 'loading'`
	sqlRetry = `UPDATE batches SET status = 'loading', profile_version = ?, error = '', started_at = ?,
		heartbeat_at = ?, finished_at = 0
		WHERE id = ? AND status = 'failed' AND progress = 0`

	sqlBatch   = `SELECT ` + batchColumns + ` FROM batches WHERE id = ?`
	sqlBatches = `SELECT ` + batchColumns + ` FROM batches
		WHERE (? = 0 OR mission = ?) AND (? = '' OR status = ?) AND (? = 0 OR id < ?)
		ORDER BY id DESC LIMIT ?`
	sqlLoading = `SELECT ` + batchColumns + ` FROM batches WHERE status = 'loading' ORDER BY id`

	sqlArchiveChunk = `SELECT chunk FROM batch_archive WHERE batch = ? AND seq = ?`

	sqlQuarantine = `SELECT n, line, code, field, reason, duplicate_of FROM batch_quarantine
		WHERE batch = ? ORDER BY n`
	sqlQuarantineRecords = `SELECT n, line, code, field, reason, duplicate_of, record FROM batch_quarantine
		WHERE batch = ? ORDER BY n`
	sqlQuarantineByCode = `SELECT n, line, reason FROM batch_quarantine WHERE batch = ? AND code = ? ORDER BY n`
)

// quarantineColumns are the columns of a batch_quarantine row, in the order
// the loader builds them.
var quarantineColumns = []string{"batch", "n", "line", "code", "field", "reason", "duplicate_of", "record"}

// dialect holds what differs between the engines.
type dialect struct {
	// asyncCommit runs first in a chunk's transaction. A chunk is redone
	// from the archive if its commit is lost, so on PostgreSQL it need not
	// wait for the WAL flush: atomicity, not durability, is what makes the
	// load exactly-once. The transaction that marks the batch done is
	// synchronous and flushes every chunk before it. SQLite already runs
	// with synchronous=NORMAL.
	asyncCommit string
	// bulkCacheKiB, on SQLite, is the writer connection's page cache while
	// batches load. SQLite's default (2 MB) cannot hold the pages one
	// chunk touches (the contacts, three indexes, the quarantine): pages
	// spill to the WAL in the middle of the transaction and are read back,
	// which makes a load several times slower as the table grows.
	bulkCacheKiB int
}

func dialectOf(e db.Engine) dialect {
	if e == db.Postgres {
		return dialect{asyncCommit: `SET LOCAL synchronous_commit = off`}
	}
	return dialect{bulkCacheKiB: 16 << 10}
}
