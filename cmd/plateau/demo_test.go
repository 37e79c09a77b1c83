package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
	"plateau/internal/ingest"
)

func TestDemoProfileIsTheReferenceProfile(t *testing.T) {
	ref, err := os.ReadFile(flexycall)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ref, demoProfile) {
		t.Fatal("cmd/plateau/demo_profile.yaml differs from examples/profiles/flexycall.yaml: copy it again")
	}
}

// demoPassword finds the password printed for login in the demo's output.
func demoPassword(out, login string) string {
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(login) + `\s+\S+\s+(\S+)\s`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// testPostgresDSN returns the URL of a fresh schema in the test PostgreSQL
// database, or skips (fails under CI) when there is none, as
// db.OpenTestPostgres does.
func testPostgresDSN(t *testing.T) string {
	t.Helper()
	return db.TestPostgresDSN(t)
}

func TestServeDemoSetsUpACallableMissionOnce(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testServeDemo(t, "") })
	t.Run("postgres", func(t *testing.T) { testServeDemo(t, testPostgresDSN(t)) })
}

// testServeDemo runs serve --demo twice on a new data folder, with the
// database dsn ("" for SQLite in the folder).
func testServeDemo(t *testing.T, dsn string) {
	data := t.TempDir()
	args := []string{"--data", data, "--demo"}
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	s := startServe(t, args...)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve --demo: status %d:\n%s", code, s.log.String())
	}
	out := s.out.String()
	passwords := map[string]string{}
	for _, login := range []string{"demo.admin", "demo.supervisor", "demo.agent"} {
		pw := demoPassword(out, login)
		if pw == "" {
			t.Fatalf("no password printed for %s:\n%s", login, out)
		}
		if strings.Contains(s.log.String(), pw) {
			t.Fatalf("the password of %s is in the log", login)
		}
		passwords[login] = pw
	}
	if !strings.Contains(out, "TOTP") {
		t.Errorf("the output does not say that the supervisor and admin enrol TOTP:\n%s", out)
	}

	ctx := audit.WithActor(context.Background(), audit.Actor{Login: "test", Source: "local"})
	a := openTestAppOn(t, data, dsn)
	camp, ing := newServices(a)
	m, err := camp.Mission(ctx, demoMission)
	if err != nil {
		t.Fatal(err)
	}
	if m.Regime != campaign.RegimeB2B || m.Windows.String() != demoWindows || !m.HolidaysOpen {
		t.Errorf("demo mission: regime %s, windows %q, holidays open %v", m.Regime, m.Windows, m.HolidaysOpen)
	}
	batches, err := ing.Batches(ctx, ingest.BatchFilter{Mission: demoMission})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || batches[0].Loaded < 2000 {
		t.Fatalf("demo batches = %+v, want one with a few thousand contacts", batches)
	}

	// The agent logs in without TOTP and gets a contact, whatever the hour.
	_, sess, err := a.auth.Login(ctx, "demo.agent", passwords["demo.agent"])
	if err != nil || sess.Stage != auth.StageFull {
		t.Fatalf("demo agent login: stage %v, %v", sess.Stage, err)
	}
	agent, err := a.auth.UserByLogin(ctx, "demo.agent")
	if err != nil {
		t.Fatal(err)
	}
	if err := camp.SetPresence(ctx, campaign.PresenceChange{Mission: demoMission, Agent: agent.ID, State: campaign.PresenceService}); err != nil {
		t.Fatal(err)
	}
	if _, err := camp.Claim(ctx, demoMission, agent.ID); err != nil {
		t.Fatalf("the demo agent cannot claim a contact: %v", err)
	}
	if _, sess, err := a.auth.Login(ctx, "demo.supervisor", passwords["demo.supervisor"]); err != nil || sess.Stage != auth.StageEnrol {
		t.Fatalf("demo supervisor login: stage %v, %v; want TOTP enrolment", sess.Stage, err)
	}
	members, err := camp.Members(ctx, demoMission)
	if err != nil || len(members) != 2 {
		t.Fatalf("demo members = %v, %v", members, err)
	}

	// Again on the same folder: nothing new, no password.
	s2 := startServe(t, args...)
	if code := s2.stop(); code != 0 {
		t.Fatalf("second serve --demo: status %d:\n%s", code, s2.log.String())
	}
	out2 := s2.out.String()
	if !strings.Contains(out2, "already set up") || demoPassword(out2, "demo.agent") != "" {
		t.Fatalf("second run output:\n%s", out2)
	}
	if batches, err := ing.Batches(ctx, ingest.BatchFilter{Mission: demoMission}); err != nil || len(batches) != 1 {
		t.Fatalf("after a second run: %d batches, %v", len(batches), err)
	}
	users, err := a.auth.Users(ctx)
	if err != nil || len(users) != 3 {
		t.Fatalf("after a second run: %d users, %v", len(users), err)
	}
}

func TestServeDemoRefusesAnotherMission26(t *testing.T) {
	data := newMissionData(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--demo"},
		stdio{in: strings.NewReader(""), out: &out, err: &errOut, env: []string{"PLATEAU_LOG_LEVEL=warn"}})
	if code != 1 || !strings.Contains(errOut.String(), "not the demo's") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}
