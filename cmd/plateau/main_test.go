package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
)

// plateau runs the command line in-process and returns its exit status and
// outputs.
func plateau(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errOut, env: []string{"PLATEAU_LOG_LEVEL=warn"}})
	return code, out.String(), errOut.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"user", "add", "--help"},
		{"user", "unlock", "--help"}, {"user", "list", "--help"}, {"token", "create", "--help"},
		{"audit", "verify", "--help"}, {"keys", "rotate", "--help"}, {"version", "--help"}, {"ingest", "--help"},
		{"mission", "create", "--help"}, {"mission", "profile", "--help"}, {"mission", "assign", "--help"},
		{"mission", "update", "--help"},
	} {
		code, _, stderr := plateau(t, "", args...)
		if code != 0 || !strings.Contains(stderr, "Usage: plateau") {
			t.Errorf("plateau %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestUsageErrorsExitNonZero(t *testing.T) {
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"user"}, {"user", "add"}, {"user", "add", "--login", "x"},
		{"serve", "--no-such-flag"}, {"token"}, {"audit"}, {"keys"}, {"version", "extra"},
	} {
		if code, _, stderr := plateau(t, "", args...); code == 0 || stderr == "" {
			t.Errorf("plateau %s: exit %d, stderr %q; want non-zero and a message", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestCommandsRefuseAMissingDatabase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "typo")
	code, _, stderr := plateau(t, "", "audit", "verify", "--data", data)
	if code == 0 || !strings.Contains(stderr, "no database") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := plateau(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "plateau ") {
		t.Fatalf("exit %d, out %q", code, out)
	}
}

// openTestApp opens the services over the data folder, with instant login
// delays, as serve would.
func openTestApp(t *testing.T, data string) *app {
	t.Helper()
	return openTestAppOn(t, data, "")
}

// openTestAppOn is openTestApp with the database dsn ("" for SQLite in the
// data folder).
func openTestAppOn(t *testing.T, data, dsn string) *app {
	t.Helper()
	sf := storeFlags{data: data, db: dsn}
	cfg, err := sf.load(stdio{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := open(context.Background(), cfg, mustExist, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

func TestLockedAccountNeedsUserUnlock(t *testing.T) {
	data := t.TempDir()
	const password = "correct horse battery staple"
	code, out, stderr := plateau(t, password+"\n", "user", "add", "--data", data, "--login", "claire", "--name", "Claire Martin", "--role", "agent", "--password-stdin")
	if code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	if strings.Contains(out, password) {
		t.Fatal("a password read from stdin must not be echoed")
	}

	a := openTestApp(t, data)
	var delays []time.Duration
	svc := auth.NewService(a.db, a.vault, a.audit, auth.Options{Sleep: func(_ context.Context, d time.Duration) error {
		delays = append(delays, d)
		return nil
	}})
	ctx := audit.WithActor(context.Background(), audit.Actor{Source: "192.0.2.7", Agent: "test"})
	for range 10 {
		if _, _, err := svc.Login(ctx, "claire", "wrong password again"); !errors.Is(err, auth.ErrInvalidCredentials) && !errors.Is(err, auth.ErrLocked) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, _, err := svc.Login(ctx, "claire", password); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("right password on a locked account: %v, want ErrLocked", err)
	}
	var grew int
	for i := 1; i < len(delays); i++ {
		if delays[i] > delays[i-1] {
			grew++
		}
	}
	if grew < 3 {
		t.Fatalf("login delays do not grow: %v", delays)
	}

	if code, _, stderr := plateau(t, "", "user", "unlock", "--data", data, "--login", "claire"); code != 0 {
		t.Fatalf("user unlock: exit %d: %s", code, stderr)
	}
	if _, _, err := svc.Login(ctx, "claire", password); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	for _, action := range []string{"auth.login.failed", "auth.lockout", "auth.unlock", "auth.login.ok"} {
		entries, err := a.audit.List(context.Background(), audit.Filter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("no %s event in the audit trail", action)
		}
	}
}

func TestTokenCreatePrintsATokenOnce(t *testing.T) {
	data := t.TempDir()
	if code, _, stderr := plateau(t, "a long enough passphrase\n", "user", "add", "--data", data, "--login", "api", "--name", "API", "--role", "agent", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := plateau(t, "", "token", "create", "--data", data, "--login", "api")
	if code != 0 {
		t.Fatal(stderr)
	}
	token := strings.TrimSpace(out)
	a := openTestApp(t, data)
	u, err := a.auth.AuthenticateToken(context.Background(), token)
	if err != nil || u.Login != "api" {
		t.Fatalf("AuthenticateToken(printed token) = %v, %v", u.Login, err)
	}
}

// TestAuditVerifyDetectsTampering edits the SQLite file behind Plateau's back
// the way an intruder would, and expects verify to name the row.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  string
		wantRow string
	}{
		{"edited byte", "UPDATE audit_events SET actor = actor || 'x' WHERE id = 3", "row 3"},
		{"deleted row", "DELETE FROM audit_events WHERE id = 4", "row 4"},
		{"truncated tail", "DELETE FROM audit_events WHERE id >= 5", "row 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			if code, _, stderr := plateau(t, "", "migrate", "--data", data); code != 0 {
				t.Fatal(stderr)
			}
			a := openTestApp(t, data)
			for i := range 6 {
				if err := a.audit.Append(context.Background(), audit.Event{Actor: "cli:test", Action: "test.event", ObjectType: "test", ObjectID: string(rune('a' + i))}); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.audit.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			if code, out, stderr := plateau(t, "", "audit", "verify", "--data", data); code != 0 || !strings.Contains(out, "intact") {
				t.Fatalf("untouched trail: exit %d, %s%s", code, out, stderr)
			}

			raw, err := sql.Open("sqlite", "file:"+filepath.Join(data, "plateau.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			raw.Close()

			code, _, stderr := plateau(t, "", "audit", "verify", "--data", data)
			if code == 0 || !strings.Contains(stderr, tt.wantRow) {
				t.Fatalf("after %s: exit %d, stderr %q; want non-zero naming %s", tt.name, code, stderr, tt.wantRow)
			}
		})
	}
}
