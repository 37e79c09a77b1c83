package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"plateau/internal/db"
	"plateau/internal/vault"
)

func newTestVault(t *testing.T, d *db.DB) *vault.Vault {
	t.Helper()
	v, err := vault.New(context.Background(), d, vault.Options{
		KeyFile: filepath.Join(t.TempDir(), "keys", "master.key"),
	})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	return v
}

func TestPersonalValuesAreSealed(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		// Sealing inside the caller's transaction must not wait for itself
		// (SQLite's single writer); the deadline turns a hang into a failure.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v := newTestVault(t, d)
		l := newTestLog(t, d, v)
		e := Event{
			Action:     "user.update",
			ObjectType: "user",
			ObjectID:   "42",
			Before:     map[string]any{"email": "jean.dupont@example.fr", "role": "agent"},
			After:      map[string]any{"email": "j.dupont@example.fr", "role": "supervisor", "phone": "+33612345678"},
			Personal:   []string{"email", "phone"},
		}
		err := d.Tx(ctx, func(tx *db.Tx) error { return l.Record(ctx, tx, e) })
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		if err := l.Append(ctx, e); err != nil {
			t.Fatalf("Append: %v", err)
		}

		r := readRow(t, d, 1)
		for _, personal := range []string{"dupont", "33612345678"} {
			if strings.Contains(r.before+r.after, personal) {
				t.Fatalf("stored row holds %q in clear: %s %s", personal, r.before, r.after)
			}
		}
		if !strings.Contains(r.before, `"role":"agent"`) {
			t.Fatalf("a value not listed as personal was sealed: %s", r.before)
		}

		// The sealed value opens, bound to its row and column only.
		var stored struct {
			Email map[string]string `json:"email"`
		}
		if err := json.Unmarshal([]byte(r.before), &stored); err != nil {
			t.Fatalf("before_json %s: %v", r.before, err)
		}
		ct, err := base64.StdEncoding.DecodeString(stored.Email[sealedKey])
		if err != nil {
			t.Fatal(err)
		}
		plain, err := v.Open(ctx, ct, vault.AD{Table: "audit_events", Column: "before", Row: "1"})
		if err != nil || string(plain) != `"jean.dupont@example.fr"` {
			t.Fatalf("Open = %q, %v", plain, err)
		}
		if _, err := v.Open(ctx, ct, vault.AD{Table: "audit_events", Column: "before", Row: "2"}); err == nil {
			t.Fatal("a sealed value opened for another row")
		}

		got, err := l.List(ctx, Filter{ObjectType: "user", ObjectID: "42"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("List returned %d entries, want 2", len(got))
		}
		for _, en := range got {
			if en.Before != `{"email":"[sealed]","role":"agent"}` ||
				en.After != `{"email":"[sealed]","phone":"[sealed]","role":"supervisor"}` {
				t.Fatalf("entry %d shows before %s after %s", en.ID, en.Before, en.After)
			}
		}
		wantIntact(t, l, 2)
	})
}

// The real database file, changed by another program through its own
// connection: Verify must name the row.
func TestVerifyCatchesAnEditOfTheSQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "plateau.db")
	d, err := db.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	l := newTestLog(t, d, nil)
	appendN(t, l, 5)
	wantIntact(t, l, 5)

	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := raw.ExecContext(ctx, `UPDATE audit_events SET actor = 'b' || substr(actor, 2) WHERE id = 3`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("the edit changed %d rows", n)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, l, 3, "row 3 was altered")
}
