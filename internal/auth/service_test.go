package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"plateau/internal/audit"
	"plateau/internal/clocktest"
	"plateau/internal/db"
	"plateau/internal/vault"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// sleeps records the throttling delays instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

// total returns the sum of the delays recorded since the last call, and
// forgets them.
func (s *sleeps) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum time.Duration
	for _, d := range s.d {
		sum += d
	}
	s.d = nil
	return sum
}

type env struct {
	svc   *Service
	log   *audit.Log
	vault *vault.Vault
	d     *db.DB
	clock *clocktest.Clock
	sleep *sleeps
}

func newEnv(t *testing.T, d *db.DB) *env {
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
	sl := &sleeps{}
	svc := NewService(d, v, l, Options{
		Now: c.Now, Sleep: sl.Sleep, ContextWords: []string{"AcmeFrance"},
		Argon2Memory: 1024, Argon2Time: 1, // cheap hashes: -race makes argon2 slow
	})
	return &env{svc: svc, log: l, vault: v, d: d, clock: c, sleep: sl}
}

// from returns a context whose actor comes from source.
func from(source string) context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Source: source, Agent: "test-browser"})
}

var asAdmin = audit.WithActor(context.Background(), audit.Actor{Login: "cli", Source: "local"})

func (e *env) mustCreate(t *testing.T, login, password string, roles ...Role) User {
	t.Helper()
	u, err := e.svc.CreateUser(asAdmin, NewUser{Login: login, Name: "Test " + login, Roles: roles, Password: password})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", login, err)
	}
	return u
}

func (e *env) entries(t *testing.T, f audit.Filter) []audit.Entry {
	t.Helper()
	f.Limit = 1000
	list, err := e.log.List(context.Background(), f)
	if err != nil {
		t.Fatalf("audit.List: %v", err)
	}
	return list
}

func (e *env) count(t *testing.T, action string, objectID int64) int {
	t.Helper()
	return len(e.entries(t, audit.Filter{Action: action, ObjectID: strconv.FormatInt(objectID, 10)}))
}

const (
	goodPassword = "Vh7#qLz!2mPw-tango"
	wrongPass    = "Not-the-right-one-9"
)

func TestCreateUser(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		u := e.mustCreate(t, "Alice", goodPassword, RoleSupervisor, RoleAgent, RoleAgent)
		if u.Login != "alice" || len(u.Roles) != 2 || u.Roles[0] != RoleAgent || u.Roles[1] != RoleSupervisor {
			t.Fatalf("created %+v", u)
		}
		got, err := e.svc.UserByLogin(context.Background(), "ALICE")
		if err != nil || got.ID != u.ID || got.Name != "Test Alice" || !got.NeedsTOTP() || got.TOTPEnabled {
			t.Fatalf("UserByLogin = %+v, %v", got, err)
		}
		cases := []struct {
			n    NewUser
			want error
		}{
			{NewUser{Login: "ALICE", Roles: []Role{RoleAgent}, Password: goodPassword}, ErrLoginTaken},
			{NewUser{Login: "a", Roles: []Role{RoleAgent}, Password: goodPassword}, ErrInvalidLogin},
			{NewUser{Login: "bob", Password: goodPassword}, ErrNoRole},
			{NewUser{Login: "bob", Roles: []Role{"root"}, Password: goodPassword}, ErrInvalidRole},
			{NewUser{Login: "bob", Roles: []Role{RoleAgent}, Password: "short"}, ErrPasswordTooShort},
			{NewUser{Login: "bobby", Roles: []Role{RoleAgent}, Password: "I-am-Bobby-1987"}, ErrPasswordContext},
			{NewUser{Login: "bob", Name: "Robert Durand", Roles: []Role{RoleAgent}, Password: "durand-de-lyon-69"}, ErrPasswordContext},
			{NewUser{Login: "bob", Roles: []Role{RoleAgent}, Password: "AcmeFrance-forever"}, ErrPasswordContext},
			{NewUser{Login: "bob", Name: "x\x00y", Roles: []Role{RoleAgent}, Password: goodPassword}, ErrInvalidName},
		}
		for _, c := range cases {
			if _, err := e.svc.CreateUser(asAdmin, c.n); !errors.Is(err, c.want) {
				t.Errorf("CreateUser(%s) = %v, want %v", c.n.Login, err, c.want)
			}
		}
		users, err := e.svc.Users(context.Background())
		if err != nil || len(users) != 1 {
			t.Fatalf("Users = %v, %v", users, err)
		}
		if e.count(t, "user.create", u.ID) != 1 {
			t.Fatal("user.create not audited")
		}
		// The display name is personal: sealed in the audit row.
		for _, en := range e.entries(t, audit.Filter{Action: "user.create"}) {
			if strings.Contains(en.After, "Test Alice") {
				t.Fatalf("display name in clear in the audit trail: %s", en.After)
			}
		}
		if err := e.svc.SetName(asAdmin, u.ID, "Alice Martin"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetLocale(asAdmin, u.ID, "en"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetLocale(asAdmin, u.ID, "de"); !errors.Is(err, ErrInvalidLocale) {
			t.Fatalf("SetLocale(de) = %v", err)
		}
		got, _ = e.svc.User(context.Background(), u.ID)
		if got.Name != "Alice Martin" || got.Locale != "en" {
			t.Fatalf("after SetName/SetLocale: %+v", got)
		}
		if e.count(t, "user.rename", u.ID) != 1 {
			t.Fatal("user.rename not audited")
		}
		if _, err := e.svc.User(context.Background(), 9999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("User(9999) = %v", err)
		}
	})
}

