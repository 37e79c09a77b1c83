-- +goose Up
-- Missions, contacts and the call queue (package campaign). Instants are Unix
-- milliseconds (0: never); durations are milliseconds.

-- A mission: one client's campaign, its calling rules and settings.
-- Missions are archived, never deleted: contacts, attempts and reports refer
-- to their number.
CREATE TABLE missions (
    number        INTEGER PRIMARY KEY CHECK (number > 0),
    name          TEXT NOT NULL,
    client        TEXT NOT NULL,
    regime        TEXT NOT NULL CHECK (regime IN ('b2b', 'consumer-prospecting', 'survey')),
    timezone      TEXT NOT NULL,
    windows       TEXT NOT NULL,               -- "mon-fri 09:00-20:00, sat 10:00-12:00"
    holidays_open INTEGER NOT NULL DEFAULT 0,  -- 1: French public holidays are worked
    max_attempts  INTEGER NOT NULL CHECK (max_attempts > 0),
    lease_ms      INTEGER NOT NULL CHECK (lease_ms > 0),
    script        TEXT NOT NULL DEFAULT '',
    archived      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX missions_client ON missions (client);

-- The agents and supervisors assigned to a mission.
CREATE TABLE mission_members (
    mission  INTEGER NOT NULL REFERENCES missions (number) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (mission, user_id)
);
CREATE INDEX mission_members_user ON mission_members (user_id);

-- Outcome codes of a mission (the qualification buttons).
CREATE TABLE outcome_codes (
    mission        INTEGER NOT NULL REFERENCES missions (number) ON DELETE CASCADE,
    code           TEXT NOT NULL,
    label          TEXT NOT NULL,
    closes         INTEGER NOT NULL DEFAULT 0,
    counts_attempt INTEGER NOT NULL DEFAULT 1,
    retry_after_ms INTEGER NOT NULL DEFAULT 0,
    refusal        INTEGER NOT NULL DEFAULT 0,
    callback       INTEGER NOT NULL DEFAULT 0,
    success        INTEGER NOT NULL DEFAULT 0,
    position       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mission, code)
);

-- Contacts. Operational columns are in clear; every field of the lead (and
-- the dialled number) is in one blob sealed with the mission's data key.
-- phone_bidx is the blind index of the dialled number in the client's scope,
-- so per-person caps and opposition lists work across a client's missions.
-- No foreign key to missions: rows are loaded in bulk (COPY on PostgreSQL)
-- and missions are never deleted.
--
-- A lease pushes due_at to the lease's end, so "due_at <= now" alone means
-- "claimable": a lease that expires simply makes the contact due again.
CREATE TABLE contacts (
    id               INTEGER PRIMARY KEY,
    mission          INTEGER NOT NULL,
    contact_id       TEXT NOT NULL,               -- the id the profile gave it
    state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    routing          TEXT NOT NULL DEFAULT 'queue' CHECK (routing IN ('queue', 'manual')),
    priority         INTEGER NOT NULL DEFAULT 2,  -- lowest first
    due_at           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      INTEGER NOT NULL DEFAULT 0,  -- user id; 0: none
    lease_until      INTEGER NOT NULL DEFAULT 0,
    leased_at        INTEGER NOT NULL DEFAULT 0,
    callback_at      INTEGER NOT NULL DEFAULT 0,  -- 0: not a callback
    callback_owner   INTEGER NOT NULL DEFAULT 0,  -- 0: anyone
    last_outcome     TEXT NOT NULL DEFAULT '',
    last_attempt_at  INTEGER NOT NULL DEFAULT 0,
    first_attempt_at INTEGER NOT NULL DEFAULT 0,
    close_reason     TEXT NOT NULL DEFAULT '',    -- '', 'outcome', 'max_attempts'
    closed_at        INTEGER NOT NULL DEFAULT 0,
    held_rule        TEXT NOT NULL DEFAULT '',    -- rule that pushed due_at back
    batch_id         INTEGER NOT NULL DEFAULT 0,
    loaded_at        INTEGER NOT NULL,
    phone_type       TEXT NOT NULL DEFAULT '',
    phone_bidx       BLOB NOT NULL,
    consent_at       INTEGER NOT NULL DEFAULT 0,  -- 0: no proof of consent
    fields           BLOB NOT NULL                -- sealed phone, fields, consent wording
);
-- contact_id first: the API finds a contact by its id alone.
CREATE UNIQUE INDEX contacts_ref ON contacts (contact_id, mission);
-- The queue: one range scan per priority (and routing), due first; the
-- priorities themselves are walked with one seek each.
CREATE INDEX contacts_queue ON contacts (mission, priority, routing, due_at, id)
    WHERE state = 'open' AND callback_at = 0;
CREATE INDEX contacts_callbacks ON contacts (mission, due_at, id)
    WHERE state = 'open' AND callback_at <> 0;
