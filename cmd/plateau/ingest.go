package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"plateau/internal/ingest"
)

// maxListed bounds the quarantined lines printed without --json.
const maxListed = 50

// ingestFlags are the flags of `plateau ingest`.
type ingestFlags struct {
	store     storeFlags
	mission   int
	profile   string
	out       string
	at        string
	asJSON    bool
	dryRun    bool
	noOutputs bool
	progress  bool
}

// runIngest implements `plateau ingest`, in two forms:
//
//	--mission N [--at RFC3339] [--out DIR] [--dry-run] [--json] FILE...
//	--profile FILE --out DIR [--at RFC3339] [--json] FILE
//
// The first loads files into a mission, as batches, exactly once; the
// second writes the legacy files of one file without a database.
func runIngest(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("ingest", "--mission N [--at RFC3339] [--out DIR] [--dry-run] [--json] FILE...\n"+
		"       plateau ingest --profile FILE --out DIR [--at RFC3339] [--json] FILE",
		"Load lead files into a mission with its profile, as batches: each file is archived\n"+
			"sealed and recognised by its SHA-256, so a file already loaded is reported as such\n"+
			"(\"already loaded as batch N\") and loads nothing, and a load that was interrupted\n"+
			"(killed, machine stopped) is completed by running the same command again. The\n"+
			"profile's legacy files go to the data folder's outbox/<batch>/, or to --out.\n"+
			"Malformed records are quarantined with their line number and a reason; the exit\n"+
			"status is 0 whenever a file was processed (or was already loaded), even with\n"+
			"quarantined records, and 1 when a file could not be processed at all. --json prints\n"+
			"one object per file (an array when several files are given).\n\n"+
			"With --profile instead of --mission, the file is read with that profile and only the\n"+
			"output files are written, into --out, without a database.", io)
	var f ingestFlags
	f.store.register(fs)
	fs.IntVar(&f.mission, "mission", 0, "mission number: load into that mission with its stored profile")
	fs.StringVar(&f.profile, "profile", "", "profile file (YAML): transform without a database, e.g. examples/profiles/flexycall.yaml")
	fs.StringVar(&f.out, "out", "", "folder where the output files are written (created if needed)")
	fs.StringVar(&f.at, "at", "", "receipt time, RFC 3339 (default: now); fixes the contact ids and dates of a replay")
	fs.BoolVar(&f.asJSON, "json", false, "print the summary as JSON")
	fs.BoolVar(&f.dryRun, "dry-run", false, "with --mission: read and check the files, load nothing (legacy files only with --out)")
	fs.BoolVar(&f.noOutputs, "no-outputs", false, "with --mission: write no legacy files")
	fs.BoolVar(&f.progress, "progress", false, "report progress on standard error (default when it is a terminal)")

	// Flags may come after the file names too: parse again after each
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
	case f.mission != 0 && f.profile != "":
		fmt.Fprintln(io.err, "give --mission (load into the database) or --profile (transform only), not both")
		return errUsage
	case f.mission < 0:
		fmt.Fprintln(io.err, "--mission: a positive mission number")
		return errUsage
	case f.mission == 0 && f.profile == "":
		fmt.Fprintln(io.err, "--mission or --profile is required")
		fs.Usage()
		return errUsage
	case len(files) == 0:
		fmt.Fprintln(io.err, "give the file(s) to read")
		fs.Usage()
		return errUsage
	}
	received := time.Now()
	if f.at != "" {
		t, err := time.Parse(time.RFC3339, f.at)
		if err != nil {
			fmt.Fprintf(io.err, "--at: %q is not an RFC 3339 time such as 2026-11-23T08:00:00+01:00\n", f.at)
			return errUsage
		}
		received = t
	}
	if f.mission != 0 {
		return ingestIntoMission(ctx, &f, files, received, io)
	}
	switch {
	case f.out == "":
		fmt.Fprintln(io.err, "--profile needs --out")
		fs.Usage()
		return errUsage
	case len(files) != 1:
		fmt.Fprintln(io.err, "--profile reads exactly one file")
		return errUsage
	case f.dryRun || f.noOutputs:
		fmt.Fprintln(io.err, "--dry-run and --no-outputs go with --mission")
		return errUsage
	}
	keepMemoryBudget(memoryBudget)
	p, err := ingest.LoadProfileFile(f.profile)
	if err != nil {
		return err
	}
	in, err := os.Open(files[0])
	if err != nil {
		return fmt.Errorf("open lead file: %w", err)
	}
	defer in.Close()
	s, err := ingest.Transform(ctx, p, in, ingest.Options{ReceivedAt: received, OutDir: f.out})
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	if f.asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printSummary(io, files[0], s)
	return nil
}

// ingestReport is what `plateau ingest --mission --json` prints per file:
// the batch, then the summary's counts and quarantine.
type ingestReport struct {
	File    string `json:"file"`
	Mission int    `json:"mission"`
	Batch   int64  `json:"batch,omitempty"`
	Status  string `json:"status,omitempty"`
	// AlreadyLoadedAs is set when the content had been loaded before, as
	// that batch; nothing was loaded now.
	AlreadyLoadedAs int64  `json:"already_loaded_as,omitempty"`
	Message         string `json:"message,omitempty"`
	Resumed         bool   `json:"resumed,omitempty"`
	DryRun          bool   `json:"dry_run,omitempty"`
	Error           string `json:"error,omitempty"`
	*ingest.Summary
}

