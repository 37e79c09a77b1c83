-- +goose Up
-- The audit trail (internal/audit). Rows are only ever appended. Ids are
-- assigned by the appender (1, 2, 3... with no gaps), never by the engine,
-- so a removed row shows as a hole in the sequence. Each row holds the hash
-- of the previous one (prev_hash) and its own (hash, SHA-256 over every
-- column). before_json/after_json are the stored text exactly as hashed ('' when
-- not applicable), with personal values sealed by the vault.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    source      TEXT NOT NULL,
    agent       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    before_json TEXT NOT NULL,
    after_json  TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);
-- The viewer filters by time, actor, action prefix and object, newest first.
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_object ON audit_events (object_type, object_id, id);

-- The chain head: one row, updated in the same transaction as every append.
-- Appenders update it first, which serialises them (a row lock on
-- PostgreSQL; the single writer on SQLite). last_hash starts as the genesis
-- value, 32 zero bytes.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   INTEGER NOT NULL,
    last_hash BLOB NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 0, zeroblob(32));

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_events;
