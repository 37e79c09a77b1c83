package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plateau/internal/db"
)

// TestNoPhoneNumberInClearInTheDatabaseFile loads a file into SQLite, then
// reads the database file and its WAL byte by byte: no phone number of the
// file may appear in any written form (as received, E.164 with or without
// '+', national), nor any e-mail address. Contacts, quarantined records
// and the archived original are all sealed.
func TestNoPhoneNumberInClearInTheDatabaseFile(t *testing.T) {
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
	e := newDBEnv(t, d, envOptions{chunk: 500})
	e.mission26(t)
	data := leadFile(t, 3000, 51)
	res := e.ingest(t, 26, "leads.csv", data, IngestOptions{})
	if res.Summary.Quarantined == 0 {
		t.Fatal("the file should have quarantined records too")
	}
	phones, emails := personalValues(t, data)
	if len(phones) < 5000 || len(emails) < 2500 {
		t.Fatalf("only %d phones and %d e-mail addresses to look for", len(phones), len(emails))
	}

	look := func(what string, b []byte) {
		t.Helper()
		runs := digitRuns(b)
		for p := range phones {
			if runs[p] {
				t.Fatalf("phone number %s found in clear in the %s", p, what)
			}
		}
		for m := range emailsIn(b) {
			if emails[m] {
				t.Fatalf("e-mail address %s found in clear in the %s", m, what)
			}
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return b
	}
	wal := read(path + "-wal")
	if len(wal) == 0 {
		t.Fatal("expected a WAL before the checkpoint")
	}
	look("WAL", wal)
	look("database file before the checkpoint", read(path))
	if _, err := d.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	main := read(path)
	if len(main) < len(data) {
		t.Fatalf("the database file (%d bytes) is smaller than the archived original (%d)", len(main), len(data))
	}
	look("database file", main)
	look("WAL after the checkpoint", read(path+"-wal"))
}

// personalValues returns every phone number of a file in the forms it may
// be written in (digits only, so "+33..." is found through "33..."), and
// its e-mail addresses.
func personalValues(t *testing.T, data []byte) (map[string]bool, map[string]bool) {
	t.Helper()
	p, err := LoadProfile(referenceYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPipeline(p, bytes.NewReader(data), Options{ReceivedAt: receivedAt})
	if err != nil {
		t.Fatal(err)
	}
	phones := map[string]bool{}
	emails := map[string]bool{}
	addDigits := func(s string) {
		var b strings.Builder
		for _, c := range s {
			if c >= '0' && c <= '9' {
				b.WriteRune(c)
			}
		}
		if d := b.String(); len(d) >= 9 {
			phones[d] = true
		}
	}
	for {
		it, err := pl.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r := it.Record; r != nil {
			for i, f := range p.Fields {
				v := r.Values[i]
				switch f.Type {
				case TypePhone:
					addDigits(v.Raw)
					if v.Phone.E164 != "" {
						addDigits(v.Phone.E164)
						addDigits(v.Phone.National())
					}
				case TypeEmail:
					if strings.Contains(v.Raw, "@") {
						emails[v.Raw] = true
					}
				}
			}
			continue
		}
		q := it.Quarantined
		for _, i := range []int{4, 12} { // the lead's and the hearing center's phones
			if i < len(q.Fields) {
				addDigits(q.Fields[i])
			}
		}
	}
	return phones, emails
}

// digitRuns returns every run of 9 to 15 ASCII digits in b, and every
// such substring of a longer run.
func digitRuns(b []byte) map[string]bool {
	runs := map[string]bool{}
	for i := 0; i < len(b); {
		if b[i] < '0' || b[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if run := b[i:j]; len(run) >= 9 {
			for s := 0; s < len(run); s++ {
				for l := 9; l <= 15 && s+l <= len(run); l++ {
					runs[string(run[s:s+l])] = true
				}
			}
		}
		i = j
	}
	return runs
}

// emailsIn returns every string of b that looks like an e-mail address,
// whatever bytes surround it.
func emailsIn(b []byte) map[string]bool {
	local := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+-", c) >= 0
	}
	out := map[string]bool{}
	for i := bytes.IndexByte(b, '@'); i >= 0; {
		l := i
		for l > 0 && i-l < 64 && local(b[l-1]) {
			l--
		}
		r := i + 1
		for r < len(b) && r-i < 256 && local(b[r]) && b[r] != '+' && b[r] != '_' {
			r++
		}
		for s := l; s < i; s++ {
			for e := i + 2; e <= r; e++ {
				out[string(b[s:e])] = true
			}
		}
		next := bytes.IndexByte(b[i+1:], '@')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return out
}
