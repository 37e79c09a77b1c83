package auth

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// maxAttemptedLogin bounds the attempted login kept (sealed) in the audit
// row of an unknown-login failure.
const maxAttemptedLogin = 128

// addressWindow is how long a source address's failures are remembered after
// the last one. Unlike an account, an address is never locked, and many
// agents of a call center share one (NAT): their typos must not slow each
// other down for the rest of the day.
const addressWindow = 15 * time.Minute

// addressFailures returns the consecutive failures counted for a source
// address within addressWindow of the last one.
func (s *Service) addressFailures(ctx context.Context, source string) (int, error) {
	if source == "" {
		return 0, nil
	}
	var n int
	err := s.d.QueryRowContext(ctx, sqlAddressFailures, source, db.Millis(s.now().Add(-addressWindow))).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read address failures: %w", err)
	}
	return n, nil
}

// throttle waits the delay earned by the account's and the source address's
// consecutive failures, whichever is longer, before the answer is computed.
func (s *Service) throttle(ctx context.Context, accountFailures int, source string) error {
	addr, err := s.addressFailures(ctx, source)
	if err != nil {
		return err
	}
	return s.sleep(ctx, s.delay(max(accountFailures, addr)))
}

func failAddress(ctx context.Context, tx *db.Tx, source string, now int64) error {
	if source == "" {
		return nil
	}
	since := db.Millis(db.FromMillis(now).Add(-addressWindow))
	if _, err := tx.ExecContext(ctx, sqlFailAddress, source, now, since); err != nil {
		return fmt.Errorf("count address failure: %w", err)
	}
	return nil
}

// fail counts a failed login (password or TOTP) for the account r and the
// source address, audits it, and locks the account at the tenth consecutive
// failure. It reports whether the account is now locked.
func (s *Service) fail(ctx context.Context, tx *db.Tx, r userRow, source, reason string) (bool, error) {
	now := db.Millis(s.now())
	var n int
	if err := tx.QueryRowContext(ctx, sqlFailUser, now, r.id).Scan(&n); err != nil {
		return false, fmt.Errorf("count failure: %w", err)
	}
	if err := failAddress(ctx, tx, source, now); err != nil {
		return false, err
	}
	err := s.record(ctx, tx, audit.Event{
		Actor: actorOrAnonymous(ctx), Action: "auth.login.failed", ObjectType: "user", ObjectID: r.idString(),
		After: map[string]any{"reason": reason, "failed_logins": n},
	})
	if err != nil {
		return false, err
	}
	if n < lockFailures {
		return r.lockedAt != 0, nil
	}
	res, err := tx.ExecContext(ctx, sqlLockAccount, now, now, r.id)
	if err != nil {
		return false, fmt.Errorf("lock account: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 1 {
		slog.WarnContext(ctx, "auth: account locked after repeated failed logins", "user_id", r.id, "failures", n)
		err = s.record(ctx, tx, audit.Event{
			Actor: actorOrAnonymous(ctx), Action: "auth.lockout", ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"locked": false}, After: map[string]any{"locked": true, "failed_logins": n},
		})
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// succeed clears the consecutive-failure counters of the account and of the
// source address once a login is complete.
func (s *Service) succeed(ctx context.Context, tx *db.Tx, userID int64, source string) error {
	if _, err := tx.ExecContext(ctx, sqlResetUser, db.Millis(s.now()), userID); err != nil {
		return fmt.Errorf("reset failures: %w", err)
	}
	if source != "" {
		if _, err := tx.ExecContext(ctx, sqlResetAddress, source); err != nil {
			return fmt.Errorf("reset address failures: %w", err)
		}
	}
	return nil
}

// stageAfterPassword is where a correct password leads.
func stageAfterPassword(r userRow) Stage {
	switch {
	case r.totpSecret != nil:
		return StageTOTP
	case r.user().NeedsTOTP():
		return StageEnrol
	default:
		return StageFull
	}
}

// Login checks a password, applying the throttling delays before answering.
// The source address throttled per address is audit.ActorFrom(ctx).Source.
// On success it returns a new session token and the session (stage totp,
// enrol or full).
//
// The failure counters are cleared only when the login is complete: a
// correct password leading to StageTOTP leaves them, so that TOTP codes
// cannot be guessed by alternating them with the password.
func (s *Service) Login(ctx context.Context, login, password string) (string, Session, error) {
	if err := s.ensureScopes(ctx); err != nil {
		return "", Session{}, fmt.Errorf("login: %w", err)
	}
	source := audit.ActorFrom(ctx).Source
	var r userRow
	known := false
	if l, err := normaliseLogin(login); err == nil {
		r, err = loadUser(ctx, s.d, sqlUserByLogin, l)
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, ErrNotFound):
			return "", Session{}, fmt.Errorf("login: %w", err)
		}
	}
	if err := s.throttle(ctx, r.failures, source); err != nil {
		return "", Session{}, fmt.Errorf("login: %w", err)
	}

	// Hash before the transaction: the writer is not held for the ~100 ms
	// argon2id takes. Unknown logins and absurd inputs cost the same.
	ok := false
	current := s.params()
	var rehash string
	if known && len(password) <= maxPasswordBytes {
		var used argonParams
		var err error
		ok, used, err = verifyPassword(password, r.hash)
		if err != nil {
			slog.ErrorContext(ctx, "auth: stored password hash unusable", "user_id", r.id, "err", err)
			ok = false
		}
		if ok && used != current {
			// The cost parameters changed since this hash was made.
			if rehash, err = hashPassword(password, current); err != nil {
				slog.WarnContext(ctx, "auth: rehash failed", "user_id", r.id, "err", err)
				rehash = ""
			}
		}
	} else {
		burnHash(truncate(password, maxPasswordBytes), current)
	}

	var (
		token  string
		sess   Session
		result error
	)
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		now := s.now()
		if !known {
			result = ErrInvalidCredentials
			if err := failAddress(ctx, tx, source, db.Millis(now)); err != nil {
				return err
			}
			return s.record(ctx, tx, audit.Event{
				Actor: actorOrAnonymous(ctx), Action: "auth.login.failed", ObjectType: "user",
				After:    map[string]any{"reason": "unknown login", "login": truncate(login, maxAttemptedLogin)},
				Personal: []string{"login"}, // may be anything, even a password typed in the wrong field
			})
		}
		cur, err := lockUser(ctx, tx, r.id)
		if err != nil {
			return err
		}
		switch {
		case cur.lockedAt != 0:
			// Same answer whatever the password, so a locked account is no
			// oracle; the address still pays for the attempt.
			result = ErrLocked
			if err := failAddress(ctx, tx, source, db.Millis(now)); err != nil {
				return err
			}
			return s.record(ctx, tx, audit.Event{
				Actor: actorOrAnonymous(ctx), Action: "auth.login.failed", ObjectType: "user", ObjectID: cur.idString(),
				After: map[string]any{"reason": "locked"},
			})
		case !ok || cur.hash != r.hash:
			locked, err := s.fail(ctx, tx, cur, source, "wrong password")
			result = ErrInvalidCredentials
			if locked {
				result = ErrLocked
			}
			return err
		case cur.disabled:
			result = ErrDisabled
			return s.record(ctx, tx, audit.Event{
				Actor: actorOrAnonymous(ctx), Action: "auth.login.failed", ObjectType: "user", ObjectID: cur.idString(),
				After: map[string]any{"reason": "disabled"},
			})
		}
		stage := stageAfterPassword(cur)
		if stage != StageTOTP {
			if err := s.succeed(ctx, tx, cur.id, source); err != nil {
				return err
			}
		}
		if rehash != "" {
			if _, err := tx.ExecContext(ctx, sqlSetPassword, rehash, db.Millis(now), cur.id); err != nil {
				return fmt.Errorf("rehash: %w", err)
			}
		}
		if token, sess, err = s.newSession(ctx, tx, cur.id, stage, now); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Actor: cur.login, Action: "auth.login.ok", ObjectType: "user", ObjectID: cur.idString(),
			After: map[string]any{"stage": string(stage), "factor": "password"},
		})
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("login: %w", err)
	}
	if result != nil {
		return "", Session{}, result
	}
	return token, sess, nil
}

