-- +goose Up
-- Ingestion (package ingest): mission profiles, batches, their quarantined
-- records and their sealed originals. Instants are Unix milliseconds (0:
-- never); booleans are 0/1.

-- A mission's profile, one row per version; the highest version is the
-- active one. Versions are kept: a batch names the version it was read with,
-- so a resumed batch is read exactly as it started.
CREATE TABLE mission_profiles (
    mission    INTEGER NOT NULL REFERENCES missions (number),
    version    INTEGER NOT NULL CHECK (version > 0),
    yaml       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (mission, version)
);

-- One incoming file. While it is received (status 'receiving') its content
-- is not known yet: sha256 is NULL, and the row is either registered
-- ('loading', with sha256) or removed when the content turns out to be
-- loaded already. progress is the highest record number (1-based, data
-- records only) whose contacts and quarantine rows are committed: each
-- chunk of records commits together with it, so a resumed load starts at
-- progress + 1. heartbeat_at moves with every write of the process working
-- on the batch; a 'receiving' row whose heartbeat stopped belongs to a
-- process that died.
CREATE TABLE batches (
    id               INTEGER PRIMARY KEY,
    mission          INTEGER NOT NULL REFERENCES missions (number),
    profile_version  INTEGER NOT NULL,
    source           TEXT NOT NULL,              -- cli, upload, api, sftp:<name>, folder:<name>
    name             TEXT NOT NULL,              -- the original file name, sanitised
    sha256           BLOB,                       -- of the content; NULL while receiving
    size             INTEGER NOT NULL DEFAULT 0,
    chunks           INTEGER NOT NULL DEFAULT 0, -- sealed chunks in batch_archive
    received_at      INTEGER NOT NULL,           -- the receipt time the contact ids are made from
    status           TEXT NOT NULL CHECK (status IN ('receiving', 'loading', 'done', 'failed')),
    progress         INTEGER NOT NULL DEFAULT 0,
    received         INTEGER NOT NULL DEFAULT 0,
    loaded           INTEGER NOT NULL DEFAULT 0,
    quarantined      INTEGER NOT NULL DEFAULT 0,
    duplicates       INTEGER NOT NULL DEFAULT 0,
    warnings         INTEGER NOT NULL DEFAULT 0,
    manual           INTEGER NOT NULL DEFAULT 0,
    queue            INTEGER NOT NULL DEFAULT 0,
    blank_lines      INTEGER NOT NULL DEFAULT 0,
    encoding         TEXT NOT NULL DEFAULT '',
    warnings_by_code TEXT NOT NULL DEFAULT '',   -- JSON object, code -> count
    out_dir          TEXT NOT NULL DEFAULT '',   -- '': the outbox folder of the batch
    no_outputs       INTEGER NOT NULL DEFAULT 0, -- 1: write no legacy files
    outputs          TEXT NOT NULL DEFAULT '',   -- JSON list of the files written
    error            TEXT NOT NULL DEFAULT '',   -- why it failed; never personal data
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER NOT NULL DEFAULT 0, -- registered, loading began
    heartbeat_at     INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL DEFAULT 0
);
-- The same content is loaded once per mission (NULLs, while receiving,
-- do not collide).
CREATE UNIQUE INDEX batches_content ON batches (mission, sha256);
CREATE INDEX batches_mission ON batches (mission, id);
CREATE INDEX batches_unfinished ON batches (status) WHERE status IN ('receiving', 'loading');

-- Records set aside, with the reasons a person reads. The record itself (the
-- source fields as decoded) is personal data: sealed with the mission's data
-- key. No foreign key: rows are loaded in bulk with the contacts.
CREATE TABLE batch_quarantine (
    batch        INTEGER NOT NULL,
    n            INTEGER NOT NULL,            -- the record's number in the file
    line         INTEGER NOT NULL,            -- the physical line it starts on (header: 1)
    code         TEXT NOT NULL,               -- the main reason's code
    field        TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL,               -- every reason, joined; values of personal fields only by shape
    duplicate_of INTEGER NOT NULL DEFAULT 0,  -- the line of the record it duplicates
    record       BLOB NOT NULL,
    PRIMARY KEY (batch, n)
);

-- The original file, as received, in sealed chunks of 1 MiB (mission data
-- key, bound to batch and position): a resumed batch is read again from
-- here, and a crypto-shredded mission takes its originals with it.
CREATE TABLE batch_archive (
    batch INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    chunk BLOB NOT NULL,
    PRIMARY KEY (batch, seq)
);

-- +goose Down
DROP TABLE batch_archive;
DROP TABLE batch_quarantine;
DROP TABLE batches;
DROP TABLE mission_profiles;
