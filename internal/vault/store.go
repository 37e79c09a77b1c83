package vault

// The vault's SQL, written once with '?' placeholders (db rebinds them) in the
// subset both engines share. The tables are created by migration 0002_vault.
const (
	// qMasterID reads the id of the master key the live data keys are
	// wrapped with.
	qMasterID = `SELECT master_key_id FROM vault_master WHERE id = 1`

	// qInitMaster records the first master key of a fresh database; a
	// concurrent first start of another node keeps whichever came first.
	qInitMaster = `INSERT INTO vault_master (id, master_key_id, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO NOTHING`

	// qForeignKeys counts live data keys wrapped with another master key: a
	// consistent database has none.
	qForeignKeys = `SELECT COUNT(*) FROM vault_keys WHERE destroyed_at = 0 AND master_key_id <> ?`

	// qLockMaster takes the master row's lock for the rest of a key-creating
	// transaction, and affects no row when the master key moved on: a key is
	// thus never wrapped with a master key a concurrent rotation retires.
	qLockMaster = `UPDATE vault_master SET updated_at = updated_at WHERE id = 1 AND master_key_id = ?`

	// qRotateMaster switches the master row to the new key, under the same
	// lock as qLockMaster.
	qRotateMaster = `UPDATE vault_master SET master_key_id = ?, updated_at = ? WHERE id = 1 AND master_key_id = ?`

	qLiveKey = `SELECT id, master_key_id, wrapped FROM vault_keys WHERE scope = ? AND destroyed_at = 0`

	qKeyByID = `SELECT scope, master_key_id, wrapped, destroyed_at FROM vault_keys WHERE id = ?`

	// qInsertKey returns no row when another transaction created the
	// scope's live key first (the partial unique index).
	qInsertKey = `INSERT INTO vault_keys (scope, master_key_id, created_at, wrapped_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope) WHERE destroyed_at = 0 DO NOTHING
		RETURNING id`

	// qSetWrapped stores the wrapped key once its id is known (the wrap is
	// bound to the id).
	qSetWrapped = `UPDATE vault_keys SET wrapped = ? WHERE id = ?`

	qDestroy = `UPDATE vault_keys SET wrapped = NULL, destroyed_at = ? WHERE scope = ? AND destroyed_at = 0
		RETURNING id`

	qLiveKeys = `SELECT id, scope, master_key_id, wrapped FROM vault_keys WHERE destroyed_at = 0 ORDER BY id`

	// qRewrap leaves a key destroyed meanwhile (by another node) destroyed.
	qRewrap = `UPDATE vault_keys SET master_key_id = ?, wrapped = ?, wrapped_at = ? WHERE id = ? AND destroyed_at = 0`
)