// VerifyTOTP completes a StageTOTP session with a code; it returns a new
// token (the old one is revoked) for a StageFull session. A wrong or
// replayed code counts as a failed login (delays, lockout).
func (s *Service) VerifyTOTP(ctx context.Context, token, code string) (string, Session, error) {
	if err := s.ensureScopes(ctx); err != nil {
		return "", Session{}, fmt.Errorf("verify TOTP: %w", err)
	}
	old, r, err := s.liveSession(ctx, s.d, token)
	if err != nil {
		return "", Session{}, err
	}
	if old.Stage != StageTOTP || r.totpSecret == nil {
		return "", Session{}, ErrNoSession
	}
	source := audit.ActorFrom(ctx).Source
	if err := s.throttle(ctx, r.failures, source); err != nil {
		return "", Session{}, fmt.Errorf("verify TOTP: %w", err)
	}
	secret, err := s.v.Open(ctx, r.totpSecret, vault.AD{Table: "users", Column: "totp_secret", Row: r.idString()})
	if err != nil {
		return "", Session{}, fmt.Errorf("verify TOTP: open secret of user %d: %w", r.id, err)
	}
	step, matched := matchTOTP(string(secret), code, s.now())

	var (
		newToken string
		sess     Session
		result   error
	)
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		cur, err := lockUser(ctx, tx, r.id)
		if err != nil {
			return err
		}
		switch {
		case cur.lockedAt != 0:
			result = ErrLocked
			return nil
		case cur.disabled || !bytes.Equal(cur.totpSecret, r.totpSecret):
			result = ErrNoSession
			return nil
		case !matched || step <= cur.lastStep:
			reason := "wrong TOTP code"
			if matched {
				reason = "replayed TOTP code"
			}
			locked, err := s.fail(ctx, tx, cur, source, reason)
			result = ErrInvalidTOTP
			if locked {
				result = ErrLocked
			}
			return err
		}
		res, err := tx.ExecContext(ctx, sqlDeleteSessionOf, old.ID, cur.id, string(StageTOTP))
		if err != nil {
			return fmt.Errorf("end TOTP-stage session: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			result = ErrNoSession // used concurrently, or logged out meanwhile
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlUseTOTPStep, step, db.Millis(s.now()), cur.id, step); err != nil {
			return fmt.Errorf("use TOTP step: %w", err)
		}
		if err := s.succeed(ctx, tx, cur.id, source); err != nil {
			return err
		}
		if newToken, sess, err = s.newSession(ctx, tx, cur.id, StageFull, old.CreatedAt); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Actor: cur.login, Action: "auth.login.ok", ObjectType: "user", ObjectID: strconv.FormatInt(cur.id, 10),
			After: map[string]any{"stage": string(StageFull), "factor": "totp"},
		})
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("verify TOTP: %w", err)
	}
	if result != nil {
		return "", Session{}, result
	}
	return newToken, sess, nil
}