func TestLockoutAndUnlock(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		u := e.mustCreate(t, "alice", goodPassword, RoleAgent)
		ctx := from("198.51.100.7")

		var delays []time.Duration
		for i := 1; i <= 10; i++ {
			_, _, err := e.svc.Login(ctx, "alice", wrongPass)
			want := ErrInvalidCredentials
			if i == 10 {
				want = ErrLocked
			}
			if !errors.Is(err, want) {
				t.Fatalf("attempt %d: %v, want %v", i, err, want)
			}
			delays = append(delays, e.sleep.total())
		}
		for i, d := range delays {
			switch {
			case i < 5 && d != 0:
				t.Errorf("attempt %d delayed %v, want none", i+1, d)
			case i >= 5 && d <= delays[i-1]:
				t.Errorf("attempt %d delayed %v, not more than the previous %v", i+1, d, delays[i-1])
			}
		}
		if delays[5] != time.Second || delays[9] != 16*time.Second {
			t.Errorf("delays = %v, want 1s before the 6th and 16s before the 10th", delays)
		}

		if _, _, err := e.svc.Login(ctx, "alice", goodPassword); !errors.Is(err, ErrLocked) {
			t.Fatalf("right password on a locked account: %v, want ErrLocked", err)
		}
		// From another address too: the lock is the account's.
		if _, _, err := e.svc.Login(from("192.0.2.1"), "alice", goodPassword); !errors.Is(err, ErrLocked) {
			t.Fatalf("right password from elsewhere: %v, want ErrLocked", err)
		}
		if got, _ := e.svc.User(context.Background(), u.ID); !got.Locked {
			t.Fatal("User.Locked is false after ten failures")
		}

		if err := e.svc.Unlock(asAdmin, u.ID); err != nil {
			t.Fatal(err)
		}
		e.sleep.total()
		token, sess, err := e.svc.Login(ctx, "alice", goodPassword)
		if err != nil || token == "" || sess.Stage != StageFull {
			t.Fatalf("login after unlock: %q %+v %v", token, sess, err)
		}
		// Success resets the counters: the next failure is not delayed.
		e.sleep.total()
		if _, _, err := e.svc.Login(ctx, "alice", wrongPass); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		if d := e.sleep.total(); d != 0 {
			t.Fatalf("delay after a successful login: %v", d)
		}

		if n := e.count(t, "auth.login.failed", u.ID); n != 13 {
			t.Errorf("auth.login.failed entries = %d, want 13", n)
		}
		if n := e.count(t, "auth.lockout", u.ID); n != 1 {
			t.Errorf("auth.lockout entries = %d, want 1", n)
		}
		if n := e.count(t, "auth.unlock", u.ID); n != 1 {
			t.Errorf("auth.unlock entries = %d, want 1", n)
		}
		if n := e.count(t, "auth.login.ok", u.ID); n != 1 {
			t.Errorf("auth.login.ok entries = %d, want 1", n)
		}
		for _, en := range e.entries(t, audit.Filter{Action: "auth."}) {
			if strings.Contains(en.Before+en.After, wrongPass) || strings.Contains(en.Before+en.After, goodPassword) {
				t.Fatalf("a password reached the audit trail: %+v", en)
			}
		}
		// Our transactions leave the audit chain intact.
		if rep, err := e.log.Verify(context.Background()); err != nil || rep.Problem != nil {
			t.Fatalf("audit Verify = %+v, %v", rep, err)
		}
	})
}

