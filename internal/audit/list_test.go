package audit

import (
	"context"
	"slices"
	"testing"
	"time"

	"plateau/internal/db"
)

func TestListFilters(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newTestLog(t, d, nil)
		events := []Event{
			{Actor: "alice", Action: "auth.login", ObjectType: "user", ObjectID: "1"},             // 1
			{Actor: "bob", Action: "auth.login.failed", ObjectType: "user", ObjectID: "2"},        // 2
			{Actor: "alice", Action: "user.roles.change", ObjectType: "user", ObjectID: "2"},      // 3
			{Actor: "system", Action: "authz.check", ObjectType: "session", ObjectID: "9"},        // 4
			{Actor: "alice", Action: "AUTH.login", ObjectType: "user", ObjectID: "1"},             // 5
			{Actor: "bob", Action: "auth_x.import", ObjectType: "batch", ObjectID: "100%"},        // 6
			{Actor: "Alice", Action: "authXx.import", ObjectType: "batch", ObjectID: "100"},       // 7
			{Actor: "alice' OR '1'='1", Action: "auth.logout", ObjectType: "user", ObjectID: "1"}, // 8
		}
		for i, e := range events {
			e.At = t0.Add(time.Duration(i) * time.Minute)
			if err := l.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			f    Filter
			want []int64
		}{
			{"everything, newest first", Filter{}, []int64{8, 7, 6, 5, 4, 3, 2, 1}},
			{"actor is exact", Filter{Actor: "alice"}, []int64{5, 3, 1}},
			{"actor is a value, not SQL", Filter{Actor: "alice' OR '1'='1"}, []int64{8}},
			{"action prefix, case-sensitive", Filter{Action: "auth."}, []int64{8, 2, 1}},
			{"action prefix wildcards are literal", Filter{Action: "auth_"}, []int64{6}},
			{"full action", Filter{Action: "auth.login.failed"}, []int64{2}},
			{"object type", Filter{ObjectType: "batch"}, []int64{7, 6}},
			{"object id is exact", Filter{ObjectType: "batch", ObjectID: "100"}, []int64{7}},
			{"object", Filter{ObjectType: "user", ObjectID: "2"}, []int64{3, 2}},
			{"time is half-open", Filter{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []int64{3, 2}},
			{"page before an id", Filter{BeforeID: 3}, []int64{2, 1}},
			{"limit", Filter{Limit: 2}, []int64{8, 7}},
			{"page and limit", Filter{BeforeID: 7, Limit: 2, Actor: "bob"}, []int64{6, 2}},
			{"nothing", Filter{Actor: "carol"}, nil},
		}
		for _, tt := range tests {
			got, err := l.List(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var ids []int64
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("%s: ids %v, want %v", tt.name, ids, tt.want)
			}
		}
		got, err := l.List(ctx, Filter{ObjectType: "session"})
		if err != nil || len(got) != 1 {
			t.Fatalf("List = %v, %v", got, err)
		}
		if e := got[0]; e.Actor != "system" || !e.At.Equal(t0.Add(3*time.Minute)) || e.At.Location() != time.UTC ||
			e.Before != "" || e.After != "" {
			t.Fatalf("entry %+v does not round-trip", e)
		}
	})
}

func TestListPageSizes(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newTestLog(t, d, nil)
		err := d.Tx(ctx, func(tx *db.Tx) error {
			for range maxLimit + 5 {
				if err := l.Record(ctx, tx, Event{Action: "contact.view"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ limit, want int }{{0, defaultLimit}, {-1, defaultLimit}, {5000, maxLimit}, {7, 7}} {
			got, err := l.List(ctx, Filter{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("Limit %d: %d entries, want %d", tt.limit, len(got), tt.want)
			}
		}
		wantIntact(t, l, maxLimit+5)
	})
}
