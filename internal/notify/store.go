package notify

import "plateau/internal/db"

// The notify package's SQL, written once with '?' placeholders (db rebinds
// them for PostgreSQL). Tables: notify_outbox and job_locks (migration 0007).

const (
	// qEnqueue ignores a message whose dedupe_key is already queued; NULL
	// keys never conflict.
	qEnqueue = `INSERT INTO notify_outbox
	    (alert, dedupe_key, message_id, recipients, subject, text_body, html_body, created_at, next_attempt_at)
	    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	    ON CONFLICT (dedupe_key) DO NOTHING`

	qMarkSent = `UPDATE notify_outbox SET status = 'sent', done_at = ?, last_error = '' WHERE id = ?`

	qRetry = `UPDATE notify_outbox SET next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'pending'`

	qGiveUp = `UPDATE notify_outbox SET status = 'failed', done_at = ?, last_error = ? WHERE id = ? AND status = 'pending'`

	qPurge = `DELETE FROM notify_outbox WHERE status <> 'pending' AND done_at < ?`

	qPending = `SELECT COUNT(*) FROM notify_outbox WHERE status = 'pending'`

	// qTakeLock takes a job's lease for one tick: the row is written only if
	// it is free (until <= now), in one statement, so two nodes racing for
	// the same tick cannot both succeed (the loser's conflict re-checks the
	// WHERE against the winner's row).
	qTakeLock = `INSERT INTO job_locks (name, owner, until, acquired_at) VALUES (?, ?, ?, ?)
	    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until, acquired_at = excluded.acquired_at
	    WHERE job_locks.until <= ?`
)

// claimQuery takes the oldest due message and pushes its next attempt past a
// lease, so no other worker takes it meanwhile. The per-dialect part: on
// PostgreSQL concurrent workers skip a row another is claiming instead of
// queuing behind it; SQLite has a single writer anyway.
func claimQuery(e db.Engine) string {
	lock := ""
	if e == db.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return `UPDATE notify_outbox SET attempts = attempts + 1, next_attempt_at = ?
	    WHERE id = (SELECT id FROM notify_outbox WHERE status = 'pending' AND next_attempt_at <= ?
	                ORDER BY next_attempt_at, id LIMIT 1` + lock + `)
	    RETURNING id, alert, message_id, recipients, subject, text_body, html_body, created_at, attempts`
}