func TestConcurrentFailuresLockOnce(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		u := e.mustCreate(t, "alice", goodPassword, RoleAgent)
		var wg sync.WaitGroup
		for i := range 14 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := e.svc.Login(from("192.0.2."+strconv.Itoa(i)), "alice", wrongPass)
				if !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrLocked) {
					t.Errorf("concurrent login: %v", err)
				}
			}()
		}
		wg.Wait()
		if got, _ := e.svc.User(context.Background(), u.ID); !got.Locked {
			t.Fatal("not locked after 14 concurrent failures")
		}
		if n := e.count(t, "auth.lockout", u.ID); n != 1 {
			t.Fatalf("%d lockout events, want exactly 1", n)
		}
		if n := e.count(t, "auth.login.failed", u.ID); n != 14 {
			t.Fatalf("%d failures audited, want 14", n)
		}
	})
}

func TestAddressThrottling(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "bob", goodPassword, RoleAgent)
		e.mustCreate(t, "carol", goodPassword, RoleAgent)
		e.mustCreate(t, "dave", goodPassword, RoleAgent)
		attacker := from("203.0.113.9")
		// Five failures spread over several logins, known and unknown.
		for i, login := range []string{"bob", "carol", "nobody", "dave", "ghost"} {
			if _, _, err := e.svc.Login(attacker, login, wrongPass); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if d := e.sleep.total(); d != 0 {
			t.Fatalf("first five failures delayed %v", d)
		}
		// The sixth, on yet another login, waits.
		if _, _, err := e.svc.Login(attacker, "eve", wrongPass); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		if d := e.sleep.total(); d != time.Second {
			t.Fatalf("sixth failure from the address delayed %v, want 1s", d)
		}
		// Another address is not slowed down.
		if _, _, err := e.svc.Login(from("192.0.2.50"), "bob", wrongPass); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		if d := e.sleep.total(); d != 0 {
			t.Fatalf("an innocent address was delayed %v", d)
		}
		// Per-address failures never lock anything: more failures, then a
		// right password from that address works (delayed).
		for range 6 {
			_, _, _ = e.svc.Login(attacker, "unknown-"+strconv.Itoa(int(e.clock.Now().UnixNano()%1000)), wrongPass)
		}
		e.sleep.total()
		if _, _, err := e.svc.Login(attacker, "dave", goodPassword); err != nil {
			t.Fatalf("right password from a throttled address: %v", err)
		}
		if d := e.sleep.total(); d != 30*time.Second {
			t.Fatalf("delay at 12 address failures = %v, want the 30s cap", d)
		}
		// And the success cleared the address.
		_, _, _ = e.svc.Login(attacker, "carol", wrongPass)
		if d := e.sleep.total(); d != 0 {
			t.Fatalf("delay after the address's success = %v", d)
		}
		if n := len(e.entries(t, audit.Filter{Action: "auth.login.failed", ObjectID: ""})); n < 12 {
			t.Fatalf("only %d failures audited", n)
		}
	})
}

// A shared address (a call center's NAT) is forgiven after a quiet window.
func TestAddressFailuresAreForgottenAfterAQuietWindow(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		office := from("198.51.100.20")
		for i := range 8 {
			_, _, _ = e.svc.Login(office, "nobody-"+strconv.Itoa(i), wrongPass)
		}
		if d := e.sleep.total(); d == 0 {
			t.Fatal("eight failures from one address were not delayed")
		}
		e.clock.Advance(addressWindow + time.Second)
		_, _, _ = e.svc.Login(office, "nobody-else", wrongPass)
		if d := e.sleep.total(); d != 0 {
			t.Fatalf("after a quiet window the address was still delayed %v", d)
		}
		// The count restarted at one: four more failures still cost nothing.
		for i := range 4 {
			_, _, _ = e.svc.Login(office, "again-"+strconv.Itoa(i), wrongPass)
		}
		if d := e.sleep.total(); d != 0 {
			t.Fatalf("the count did not restart: delayed %v", d)
		}
	})
}

