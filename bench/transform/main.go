// Command transform runs the database-free ingestion (the same code as
// `plateau ingest --profile FILE --out DIR`) so that bench/legacy.sh can time
// it even while cmd/plateau does not build on its own.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"plateau/internal/ingest"
)

func main() {
	profile := flag.String("profile", "examples/profiles/flexycall.yaml", "profile (YAML)")
	out := flag.String("out", "", "output folder")
	at := flag.String("at", "", "receipt time, RFC 3339 (default now)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "transform:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*profile, *out, *at, flag.Arg(0)); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "transform:", err)
		os.Exit(1)
	}
}

func run(profile, out, at, file string) error {
	// As plateau ingest does (cmd/plateau/ingest.go): a soft memory limit
	// so that the GC collects before the heap doubles.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(150 << 20)
	}
	p, err := ingest.LoadProfileFile(profile)
	if err != nil {
		return err
	}
	received := time.Now()
	if at != "" {
		if received, err = time.Parse(time.RFC3339, at); err != nil {
			return fmt.Errorf("--at: %w", err)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := ingest.Transform(context.Background(), p, f, ingest.Options{ReceivedAt: received, OutDir: out})
	if err != nil {
		return err
	}
	s.Quarantine, s.WarningDetails = nil, nil
	return json.NewEncoder(os.Stdout).Encode(s)
}
