package campaign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"plateau/internal/db"
)

// Benchmarks of the store level (no HTTP). Sizes come from the environment
// so that the default run stays short:
//
//	PLATEAU_BENCH_CONTACTS  contacts in the mission (default 100000)
//	PLATEAU_BENCH_AGENTS    concurrent agents (default 200)
//
// e.g. PLATEAU_BENCH_CONTACTS=1000000 go test -run '^$' -bench ClaimQualify -benchtime 20000x ./internal/campaign/

func benchInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchEngines runs fn on SQLite and, when PLATEAU_TEST_POSTGRES is set, on
// PostgreSQL.
func benchEngines(b *testing.B, fn func(b *testing.B, d *db.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, db.OpenTestSQLite(b)) })
	if os.Getenv(db.PostgresTestEnv) != "" {
		b.Run("postgres", func(b *testing.B) { fn(b, db.OpenTestPostgres(b)) })
	}
}

// benchContacts builds n contacts shaped like seed 000's leads.
func benchContacts(start, n int) []NewContact {
	cs := make([]NewContact, n)
	for i := range cs {
		k := start + i
		cs[i] = NewContact{
			ContactID: fmt.Sprintf("261123_%d_26", k+1),
			Phone:     phone(k),
			PhoneType: "fixed",
			BatchID:   1,
			Fields: map[string]string{
				"type": "Lead", "name": "Dupont", "surname": "Jean", "email_address": "jean.dupont@example.fr",
				"phone_number": "33612345678", "statut_de_la_piste": "Nouveau", "proprietaire_de_la_piste": "Acme",
				"mc_form_id": "F-000123", "lead_creation_date": "18/05/2021", "hearing_center": "Centre Audition Lyon 3",
				"hcp_erp_number": "123456", "hcp_postal_code": "69003", "hcp_phone_number": "33478000000",
				"hcp_address": "12 rue de la République", "hcp_city": "Lyon", "hcp_email_address": "lyon3@example.fr",
			},
			Personal: []string{"name", "surname", "email_address", "phone_number"},
			Consent:  &Consent{At: t0.Add(-48 * time.Hour), Source: "form", Text: "J'accepte d'être rappelé"},
		}
	}
	return cs
}

// loadBench loads n contacts into mission in transactions of chunk rows.
func loadBench(b testing.TB, e *env, mission, n int) time.Duration {
	ctx := context.Background()
	l, err := e.svc.Loader(ctx, mission)
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 5000
	var total time.Duration
	for start := 0; start < n; start += chunk {
		cs := benchContacts(start, min(chunk, n-start))
		t := time.Now()
		err := e.d.Tx(ctx, func(tx *db.Tx) error {
			_, err := l.Add(ctx, tx, cs)
			return err
		})
		total += time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
	}
	return total
}

// BenchmarkLoad measures Loader.Add: validating, sealing, blind-indexing and
// inserting contacts (5,000 per transaction), into a mission that already
// holds b.N contacts' worth of rows by the end.
func BenchmarkLoad(b *testing.B) {
	benchEngines(b, func(b *testing.B, d *db.DB) {
		e := newEnv(b, d)
		e.mission(b, NewMission{Number: 26})
		b.ResetTimer()
		spent := loadBench(b, e, 26, b.N)
		b.ReportMetric(float64(b.N)/spent.Seconds(), "contacts/s")
	})
}

