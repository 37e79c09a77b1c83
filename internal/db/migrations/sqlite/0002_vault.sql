-- +goose Up
-- The vault's data keys, one live key per scope ("system", "audit",
-- "mission:26"...), each wrapped (AES-256-GCM) by the master key. The id is
-- written into every ciphertext (4 bytes), hence the CHECK. Destroying a key
-- sets wrapped to NULL and destroyed_at to the instant: the row stays so that
-- its ciphertexts report "destroyed" rather than "unknown".
CREATE TABLE vault_keys (
    id            INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 4294967295),
    scope         TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    wrapped       BLOB,
    created_at    INTEGER NOT NULL,
    wrapped_at    INTEGER NOT NULL,
    destroyed_at  INTEGER NOT NULL DEFAULT 0
);

-- At most one live key per scope, so two nodes creating a scope's key at the
-- same time end up with one.
CREATE UNIQUE INDEX vault_keys_live_scope ON vault_keys (scope) WHERE destroyed_at = 0;

-- The id of the master key every live data key is wrapped with. One row
-- (id = 1): a node refuses to start with another master key, and key creation
-- and master rotation lock this row so that no key is ever wrapped with a
-- master key that was just rotated away.
CREATE TABLE vault_master (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    master_key_id TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- +goose Down
DROP TABLE vault_master;
DROP TABLE vault_keys;
