package db

import (
	"strings"
	"testing"
)

// DB.Rebind caches what rebind computes, gives the same answer from the
// cache, and stops caching at maxRebound statements while still rebinding.
func TestRebindCacheIsBoundedAndAgrees(t *testing.T) {
	d := &DB{engine: Postgres}
	q := "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?" + strings.Repeat(" AND d = ?", 10)
	want := rebind(Postgres, q)
	if !strings.Contains(want, "$13") || strings.Contains(want, "?") {
		t.Fatalf("rebind gave %q", want)
	}
	for range 3 {
		if got := d.Rebind(q); got != want {
			t.Fatalf("Rebind = %q, want %q", got, want)
		}
	}
	for i := range maxRebound + 100 {
		q := "SELECT ? FROM t" + strings.Repeat(" ", i)
		if got := d.Rebind(q); got != "SELECT $1 FROM t"+strings.Repeat(" ", i) {
			t.Fatalf("statement %d: Rebind = %q", i, got)
		}
	}
	n := 0
	d.rebound.Range(func(any, any) bool { n++; return true })
	if n > maxRebound {
		t.Fatalf("%d statements cached, bound %d", n, maxRebound)
	}
	if got := (&DB{engine: SQLite}).Rebind(q); got != q {
		t.Fatalf("SQLite Rebind changed the query: %q", got)
	}
}
