-- +goose Up
-- Accounts (package auth). Instants are Unix milliseconds, 0 meaning "never";
-- booleans are 0/1. Display names stay in clear: they are needed to list
-- users, and audit rows seal them.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    password_hash  TEXT NOT NULL,              -- argon2id PHC string
    disabled       INTEGER NOT NULL DEFAULT 0,
    locale         TEXT NOT NULL DEFAULT '',
    failed_logins  INTEGER NOT NULL DEFAULT 0, -- consecutive failures (password or TOTP)
    locked_at      INTEGER NOT NULL DEFAULT 0, -- 0: not locked
    totp_secret    BLOB,                       -- sealed (vault scope "system"); NULL: no TOTP
    totp_pending   BLOB,                       -- sealed enrolment not confirmed yet
    totp_last_step INTEGER NOT NULL DEFAULT 0, -- last accepted time step: each code works once
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'it', 'dpo', 'admin')),
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role);

-- Consecutive failed logins per source address, shared by every node.
CREATE TABLE login_throttle (
    source          TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
);

-- Server-side sessions; id is the hex SHA-256 of the cookie token.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage        TEXT NOT NULL CHECK (stage IN ('totp', 'enrol', 'full')),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    agent        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_created ON sessions (created_at);

-- API tokens; token_hash is the hex SHA-256 of the bearer token.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL DEFAULT 0,
    revoked_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- The one-time setup link (at most one unused at a time).
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE setup_tokens;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE login_throttle;
DROP TABLE user_roles;
DROP TABLE users;
