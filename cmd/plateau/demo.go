package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/ingest"
	"plateau/internal/ingest/ingesttest"
)

// demoProfile is examples/profiles/flexycall.yaml (a test keeps the copy
// identical), embedded so that --demo works from any folder.
//
//go:embed demo_profile.yaml
var demoProfile []byte

// The demo's mission, file and accounts.
const (
	demoMission  = 26 // the number the reference profile is written for
	demoClient   = "demo"
	demoRecords  = 3000
	demoSeed     = 2026
	demoFileName = "demo-leads.csv"
	// demoWindows let the demo be tried at any hour, any day.
	demoWindows = "mon-sun 00:00-24:00"
)

// demoUser is an account the demo creates.
type demoUser struct {
	login, name string
	role        auth.Role
	member      bool // assigned to the demo mission
}

var demoUsers = []demoUser{
	{"demo.agent", "Agent de démonstration", auth.RoleAgent, true},
	{"demo.supervisor", "Superviseur de démonstration", auth.RoleSupervisor, true},
}

// demoAdmin is created only when the database has no account at all: the
// setup link stops working as soon as any account exists.
var demoAdmin = demoUser{"demo.admin", "Administrateur de démonstration", auth.RoleAdmin, false}

// setUpDemo fills the database with the demo: a b2b mission callable at
// any time with a few thousand generated contacts loaded through the
// reference profile, a demo agent and supervisor assigned to it (and an
// administrator on an empty database). Each step is skipped when already
// done, so running it again adds nothing; passwords are printed on out
// once, when their account is created, and never logged.
func setUpDemo(ctx context.Context, a *app, camp *campaign.Service, ing *ingest.Service, out io.Writer) error {
	ctx = audit.WithActor(ctx, audit.Actor{Login: "system", Source: "local", Agent: "plateau serve --demo"})
	m, err := camp.Mission(ctx, demoMission)
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		m, _, err = ing.CreateMission(ctx, campaign.NewMission{
			Number: demoMission, Name: "Mission Sortant J+3 (démo)", Client: demoClient, Regime: campaign.RegimeB2B,
			Windows: demoWindows, HolidaysOpen: true,
			Script: "Bonjour, je vous appelle pour {{name}} {{surname}}, qui souhaite un rendez-vous au centre " +
				"{{hearing_center}} de {{hcp_city}}. Quels créneaux avez-vous cette semaine ?",
		}, demoProfile)
		if err != nil {
			return err
		}
	case err != nil:
		return err
	case m.Client != demoClient:
		return fmt.Errorf("mission %d already exists and is not the demo's (client %s): run --demo on a new data folder (--data)", demoMission, m.Client)
	}

	var leads bytes.Buffer
	if _, err := ingesttest.Generate(&leads, ingesttest.Options{Records: demoRecords, Seed: demoSeed}); err != nil {
		return err
	}
	// The same content is recognised by its hash: a second run loads nothing.
	res, err := ing.Ingest(ctx, demoMission, ingest.SourceCLI, demoFileName, &leads, ingest.IngestOptions{NoOutputs: true})
	if err != nil {
		return err
	}

	users := demoUsers
	empty, err := a.auth.SetupNeeded(ctx)
	if err != nil {
		return err
	}
	if empty {
		users = append([]demoUser{demoAdmin}, users...)
	}
	type created struct {
		demoUser
		password string
	}
	var made []created
	var members []int64
	for _, du := range users {
		u, err := a.auth.UserByLogin(ctx, du.login)
		switch {
		case errors.Is(err, auth.ErrNotFound):
			pw := generatePassword()
			u, err = a.auth.CreateUser(ctx, auth.NewUser{Login: du.login, Name: du.name, Roles: []auth.Role{du.role}, Password: pw})
			if err != nil {
				return err
			}
			made = append(made, created{du, pw})
		case err != nil:
			return err
		}
		if du.member {
			members = append(members, u.ID)
		}
	}
	if err := camp.Assign(ctx, demoMission, members...); err != nil {
		return err
	}

	if res.AlreadyLoaded && len(made) == 0 {
		fmt.Fprintf(out, "\nDemo: mission %d %q is already set up (batch %d); its accounts' passwords were printed\n"+
			"when they were created.\n\n", m.Number, m.Name, res.Batch.ID)
		return nil
	}
	b := res.Batch
	fmt.Fprintf(out, "\nDemo: mission %d %q (%s, calls allowed %s, public holidays included):\n"+
		"batch %d loaded %d contacts of %d generated records (%d quarantined, see the batch page).\n",
		m.Number, m.Name, m.Regime, m.Windows, b.ID, b.Loaded, b.Received, b.Quarantined)
	if len(made) == 0 {
		fmt.Fprintln(out)
		return nil
	}
	fmt.Fprintf(out, "\nDemo accounts (passwords shown this once; log in at %s/login):\n\n", a.cfg.BaseURL)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	for _, c := range made {
		u := auth.User{Roles: []auth.Role{c.role}}
		next := "log in, choose mission " + fmt.Sprint(demoMission) + ", go in service and take the next contact"
		if u.NeedsTOTP() {
			next = "at first login, enrol a TOTP authenticator app (scan the QR code), then log in with its codes"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", c.login, c.role, c.password, next)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	a.log.Info("demo set up", "mission", demoMission, "batch", b.ID, "accounts_created", len(made))
	return nil
}