// codes returns the TOTP codes of the previous, current and next steps.
func codes(t *testing.T, secret string, now time.Time) [3]string {
	t.Helper()
	var out [3]string
	for i := range out {
		c, err := totp.GenerateCode(secret, now.Add(time.Duration(i-1)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// wrongCode returns a six-digit code valid at no step around now.
func wrongCode(t *testing.T, secret string, now time.Time) string {
	valid := codes(t, secret, now)
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i*111111%1000000)
		if c != valid[0] && c != valid[1] && c != valid[2] {
			return c
		}
	}
}

func TestTOTPEnrolmentAndLogin(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		u := e.mustCreate(t, "sam", goodPassword, RoleSupervisor)
		ctx := from("198.51.100.20")

		// Mandatory TOTP, not enrolled: an enrolment-only session.
		enrolToken, sess, err := e.svc.Login(ctx, "sam", goodPassword)
		if err != nil || sess.Stage != StageEnrol {
			t.Fatalf("login without TOTP: %+v %v, want StageEnrol", sess, err)
		}
		if _, _, err := e.svc.VerifyTOTP(ctx, enrolToken, "123456"); !errors.Is(err, ErrNoSession) {
			t.Fatalf("VerifyTOTP on an enrol session: %v", err)
		}
		en, err := e.svc.BeginTOTP(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if en.Secret == "" || !strings.HasPrefix(en.URL, "otpauth://totp/Plateau:sam?") ||
			!strings.Contains(en.URL, "issuer=Plateau") || !bytes.HasPrefix(en.PNG, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("enrolment: %q %q %d bytes", en.Secret, en.URL, len(en.PNG))
		}
		if _, err := e.svc.ConfirmTOTP(ctx, u.ID, wrongCode(t, en.Secret, e.clock.Now()), enrolToken); !errors.Is(err, ErrInvalidTOTP) {
			t.Fatalf("ConfirmTOTP with a wrong code: %v", err)
		}
		used := codes(t, en.Secret, e.clock.Now())[1]
		fullToken, err := e.svc.ConfirmTOTP(ctx, u.ID, used, enrolToken)
		if err != nil || fullToken == "" || fullToken == enrolToken {
			t.Fatalf("ConfirmTOTP = %q, %v", fullToken, err)
		}
		if _, _, err := e.svc.Session(ctx, enrolToken); !errors.Is(err, ErrNoSession) {
			t.Fatalf("enrol token still alive after rotation: %v", err)
		}
		s2, got, err := e.svc.Session(ctx, fullToken)
		if err != nil || s2.Stage != StageFull || !got.TOTPEnabled {
			t.Fatalf("session after enrolment: %+v %+v %v", s2, got, err)
		}
		if e.count(t, "auth.totp.enable", u.ID) != 1 {
			t.Fatal("auth.totp.enable not audited")
		}

		// With TOTP: password gives StageTOTP, which only VerifyTOTP lifts.
		if err := e.svc.Logout(ctx, fullToken); err != nil {
			t.Fatal(err)
		}
		totpToken, sess, err := e.svc.Login(ctx, "sam", goodPassword)
		if err != nil || sess.Stage != StageTOTP {
			t.Fatalf("login with TOTP: %+v %v", sess, err)
		}
		// The code used to confirm is spent.
		if _, _, err := e.svc.VerifyTOTP(ctx, totpToken, used); !errors.Is(err, ErrInvalidTOTP) {
			t.Fatalf("replayed confirmation code: %v", err)
		}
		if _, _, err := e.svc.VerifyTOTP(ctx, totpToken, wrongCode(t, en.Secret, e.clock.Now())); !errors.Is(err, ErrInvalidTOTP) {
			t.Fatalf("wrong code: %v", err)
		}
		e.clock.Advance(30 * time.Second)
		code := codes(t, en.Secret, e.clock.Now())[1]
		full, sess, err := e.svc.VerifyTOTP(ctx, totpToken, code)
		if err != nil || sess.Stage != StageFull || full == totpToken {
			t.Fatalf("VerifyTOTP: %+v %v", sess, err)
		}
		if _, _, err := e.svc.Session(ctx, totpToken); !errors.Is(err, ErrNoSession) {
			t.Fatalf("TOTP-stage token alive after VerifyTOTP: %v", err)
		}
		if _, _, err := e.svc.Session(ctx, full); err != nil {
			t.Fatal(err)
		}
		// The same code, on a fresh login: refused (once only).
		again, _, err := e.svc.Login(ctx, "sam", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.VerifyTOTP(ctx, again, code); !errors.Is(err, ErrInvalidTOTP) {
			t.Fatalf("code replay: %v", err)
		}
		// The previous step's code is older than the used one: refused too.
		if _, _, err := e.svc.VerifyTOTP(ctx, again, codes(t, en.Secret, e.clock.Now())[0]); !errors.Is(err, ErrInvalidTOTP) {
			t.Fatalf("older step: %v", err)
		}

		// Failed codes count towards the lockout: two since the last
		// success, eight more lock the account.
		for i := 3; i <= 10; i++ {
			_, _, err := e.svc.VerifyTOTP(ctx, again, wrongCode(t, en.Secret, e.clock.Now()))
			want := ErrInvalidTOTP
			if i == 10 {
				want = ErrLocked
			}
			if !errors.Is(err, want) {
				t.Fatalf("failed code %d: %v, want %v", i, err, want)
			}
		}
		if _, _, err := e.svc.VerifyTOTP(ctx, again, codes(t, en.Secret, e.clock.Now())[2]); !errors.Is(err, ErrNoSession) {
			t.Fatalf("right code on a locked account: %v", err)
		}
		if err := e.svc.Unlock(asAdmin, u.ID); err != nil {
			t.Fatal(err)
		}

		// Reset: enrol again at next login.
		if err := e.svc.ResetTOTP(asAdmin, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, sess, err := e.svc.Login(ctx, "sam", goodPassword); err != nil || sess.Stage != StageEnrol {
			t.Fatalf("login after ResetTOTP: %+v %v", sess, err)
		}
		if e.count(t, "auth.totp.reset", u.ID) != 1 {
			t.Fatal("auth.totp.reset not audited")
		}
	})
}

func TestStages(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "root.admin", goodPassword, RoleAdmin)
		agent := e.mustCreate(t, "agent1", goodPassword, RoleAgent)
		ctx := from("198.51.100.30")
		if _, s, err := e.svc.Login(ctx, "ROOT.ADMIN", goodPassword); err != nil || s.Stage != StageEnrol {
			t.Fatalf("admin without TOTP: %+v %v", s, err)
		}
		if _, s, err := e.svc.Login(ctx, "agent1", goodPassword); err != nil || s.Stage != StageFull {
			t.Fatalf("agent without TOTP: %+v %v", s, err)
		}
		// An agent who enrolled anyway goes through the TOTP stage.
		en, err := e.svc.BeginTOTP(ctx, agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := e.svc.ConfirmTOTP(ctx, agent.ID, codes(t, en.Secret, e.clock.Now())[1], ""); err != nil || tok != "" {
			t.Fatalf("ConfirmTOTP without token: %q %v", tok, err)
		}
		if _, s, err := e.svc.Login(ctx, "agent1", goodPassword); err != nil || s.Stage != StageTOTP {
			t.Fatalf("enrolled agent: %+v %v", s, err)
		}
	})
}

func TestSessionTimeouts(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "agent1", goodPassword, RoleAgent)
		ctx := from("198.51.100.40")
		token, first, err := e.svc.Login(ctx, "agent1", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if first.ID == token || len(first.ID) != 64 {
			t.Fatalf("session id %q should be the hex SHA-256 of the token", first.ID)
		}
		// Within a minute, no write: last seen stays.
		e.clock.Advance(40 * time.Second)
		s, _, err := e.svc.Session(ctx, token)
		if err != nil || !s.LastSeen.Equal(first.LastSeen) {
			t.Fatalf("session at +40s: %+v %v", s, err)
		}
		// Idle: 29 minutes at a time keep it alive...
		for range 3 {
			e.clock.Advance(29 * time.Minute)
			if _, _, err := e.svc.Session(ctx, token); err != nil {
				t.Fatalf("session after 29 idle minutes: %v", err)
			}
		}
		// ...30 kill it.
		e.clock.Advance(30 * time.Minute)
		if _, _, err := e.svc.Session(ctx, token); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session after 30 idle minutes: %v", err)
		}

		// Absolute: even an active session ends after 12 hours.
		token, _, err = e.svc.Login(ctx, "agent1", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		for elapsed := 20 * time.Minute; elapsed < 12*time.Hour; elapsed += 20 * time.Minute {
			e.clock.Advance(20 * time.Minute)
			if _, _, err := e.svc.Session(ctx, token); err != nil {
				t.Fatalf("active session at %v: %v", elapsed, err)
			}
		}
		e.clock.Advance(20 * time.Minute)
		if _, _, err := e.svc.Session(ctx, token); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session past 12 hours: %v", err)
		}
		agent1, err := e.svc.UserByLogin(ctx, "agent1")
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.PurgeSessions(asAdmin)
		if err != nil || p.Sessions != 2 || !slices.Equal(p.SignedOut, []int64{agent1.ID}) {
			t.Fatalf("PurgeSessions = %+v, %v; want 2 sessions, agent1 signed out", p, err)
		}
		if p, _ := e.svc.PurgeSessions(asAdmin); p.Sessions != 0 || len(p.SignedOut) != 0 {
			t.Fatalf("second purge: %+v", p)
		}
		// A user who still has a live session is not signed out when an
		// older one of theirs expires.
		if _, _, err := e.svc.Login(ctx, "agent1", goodPassword); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(20 * time.Minute)
		if _, _, err := e.svc.Login(ctx, "agent1", goodPassword); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(15 * time.Minute)
		if p, err := e.svc.PurgeSessions(asAdmin); err != nil || p.Sessions != 1 || len(p.SignedOut) != 0 {
			t.Fatalf("purge with a live session left: %+v, %v", p, err)
		}
		if _, _, err := e.svc.Session(ctx, "garbage"); !errors.Is(err, ErrNoSession) {
			t.Fatalf("garbage token: %v", err)
		}
	})
}