// BenchmarkClaimQualify: PLATEAU_BENCH_AGENTS agents claim and qualify
// concurrently on a mission of PLATEAU_BENCH_CONTACTS contacts. One op is a
// claim (lease, audit, decryption, history) plus a qualification (attempt,
// audit, synchronous commit); the outcome makes the contact due again at
// once, at the back of the queue, so the mission never runs dry. cycles/s is
// measured from the first ticket to the last qualification; the claim
// latencies are each Claim call's, as an agent waits for it.
func BenchmarkClaimQualify(b *testing.B) {
	benchEngines(b, func(b *testing.B, d *db.DB) {
		n := benchInt("PLATEAU_BENCH_CONTACTS", 100_000)
		workers := benchInt("PLATEAU_BENCH_AGENTS", 200)
		e := newEnv(b, d)
		// The real clock, so that "again" sends a contact to the back of
		// the queue; a mission open around the clock, whenever this runs.
		e.svc.opt.Now = time.Now
		e.mission(b, NewMission{Number: 26, MaxAttempts: 100, Windows: "mon-sun 00:00-24:00", HolidaysOpen: true})
		if err := e.svc.SetOutcome(asAdmin, 26, Outcome{Code: "again", Label: "Again"}); err != nil {
			b.Fatal(err)
		}
		spent := loadBench(b, e, 26, n)
		b.Logf("%s: loaded %d contacts in %v (%.0f/s)", d.Engine(), n, spent.Round(time.Millisecond), float64(n)/spent.Seconds())
		if d.Engine() == db.Postgres {
			if _, err := d.ExecContext(context.Background(), "ANALYZE"); err != nil {
				b.Fatal(err)
			}
		}
		agents := make([]int64, workers)
		for i := range agents {
			agents[i] = e.agentOn(b, 26, fmt.Sprintf("agent%03d", i))
		}
		ctx := context.Background()
		var (
			ops      atomic.Int64
			mu       sync.Mutex
			claimLat []time.Duration
			fail     atomic.Value
			wg       sync.WaitGroup
		)
		// B.Loop runs the setup above once; each iteration hands a ticket
		// (one claim and its qualification) to the agents.
		tickets := make(chan struct{}, workers)
		start := time.Now()
		for _, a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []time.Duration
				for range tickets {
					if fail.Load() != nil {
						continue
					}
					t := time.Now()
					card, err := e.svc.Claim(ctx, 26, a)
					lat = append(lat, time.Since(t))
					if errors.Is(err, ErrNothingToCall) {
						continue
					}
					if err != nil {
						fail.Store(err)
						continue
					}
					if _, err := e.svc.Qualify(ctx, card.Contact.Ref, a, Qualification{Outcome: "again"}); err != nil {
						fail.Store(err)
						continue
					}
					ops.Add(1)
				}
				mu.Lock()
				claimLat = append(claimLat, lat...)
				mu.Unlock()
			}()
		}
		for b.Loop() {
			tickets <- struct{}{}
		}
		close(tickets)
		wg.Wait()
		elapsed := time.Since(start)
		if err, _ := fail.Load().(error); err != nil {
			b.Fatal(err)
		}
		slices.Sort(claimLat)
		pct := func(p float64) float64 {
			if len(claimLat) == 0 {
				return 0
			}
			return float64(claimLat[int(float64(len(claimLat)-1)*p)].Microseconds()) / 1000
		}
		b.ReportMetric(float64(ops.Load())/elapsed.Seconds(), "cycles/s")
		b.ReportMetric(pct(0.50), "claim-p50-ms")
		b.ReportMetric(pct(0.99), "claim-p99-ms")
	})
}

// BenchmarkLoadRow measures Loader.Row alone: validating, encoding,
// sealing and blind-indexing one contact (one core).
func BenchmarkLoadRow(b *testing.B) {
	d := db.OpenTestSQLite(b)
	e := newEnv(b, d)
	e.mission(b, NewMission{Number: 26})
	l, err := e.svc.Loader(context.Background(), 26)
	if err != nil {
		b.Fatal(err)
	}
	cs := benchContacts(0, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Row(context.Background(), cs[i%1000]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadInsert measures Loader.Insert alone: writing rows already
// built, 5,000 per transaction.
func BenchmarkLoadInsert(b *testing.B) {
	benchEngines(b, func(b *testing.B, d *db.DB) {
		e := newEnv(b, d)
		e.mission(b, NewMission{Number: 26})
		ctx := context.Background()
		l, err := e.svc.Loader(ctx, 26)
		if err != nil {
			b.Fatal(err)
		}
		rows := make([][]any, 0, b.N)
		for start := 0; start < b.N; start += 5000 {
			for _, c := range benchContacts(start, min(5000, b.N-start)) {
				r, err := l.Row(ctx, c)
				if err != nil {
					b.Fatal(err)
				}
				rows = append(rows, r)
			}
		}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i += 5000 {
			chunk := rows[i:min(i+5000, b.N)]
			if err := d.Tx(ctx, func(tx *db.Tx) error { _, err := l.Insert(ctx, tx, chunk); return err }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "contacts/s")
	})
}

// BenchmarkStats measures the live view's query set on a mission of
// PLATEAU_BENCH_CONTACTS contacts (a third of them called and waiting for
// their retry, a tenth closed).
func BenchmarkStats(b *testing.B) {
	benchEngines(b, func(b *testing.B, d *db.DB) {
		n := benchInt("PLATEAU_BENCH_CONTACTS", 100_000)
		e := newEnv(b, d)
		e.mission(b, NewMission{Number: 26})
		loadBench(b, e, 26, n)
		ctx := context.Background()
		// Spread outcomes without going through the queue: a third called
		// once, a tenth closed.
		if _, err := d.ExecContext(ctx, `UPDATE contacts SET attempts = 1, last_outcome = 'repondeur',
			due_at = due_at + 7200000 WHERE mission = 26 AND id % 3 = 0`); err != nil {
			b.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `UPDATE contacts SET state = 'closed', close_reason = 'outcome',
			last_outcome = 'rdv-pris', attempts = 1 WHERE mission = 26 AND id % 10 = 0`); err != nil {
			b.Fatal(err)
		}
		// Those updates went behind the service's back: rebuild the counts.
		if err := e.svc.Recount(ctx, 26); err != nil {
			b.Fatal(err)
		}
		if d.Engine() == db.Postgres {
			if _, err := d.ExecContext(ctx, "VACUUM ANALYZE contacts"); err != nil {
				b.Fatal(err)
			}
		} else if _, err := d.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			st, err := e.svc.Stats(ctx, 26)
			if err != nil {
				b.Fatal(err)
			}
			if st.Total != n {
				b.Fatalf("total %d", st.Total)
			}
		}
	})
}