func ingestIntoMission(ctx context.Context, f *ingestFlags, files []string, received time.Time, io stdio) error {
	// The SQLite writer's page cache (64 MB while loading) lives outside
	// the Go heap: the heap gets the rest of the 200 MB.
	keepMemoryBudget(dbMemoryBudget)
	a, err := openExisting(ctx, &f.store, io)
	if err != nil {
		return err
	}
	defer a.close()
	ctx = cliActor(ctx, "ingest")
	// The summary mails are queued here and sent by the server.
	if err := a.enableNotify(nil); err != nil {
		return err
	}
	svc := newIngestService(a)
	report := progressPrinter(f.progress, io)
	if !f.dryRun {
		// Batches another run left half-loaded are finished first; one
		// that cannot be finished now must not keep these files out.
		done, err := svc.Resume(ctx)
		for _, r := range done {
			fmt.Fprintf(io.err, "resumed batch %d (mission %d, %s): %s\n", r.Batch.ID, r.Batch.Mission, r.Batch.Name, r.Batch.Status)
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(io.err, "plateau ingest: resuming interrupted batches: %v\n", err)
		}
	}
	var (
		reports []ingestReport
		failed  int
	)
	for _, name := range files {
		rep := ingestReport{File: name, Mission: f.mission, DryRun: f.dryRun}
		res, err := ingestOne(ctx, svc, f, name, received, report)
		if res != nil {
			rep.Summary = res.Summary
			if res.Batch.ID != 0 {
				rep.Batch, rep.Status = res.Batch.ID, string(res.Batch.Status)
			}
			if res.AlreadyLoaded {
				// The counts are this run's: nothing was loaded.
				rep.AlreadyLoadedAs = res.Batch.ID
				rep.Message = fmt.Sprintf("already loaded as batch %d", res.Batch.ID)
				if !res.DryRun {
					rep.Summary = ingest.NewSummary()
					rep.Summary.Encoding = res.Summary.Encoding
				}
			}
			rep.Resumed = res.Resumed
		}
		if err != nil {
			failed++
			rep.Error = err.Error()
			fmt.Fprintf(io.err, "plateau ingest: %s: %v\n", name, err)
		}
		if !f.asJSON && err == nil {
			printBatch(io, name, &rep)
		}
		reports = append(reports, rep)
	}
	if f.asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		var v any = reports
		if len(reports) == 1 {
			v = reports[0]
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d files could not be processed", failed, len(files))}
	}
	return nil
}

func ingestOne(ctx context.Context, svc *ingest.Service, f *ingestFlags, name string, received time.Time, report func(ingest.Progress)) (*ingest.BatchResult, error) {
	in, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open lead file: %w", err)
	}
	defer in.Close()
	if st, err := in.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return svc.Ingest(ctx, f.mission, ingest.SourceCLI, filepath.Base(name), in, ingest.IngestOptions{
		ReceivedAt: received, OutDir: f.out, NoOutputs: f.noOutputs, DryRun: f.dryRun, Progress: report,
	})
}

func printBatch(io stdio, name string, r *ingestReport) {
	switch {
	case r.DryRun && r.AlreadyLoadedAs != 0:
		fmt.Fprintf(io.out, "%s: dry run: already loaded as batch %d; nothing would be loaded\n", name, r.AlreadyLoadedAs)
	case r.DryRun:
		fmt.Fprintf(io.out, "%s: dry run, nothing loaded\n", name)
	case r.AlreadyLoadedAs != 0:
		fmt.Fprintf(io.out, "%s: already loaded as batch %d; nothing loaded\n", name, r.AlreadyLoadedAs)
		return
	case r.Resumed:
		fmt.Fprintf(io.out, "%s: batch %d completed (it had been interrupted)\n", name, r.Batch)
	default:
		fmt.Fprintf(io.out, "%s: batch %d loaded\n", name, r.Batch)
	}
	if r.Summary != nil {
		printSummary(io, name, r.Summary)
	}
}

// progressPrinter returns a Progress callback that prints to standard
// error every few seconds, or nil when progress is not wanted: asked with
// --progress, or standard error is a terminal.
func progressPrinter(asked bool, io stdio) func(ingest.Progress) {
	if !asked {
		f, ok := io.err.(*os.File)
		if !ok {
			return nil
		}
		st, err := f.Stat()
		if err != nil || st.Mode()&os.ModeCharDevice == 0 {
			return nil
		}
	}
	var (
		mu   sync.Mutex
		last time.Time
	)
	return func(p ingest.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		switch p.Phase {
		case ingest.PhaseReceiving:
			fmt.Fprintf(io.err, "batch %d: received %.0f MB (%.0f MB/s)\n", p.Batch, float64(p.Bytes)/1e6, p.Rate/1e6)
		default:
			fmt.Fprintf(io.err, "batch %d: %d records done (%.0f records/s)\n", p.Batch, p.Records, p.Rate)
		}
	}
}

// Memory budgets of the ingest command (soft limits of the Go heap).
const (
	memoryBudget   = 150 << 20
	dbMemoryBudget = 110 << 20
)

// keepMemoryBudget keeps `plateau ingest` well under 200 MB whatever the
// file size: the duplicate index grows with the records (about 30 bytes
// each), and left alone the GC lets the heap reach twice the live data. A
// soft limit makes it collect sooner instead. GOMEMLIMIT, if set, wins.
func keepMemoryBudget(limit int64) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(limit)
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
