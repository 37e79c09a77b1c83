package main

import (
	"context"
	"strings"
	"testing"
)

// newMissionData returns a data folder with mission 26 (reference profile)
// and the users claire (agent), marc (supervisor) and ines (it).
func newMissionData(t *testing.T) string {
	t.Helper()
	data, _ := newMissionDataOn(t, "")
	return data
}

// newMissionDataOn is newMissionData with the database dsn ("" for SQLite
// in the folder); it also returns the flags that name the store.
func newMissionDataOn(t *testing.T, dsn string) (string, []string) {
	t.Helper()
	data := t.TempDir()
	store := []string{"--data", data}
	if dsn != "" {
		store = append(store, "--db", dsn)
	}
	cmd := func(args ...string) {
		t.Helper()
		if code, _, stderr := plateau(t, "", append(args, store...)...); code != 0 {
			t.Fatalf("plateau %s: exit %d, %s", strings.Join(args, " "), code, stderr)
		}
	}
	cmd("migrate")
	cmd("mission", "create", "--number", "26", "--name", "Mission Sortant J+3", "--client", "phonak", "--regime", "b2b", "--profile", flexycall)
	for _, u := range [][2]string{{"claire", "agent"}, {"marc", "supervisor"}, {"ines", "it"}} {
		cmd("user", "add", "--login", u[0], "--name", u[0], "--role", u[1])
	}
	return data, store
}

func TestMissionAssignAddsAgentsAndSupervisorsOnly(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testMissionAssign(t, "") })
	t.Run("postgres", func(t *testing.T) { testMissionAssign(t, testPostgresDSN(t)) })
}

func testMissionAssign(t *testing.T, dsn string) {
	data, store := newMissionDataOn(t, dsn)
	code, out, stderr := plateau(t, "", append([]string{"mission", "assign", "--number", "26", "claire", "marc"}, store...)...)
	if code != 0 {
		t.Fatalf("assign: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"claire, marc assigned to mission 26", "claire (agent)", "marc (supervisor)"} {
		if !strings.Contains(out, want) {
			t.Errorf("assign output lacks %q:\n%s", want, out)
		}
	}
	// Flags after the logins, and assigning again changes nothing.
	if code, _, stderr := plateau(t, "", append([]string{"mission", "assign", "claire", "--number", "26"}, store...)...); code != 0 {
		t.Fatalf("assign again: exit %d, %s", code, stderr)
	}

	failures := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"it user", []string{"--number", "26", "ines"}, 1, "neither an agent nor a supervisor"},
		{"unknown user", []string{"--number", "26", "nobody"}, 1, `no user "nobody"`},
		{"unknown mission", []string{"--number", "99", "claire"}, 1, "mission 99"},
		{"no login", []string{"--number", "26"}, 2, "at least one login"},
		{"no number", []string{"claire"}, 2, "--number"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			args := append(append([]string{"mission", "assign"}, store...), f.args...)
			code, _, stderr := plateau(t, "", args...)
			if code != f.code || !strings.Contains(stderr, f.want) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, stderr, f.code, f.want)
			}
		})
	}

	code, out, stderr = plateau(t, "", append([]string{"mission", "assign", "--number", "26", "--remove", "marc"}, store...)...)
	if code != 0 || !strings.Contains(out, "marc removed from mission 26") || strings.Contains(out, "marc (supervisor)") {
		t.Fatalf("remove: exit %d, out %q, stderr %q", code, out, stderr)
	}

	a := openTestAppOn(t, data, dsn)
	camp, _ := newServices(a)
	ids, err := camp.Members(context.Background(), 26)
	if err != nil {
		t.Fatal(err)
	}
	claire, err := a.auth.UserByLogin(context.Background(), "claire")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != claire.ID {
		t.Fatalf("members = %v, want only claire (%d)", ids, claire.ID)
	}
}

func TestMissionUpdateChangesOnlyTheGivenSettings(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testMissionUpdate(t, "") })
	t.Run("postgres", func(t *testing.T) { testMissionUpdate(t, testPostgresDSN(t)) })
}

func testMissionUpdate(t *testing.T, dsn string) {
	data, store := newMissionDataOn(t, dsn)
	code, out, stderr := plateau(t, "", append([]string{"mission", "update", "--number", "26",
		"--windows", "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00", "--holidays", "open"}, store...)...)
	if code != 0 {
		t.Fatalf("update: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"mission 26 \"Mission Sortant J+3\" updated", "mon-fri 09:00-12:30", "sat 10:00-12:00",
		"holidays      open", "timezone      Europe/Paris", "max attempts  5"} {
		if !strings.Contains(out, want) {
			t.Errorf("update output lacks %q:\n%s", want, out)
		}
	}
	if code, out, stderr := plateau(t, "", append([]string{"mission", "update", "--number", "26",
		"--timezone", "America/Cayenne", "--max-attempts", "3"}, store...)...); code != 0 || !strings.Contains(out, "sat 10:00-12:00") {
		t.Fatalf("second update: exit %d, out %q, stderr %q", code, out, stderr)
	}

	a := openTestAppOn(t, data, dsn)
	camp, _ := newServices(a)
	m, err := camp.Mission(context.Background(), 26)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Windows.String(); got != "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00" ||
		!m.HolidaysOpen || m.TimeZone != "America/Cayenne" || m.MaxAttempts != 3 {
		t.Fatalf("stored mission: windows %q, holidays open %v, zone %s, max attempts %d", got, m.HolidaysOpen, m.TimeZone, m.MaxAttempts)
	}

	failures := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad windows", []string{"--windows", "mon-fri 9h-12h"}, 2, "--windows"},
		{"backwards days", []string{"--windows", "fri-mon 09:00-12:00"}, 2, "backwards"},
		{"bad holidays", []string{"--holidays", "maybe"}, 2, "closed or open"},
		{"nothing to change", nil, 2, "nothing to change"},
		{"bad time zone", []string{"--timezone", "Mars/Olympus"}, 1, "time zone"},
		{"too many attempts", []string{"--max-attempts", "0"}, 1, "max attempts"},
		{"unknown mission", []string{"--number", "99", "--max-attempts", "4"}, 1, "mission 99"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			args := append(append([]string{"mission", "update", "--number", "26"}, store...), f.args...)
			code, _, stderr := plateau(t, "", args...)
			if code != f.code || !strings.Contains(stderr, f.want) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, stderr, f.code, f.want)
			}
		})
	}
}
