package audit

// The audit package's SQL, written once with '?' placeholders (db rebinds
// them for PostgreSQL). Tables: audit_events and audit_head (migration 0003).

const (
	// qClaimHead takes the next ids (as many as the parameter says) and the
	// previous row's hash; it returns the last id taken. An UPDATE rather
	// than a SELECT so that it locks the head row on PostgreSQL.
	qClaimHead = `UPDATE audit_head SET last_id = last_id + ? WHERE id = 1 RETURNING last_id, last_hash`

	qSetHeadHash = `UPDATE audit_head SET last_hash = ? WHERE id = 1`

	qReadHead = `SELECT last_id, last_hash FROM audit_head WHERE id = 1`

	qInsertEvent = `INSERT INTO audit_events
	    (id, at, actor, source, agent, action, object_type, object_id, before_json, after_json, prev_hash, hash)
	    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	// qWalk streams the chain in order for Verify.
	qWalk = `SELECT id, at, actor, source, agent, action, object_type, object_id, before_json, after_json, prev_hash, hash
	    FROM audit_events ORDER BY id`

	// qList is completed by List with its WHERE clause, ORDER BY and LIMIT.
	qList = `SELECT id, at, actor, source, agent, action, object_type, object_id, before_json, after_json
	    FROM audit_events`
)
