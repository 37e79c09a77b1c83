package campaign

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// A database error in one operation of a batch must not fail the others:
// the batch rolls back and its operations run again one by one.
func TestBatchIsolatesAFailingOperation(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		insert := func(key string) *writeOp {
			return &writeOp{ctx: asAdmin, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
				_, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, 'v', 0)", key)
				return []audit.Event{{Action: "test.insert", ObjectID: key}}, err
			}}
		}
		domain := &writeOp{ctx: ctx, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
			return nil, ErrNothingToCall
		}}
		ops := []*writeOp{insert("a"), insert("a"), insert("b"), domain} // the second "a" violates the key
		for _, op := range ops {
			op.done = make(chan struct{})
		}
		e.svc.batch.run(ops)
		if ops[0].err != nil || ops[1].err == nil || !db.IsUniqueViolation(ops[1].err) || ops[2].err != nil ||
			!errors.Is(ops[3].err, ErrNothingToCall) {
			t.Fatalf("errors = %v / %v / %v / %v", ops[0].err, ops[1].err, ops[2].err, ops[3].err)
		}
		var n int
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM settings WHERE key IN ('a', 'b')").Scan(&n); err != nil || n != 2 {
			t.Fatalf("rows = %d, %v", n, err)
		}
		if l, _ := e.log.List(ctx, audit.Filter{Action: "test.insert"}); len(l) != 2 {
			t.Fatalf("%d audit events, want 2 (the failed one is not recorded)", len(l))
		}
	})
}

// Many concurrent operations end up in shared transactions, and each gets
// its own result.
func TestBatchGroupsConcurrentOperations(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		const n = 200
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.svc.batch.do(&writeOp{ctx: ctx, run: func(ctx context.Context, tx *batchTx) ([]audit.Event, error) {
					if i%10 == 0 {
						return nil, ErrNotLeased
					}
					_, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, 'v', 0)", fmt.Sprint("k", i))
					return nil, err
				}})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if (i%10 == 0) != errors.Is(err, ErrNotLeased) || (i%10 != 0 && err != nil) {
				t.Fatalf("op %d: %v", i, err)
			}
		}
		var got int
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM settings WHERE key LIKE 'k%'").Scan(&got); err != nil || got != n-n/10 {
			t.Fatalf("rows = %d, %v", got, err)
		}
	})
}
