package campaign

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// The queue's writes (claims, qualifications, lease renewals and releases)
// go through a batcher: operations that arrive while a transaction is
// running wait for it, then run together in the next one. This is group
// commit at the application level. Under load one commit (one WAL write on
// SQLite, one fsync on PostgreSQL) and one hold of the audit chain's head
// serve many operations; with a single agent nothing waits.
//
// Inside a batch each operation does its row work in turn; then the live
// view's counts are updated, once, and the audit events of all the
// operations are recorded, last: the audit head is the one row every
// transaction locks, so it is taken once the contact rows are, and never
// held while waiting for one (no lock-order cycle between batches).
//
// An operation ends with nil, a domain error (ErrNotLeased, a RuleError...)
// that keeps its writes (a claim that held candidates back and found none
// commits those holds), or a database error, which rolls the whole batch
// back; the batch's operations then run again one per transaction so that
// only the faulty one fails.

// maxBatch bounds the operations of one transaction.
const maxBatch = 64

// batchTimeout bounds a batch's transaction: it serves many callers, so no
// single caller's context may cancel it.
const batchTimeout = 30 * time.Second

// writeOp is one queue operation.
type writeOp struct {
	ctx context.Context // the caller's: its values (audit actor); cancellation only before it starts
	// durable: the operation records an outcome, which must be durable
	// before it returns (a synchronous commit, or on PostgreSQL an
	// asynchronous one followed by a shared WAL flush).
	durable bool
	// claimOn is the mission of a claim (0: not a claim): a batch finds
	// its claims' candidates ahead (see queue_ready.go).
	claimOn int
	// run does the row work in the batch's transaction and returns the
	// audit events to record. It may run more than once (after a
	// rolled-back batch); it must set its results afresh each time.
	run  func(ctx context.Context, tx *batchTx) ([]audit.Event, error)
	err  error
	done chan struct{}
}

// batcher runs writeOps in shared transactions, at most `writers` at once.
//
// Lease operations (claims, renewals, releases) and outcomes queue apart and
// never share a transaction: a lease commits asynchronously on PostgreSQL
// and must not wait for an outcome's WAL flush, and an agent waiting for
// the next contact is served in the next transaction rather than after the
// outcomes queued before. When both queues wait, the writers alternate
// between them, so neither starves.
type batcher struct {
	s       *Service
	writers int

	mu      sync.Mutex
	pending [2][]*writeOp // 0: leases, 1: outcomes (durable)
	turn    int           // the queue served next when both wait
	running int

	// flush makes outcomes durable after an asynchronous commit
	// (PostgreSQL, see dialect.flushWAL).
	flush walFlusher
	// readyScans counts the scans for claims' candidates ahead (tests).
	readyScans atomic.Int64
	// hints: where those scans stopped (queue_ready.go).
	hints readyHints
}

// do runs op and returns its error once its transaction is over.
func (b *batcher) do(op *writeOp) error {
	op.done = make(chan struct{})
	q := 0
	if op.durable {
		q = 1
	}
	b.mu.Lock()
	b.pending[q] = append(b.pending[q], op)
	if b.running < b.writers {
		b.running++
		go b.lead()
	}
	b.mu.Unlock()
	<-op.done
	return op.err
}

// lead runs batches until nothing is pending.
func (b *batcher) lead() {
	for {
		b.mu.Lock()
		q := b.turn
		switch {
		case len(b.pending[0]) == 0 && len(b.pending[1]) == 0:
			b.running--
			b.mu.Unlock()
			return
		case len(b.pending[q]) == 0:
			q = 1 - q
		default:
			b.turn = 1 - q
		}
		n := min(len(b.pending[q]), maxBatch)
		batch := make([]*writeOp, n)
		copy(batch, b.pending[q])
		b.pending[q] = append(b.pending[q][:0], b.pending[q][n:]...)
		b.mu.Unlock()
		b.run(batch)
	}
}

func (b *batcher) run(batch []*writeOp) {
	if err := b.s.runBatchRetrying(batch); err != nil {
		if len(batch) == 1 {
			batch[0].err = err
		} else {
			b.s.log.Warn("campaign: batch of queue operations rolled back; running them one by one",
				"operations", len(batch), "error", err.Error())
			for _, op := range batch {
				if err := b.s.runBatchRetrying([]*writeOp{op}); err != nil {
					op.err = err
				}
			}
		}
	}
	if batch[0].durable && b.s.q.flushWAL != "" {
		// The writer goes on with the next batch while this one's
		// outcomes wait for the WAL flush.
		go func() {
			b.s.flushed(batch)
			for _, op := range batch {
				close(op.done)
			}
		}()
		return
	}
	for _, op := range batch {
		close(op.done)
	}
}

// isDomainError says whether err is an outcome of the operation rather than
// a failure of the database: such errors keep the batch going.
func isDomainError(err error) bool {
	var re *RuleError
	return errors.Is(err, ErrNothingToCall) || errors.Is(err, ErrNotInService) || errors.Is(err, ErrNotLeased) ||
		errors.Is(err, ErrClosed) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrLeasedByOther) ||
		errors.As(err, &re)
}

// transientRetries bounds how many times a batch PostgreSQL rolled back to
// break a deadlock runs again (concurrent writers lock contacts in the
// order their scans find them).
const transientRetries = 5

