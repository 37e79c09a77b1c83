package ingest

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"plateau/internal/db"
)

// BenchmarkIngest measures a full ingestion into a mission: receiving the
// file into its sealed archive, then parsing, normalising, sealing and
// loading every contact with its progress. No legacy files are written
// (see bench/ingest.sh for the command line with them). Each operation
// loads PLATEAU_BENCH_RECORDS records (default 100,000) into a new
// mission, so the contacts table grows from one operation to the next as
// it does in production.
//
//	go test -run '^$' -bench Ingest -benchtime 3x ./internal/ingest/
func BenchmarkIngest(b *testing.B) {
	records := 100_000
	if n, err := strconv.Atoi(os.Getenv("PLATEAU_BENCH_RECORDS")); err == nil && n > 0 {
		records = n
	}
	data := leadFile(b, records, 21)
	engines := map[string]func(testing.TB) *db.DB{"sqlite": db.OpenTestSQLite}
	if os.Getenv(db.PostgresTestEnv) != "" {
		engines["postgres"] = db.OpenTestPostgres
	}
	for _, name := range []string{"sqlite", "postgres"} {
		open := engines[name]
		if open == nil {
			continue
		}
		b.Run(name, func(b *testing.B) {
			e := newDBEnv(b, open(b), envOptions{})
			yaml := referenceYAML(b)
			mission := 100
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				mission++
				e.mission(b, mission, bytes.Replace(yaml, []byte("number: 26"), []byte("number: "+strconv.Itoa(mission)), 1))
				b.StartTimer()
				res := e.ingest(b, mission, "bench.csv", data, IngestOptions{NoOutputs: true})
				if res.Batch.Received != records {
					b.Fatalf("received %d", res.Batch.Received)
				}
			}
			b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