func TestLogoutDisableAndSessionEnds(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "root.admin", goodPassword, RoleAdmin)
		u := e.mustCreate(t, "agent1", goodPassword, RoleAgent)
		ctx := from("198.51.100.50")
		login := func() string {
			t.Helper()
			tok, _, err := e.svc.Login(ctx, "agent1", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		alive := func(tok string) bool {
			_, _, err := e.svc.Session(ctx, tok)
			return err == nil
		}
		a, b := login(), login()
		if err := e.svc.Logout(ctx, a); err != nil {
			t.Fatal(err)
		}
		if alive(a) || !alive(b) {
			t.Fatal("logout must end that session only")
		}
		if err := e.svc.Logout(ctx, a); err != nil {
			t.Fatalf("second logout: %v", err)
		}

		if err := e.svc.SetDisabled(asAdmin, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if alive(b) {
			t.Fatal("disabling must end the user's sessions")
		}
		if _, _, err := e.svc.Login(ctx, "agent1", goodPassword); !errors.Is(err, ErrDisabled) {
			t.Fatalf("login of a disabled user: %v", err)
		}
		if _, _, err := e.svc.Login(ctx, "agent1", wrongPass); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong password of a disabled user: %v", err)
		}
		if err := e.svc.SetDisabled(asAdmin, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if e.count(t, "user.disable", u.ID) != 1 || e.count(t, "user.enable", u.ID) != 1 {
			t.Fatal("disable/enable not audited")
		}

		c := login()
		if err := e.svc.SetRoles(asAdmin, u.ID, []Role{RoleAgent, RoleIT}); err != nil {
			t.Fatal(err)
		}
		if alive(c) {
			t.Fatal("changing roles must end the user's sessions")
		}
		if e.count(t, "user.roles.change", u.ID) != 1 {
			t.Fatal("user.roles.change not audited")
		}
		if err := e.svc.SetRoles(asAdmin, u.ID, []Role{RoleAgent}); err != nil {
			t.Fatal(err)
		}

		c = login()
		if err := e.svc.ResetPassword(asAdmin, u.ID, "A-brand-new-secret-42"); err != nil {
			t.Fatal(err)
		}
		if alive(c) {
			t.Fatal("resetting the password must end the user's sessions")
		}
		if _, _, err := e.svc.Login(ctx, "agent1", "A-brand-new-secret-42"); err != nil {
			t.Fatal(err)
		}

		// Own password change: keep this session, end the others.
		keep, other := login2(t, e, ctx, "A-brand-new-secret-42")
		if err := e.svc.ChangePassword(ctx, u.ID, wrongPass, "Another-fresh-one-43", keep); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("ChangePassword with a wrong current one: %v", err)
		}
		if err := e.svc.ChangePassword(ctx, u.ID, "A-brand-new-secret-42", "agent1-is-me-2026", keep); !errors.Is(err, ErrPasswordContext) {
			t.Fatalf("ChangePassword to a weak one: %v", err)
		}
		if err := e.svc.ChangePassword(ctx, u.ID, "A-brand-new-secret-42", "Another-fresh-one-43", keep); err != nil {
			t.Fatal(err)
		}
		if !alive(keep) || alive(other) {
			t.Fatal("ChangePassword must keep the given session and end the others")
		}
		if e.count(t, "auth.password.change", u.ID) != 1 || e.count(t, "auth.password.reset", u.ID) != 1 {
			t.Fatal("password change/reset not audited")
		}

		d2 := login2a(t, e, ctx, "Another-fresh-one-43")
		if err := e.svc.EndSessions(asAdmin, u.ID); err != nil {
			t.Fatal(err)
		}
		if alive(keep) || alive(d2) {
			t.Fatal("EndSessions left a session alive")
		}
	})
}

