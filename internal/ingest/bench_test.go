package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"plateau/internal/ingest/ingesttest"
)

// benchFile is a generated file of the seed's layout, built once per run.
var benchFile = sync.OnceValues(func() ([]byte, error) {
	var b bytes.Buffer
	_, err := ingesttest.Generate(&b, ingesttest.Options{Records: 100_000, Seed: 7})
	return b.Bytes(), err
})

// BenchmarkTransform measures the database-free transform of the reference
// profile, outputs written to disk; the figure per operation is for 100,000
// records.
func BenchmarkTransform(b *testing.B) {
	data, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	p, err := LoadProfileFile("../../examples/profiles/flexycall.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		s, err := Transform(context.Background(), p, bytes.NewReader(data), Options{ReceivedAt: at, OutDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if s.Received != 100_000 {
			b.Fatalf("received %d", s.Received)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "records/s")
	_ = os.RemoveAll(dir)
}

// BenchmarkPipeline measures reading, normalising and checking alone, no
// output written: what a loader gets before its own work.
func BenchmarkPipeline(b *testing.B) {
	data, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	p, err := LoadProfileFile("../../examples/profiles/flexycall.yaml")
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		s, err := Transform(context.Background(), p, bytes.NewReader(data), Options{ReceivedAt: at})
		if err != nil {
			b.Fatal(err)
		}
		if s.Received != 100_000 {
			b.Fatalf("received %d", s.Received)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReader, BenchmarkEncodingCSV and BenchmarkEncodingCSVDecoded
// compare this package's reader with encoding/csv (FieldsPerRecord off,
// ReuseRecord on, LazyQuotes off) on the same Windows-1252 file, reading
// only. This reader also decodes the text; encoding/csv does not (the
// first) or through x/text's decoder (the second, what it would take).
func BenchmarkReader(b *testing.B) {
	data, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), ';', EncodingAuto)
		n := 0
		for {
			_, err := r.Read()
			if err != nil {
				break
			}
			n++
		}
		if n < 100_000 {
			b.Fatalf("%d records", n)
		}
	}
}

func BenchmarkEncodingCSV(b *testing.B) {
	benchmarkEncodingCSV(b, func(r io.Reader) io.Reader { return r })
}

func BenchmarkEncodingCSVDecoded(b *testing.B) {
	benchmarkEncodingCSV(b, func(r io.Reader) io.Reader { return charmap.Windows1252.NewDecoder().Reader(r) })
}

func benchmarkEncodingCSV(b *testing.B, wrap func(io.Reader) io.Reader) {
	data, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := csv.NewReader(wrap(bytes.NewReader(data)))
		r.Comma, r.FieldsPerRecord, r.ReuseRecord = ';', -1, true
		n := 0
		for {
			_, err := r.Read()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				continue // a malformed line of the generated file
			}
			_, _ = r.FieldPos(0)
			n++
		}
		if n < 100_000 {
			b.Fatalf("%d records", n)
		}
	}
}
