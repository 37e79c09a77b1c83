package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"time"

	"plateau/internal/ingest"
)

// maxListed bounds the quarantined lines printed without --json.
const maxListed = 50

// runIngest implements `plateau ingest`. Only the database-free form exists
// for now: `--profile FILE --out DIR [--at RFC3339] [--json] FILE` reads the
// file with the profile and writes the profile's legacy files into DIR.
//
func runIngest(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("ingest", "--profile FILE --out DIR [--at RFC3339] [--json] FILE",
		"Read a lead file with a profile and write the profile's output files into DIR,\n"+
			"without a database. Malformed records are quarantined with their line number and\n"+
			"a reason; the exit status is 0 whenever the file could be processed, even with\n"+
			"quarantined records, and non-zero when it could not be processed at all.", io)
	profile := fs.String("profile", "", "profile file (YAML), e.g. examples/profiles/flexycall.yaml")
	out := fs.String("out", "", "folder where the output files are written (created if needed)")
	at := fs.String("at", "", "receipt time, RFC 3339 (default: now); fixes the contact ids and dates of a replay")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	mission := fs.String("mission", "", "mission number (needs the database: not available yet)")
	dryRun := fs.Bool("dry-run", false, "load nothing (needs the database: not available yet)")

	// Flags may come after the file name too: parse again after each
	// positional argument.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case *mission != "" || *dryRun:
		fmt.Fprintln(io.err, "--mission and --dry-run load into the database, which this build cannot do yet; use --profile FILE --out DIR FILE")
		return errUsage
	case *profile == "" || *out == "":
		fmt.Fprintln(io.err, "--profile and --out are required")
		fs.Usage()
		return errUsage
	case len(files) != 1:
		fmt.Fprintln(io.err, "give exactly one file to read")
		fs.Usage()
		return errUsage
	}
	received := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintf(io.err, "--at: %q is not an RFC 3339 time such as 2026-11-23T08:00:00+01:00\n", *at)
			return errUsage
		}
		received = t
	}

	keepMemoryBudget()
	p, err := ingest.LoadProfileFile(*profile)
	if err != nil {
		return err
	}
	f, err := os.Open(files[0])
	if err != nil {
		return fmt.Errorf("open lead file: %w", err)
	}
	defer f.Close()
	s, err := ingest.Transform(ctx, p, f, ingest.Options{ReceivedAt: received, OutDir: *out})
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printSummary(io, files[0], s)
	return nil
}

// memoryBudget is the soft memory limit of the ingest command.
const memoryBudget = 150 << 20

// keepMemoryBudget keeps `plateau ingest` well under 200 MB whatever the
// file size: the duplicate index grows with the records (about 30 bytes
// each), and left alone the GC lets the heap reach twice the live data. A
// soft limit makes it collect sooner instead. GOMEMLIMIT, if set, wins.
func keepMemoryBudget() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryBudget)
	}
}

func printSummary(io stdio, name string, s *ingest.Summary) {
	fmt.Fprintf(io.out, "%s (%s): %s\n", name, s.Encoding, s)
	for i, q := range s.Quarantine {
		if i == maxListed {
			fmt.Fprintf(io.out, "  ... and %d more quarantined records (--json lists them all)\n", len(s.Quarantine)-maxListed)
			break
		}
		fmt.Fprintf(io.out, "  line %d: %s\n", q.Line, q.Reason)
	}
	codes := make([]string, 0, len(s.WarningsByCode))
	for c := range s.WarningsByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(io.out, "  warning %s: %d\n", c, s.WarningsByCode[c])
	}
	for _, o := range s.Outputs {
		fmt.Fprintf(io.out, "  wrote %s (%d rows)\n", o.Path, o.Rows)
	}
}