// runBatchRetrying is runBatch, run again while the database rolls it back
// for a deadlock or a serialization conflict: the operations are written
// to be run again from the start.
func (s *Service) runBatchRetrying(ops []*writeOp) error {
	var err error
	for range transientRetries {
		if err = s.runBatch(ops); !db.IsTransient(err) {
			return err
		}
	}
	return err
}

// runBatch runs ops in one transaction; an error means it rolled back.
func (s *Service) runBatch(ops []*writeOp) error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	durable := false
	for _, op := range ops {
		durable = durable || op.durable
	}
	// Outcomes must survive a crash of the machine, not only of the
	// process: on SQLite their commit syncs the WAL (TxSync); PostgreSQL
	// flushes its WAL after an asynchronous commit (see batcher.run).
	txFn := s.d.Tx
	if durable && s.q.flushWAL == "" {
		txFn = s.d.TxSync
	}
	return txFn(ctx, func(dtx *db.Tx) error {
		tx := &batchTx{Tx: dtx, prepare: s.q.prepare, scans: &s.batch.readyScans}
		for _, op := range ops {
			if op.claimOn != 0 {
				if tx.claimsLeft == nil {
					tx.claimsLeft = make(map[int]int)
				}
				tx.claimsLeft[op.claimOn]++
			}
		}
		if s.q.asyncCommit != "" && (!durable || s.q.flushWAL != "") {
			if _, err := tx.ExecContext(ctx, s.q.asyncCommit); err != nil {
				return fmt.Errorf("asynchronous commit: %w", err)
			}
		}
		var events []audit.Event
		for _, op := range ops {
			op.err = nil
			if err := op.ctx.Err(); err != nil {
				op.err = err // gave up while waiting: not started
				continue
			}
			octx := context.WithoutCancel(op.ctx)
			evs, err := op.run(octx, tx)
			if err != nil && !isDomainError(err) {
				return err
			}
			op.err = err
			// Each operation's actor comes with its own context; the
			// batch records every event at once.
			a := audit.ActorFrom(octx)
			for _, e := range evs {
				e.Actor = cmp.Or(e.Actor, a.Login)
				e.Source = cmp.Or(e.Source, a.Source)
				e.Agent = cmp.Or(e.Agent, a.Agent)
				if e.At.IsZero() {
					e.At = s.now()
				}
				events = append(events, e)
			}
		}
		if err := tx.counts.apply(ctx, tx); err != nil {
			return err
		}
		if len(events) > 0 {
			if err := s.a.RecordAll(ctx, dtx, events); err != nil {
				return fmt.Errorf("audit %d queue events: %w", len(events), err)
			}
		}
		return nil
	})
}

// flushed returns once the outcomes of batch, committed asynchronously, are
// durable. A batch that committed must not run again, so a failed flush is
// each operation's error.
func (s *Service) flushed(batch []*writeOp) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := s.batch.flush.wait(ctx, s); err != nil {
		err = fmt.Errorf("outcome committed, but not confirmed durable: %w", err)
		for _, op := range batch {
			if op.err == nil {
				op.err = err
			}
		}
	}
}

// walFlusher runs flushWAL transactions, one at a time: callers that arrive
// while one runs wait for the next, which serves them all (a flush started
// after a caller's commit covers it; one started before may not).
type walFlusher struct {
	mu      sync.Mutex
	running bool
	waiting []chan error
	// runs counts the flush transactions run (tests).
	runs atomic.Int64
}

// wait returns once every transaction this goroutine committed before
// calling it is durable.
func (f *walFlusher) wait(ctx context.Context, s *Service) error {
	ch := make(chan error, 1)
	f.mu.Lock()
	f.waiting = append(f.waiting, ch)
	if !f.running {
		f.running = true
		go f.loop(s)
	}
	f.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *walFlusher) loop(s *Service) {
	for {
		f.mu.Lock()
		batch := f.waiting
		f.waiting = nil
		if len(batch) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		f.runs.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		err := s.d.Tx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = on`); err != nil {
				return err
			}
			var lsn string
			return tx.QueryRowContext(ctx, s.q.flushWAL).Scan(&lsn)
		})
		cancel()
		if err != nil {
			err = fmt.Errorf("flush the WAL: %w", err)
		}
		for _, ch := range batch {
			ch <- err
		}
	}
}

// batchTx is a batch's transaction. On SQLite, which parses a statement at
// every call, the statements the operations of a batch repeat are prepared
// once per transaction (and closed with it); PostgreSQL's driver already
// keeps them prepared per connection.
type batchTx struct {
	*db.Tx
	prepare bool
	stmts   map[string]*sql.Stmt
	// counts collects the operations' changes to the live view's counts,
	// written once at the end of the batch.
	counts counter
	// claimsLeft counts, per mission, the batch's claims not yet started;
	// ready holds the candidates found ahead for them (queue_ready.go).
	claimsLeft map[int]int
	ready      map[readyKey]*readyTier
	scans      *atomic.Int64 // batcher.readyScans
}

func (t *batchTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if !t.prepare {
		return nil
	}
	if st, ok := t.stmts[query]; ok {
		return st
	}
	st, err := t.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call below reports the error
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	t.stmts[query] = st
	return st
}

// QueryRowContext runs a query of the batch, prepared once on SQLite.
func (t *batchTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// QueryContext runs a query of the batch, prepared once on SQLite.
func (t *batchTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// ExecContext runs a statement of the batch, prepared once on SQLite.
func (t *batchTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}
