-- +goose Up
-- Package notify: the mail outbox and the scheduled jobs' locks. Instants
-- are Unix milliseconds (0: never).

-- The outbox: every alert is written here first (by Enqueue, possibly in the
-- caller's transaction) and sent later by the outbox worker, so a mail server
-- that is down never blocks or fails the caller. Rows hold rendered messages:
-- counts and links only, never personal data. A pending row is due when
-- next_attempt_at <= now; claiming it pushes next_attempt_at forward by a
-- lease, so a worker that dies mid-send leaves it due again (at-least-once).
CREATE TABLE notify_outbox (
    id              INTEGER PRIMARY KEY,
    alert           TEXT NOT NULL,              -- e.g. batch_summary (logs, statistics)
    dedupe_key      TEXT UNIQUE,                -- NULL, or a key that makes Enqueue idempotent
    message_id      TEXT NOT NULL,              -- left part of Message-ID, stable across retries
    recipients      TEXT NOT NULL,              -- JSON array of addresses
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',   -- without addresses or credentials
    done_at         INTEGER NOT NULL DEFAULT 0  -- when it was sent or given up
);
CREATE INDEX notify_outbox_due ON notify_outbox (status, next_attempt_at);

-- Scheduled jobs shared by several nodes: the node that takes a job's row
-- for a tick (until <= now) runs it; until is then the job's next tick, so
-- the other nodes, firing for the same tick, find it taken.
CREATE TABLE job_locks (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    until       INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE job_locks;
DROP TABLE notify_outbox;