func login2(t *testing.T, e *env, ctx context.Context, password string) (string, string) {
	t.Helper()
	return login2a(t, e, ctx, password), login2a(t, e, ctx, password)
}

func login2a(t *testing.T, e *env, ctx context.Context, password string) string {
	t.Helper()
	tok, _, err := e.svc.Login(ctx, "agent1", password)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokens(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "root.admin", goodPassword, RoleAdmin)
		u := e.mustCreate(t, "robot", goodPassword, RoleAgent)
		ctx := context.Background()
		tok, info, err := e.svc.CreateToken(asAdmin, u.ID, "CRM export")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "plt_") || len(tok) != 4+43 || info.Name != "CRM export" || info.UserID != u.ID {
			t.Fatalf("CreateToken = %q, %+v", tok, info)
		}
		got, err := e.svc.AuthenticateToken(ctx, tok)
		if err != nil || got.ID != u.ID {
			t.Fatalf("AuthenticateToken = %+v, %v", got, err)
		}
		list, err := e.svc.Tokens(ctx, u.ID)
		if err != nil || len(list) != 1 || list[0].Revoked || !list[0].LastUsed.Equal(t0) {
			t.Fatalf("Tokens = %+v, %v", list, err)
		}
		for _, bad := range []string{"", "plt_", "plt_nope", tok + "x", strings.TrimPrefix(tok, "plt_")} {
			if _, err := e.svc.AuthenticateToken(ctx, bad); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("AuthenticateToken(bad) = %v", err)
			}
		}
		if err := e.svc.SetDisabled(asAdmin, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AuthenticateToken(ctx, tok); !errors.Is(err, ErrDisabled) {
			t.Fatalf("token of a disabled user: %v", err)
		}
		if err := e.svc.SetDisabled(asAdmin, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RevokeToken(asAdmin, info.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AuthenticateToken(ctx, tok); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("revoked token: %v", err)
		}
		if err := e.svc.RevokeToken(asAdmin, info.ID); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		if err := e.svc.RevokeToken(asAdmin, 999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		all, _ := e.svc.Tokens(ctx, 0)
		if len(all) != 1 || !all[0].Revoked {
			t.Fatalf("Tokens(0) = %+v", all)
		}
		id := strconv.FormatInt(info.ID, 10)
		if len(e.entries(t, audit.Filter{Action: "token.create", ObjectID: id})) != 1 ||
			len(e.entries(t, audit.Filter{Action: "token.revoke", ObjectID: id})) != 1 {
			t.Fatal("token creation/revocation not audited")
		}
		for _, en := range e.entries(t, audit.Filter{}) {
			if strings.Contains(en.After, tok[4:]) {
				t.Fatal("a token reached the audit trail")
			}
		}
	})
}

