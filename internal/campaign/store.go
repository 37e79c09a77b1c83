package campaign

import (
	"context"
	"fmt"

	"plateau/internal/db"
)

// SQL of the package, written once with '?' placeholders (db rebinds them)
// in the subset SQLite and PostgreSQL share. The few statements that must
// differ are in dialect (queue_sql.go). Tables: migration 0005_campaign.

const (
	missionColumns = `number, name, client, regime, timezone, windows, holidays_open, max_attempts, lease_ms,
		script, archived, created_at, updated_at`

	sqlInsertMission = `INSERT INTO missions (number, name, client, regime, timezone, windows, holidays_open,
		max_attempts, lease_ms, script, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlMission  = `SELECT ` + missionColumns + ` FROM missions WHERE number = ?`
	sqlMissions = `SELECT ` + missionColumns + ` FROM missions
		WHERE (? = '' OR client = ?) AND (? OR NOT archived)
		  AND (? = 0 OR number IN (SELECT mission FROM mission_members WHERE user_id = ?))
		ORDER BY number`
	// sqlLockMission is a no-op update: on PostgreSQL it takes the row lock
	// (as SELECT ... FOR UPDATE would, which SQLite lacks).
	sqlLockMission   = `UPDATE missions SET updated_at = updated_at WHERE number = ? RETURNING ` + missionColumns
	sqlUpdateMission = `UPDATE missions SET name = ?, client = ?, regime = ?, timezone = ?, windows = ?,
		holidays_open = ?, max_attempts = ?, lease_ms = ?, script = ?, updated_at = ? WHERE number = ?`
	sqlSetArchived = `UPDATE missions SET archived = ?, updated_at = ? WHERE number = ?`

	sqlAddMember = `INSERT INTO mission_members (mission, user_id, added_at) VALUES (?, ?, ?)
		ON CONFLICT (mission, user_id) DO NOTHING`
	sqlDelMember = `DELETE FROM mission_members WHERE mission = ? AND user_id = ?`
	sqlMembers   = `SELECT user_id FROM mission_members WHERE mission = ? ORDER BY user_id`
	sqlIsMember  = `SELECT COUNT(*) FROM mission_members WHERE mission = ? AND user_id = ?`

	sqlOutcomes = `SELECT code, label, closes, counts_attempt, retry_after_ms, refusal, callback, success, position
		FROM outcome_codes WHERE mission = ? ORDER BY position, code`
	sqlUpsertOutcome = `INSERT INTO outcome_codes (mission, code, label, closes, counts_attempt, retry_after_ms,
		refusal, callback, success, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (mission, code) DO UPDATE SET label = excluded.label, closes = excluded.closes,
		counts_attempt = excluded.counts_attempt, retry_after_ms = excluded.retry_after_ms,
		refusal = excluded.refusal, callback = excluded.callback, success = excluded.success,
		position = excluded.position`
	sqlDeleteOutcome = `DELETE FROM outcome_codes WHERE mission = ? AND code = ?`
	sqlOutcomeUsed   = `SELECT COUNT(*) FROM (SELECT 1 FROM contact_attempts WHERE mission = ? AND outcome = ? LIMIT 1) u`

	// contactColumns are the clear columns of a contact (no sealed blob),
	// unqualified: SQLite's RETURNING does not take a table alias.
	contactColumns = `id, mission, contact_id, state, routing, priority, due_at, attempts, lease_owner,
		lease_until, leased_at, callback_at, callback_owner, last_outcome, last_attempt_at, first_attempt_at,
		close_reason, closed_at, held_rule, batch_id, loaded_at, phone_type, phone_bidx, consent_at`
	// contactFull adds the sealed blob.
	contactFull = contactColumns + `, fields`

	sqlContactByRef    = `SELECT ` + contactFull + ` FROM contacts WHERE contact_id = ? AND mission = ?`
	sqlResolveContact  = `SELECT mission FROM contacts WHERE contact_id = ? ORDER BY mission LIMIT 2`
	sqlCountContacts   = `SELECT COUNT(*) FROM contacts WHERE mission = ?`
	sqlContactsByPhone = `SELECT ` + contactColumns + ` FROM contacts
		WHERE phone_bidx = ? AND mission IN (SELECT number FROM missions WHERE client = ?)
		ORDER BY mission, contact_id`

	// queuePriorities walks the distinct priorities of a mission's open
	// queued contacts through the index, one seek per value (a loose index
	// scan), instead of reading every row. ORDER BY ... LIMIT 1 rather than
	// MIN: PostgreSQL, its statistics stale after a large load, computed
	// the first MIN over the whole index (a million entries, one second,
	// at every refresh of the mission's settings).
	sqlQueuePriorities = `WITH RECURSIVE p(v) AS (
		SELECT (SELECT priority FROM contacts WHERE mission = ? AND state = 'open' AND callback_at = 0
			ORDER BY priority LIMIT 1)
		UNION ALL
		SELECT (SELECT priority FROM contacts
			WHERE mission = ? AND state = 'open' AND callback_at = 0 AND priority > p.v ORDER BY priority LIMIT 1)
		FROM p WHERE p.v IS NOT NULL)
		SELECT v FROM p WHERE v IS NOT NULL`
	// sqlNextCallback is when the mission's next callback falls due (0:
	// none), so that claims skip the callback probe until then.
	sqlNextCallback = `SELECT COALESCE(MIN(due_at), 0) FROM contacts WHERE mission = ? AND state = 'open'
		AND callback_at <> 0`

	// sqlClaimCheck reads, in one round trip, the agent's presence on the
	// mission and a live lease they already hold there.
	sqlClaimCheck = `SELECT
		(SELECT state FROM presence WHERE mission = ? AND agent = ?),
		(SELECT id FROM contacts WHERE lease_owner <> 0 AND lease_owner = ? AND mission = ? AND state = 'open'
			AND lease_until > ? ORDER BY id LIMIT 1)`

	// A claim leases its candidate in the statement that finds it, provided
	// the agent is in service on the mission and holds no live lease there
	// (when nothing comes back, sqlClaimCheck tells which). The last column
	// says whether the number is on the client's opposition list (one
	// primary-key probe). %s is the dialect's row lock.
	claimSet   = `UPDATE contacts SET lease_owner = ?, lease_until = ?, leased_at = ?, due_at = ?, held_rule = ''`
	claimAgent = `
		AND EXISTS (SELECT 1 FROM presence WHERE mission = ? AND agent = ? AND state IN ('S', 'call', 'wrapup'))
		AND NOT EXISTS (SELECT 1 FROM contacts l WHERE l.lease_owner <> 0 AND l.lease_owner = ? AND l.mission = ?
			AND l.state = 'open' AND l.lease_until > ?)`
	claimReturning = ` RETURNING ` + contactFull + `,
		EXISTS (SELECT 1 FROM opposition o WHERE o.client = ? AND o.phone = phone_bidx)`
	sqlRenewByID = `UPDATE contacts SET lease_until = ?, due_at = ? WHERE id = ?` + claimReturning
	// fmtClaimQueue: the most urgent due contact of one priority, a range
	// scan of contacts_queue.
	fmtClaimQueue = claimSet + ` WHERE id = (SELECT id FROM contacts
		WHERE mission = ? AND priority = ? AND routing = ? AND state = 'open' AND callback_at = 0 AND due_at <= ?
		ORDER BY due_at, id LIMIT 1%s)` + claimAgent + claimReturning
	// fmtReadyQueue: up to n most urgent due contacts of one priority, found
	// ahead for the claims of a batch (see queue_ready.go).
	fmtReadyQueue = `SELECT id, due_at FROM contacts
		WHERE mission = ? AND priority = ? AND routing = ? AND state = 'open' AND callback_at = 0 AND due_at <= ?
		ORDER BY due_at, id LIMIT ?%s`
	// sqlReadyAfter is fmtReadyQueue on PostgreSQL from a position in the
	// queue on (readyHints): the row comparison bounds the index scan.
	sqlReadyAfter = `SELECT id, due_at FROM contacts
		WHERE mission = ? AND priority = ? AND routing = ? AND state = 'open' AND callback_at = 0 AND due_at <= ?
		  AND due_at >= ? AND (due_at, id) > (?, ?)
		ORDER BY due_at, id LIMIT ? FOR UPDATE SKIP LOCKED`
	// sqlClaimByID leases a candidate found ahead, with the checks of
	// fmtClaimQueue.
	sqlClaimByID = claimSet + ` WHERE id = ? AND state = 'open' AND callback_at = 0 AND due_at <= ?` +
		claimAgent + claimReturning
	// fmtClaimCallback: due callbacks, this agent's first; a callback
	// reserved for another agent is theirs until the grace delay has run.
	fmtClaimCallback = claimSet + ` WHERE id = (SELECT id FROM contacts
		WHERE mission = ? AND state = 'open' AND callback_at <> 0 AND due_at <= ?
		  AND (callback_owner = 0 OR callback_owner = ? OR due_at <= ?)
		ORDER BY CASE WHEN callback_owner = ? THEN 0 ELSE 1 END, due_at, id LIMIT 1%s)` + claimAgent + claimReturning
	// sqlHold gives a candidate back, due when the rule that holds it lets go.
	sqlHold = `UPDATE contacts SET lease_owner = 0, lease_until = 0, leased_at = 0, due_at = ?, held_rule = ?
		WHERE id = ?`

	sqlPersonCalls = `SELECT at, refusal FROM person_calls WHERE client = ? AND phone = ? AND at > ? ORDER BY at`
	sqlPersonBusy  = `SELECT COALESCE(MAX(lease_until), 0) FROM contacts
		WHERE lease_owner <> 0 AND phone_bidx = ? AND lease_until > ? AND id <> ? AND state = 'open'`
	sqlInsertPersonCall = `INSERT INTO person_calls (client, phone, at, refusal, mission) VALUES (?, ?, ?, ?, ?)`
	sqlPrunePersonCalls = `DELETE FROM person_calls WHERE at <= ?`
	sqlIsOpposed        = `SELECT COUNT(*) FROM opposition WHERE client = ? AND phone = ?`

	// sqlQualify records an outcome in one statement, for the lease holder
	// only. "attempts" on the right is the value before the update; the
	// file closes on a closing outcome or at the cap (the repeated
	// "? OR attempts + ? >= ?" is closes, counted, max attempts).
	// leased_at is left as it was: the attempt row takes it from RETURNING.
	// The casts type the parameters for PostgreSQL (a bare 0 is int4).
	sqlQualify = `UPDATE contacts SET attempts = attempts + ?,
		state = CASE WHEN ? OR attempts + ? >= ? THEN 'closed' ELSE 'open' END,
		close_reason = CASE WHEN ? THEN 'outcome' WHEN attempts + ? >= ? THEN 'max_attempts' ELSE '' END,
		closed_at = CASE WHEN ? OR attempts + ? >= ? THEN CAST(? AS BIGINT) ELSE 0 END,
		callback_at = CASE WHEN ? OR attempts + ? >= ? THEN 0 ELSE CAST(? AS BIGINT) END,
		callback_owner = CASE WHEN ? OR attempts + ? >= ? THEN 0 ELSE CAST(? AS BIGINT) END,
		due_at = ?, lease_owner = 0, lease_until = 0, last_outcome = ?, last_attempt_at = ?,
		first_attempt_at = CASE WHEN first_attempt_at = 0 THEN ? ELSE first_attempt_at END, held_rule = ''
		WHERE contact_id = ? AND mission = ? AND lease_owner = ? AND state = 'open'
		RETURNING id, attempts, state, close_reason, leased_at, phone_bidx, callback_at, callback_owner`
	// sqlQualifyAll is sqlQualify with the attempt row and the person call
	// written by the same statement (PostgreSQL's data-modifying CTEs): one
	// round trip. The person call is only written when the last parameter
	// is true (consumer prospecting).
	sqlQualifyAll = `WITH u AS (` + sqlQualify + `),
		a AS (INSERT INTO contact_attempts (contact, mission, agent, at, leased_at, outcome, counted, attempt,
			closed, callback_at, comment)
			SELECT id, ?, ?, ?, leased_at, ?, ?, attempts, state = 'closed', callback_at, ? FROM u RETURNING 1),
		p AS (INSERT INTO person_calls (client, phone, at, refusal, mission)
			SELECT ?, phone_bidx, ?, ?, ? FROM u WHERE ? RETURNING 1)
		SELECT id, attempts, state, close_reason, leased_at, phone_bidx, callback_at, callback_owner FROM u`
	// sqlQualifyCheck reads what Qualify needs before deciding: who holds
	// the contact, and the number for the per-person rules of a callback.
	sqlQualifyCheck = `SELECT id, state, lease_owner, phone_bidx,
		EXISTS (SELECT 1 FROM opposition o WHERE o.client = ? AND o.phone = phone_bidx), consent_at
		FROM contacts WHERE contact_id = ? AND mission = ?`
	sqlInsertAttempt = `INSERT INTO contact_attempts (contact, mission, agent, at, leased_at, outcome, counted,
		attempt, closed, callback_at, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlHistory = `SELECT at, agent, outcome, counted, attempt, callback_at, leased_at, comment
		FROM contact_attempts WHERE contact = ? ORDER BY at, id`

	sqlRenew = `UPDATE contacts SET lease_until = ?, due_at = ?
		WHERE contact_id = ? AND mission = ? AND lease_owner = ? AND state = 'open' RETURNING lease_until`
	sqlRelease = `UPDATE contacts SET lease_owner = 0, lease_until = 0, leased_at = 0, due_at = ?
		WHERE contact_id = ? AND mission = ? AND lease_owner = ? AND state = 'open'`
	// sqlLeaseState tells, when a lease operation matched nothing, why.
	sqlLeaseState = `SELECT state, lease_owner FROM contacts WHERE contact_id = ? AND mission = ?`
	// sqlReleaseAgent gives back an agent's leases: live ones become due
	// now, expired ones are due already.
	sqlReleaseAgent = `UPDATE contacts SET lease_owner = 0, lease_until = 0, leased_at = 0,
		due_at = CASE WHEN lease_until > ? THEN ? ELSE due_at END
		WHERE lease_owner <> 0 AND lease_owner = ? AND (? = 0 OR mission = ?)`
	sqlReleaseMission = `UPDATE contacts SET lease_owner = 0, lease_until = 0, leased_at = 0,
		due_at = CASE WHEN lease_until > ? THEN lease_until ELSE due_at END
		WHERE lease_owner <> 0 AND mission = ?`
	sqlSetCallback = `UPDATE contacts SET callback_at = ?, callback_owner = ?, due_at = ?, held_rule = '',
		lease_owner = 0, lease_until = 0, leased_at = 0 WHERE id = ?`
	sqlSetConsent = `UPDATE contacts SET consent_at = ?, fields = ?,
		due_at = CASE WHEN held_rule = 'consent' THEN ? ELSE due_at END,
		held_rule = CASE WHEN held_rule = 'consent' THEN '' ELSE held_rule END
		WHERE id = ?`
	sqlUnholdClient = `UPDATE contacts SET due_at = ?, held_rule = ''
		WHERE held_rule <> '' AND held_rule = ? AND mission IN (SELECT number FROM missions WHERE client = ?)`

	sqlOppositionChecked = `SELECT COALESCE(MAX(checked_at), 0) FROM opposition_lists WHERE client = ?`
	sqlOppositionList    = `SELECT checked_at, entries FROM opposition_lists WHERE client = ?`
	sqlClearOpposition   = `DELETE FROM opposition WHERE client = ?`
	sqlCountOpposition   = `SELECT COUNT(*) FROM opposition WHERE client = ?`
	sqlUpsertOppList     = `INSERT INTO opposition_lists (client, checked_at, entries, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (client) DO UPDATE SET checked_at = excluded.checked_at, entries = excluded.entries,
		updated_at = excluded.updated_at`
	sqlDeleteOpposition     = `DELETE FROM opposition WHERE client = ? AND phone = ?`
	sqlSetOppositionEntries = `UPDATE opposition_lists SET entries = ?, updated_at = ? WHERE client = ?`

	sqlPresence        = `SELECT mission, agent, state, pause_code, site, since FROM presence WHERE mission = ? ORDER BY agent`
	sqlPresenceOfAgent = `SELECT mission, agent, state, pause_code, site, since FROM presence WHERE agent = ?
		ORDER BY mission`
	sqlPresenceOne    = `SELECT state, pause_code FROM presence WHERE mission = ? AND agent = ?`
	sqlUpsertPresence = `INSERT INTO presence (mission, agent, state, pause_code, site, since) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (mission, agent) DO UPDATE SET state = excluded.state, pause_code = excluded.pause_code,
		site = excluded.site, since = excluded.since`
	sqlInsertPresenceLog   = `INSERT INTO presence_log (mission, agent, state, pause_code, at) VALUES (?, ?, ?, ?, ?)`
	sqlAgentMissionsOnline = `SELECT mission FROM presence WHERE agent = ? AND state <> 'offline' ORDER BY mission`
	sqlPresenceLog         = `SELECT mission, agent, state, pause_code, at FROM presence_log
		WHERE mission = ? AND at >= ? AND at < ? ORDER BY at, id`
	// sqlPresenceBefore gives, per agent, the last change before an instant:
	// the state each agent was in when a report's period starts.
	sqlPresenceBefore = `SELECT l.mission, l.agent, l.state, l.pause_code, l.at FROM presence_log l
		WHERE l.mission = ? AND l.id = (SELECT l2.id FROM presence_log l2
			WHERE l2.mission = l.mission AND l2.agent = l.agent AND l2.at < ? ORDER BY l2.at DESC, l2.id DESC LIMIT 1)`

	sqlPauseCodes      = `SELECT site, code, label, position FROM pause_codes WHERE site = ? ORDER BY position, code`
	sqlUpsertPauseCode = `INSERT INTO pause_codes (site, code, label, position) VALUES (?, ?, ?, ?)
		ON CONFLICT (site, code) DO UPDATE SET label = excluded.label, position = excluded.position`
	sqlDeletePauseCode = `DELETE FROM pause_codes WHERE site = ? AND code = ?`
)

// queuePriorities lists the priorities of a mission's open queued contacts.
func queuePriorities(ctx context.Context, q db.Querier, mission int) ([]int, error) {
	rows, err := q.QueryContext(ctx, sqlQueuePriorities, mission, mission)
	if err != nil {
		return nil, fmt.Errorf("queue priorities of mission %d: %w", mission, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("queue priorities of mission %d: %w", mission, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
