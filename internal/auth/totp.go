package auth

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// TOTP parameters (RFC 6238 as every authenticator app reads them).
const (
	totpPeriod = 30 // seconds
	totpSkew   = 1  // steps accepted either side of now
)

// matchTOTP checks code against secret at now, one step of skew either
// side, and returns the time step it matched, so that a step can be refused
// once used.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	cur := now.Unix() / totpPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step < 0 {
			continue
		}
		if ok, err := hotp.ValidateCustom(code, uint64(step), secret, opts); err == nil && ok {
			return step, true
		}
	}
	return 0, false
}

func totpAD(id, column string) vault.AD {
	return vault.AD{Table: "users", Column: column, Row: id}
}

// BeginTOTP starts (or restarts) an enrolment: a new secret, kept sealed
// until confirmed. An enabled TOTP stays in force until ConfirmTOTP.
func (s *Service) BeginTOTP(ctx context.Context, userID int64) (Enrolment, error) {
	if err := s.ensureScopes(ctx); err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP: %w", err)
	}
	r, err := loadUser(ctx, s.d, sqlUserByID, userID)
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP for user %d: %w", userID, err)
	}
	if r.disabled {
		return Enrolment{}, fmt.Errorf("begin TOTP: %w", ErrDisabled)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer(), AccountName: r.login, Period: totpPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP: generate: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP: QR code: %w", err)
	}
	sealed, err := s.v.Seal(ctx, vault.ScopeSystem, []byte(key.Secret()), totpAD(r.idString(), "totp_pending"))
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP: seal: %w", err)
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlSetTOTPPending, sealed, db.Millis(s.now()), userID); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{Action: "auth.totp.begin", ObjectType: "user", ObjectID: r.idString()})
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP for user %d: %w", userID, err)
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL(), PNG: buf.Bytes()}, nil
}

// ConfirmTOTP checks a code against the pending secret and enables TOTP. When
// token names a StageEnrol session it becomes StageFull under a new token,
// which is returned ("" otherwise).
func (s *Service) ConfirmTOTP(ctx context.Context, userID int64, code, token string) (string, error) {
	if err := s.ensureScopes(ctx); err != nil {
		return "", fmt.Errorf("confirm TOTP: %w", err)
	}
	r, err := loadUser(ctx, s.d, sqlUserByID, userID)
	if err != nil {
		return "", fmt.Errorf("confirm TOTP for user %d: %w", userID, err)
	}
	if r.disabled {
		return "", fmt.Errorf("confirm TOTP: %w", ErrDisabled)
	}
	if r.totpPending == nil {
		return "", fmt.Errorf("confirm TOTP: no pending enrolment: %w", ErrNotFound)
	}
	secret, err := s.v.Open(ctx, r.totpPending, totpAD(r.idString(), "totp_pending"))
	if err != nil {
		return "", fmt.Errorf("confirm TOTP: open pending secret of user %d: %w", userID, err)
	}
	now := s.now()
	// The previous secret's last step is not checked: this is a new secret,
	// and someone who just logged in with the old one may enrol at once.
	step, ok := matchTOTP(string(secret), code, now)
	if !ok {
		return "", ErrInvalidTOTP
	}
	sealed, err := s.v.Seal(ctx, vault.ScopeSystem, secret, totpAD(r.idString(), "totp_secret"))
	if err != nil {
		return "", fmt.Errorf("confirm TOTP: seal: %w", err)
	}
	source := audit.ActorFrom(ctx).Source
	var newToken string
	var result error
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		cur, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlEnableTOTP, sealed, max(step, cur.lastStep), db.Millis(now), userID, r.totpPending)
		if err != nil {
			return fmt.Errorf("enable TOTP: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			result = ErrInvalidTOTP // a concurrent BeginTOTP replaced the pending secret
			return nil
		}
		err = s.record(ctx, tx, audit.Event{
			Action: "auth.totp.enable", ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"totp": cur.totpSecret != nil}, After: map[string]any{"totp": true},
		})
		if err != nil || token == "" || len(token) > maxTokenLen {
			return err
		}
		// Promote the enrolment session, if that is what token names.
		old, err := scanSession(tx.QueryRowContext(ctx, sqlSession, hashToken(token)))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read session: %w", err)
		}
		if old.UserID != userID || old.Stage != StageEnrol || s.expired(old, now) || cur.lockedAt != 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlDeleteSessionOf, old.ID, userID, string(StageEnrol)); err != nil {
			return fmt.Errorf("end enrolment session: %w", err)
		}
		if err := s.succeed(ctx, tx, userID, source); err != nil {
			return err
		}
		if newToken, _, err = s.newSession(ctx, tx, userID, StageFull, old.CreatedAt); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Actor: cur.login, Action: "auth.login.ok", ObjectType: "user", ObjectID: r.idString(),
			After: map[string]any{"stage": string(StageFull), "factor": "totp-enrolment"},
		})
	})
	if err != nil {
		return "", fmt.Errorf("confirm TOTP for user %d: %w", userID, err)
	}
	if result != nil {
		return "", result
	}
	return newToken, nil
}

// ResetTOTP removes a user's TOTP (administrator); they enrol again at next
// login.
func (s *Service) ResetTOTP(ctx context.Context, userID int64) error {
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("reset TOTP: %w", err)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		cur, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if cur.totpSecret == nil && cur.totpPending == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlResetTOTP, db.Millis(s.now()), userID); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "auth.totp.reset", ObjectType: "user", ObjectID: cur.idString(),
			Before: map[string]any{"totp": cur.totpSecret != nil}, After: map[string]any{"totp": false},
		})
	})
	if err != nil {
		return fmt.Errorf("reset TOTP of user %d: %w", userID, err)
	}
	return nil
}
