// Command gen writes a lead file in the layout of seed 000's client export,
// for benchmarks: go run ./bench/gen -records 1000000 -o /tmp/leads.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"plateau/internal/ingest/ingesttest"
)

func main() {
	records := flag.Int("records", 1_000_000, "data records to write")
	seed := flag.Uint64("seed", 1, "random seed: the same seed writes the same file")
	bad := flag.Float64("bad", 3, "percentage of bad records")
	tricky := flag.Bool("tricky", false, "add quoting and normalisation traps")
	utf8 := flag.Bool("utf8", false, "write UTF-8 instead of Windows-1252")
	out := flag.String("o", "leads.csv", "output file")
	flag.Parse()
	if err := run(*out, ingesttest.Options{Records: *records, Seed: *seed, BadPercent: *bad, Tricky: *tricky, UTF8: *utf8}); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(path string, o ingesttest.Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	st, err := ingesttest.Generate(w, o)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d records (%d bad, %d duplicates), %d blank lines\n", path, st.Records, st.Bad, st.Duplicates, st.BlankLines)
	return nil
}
