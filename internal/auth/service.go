package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// Throttling (CNIL deliberation 2022-100): after freeDelayFailures
// consecutive failures each answer waits, doubling up to maxDelayUnits
// units; lockFailures consecutive failures lock the account.
const (
	freeDelayFailures = 5
	maxDelayUnits     = 30
	lockFailures      = 10
)

// touchEvery bounds how often a session's last_seen_at or a token's
// last_used_at is written: at most one write a minute, not one per request.
const touchEvery = time.Minute

// setupTokenTTL is how long a setup link stays valid.
const setupTokenTTL = 24 * time.Hour

// anonymous is the audit actor of events with no known user (a failed login
// of an unauthenticated visitor).
const anonymous = "anonymous"

func (s *Service) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now().UTC()
	}
	return time.Now().UTC()
}

// sleep waits d before answering, or less if ctx ends first.
func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if s.opt.Sleep != nil {
		return s.opt.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Service) idleTimeout() time.Duration {
	if s.opt.IdleTimeout > 0 {
		return s.opt.IdleTimeout
	}
	return 30 * time.Minute
}

func (s *Service) absoluteTimeout() time.Duration {
	if s.opt.AbsoluteTimeout > 0 {
		return s.opt.AbsoluteTimeout
	}
	return 12 * time.Hour
}

func (s *Service) issuer() string {
	if s.opt.Issuer != "" {
		return s.opt.Issuer
	}
	return "Plateau"
}

func (s *Service) params() argonParams {
	p := argonParams{memory: defaultArgon2Memory, time: defaultArgon2Time, threads: defaultArgon2Threads}
	if s.opt.Argon2Memory > 0 {
		p.memory = max(s.opt.Argon2Memory, 8*uint32(p.threads))
	}
	if s.opt.Argon2Time > 0 {
		p.time = s.opt.Argon2Time
	}
	return p
}

// delay is the wait before answering after failures consecutive failures:
// nothing for the first five, then DelayUnit * 2^(failures-5), capped at 30
// units.
func (s *Service) delay(failures int) time.Duration {
	if failures < freeDelayFailures {
		return 0
	}
	unit := s.opt.DelayUnit
	if unit <= 0 {
		unit = time.Second
	}
	exp := failures - freeDelayFailures
	if exp >= 5 { // 2^5 = 32 > 30
		return maxDelayUnits * unit
	}
	return min(unit<<exp, maxDelayUnits*unit)
}

// ensureScopes makes sure the vault scopes sealed into during this service's
// transactions exist before one opens: creating a data key inside our
// transaction would, on SQLite, wait for the single writer we hold.
func (s *Service) ensureScopes(ctx context.Context) error {
	if s.scopesReady.Load() {
		return nil
	}
	for _, scope := range []string{vault.ScopeSystem, vault.ScopeAudit} {
		if err := s.v.EnsureScope(ctx, scope); err != nil {
			return fmt.Errorf("vault scope %s: %w", scope, err)
		}
	}
	s.scopesReady.Store(true)
	return nil
}

// record appends an audit event inside tx.
func (s *Service) record(ctx context.Context, tx *db.Tx, e audit.Event) error {
	if err := s.a.Record(ctx, tx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// actorOrAnonymous is the context's actor login, or "anonymous" before
// anyone is authenticated.
func actorOrAnonymous(ctx context.Context) string {
	if a := audit.ActorFrom(ctx).Login; a != "" {
		return a
	}
	return anonymous
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashToken is what the database stores instead of a token: a database
// leak then gives no usable session, API or setup token.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// truncate cuts s to at most n bytes on a rune boundary (user agents and
// attempted logins are attacker-chosen and stored).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
