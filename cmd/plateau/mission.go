package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"plateau/internal/campaign"
	"plateau/internal/db"
	"plateau/internal/ingest"
	"plateau/internal/notify"
)

// maxProfileFile bounds the profile file read (profiles are a page of
// text; LoadProfile refuses more than 1 MiB anyway).
const maxProfileFile = 2 << 20

func runMission(ctx context.Context, args []string, io stdio) error {
	return runGroup(ctx, "mission", []subcommand{
		{"create", runMissionCreate}, {"profile", runMissionProfile},
		{"assign", runMissionAssign}, {"update", runMissionUpdate},
	}, args, io)
}

func runMissionCreate(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("mission create", "--number N --name NAME --client KEY --regime REGIME --profile FILE",
		"Create a mission with its ingestion profile. The profile is checked first (every\n"+
			"problem is listed with its line); nothing is created when it does not load. The\n"+
			"mission gets the default French outcome codes, time zone Europe/Paris and calling\n"+
			"windows mon-fri 09:00-20:00, which 'plateau mission update' and the web interface\n"+
			"change.", io)
	var sf storeFlags
	sf.register(fs)
	number := fs.Int("number", 0, "mission number (a positive integer, e.g. 26)")
	name := fs.String("name", "", `mission name, e.g. "Mission Sortant J+3" (written in the legacy files)`)
	client := fs.String("client", "", "client key: a-z, 0-9, '.', '-', '_' (missions of a client share per-person rules)")
	regime := fs.String("regime", "", "b2b, consumer-prospecting or survey")
	profile := fs.String("profile", "", "ingestion profile (YAML), e.g. examples/profiles/flexycall.yaml")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *number <= 0 || *name == "" || *client == "" || *regime == "" || *profile == "" {
		fmt.Fprintln(io.err, "--number, --name, --client, --regime and --profile are required")
		fs.Usage()
		return errUsage
	}
	if !campaign.ValidRegime(campaign.Regime(*regime)) {
		fmt.Fprintf(io.err, "--regime: %q is not b2b, consumer-prospecting or survey\n", *regime)
		return errUsage
	}
	yaml, err := readProfile(*profile)
	if err != nil {
		return err
	}
	a, err := openExisting(ctx, &sf, io)
	if err != nil {
		return err
	}
	defer a.close()
	ctx = cliActor(ctx, "mission create")
	svc := newIngestService(a)
	m, sp, err := svc.CreateMission(ctx, campaign.NewMission{Number: *number, Name: *name, Client: *client,
		Regime: campaign.Regime(*regime)}, yaml)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "mission %d %q created (client %s, %s), profile version %d\n", m.Number, m.Name, m.Client, m.Regime, sp.Version)
	return nil
}

func runMissionProfile(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("mission profile", "--number N --profile FILE",
		"Store a new version of a mission's ingestion profile; it is checked first and used by\n"+
			"the files received from now on (a batch being loaded keeps the version it started with).", io)
	var sf storeFlags
	sf.register(fs)
	number := fs.Int("number", 0, "mission number")
	profile := fs.String("profile", "", "ingestion profile (YAML)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *number <= 0 || *profile == "" {
		fmt.Fprintln(io.err, "--number and --profile are required")
		fs.Usage()
		return errUsage
	}
	yaml, err := readProfile(*profile)
	if err != nil {
		return err
	}
	a, err := openExisting(ctx, &sf, io)
	if err != nil {
		return err
	}
	defer a.close()
	ctx = cliActor(ctx, "mission profile")
	sp, err := newIngestService(a).StoreProfile(ctx, *number, yaml)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "mission %d: profile version %d stored\n", *number, sp.Version)
	return nil
}

// readProfile reads a profile file and checks it.
func readProfile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfileFile))
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	// Checked before the database is opened: a typo costs nothing.
	if _, err := ingest.LoadProfile(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// newIngestService builds the ingestion service over the app's database;
// the legacy files go to the outbox folder, <outbox dir>/<batch>/.
func newIngestService(a *app) *ingest.Service {
	_, ing := newServices(a)
	return ing
}

// newServices builds the campaign service and the ingestion service that
// loads contacts through it. When the alerts are enabled (enableNotify),
// every finished batch queues its summary mail in the transaction that
// finishes it.
func newServices(a *app) (*campaign.Service, *ingest.Service) {
	camp := campaign.New(a.db, a.vault, a.audit, campaign.Options{Logger: a.log})
	opt := ingest.ServiceOptions{OutboxDir: a.cfg.Outbox.Dir, Logger: a.log}
	// A profile's SQL sinks name the variable holding their DSN (never in
	// the profile: it carries a password).
	if a.sink == nil {
		a.sink = ingest.NewSQLSink(ingest.SQLSinkOptions{
			LookupEnv: func(k string) (string, bool) { v := lookupEnv(a.env, k); return v, v != "" },
			MissionName: func(ctx context.Context, n int) (string, error) {
				m, err := camp.Mission(ctx, n)
				return m.Name, err
			},
			Logger: a.log,
		})
	}
	opt.Sinks = []ingest.Sink{a.sink}
	if a.alerts != nil {
		opt.Finished = a.batchFinished(camp)
	}
	return camp, ingest.NewService(a.db, a.vault, a.audit, camp, opt)
}

// batchFinished queues the summary of a batch that ends (done or failed).
// A summary that cannot be queued is logged and the batch still finishes:
// its mail matters less than the batch.
func (a *app) batchFinished(camp *campaign.Service) func(ctx context.Context, tx *db.Tx, b ingest.Batch) error {
	return func(ctx context.Context, tx *db.Tx, b ingest.Batch) error {
		s := notify.BatchSummary{
			Mission: b.Mission, BatchID: b.ID, File: b.Name,
			Received: b.Received, Loaded: b.Loaded, Warnings: b.Warnings, Quarantined: b.Quarantined,
			Manual: b.Manual, Duplicates: b.Duplicates, Failed: b.Status == ingest.StatusFailed,
			Link: fmt.Sprintf("%s/batches/%d", a.cfg.BaseURL, b.ID),
		}
		if !b.StartedAt.IsZero() && b.FinishedAt.After(b.StartedAt) {
			s.Duration = b.FinishedAt.Sub(b.StartedAt)
		}
		// Read outside tx (settings, no lock): the name is only a label.
		if m, err := camp.Mission(ctx, b.Mission); err == nil {
			s.MissionName = m.Name
		}
		if err := a.alerts.QueueBatchSummary(ctx, tx, s); err != nil {
			a.log.Error("batch summary mail not queued", "batch", b.ID, "mission", b.Mission, "err", err)
		}
		return nil
	}
}