CREATE INDEX contacts_lease ON contacts (lease_owner, mission) WHERE lease_owner <> 0;
CREATE INDEX contacts_held ON contacts (mission, held_rule) WHERE held_rule <> '';
-- Only leased rows: "is another file of this person being called?" for
-- consumer prospecting. A full index on the blind index would cost random
-- writes at every load for lookups that are rare (subject requests).
CREATE INDEX contacts_leased_phone ON contacts (phone_bidx) WHERE lease_owner <> 0;
-- The open and closed files reports: a range per mission and state, in
-- contact id order (a prefix of the id is a sub-range).
CREATE INDEX contacts_state ON contacts (mission, state, contact_id);

-- Files per mission by state, close reason, closing outcome ('' while open)
-- and attempts, kept current in the transactions that load and qualify
-- contacts: the live view reads a few rows instead of counting a million.
CREATE TABLE mission_counts (
    mission      INTEGER NOT NULL,
    state        TEXT NOT NULL,
    close_reason TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    files        INTEGER NOT NULL,
    PRIMARY KEY (mission, state, close_reason, outcome, attempts)
);

-- Calls per mission, day (in the mission's time zone, as YYYYMMDD) and
-- outcome, and how many of them closed the file.
CREATE TABLE mission_days (
    mission INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    calls   INTEGER NOT NULL,
    closed  INTEGER NOT NULL,
    PRIMARY KEY (mission, day, outcome)
);

-- Every qualified call. comment is sealed with the mission's data key.
CREATE TABLE contact_attempts (
    id          INTEGER PRIMARY KEY,
    contact     INTEGER NOT NULL,            -- contacts.id
    mission     INTEGER NOT NULL,
    agent       INTEGER NOT NULL,            -- user id
    at          INTEGER NOT NULL,
    leased_at   INTEGER NOT NULL DEFAULT 0,  -- when the agent got the contact
    outcome     TEXT NOT NULL,
    counted     INTEGER NOT NULL,            -- counted as an attempt
    attempt     INTEGER NOT NULL,            -- the contact's attempts after this one
    closed      INTEGER NOT NULL,            -- this call closed the file
    callback_at INTEGER NOT NULL DEFAULT 0,
    comment     BLOB
);
CREATE INDEX contact_attempts_contact ON contact_attempts (contact, at);
CREATE INDEX contact_attempts_mission ON contact_attempts (mission, at);

-- Calls per person (blind index of the number in the client's scope) on
-- consumer-prospecting missions: the rolling 30-day cap and the 60-day
-- silence after a refusal, across the client's missions.
CREATE TABLE person_calls (
    id      INTEGER PRIMARY KEY,
    client  TEXT NOT NULL,
    phone   BLOB NOT NULL,
    at      INTEGER NOT NULL,
    refusal INTEGER NOT NULL DEFAULT 0,
    mission INTEGER NOT NULL
);
CREATE INDEX person_calls_phone ON person_calls (client, phone, at);
CREATE INDEX person_calls_at ON person_calls (at);

-- Opposition lists: numbers (blind-indexed, client scope) never to call.
CREATE TABLE opposition (
    client   TEXT NOT NULL,
    phone    BLOB NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (client, phone)
);
-- When each client's list was last checked (loaded or confirmed).
CREATE TABLE opposition_lists (
    client     TEXT PRIMARY KEY,
    checked_at INTEGER NOT NULL,
    entries    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Pause codes per site; site '' is the default set.
CREATE TABLE pause_codes (
    site     TEXT NOT NULL,
    code     TEXT NOT NULL,
    label    TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, code)
);
INSERT INTO pause_codes (site, code, label, position) VALUES
    ('', 'pause', 'Pause', 1),
    ('', 'formation', 'Formation', 2),
    ('', 'technique', 'Problème technique', 3),
    ('', 'reunion', 'Réunion', 4);

-- Agents' presence per mission, and its history for reports.
CREATE TABLE presence (
    mission    INTEGER NOT NULL,
    agent      INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('offline', 'S', 'call', 'wrapup', 'pause')),
    pause_code TEXT NOT NULL DEFAULT '',
    site       TEXT NOT NULL DEFAULT '',
    since      INTEGER NOT NULL,
    PRIMARY KEY (mission, agent)
);
CREATE INDEX presence_agent ON presence (agent);

CREATE TABLE presence_log (
    id         INTEGER PRIMARY KEY,
    mission    INTEGER NOT NULL,
    agent      INTEGER NOT NULL,
    state      TEXT NOT NULL,
    pause_code TEXT NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
);
CREATE INDEX presence_log_mission ON presence_log (mission, at);
CREATE INDEX presence_log_agent ON presence_log (agent, at);

-- +goose Down
DROP TABLE presence_log;
DROP TABLE presence;
DROP TABLE pause_codes;
DROP TABLE opposition_lists;
DROP TABLE opposition;
DROP TABLE person_calls;
DROP TABLE contact_attempts;
DROP TABLE mission_days;
DROP TABLE mission_counts;
DROP TABLE contacts;
DROP TABLE outcome_codes;
DROP TABLE mission_members;
DROP TABLE missions;
