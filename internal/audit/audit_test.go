package audit

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"plateau/internal/db"
	"plateau/internal/vault"
)

// t0 is the fixed instant the tests' clocks return.
var t0 = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

// newTestLog returns a Log over d with its files in a fresh folder and a
// fixed clock.
func newTestLog(t *testing.T, d *db.DB, v *vault.Vault) *Log {
	t.Helper()
	dir := t.TempDir()
	l, err := New(d, v, Options{
		CheckpointFile: filepath.Join(dir, "audit", "checkpoints.jsonl"),
		SigningKeyFile: filepath.Join(dir, "keys", "audit-signing.pem"),
		Now:            func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// sampleEvent returns the i-th test event: every column filled, values
// before and after.
func sampleEvent(i int) Event {
	return Event{
		At:         t0.Add(time.Duration(i) * time.Minute),
		Actor:      fmt.Sprintf("admin%d", i),
		Source:     fmt.Sprintf("10.0.0.%d", i),
		Agent:      "Mozilla/5.0 (Windows NT 10.0) Firefox/140.0",
		Action:     "user.roles.change",
		ObjectType: "user",
		ObjectID:   fmt.Sprintf("u%d", i),
		Before:     map[string]any{"roles": []string{"agent"}, "step": i},
		After:      map[string]any{"roles": []string{"agent", "supervisor"}, "step": i},
	}
}

// appendN appends n sample events (ids 1..n on a fresh database).
func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), sampleEvent(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

func verify(t *testing.T, l *Log) Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func wantIntact(t *testing.T, l *Log, rows int64) Report {
	t.Helper()
	rep := verify(t, l)
	if rep.Problem != nil {
		t.Fatalf("Verify found %+v on an untouched chain", *rep.Problem)
	}
	if rep.Rows != rows {
		t.Fatalf("Verify checked %d rows, want %d", rep.Rows, rows)
	}
	return rep
}

// wantProblem checks that Verify names row and that its reason contains
// every fragment.
func wantProblem(t *testing.T, l *Log, row int64, fragments ...string) {
	t.Helper()
	rep := verify(t, l)
	if rep.Problem == nil {
		t.Fatalf("Verify found nothing, want a problem at row %d", row)
	}
	if rep.Problem.Row != row {
		t.Fatalf("Verify named row %d (%s), want row %d", rep.Problem.Row, rep.Problem.Reason, row)
	}
	for _, f := range fragments {
		if !strings.Contains(rep.Problem.Reason, f) {
			t.Fatalf("Verify reason %q does not mention %q", rep.Problem.Reason, f)
		}
	}
}

func exec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// readRow reads one stored row as it is, hash included.
func readRow(t *testing.T, d *db.DB, id int64) row {
	t.Helper()
	r := row{id: id}
	err := d.QueryRowContext(context.Background(),
		`SELECT at, actor, source, agent, action, object_type, object_id, before_json, after_json, prev_hash, hash
		 FROM audit_events WHERE id = ?`, id).
		Scan(&r.at, &r.actor, &r.source, &r.agent, &r.action, &r.objectType, &r.objectID, &r.before, &r.after,
			&r.prevHash, &r.hash)
	if err != nil {
		t.Fatalf("read row %d: %v", id, err)
	}
	return r
}

// writeRow overwrites every column of row r.id, as someone with write access
// to the database could.
func writeRow(t *testing.T, d *db.DB, r row) {
	t.Helper()
	exec(t, d, `UPDATE audit_events SET at = ?, actor = ?, source = ?, agent = ?, action = ?, object_type = ?,
	    object_id = ?, before_json = ?, after_json = ?, prev_hash = ?, hash = ? WHERE id = ?`,
		r.at, r.actor, r.source, r.agent, r.action, r.objectType, r.objectID, r.before, r.after, r.prevHash, r.hash, r.id)
}

// flipText changes one ASCII letter or digit near the middle of s into
// another, keeping s valid UTF-8.
func flipText(t *testing.T, s string) string {
	t.Helper()
	b := []byte(s)
	for i := len(b) / 2; i < len(b)+len(b)/2; i++ {
		j := i % len(b)
		switch c := b[j]; {
		case c >= 'a' && c < 'z', c >= 'A' && c < 'Z', c >= '0' && c < '9':
			b[j] = c + 1
			return string(b)
		case c == 'z' || c == 'Z' || c == '9':
			b[j] = c - 1
			return string(b)
		}
	}
	t.Fatalf("no letter or digit to change in %q", s)
	return ""
}

func TestUntouchedChainVerifies(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		wantIntact(t, l, 0) // an empty chain is sound too
		appendN(t, l, 7)
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(context.Background(), Event{Action: "auth.logout"}); err != nil {
			t.Fatal(err)
		}
		rep := wantIntact(t, l, 8)
		if rep.Checkpoints != 1 {
			t.Fatalf("Verify checked %d checkpoints, want 1", rep.Checkpoints)
		}
	})
}

// Editing one byte of any column of a middle row must name that row.
func TestEditedByteNamesTheRow(t *testing.T) {
	text := func(col string) func(t *testing.T, d *db.DB) {
		return func(t *testing.T, d *db.DB) {
			var s string
			if err := d.QueryRowContext(context.Background(), "SELECT "+col+" FROM audit_events WHERE id = 3").Scan(&s); err != nil {
				t.Fatal(err)
			}
			exec(t, d, "UPDATE audit_events SET "+col+" = ? WHERE id = 3", flipText(t, s))
		}
	}
	blob := func(col string) func(t *testing.T, d *db.DB) {
		return func(t *testing.T, d *db.DB) {
			var b []byte
			if err := d.QueryRowContext(context.Background(), "SELECT "+col+" FROM audit_events WHERE id = 3").Scan(&b); err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			exec(t, d, "UPDATE audit_events SET "+col+" = ? WHERE id = 3", b)
		}
	}
	tests := []struct {
		column string
		edit   func(t *testing.T, d *db.DB)
	}{
		{"actor", text("actor")},
		{"source", text("source")},
		{"agent", text("agent")},
		{"action", text("action")},
		{"object_type", text("object_type")},
		{"object_id", text("object_id")},
		{"before_json", text("before_json")},
		{"after_json", text("after_json")},
		{"at", func(t *testing.T, d *db.DB) { exec(t, d, "UPDATE audit_events SET at = at + 1 WHERE id = 3") }},
		{"prev_hash", blob("prev_hash")},
		{"hash", blob("hash")},
	}
	for _, tt := range tests {
		t.Run(tt.column, func(t *testing.T) {
			db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
				l := newTestLog(t, d, nil)
				appendN(t, l, 5)
				tt.edit(t, d)
				wantProblem(t, l, 3, "row 3")
			})
		})
	}
}

