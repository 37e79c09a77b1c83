package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"plateau/internal/db"
	"plateau/internal/vault"
)

// RecordAll chains its events after the ones already there, exactly as the
// same events recorded one by one would be: contiguous ids, each row's
// values, personal values sealed to their own row, a chain Verify accepts.
func TestRecordAllChainsEventsLikeRecord(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := WithActor(context.Background(), Actor{Login: "batch", Source: "local"})
		v := newTestVault(t, d)
		l := newTestLog(t, d, v)
		appendN(t, l, 3)
		const n = 2*insertChunk + 7 // several multi-row INSERTs
		events := make([]Event, n)
		for i := range events {
			events[i] = sampleEvent(4 + i)
		}
		events[5].Actor = "" // filled from the context
		events[9].Before = map[string]any{"email": "jean.dupont@example.fr"}
		events[9].Personal = []string{"email"}
		if err := d.Tx(ctx, func(tx *db.Tx) error { return l.RecordAll(ctx, tx, events) }); err != nil {
			t.Fatalf("RecordAll: %v", err)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error { return l.RecordAll(ctx, tx, nil) }); err != nil {
			t.Fatalf("RecordAll of nothing: %v", err)
		}
		wantIntact(t, l, 3+n)
		for i, e := range events {
			id := int64(4 + i)
			r := readRow(t, d, id)
			want := e.Actor
			if want == "" {
				want = "batch"
			}
			if r.actor != want || r.objectID != e.ObjectID || r.at != db.Millis(e.At) || r.action != e.Action {
				t.Fatalf("row %d: actor %q object %q at %d action %q, want event %d", id, r.actor, r.objectID, r.at, r.action, i)
			}
		}
		// The sealed value opens bound to its own row only.
		r := readRow(t, d, 4+9)
		var before map[string]map[string]string
		if err := json.Unmarshal([]byte(r.before), &before); err != nil {
			t.Fatal(err)
		}
		ct, err := base64.StdEncoding.DecodeString(before["email"][sealedKey])
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := v.Open(ctx, ct, vault.AD{Table: auditTable, Column: "before", Row: strconv.Itoa(13)}); err != nil || string(plain) != `"jean.dupont@example.fr"` {
			t.Fatalf("sealed value of row 13: %q, %v", plain, err)
		}
		// One more event one by one continues the chain.
		if err := l.Append(ctx, sampleEvent(200)); err != nil {
			t.Fatal(err)
		}
		wantIntact(t, l, 4+n)
	})
}

// A rolled-back transaction takes its RecordAll rows with it, and an event
// without action fails the whole call.
func TestRecordAllRollsBackWithTheCallersTx(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newTestLog(t, d, nil)
		appendN(t, l, 2)
		boom := errors.New("boom")
		err := d.Tx(ctx, func(tx *db.Tx) error {
			if err := l.RecordAll(ctx, tx, []Event{sampleEvent(3), sampleEvent(4)}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		err = d.Tx(ctx, func(tx *db.Tx) error {
			return l.RecordAll(ctx, tx, []Event{sampleEvent(3), {ObjectType: "user"}})
		})
		if err == nil {
			t.Fatal("an event without action was recorded")
		}
		wantIntact(t, l, 2)
		if err := l.Append(ctx, sampleEvent(3)); err != nil {
			t.Fatal(err)
		}
		wantIntact(t, l, 3)
	})
}
