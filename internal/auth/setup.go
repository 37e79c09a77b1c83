package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// SetupNeeded reports whether no user exists yet.
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) {
	n, err := countUsers(ctx, s.d)
	if err != nil {
		return false, fmt.Errorf("setup needed: %w", err)
	}
	return n == 0, nil
}

// NewSetupToken makes the one-time setup link's token (invalidating any
// earlier one); it fails with ErrSetupDone when users exist. The token is
// valid 24 hours.
func (s *Service) NewSetupToken(ctx context.Context) (string, error) {
	if err := s.ensureScopes(ctx); err != nil {
		return "", fmt.Errorf("setup token: %w", err)
	}
	token, err := randomToken()
	if err != nil {
		return "", fmt.Errorf("setup token: %w", err)
	}
	now := s.now()
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		n, err := countUsers(ctx, tx)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrSetupDone
		}
		if _, err := tx.ExecContext(ctx, sqlDeleteSetups); err != nil {
			return err
		}
		expires := now.Add(setupTokenTTL)
		if _, err := tx.ExecContext(ctx, sqlInsertSetup, hashToken(token), db.Millis(now), db.Millis(expires)); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "setup.token.create", ObjectType: "setup",
			After: map[string]any{"expires_at": expires.Format("2006-01-02T15:04:05Z")},
		})
	})
	if err != nil {
		return "", fmt.Errorf("setup token: %w", err)
	}
	return token, nil
}

// CheckSetupToken reports whether a setup token is still valid: nil, or
// ErrSetupDone when it is unknown, used, expired or users exist already.
func (s *Service) CheckSetupToken(ctx context.Context, token string) error {
	if token == "" || len(token) > maxTokenLen {
		return ErrSetupDone
	}
	n, err := countUsers(ctx, s.d)
	if err != nil {
		return fmt.Errorf("check setup token: %w", err)
	}
	if n > 0 {
		return ErrSetupDone
	}
	var expires, used int64
	err = s.d.QueryRowContext(ctx, sqlSetupToken, hashToken(token)).Scan(&expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrSetupDone
	}
	if err != nil {
		return fmt.Errorf("check setup token: %w", err)
	}
	if used != 0 || expires <= db.Millis(s.now()) {
		return ErrSetupDone
	}
	return nil
}

// CompleteSetup consumes the setup token and creates the first administrator,
// returning a StageEnrol session token for them (TOTP enrolment comes next).
// n.Roles is ignored: the first user is an administrator. Everything happens
// in one transaction, so a token is used at most once and only while no
// user exists.
func (s *Service) CompleteSetup(ctx context.Context, setupToken string, n NewUser) (User, string, error) {
	if setupToken == "" || len(setupToken) > maxTokenLen {
		return User{}, "", ErrSetupDone
	}
	n.Roles = []Role{RoleAdmin}
	login, name, roles, hash, err := s.prepareUser(n)
	if err != nil {
		return User{}, "", fmt.Errorf("complete setup: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return User{}, "", fmt.Errorf("complete setup: %w", err)
	}
	var u User
	var token string
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		now := s.now()
		count, err := countUsers(ctx, tx)
		if err != nil {
			return err
		}
		if count > 0 {
			return ErrSetupDone
		}
		res, err := tx.ExecContext(ctx, sqlUseSetup, db.Millis(now), hashToken(setupToken), db.Millis(now))
		if err != nil {
			return fmt.Errorf("use setup token: %w", err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return ErrSetupDone
		}
		if u, err = s.insertUser(ctx, tx, login, name, roles, hash); err != nil {
			return err
		}
		if token, _, err = s.newSession(ctx, tx, u.ID, StageEnrol, now); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Actor: actorOrAnonymous(ctx), Action: "setup.complete", ObjectType: "user", ObjectID: strconv.FormatInt(u.ID, 10),
			After: map[string]any{"login": login, "roles": roleStrings(roles)},
		})
	})
	if err != nil {
		return User{}, "", fmt.Errorf("complete setup: %w", err)
	}
	return u, token, nil
}
