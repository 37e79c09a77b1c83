package campaign

import (
	"fmt"

	"plateau/internal/db"
)

// dialect holds the few statements of the queue that differ per engine.
//
// SQLite runs every write transaction alone (BEGIN IMMEDIATE on the single
// writer connection): the UPDATE ... RETURNING that finds and leases a
// candidate cannot race with another claim. PostgreSQL runs claims side by
// side: the subquery that picks the candidate locks it with FOR UPDATE SKIP
// LOCKED, so concurrent claims pass over each other's rows instead of
// waiting or leasing the same one.
type dialect struct {
	// claimQueue and claimCallback find, lease and return a candidate.
	claimQueue    string
	claimCallback string
	// readyQueue finds (and on PostgreSQL locks) the candidates of a
	// batch's claims ahead (see queue_ready.go).
	readyQueue string
	// readyAfter is readyQueue from a position (PostgreSQL; see
	// readyHints).
	readyAfter string
	// readyMin is how many claims of a batch on a mission, counting the
	// one about to run, make it find its candidates ahead: on SQLite two
	// (a lone claim's one statement is cheaper), on PostgreSQL one (a scan
	// from the hint costs less than the walk from the head of the queue).
	readyMin int
	// asyncCommit runs first in every batch's transaction. On PostgreSQL it
	// makes the commit asynchronous: a lease lost in a crash is harmless
	// (the contact simply becomes due again), and not waiting for the WAL
	// flush is most of a claim's cost. An outcome must not be lost: a batch
	// that records outcomes is followed by flushWAL before any of its
	// callers is answered.
	//
	// It also turns bitmap scans off for the batch. Every claim checks
	// that the agent holds no live lease (the NOT EXISTS of claimAgent),
	// through contacts_lease, where each past lease of the agent left a
	// dead entry; a bitmap scan visits the heap page of every one of them
	// at every claim (446 pages, 0.6 ms, for an agent's 450 calls), while
	// an index scan marks them dead on its way and the next check skips
	// them (2 pages). The batch's other statements use index scans anyway.
	asyncCommit string
	// flushWAL, run in a synchronous transaction of its own, writes a WAL
	// record and so makes the commit wait for the WAL to be flushed up to
	// it: every transaction committed before it started is durable once it
	// returns. An outcome batch thus releases its row locks (the live
	// view's counts, the audit chain's head: rows every batch takes) at
	// once, instead of holding them through its own flush; and concurrent
	// batches share one flush. (A transaction that writes no WAL, such as
	// "SELECT pg_current_xact_id()", does not wait for the flush.)
	flushWAL string
	// lockRow ends a read of one contact that the transaction then updates.
	lockRow string
	// lockPerson serialises, on PostgreSQL, the claims of two files of the
	// same person (two missions of a client), so that the per-person cap
	// and "person busy" checks cannot both pass; the key is the first 8
	// bytes of the number's blind index.
	lockPerson string
	// lockPresence ends the read of an agent's presence row before it is
	// changed.
	lockPresence string
	// qualifyAll, when set, records an outcome, its attempt and its person
	// call in one statement (see sqlQualifyAll); otherwise three.
	qualifyAll string
	// prepare: prepare a batch's repeated statements (see batchTx).
	prepare bool
	// writers is how many batches of queue operations may run at once (see
	// batcher): one on SQLite, whose writes are serial anyway; four on
	// PostgreSQL, whose CPU two left idle while they waited for round
	// trips (bench/RESULTS.md, 1,382 against 1,499 claims/s).
	writers int
}

func dialectOf(e db.Engine) dialect {
	if e == db.Postgres {
		return dialect{
			claimQueue:    fmt.Sprintf(fmtClaimQueue, " FOR UPDATE SKIP LOCKED"),
			claimCallback: fmt.Sprintf(fmtClaimCallback, " FOR UPDATE SKIP LOCKED"),
			readyQueue:    fmt.Sprintf(fmtReadyQueue, " FOR UPDATE SKIP LOCKED"),
			readyAfter:    sqlReadyAfter,
			readyMin:      1,
			asyncCommit:   `SET LOCAL synchronous_commit = off; SET LOCAL enable_bitmapscan = off`,
			flushWAL:      `SELECT pg_logical_emit_message(true, 'plateau', 'flush')`,
			lockRow:       ` FOR UPDATE`,
			lockPerson:    `SELECT pg_advisory_xact_lock(?)`,
			lockPresence:  ` FOR UPDATE`,
			qualifyAll:    sqlQualifyAll,
			writers:       4,
		}
	}
	return dialect{
		claimQueue:    fmt.Sprintf(fmtClaimQueue, ""),
		claimCallback: fmt.Sprintf(fmtClaimCallback, ""),
		readyQueue:    fmt.Sprintf(fmtReadyQueue, ""),
		readyMin:      2,
		prepare:       true,
		writers:       1,
	}
}
