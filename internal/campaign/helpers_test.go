package campaign

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/clocktest"
	"plateau/internal/db"
	"plateau/internal/vault"
)

var paris = mustLoad("Europe/Paris")

// t0 is Monday 23 November 2026, 10:30 in Paris: inside the default windows
// and the legal hours, after the consent cut-off.
var t0 = time.Date(2026, 11, 23, 10, 30, 0, 0, paris)

type env struct {
	svc   *Service
	log   *audit.Log
	vault *vault.Vault
	users *auth.Service
	d     *db.DB
	clock *clocktest.Clock
}

var asAdmin = audit.WithActor(context.Background(), audit.Actor{Login: "cli", Source: "local"})

func newEnv(t testing.TB, d *db.DB) *env {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	v, err := vault.New(ctx, d, vault.Options{MasterKey: base64.StdEncoding.EncodeToString(key)})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	c := clocktest.New(t0)
	dir := t.TempDir()
	l, err := audit.New(d, v, audit.Options{
		CheckpointFile: filepath.Join(dir, "checkpoints.jsonl"),
		SigningKeyFile: filepath.Join(dir, "signing.pem"),
		Now:            c.Now,
	})
	if err != nil {
		t.Fatalf("audit.New: %v", err)
	}
	users := auth.NewService(d, v, l, auth.Options{Now: c.Now, Argon2Memory: 64, Argon2Time: 1})
	svc := New(d, v, l, Options{Now: c.Now})
	return &env{svc: svc, log: l, vault: v, users: users, d: d, clock: c}
}

// user creates a user and returns its id.
func (e *env) user(t testing.TB, login string, roles ...auth.Role) int64 {
	t.Helper()
	if len(roles) == 0 {
		roles = []auth.Role{auth.RoleAgent}
	}
	u, err := e.users.CreateUser(asAdmin, auth.NewUser{Login: login, Name: "Test " + login, Roles: roles,
		Password: "Vh7#qLz!2mPw-tango-9"})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", login, err)
	}
	return u.ID
}

// mission creates a mission with the defaults, regime b2b unless changed.
func (e *env) mission(t testing.TB, n NewMission) Mission {
	t.Helper()
	if n.Name == "" {
		n.Name = fmt.Sprintf("Mission %d", n.Number)
	}
	if n.Client == "" {
		n.Client = "acme"
	}
	if n.Regime == "" {
		n.Regime = RegimeB2B
	}
	m, err := e.svc.CreateMission(asAdmin, n)
	if err != nil {
		t.Fatalf("CreateMission(%d): %v", n.Number, err)
	}
	return m
}

// agentOn creates an agent assigned to mission and in service on it.
func (e *env) agentOn(t testing.TB, mission int, login string) int64 {
	t.Helper()
	id := e.user(t, login)
	e.inService(t, mission, id)
	return id
}

func (e *env) inService(t testing.TB, mission int, id int64) {
	t.Helper()
	if err := e.svc.Assign(asAdmin, mission, id); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	if err := e.svc.SetPresence(asAdmin, PresenceChange{Mission: mission, Agent: id, State: PresenceService}); err != nil {
		t.Fatalf("SetPresence: %v", err)
	}
}

// phone returns a distinct valid French mobile number for i.
func phone(i int) string { return fmt.Sprintf("+336%08d", i) }

// load adds contacts c0..c(n-1) (ids "c<i>") to a mission in one
// transaction, each with phone(offset+i).
func (e *env) load(t testing.TB, mission, n, offset int, mod func(i int, c *NewContact)) {
	t.Helper()
	ctx := context.Background()
	l, err := e.svc.Loader(ctx, mission)
	if err != nil {
		t.Fatalf("Loader: %v", err)
	}
	cs := make([]NewContact, n)
	for i := range cs {
		cs[i] = NewContact{
			ContactID: fmt.Sprintf("c%d", i),
			Phone:     phone(offset + i),
			PhoneType: "mobile",
			Fields:    map[string]string{"name": fmt.Sprintf("Name %d", i), "city": "Lyon"},
			Personal:  []string{"name"},
			Consent:   &Consent{At: t0.Add(-24 * time.Hour), Source: "web form", Text: "I agree to be called"},
		}
		if mod != nil {
			mod(i, &cs[i])
		}
	}
	err = e.d.Tx(ctx, func(tx *db.Tx) error {
		got, err := l.Add(ctx, tx, cs)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("inserted %d, want %d", got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
}

func ref(mission int, id string) Ref { return Ref{Mission: mission, ID: id} }

// claim claims and fails the test on error.
func (e *env) claim(t testing.TB, mission int, agent int64) Card {
	t.Helper()
	c, err := e.svc.Claim(context.Background(), mission, agent)
	if err != nil {
		t.Fatalf("Claim(mission %d, agent %d): %v", mission, agent, err)
	}
	return c
}

func (e *env) qualify(t testing.TB, r Ref, agent int64, code string) Qualified {
	t.Helper()
	c, err := e.svc.Qualify(context.Background(), r, agent, Qualification{Outcome: code})
	if err != nil {
		t.Fatalf("Qualify(%s, %s): %v", r, code, err)
	}
	return c
}

// checkCounts fails unless the counts kept by the queue equal a recount
// from the contacts and attempts.
func (e *env) checkCounts(t testing.TB, mission int) {
	t.Helper()
	ctx := context.Background()
	kept, err := e.svc.Stats(ctx, mission)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Recount(ctx, mission); err != nil {
		t.Fatal(err)
	}
	re, err := e.svc.Stats(ctx, mission)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Total != re.Total || kept.Open != re.Open || kept.Closed != re.Closed || kept.ClosedAtCap != re.ClosedAtCap ||
		!maps.Equal(kept.ClosedByOutcome, re.ClosedByOutcome) || !maps.Equal(kept.Attempts, re.Attempts) ||
		kept.CallsToday != re.CallsToday || kept.ClosedToday != re.ClosedToday || !maps.Equal(kept.TodayByOutcome, re.TodayByOutcome) {
		t.Fatalf("kept counts differ from a recount:\nkept    %+v\nrecount %+v", kept, re)
	}
}