func TestDeletedMiddleRowIsNamed(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		appendN(t, l, 5)
		exec(t, d, "DELETE FROM audit_events WHERE id = 3")
		wantProblem(t, l, 3, "row 3 is missing")
	})
}

func TestSwappedRowsAreDetected(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		appendN(t, l, 5)
		r2, r4 := readRow(t, d, 2), readRow(t, d, 4)
		r2.id, r4.id = 4, 2
		writeRow(t, d, r2)
		writeRow(t, d, r4)
		wantProblem(t, l, 2, "row 2")
	})
}

func TestTruncatedTailIsDetected(t *testing.T) {
	t.Run("via the head", func(t *testing.T) {
		db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
			l := newTestLog(t, d, nil)
			appendN(t, l, 5)
			exec(t, d, "DELETE FROM audit_events WHERE id >= 4")
			wantProblem(t, l, 4, "tail truncated", "head is row 5", "ends at 3")
		})
	})
	t.Run("via a checkpoint when the head was rewound too", func(t *testing.T) {
		db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
			l := newTestLog(t, d, nil)
			appendN(t, l, 5)
			if err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			r3 := readRow(t, d, 3)
			exec(t, d, "DELETE FROM audit_events WHERE id >= 4")
			exec(t, d, "UPDATE audit_head SET last_id = 3, last_hash = ? WHERE id = 1", r3.hash)
			wantProblem(t, l, 4, "tail truncated: checkpoint covers row 5 but the table ends at 3")
			// Signing the shortened chain would bury the evidence.
			if err := l.Checkpoint(context.Background()); err == nil {
				t.Fatal("Checkpoint signed a head behind the last checkpoint")
			}
		})
	})
}

// Someone who edits a row and recomputes every later hash (SHA-256 needs no
// key) still cannot match a signed checkpoint.
func TestRewrittenChainIsCaughtByTheCheckpoint(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		appendN(t, l, 5)
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		prev := readRow(t, d, 1).hash
		for id := int64(2); id <= 5; id++ {
			r := readRow(t, d, id)
			if id == 2 {
				r.actor = "mallory"
			}
			r.prevHash = prev
			r.hash = r.computeHash()
			writeRow(t, d, r)
			prev = r.hash
		}
		exec(t, d, "UPDATE audit_head SET last_hash = ? WHERE id = 1", prev)
		wantProblem(t, l, 5, "checkpointed")
	})
}