func TestSetup(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := from("198.51.100.60")
		if need, err := e.svc.SetupNeeded(ctx); err != nil || !need {
			t.Fatalf("SetupNeeded = %v, %v", need, err)
		}
		first, err := e.svc.NewSetupToken(asAdmin)
		if err != nil {
			t.Fatal(err)
		}
		link, err := e.svc.NewSetupToken(asAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.CheckSetupToken(ctx, first); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("replaced setup token: %v", err)
		}
		if err := e.svc.CheckSetupToken(ctx, link); err != nil {
			t.Fatalf("CheckSetupToken: %v", err)
		}
		n := NewUser{Login: "Chef", Name: "Chef de plateau", Password: goodPassword}
		if _, _, err := e.svc.CompleteSetup(ctx, first, n); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("CompleteSetup with the replaced token: %v", err)
		}
		u, token, err := e.svc.CompleteSetup(ctx, link, n)
		if err != nil {
			t.Fatal(err)
		}
		if u.Login != "chef" || len(u.Roles) != 1 || u.Roles[0] != RoleAdmin {
			t.Fatalf("first user %+v", u)
		}
		if s, _, err := e.svc.Session(ctx, token); err != nil || s.Stage != StageEnrol || s.UserID != u.ID {
			t.Fatalf("setup session: %+v %v", s, err)
		}
		if _, _, err := e.svc.CompleteSetup(ctx, link, NewUser{Login: "chef2", Password: goodPassword}); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("second use: %v", err)
		}
		if _, err := e.svc.NewSetupToken(asAdmin); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("NewSetupToken with users: %v", err)
		}
		if err := e.svc.CheckSetupToken(ctx, link); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("CheckSetupToken after use: %v", err)
		}
		if need, _ := e.svc.SetupNeeded(ctx); need {
			t.Fatal("SetupNeeded after setup")
		}
		if e.count(t, "setup.complete", u.ID) != 1 {
			t.Fatal("setup.complete not audited")
		}
		users, _ := e.svc.Users(ctx)
		if len(users) != 1 {
			t.Fatalf("%d users after setup", len(users))
		}
	})
}

