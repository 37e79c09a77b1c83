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
	// asyncCommit runs first in a transaction that only holds leases. On
	// PostgreSQL it makes the commit asynchronous: a lease lost in a crash
	// is harmless (the contact simply becomes due again), and not waiting
	// for the WAL flush is most of a claim's cost. Transactions that record
	// outcomes keep synchronous commits: an outcome must not be lost.
	asyncCommit string
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
	// batcher): one on SQLite, whose writes are serial anyway.
	writers int
}

func dialectOf(e db.Engine) dialect {
	if e == db.Postgres {
		return dialect{
			claimQueue:    fmt.Sprintf(fmtClaimQueue, " FOR UPDATE SKIP LOCKED"),
			claimCallback: fmt.Sprintf(fmtClaimCallback, " FOR UPDATE SKIP LOCKED"),
			asyncCommit:   `SET LOCAL synchronous_commit = off`,
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
		prepare:       true,
		writers:       1,
	}
}