func TestRowBeyondTheHeadIsDetected(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		appendN(t, l, 3)
		r := readRow(t, d, 3)
		r.id, r.prevHash, r.actor = 4, r.hash, "ghost"
		r.hash = r.computeHash()
		exec(t, d, qInsertEvent, r.id, r.at, r.actor, r.source, r.agent, r.action, r.objectType, r.objectID,
			r.before, r.after, r.prevHash, r.hash)
		wantProblem(t, l, 4, "beyond the chain head")
	})
}

func TestRecordRollsBackWithTheCallersTx(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newTestLog(t, d, nil)
		boom := errors.New("boom")
		err := d.Tx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', 1)"); err != nil {
				return err
			}
			if err := l.Record(ctx, tx, Event{Action: "setting.change", ObjectType: "setting", ObjectID: "k"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want boom", err)
		}
		var events, settings, head int64
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events").Scan(&events); err != nil {
			t.Fatal(err)
		}
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM settings").Scan(&settings); err != nil {
			t.Fatal(err)
		}
		if err := d.QueryRowContext(ctx, "SELECT last_id FROM audit_head").Scan(&head); err != nil {
			t.Fatal(err)
		}
		if events != 0 || settings != 0 || head != 0 {
			t.Fatalf("after rollback: %d events, %d settings, head at %d; want nothing", events, settings, head)
		}
		wantIntact(t, l, 0)

		// The same change committed: the change and its row land together,
		// and several records in one transaction chain up.
		err = d.Tx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', 1)"); err != nil {
				return err
			}
			for range 2 {
				if err := l.Record(ctx, tx, Event{Action: "setting.change", ObjectType: "setting", ObjectID: "k"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantIntact(t, l, 2)
	})
}

func TestConcurrentAppendsKeepAContiguousChain(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		const workers, each = 8, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					e := sampleEvent(w*each + i)
					if err := l.Append(context.Background(), e); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		// Checkpoints and verifications racing the appenders must vouch for
		// real heads and raise no false alarm.
		wg.Go(func() {
			for range 5 {
				if err := l.Checkpoint(context.Background()); err != nil {
					errs <- err
				}
				rep, err := l.Verify(context.Background())
				switch {
				case err != nil:
					errs <- err
				case rep.Problem != nil:
					errs <- fmt.Errorf("Verify during appends: row %d: %s", rep.Problem.Row, rep.Problem.Reason)
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantIntact(t, l, workers*each)
	})
}

func TestActorComesFromTheContext(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		l := newTestLog(t, d, nil)
		ctx := WithActor(context.Background(), Actor{Login: "alice", Source: "192.0.2.7", Agent: "POSTE-042"})
		if err := l.Append(ctx, Event{Action: "auth.login"}); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(ctx, Event{Action: "user.create", Actor: "bob"}); err != nil {
			t.Fatal(err)
		}
		// Hostile client text must not make the row fail on either engine.
		if err := l.Append(ctx, Event{Action: "auth.login.failed", Agent: "bad\x00\xff" + strings.Repeat("x", 5000)}); err != nil {
			t.Fatal(err)
		}
		got, err := l.List(context.Background(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("List returned %d entries, want 3", len(got))
		}
		a, b, c := got[2], got[1], got[0]
		if a.Actor != "alice" || a.Source != "192.0.2.7" || a.Agent != "POSTE-042" || !a.At.Equal(t0) {
			t.Fatalf("first entry %+v: actor, source, agent and time should come from the context and clock", a)
		}
		if b.Actor != "bob" || b.Source != "192.0.2.7" {
			t.Fatalf("second entry %+v: an explicit actor wins, the rest comes from the context", b)
		}
		if len(c.Agent) > maxField || strings.ContainsRune(c.Agent, 0) {
			t.Fatalf("third entry's agent was stored unbounded or with a NUL (%d bytes)", len(c.Agent))
		}
		wantIntact(t, l, 3)
	})
}

func TestAppendRejectsAnEventWithoutAction(t *testing.T) {
	d := db.OpenTestSQLite(t)
	l := newTestLog(t, d, nil)
	if err := l.Append(context.Background(), Event{}); err == nil {
		t.Fatal("Append accepted an event without an action")
	}
	if err := l.Append(context.Background(), Event{Action: "x", Before: map[string]any{"email": "a@b.fr"}, Personal: []string{"email"}}); err == nil {
		t.Fatal("Append stored a personal value without a vault to seal it")
	}
	wantIntact(t, l, 0)
}