func TestSetupExpiresAndRacesOnce(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := from("198.51.100.61")
		old, err := e.svc.NewSetupToken(asAdmin)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(24*time.Hour + time.Second)
		if err := e.svc.CheckSetupToken(ctx, old); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("expired token: %v", err)
		}
		if _, _, err := e.svc.CompleteSetup(ctx, old, NewUser{Login: "chef", Password: goodPassword}); !errors.Is(err, ErrSetupDone) {
			t.Fatalf("CompleteSetup with an expired token: %v", err)
		}
		link, err := e.svc.NewSetupToken(asAdmin)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := e.svc.CompleteSetup(ctx, link, NewUser{Login: "chef" + strconv.Itoa(i), Password: goodPassword})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrSetupDone):
					t.Errorf("concurrent CompleteSetup: %v", err)
				}
			}()
		}
		wg.Wait()
		users, _ := e.svc.Users(ctx)
		if ok != 1 || len(users) != 1 {
			t.Fatalf("%d setups succeeded, %d users; want exactly one", ok, len(users))
		}
	})
}

func TestLastAdmin(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		a1 := e.mustCreate(t, "admin1", goodPassword, RoleAdmin)
		if err := e.svc.SetRoles(asAdmin, a1.ID, []Role{RoleAgent}); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("demote the last admin: %v", err)
		}
		if err := e.svc.SetDisabled(asAdmin, a1.ID, true); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("disable the last admin: %v", err)
		}
		// Adding roles to the last admin is fine.
		if err := e.svc.SetRoles(asAdmin, a1.ID, []Role{RoleAdmin, RoleDPO}); err != nil {
			t.Fatal(err)
		}
		a2 := e.mustCreate(t, "admin2", goodPassword, RoleAdmin)
		a3 := e.mustCreate(t, "admin3", goodPassword, RoleAdmin)
		if err := e.svc.SetDisabled(asAdmin, a3.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetRoles(asAdmin, a1.ID, []Role{RoleAgent}); err != nil {
			t.Fatal(err)
		}
		// a3 is disabled: a2 is the last active admin.
		if err := e.svc.SetRoles(asAdmin, a2.ID, []Role{RoleIT}); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("demote the last active admin: %v", err)
		}
		if err := e.svc.SetDisabled(asAdmin, a2.ID, true); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("disable the last active admin: %v", err)
		}
		if err := e.svc.SetDisabled(asAdmin, a1.ID, true); err != nil {
			t.Fatalf("disable a former admin: %v", err)
		}
		if err := e.svc.SetRoles(asAdmin, a2.ID, nil); !errors.Is(err, ErrNoRole) {
			t.Fatalf("no roles: %v", err)
		}
	})
}

func TestRehashOnLogin(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "agent1", goodPassword, RoleAgent)
		stronger := NewService(d, e.vault, e.log, Options{Now: e.clock.Now, Sleep: e.sleep.Sleep, Argon2Memory: 2048, Argon2Time: 2})
		if _, _, err := stronger.Login(from("192.0.2.9"), "agent1", goodPassword); err != nil {
			t.Fatal(err)
		}
		var h string
		if err := d.QueryRowContext(context.Background(), "SELECT password_hash FROM users WHERE login = ?", "agent1").Scan(&h); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=2048,t=2,p=2$") {
			t.Fatalf("hash not upgraded: %s", h[:32])
		}
		if _, _, err := e.svc.Login(from("192.0.2.9"), "agent1", goodPassword); err != nil {
			t.Fatalf("login with the upgraded hash: %v", err)
		}
	})
}
