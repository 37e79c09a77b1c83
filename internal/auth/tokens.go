package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// tokenPrefix marks Plateau API tokens, so secret scanners and people can
// recognise one.
const tokenPrefix = "plt_"

func scanToken(sc scanner) (Token, error) {
	var t Token
	var created, used, revoked int64
	err := sc.Scan(&t.ID, &t.UserID, &t.Name, &created, &used, &revoked)
	t.CreatedAt, t.LastUsed, t.Revoked = db.FromMillis(created), db.FromMillis(used), revoked != 0
	return t, err
}

// CreateToken creates an API token for a user and returns it once.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string) (string, Token, error) {
	name, err := normaliseName(name)
	if err == nil && name == "" {
		err = ErrInvalidName
	}
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	raw, err := randomToken()
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	token := tokenPrefix + raw
	now := db.FromMillis(db.Millis(s.now()))
	t := Token{UserID: userID, Name: name, CreatedAt: now}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if r.disabled {
			return ErrDisabled
		}
		if err := tx.QueryRowContext(ctx, sqlInsertToken, userID, name, hashToken(token), db.Millis(now)).Scan(&t.ID); err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		return s.record(ctx, tx, audit.Event{
			Action: "token.create", ObjectType: "token", ObjectID: strconv.FormatInt(t.ID, 10),
			After: map[string]any{"user_id": userID, "name": name},
		})
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token for user %d: %w", userID, err)
	}
	return token, t, nil
}

// Tokens lists a user's API tokens (all users' when userID is 0).
func (s *Service) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	var rows *sql.Rows
	var err error
	if userID == 0 {
		rows, err = s.d.QueryContext(ctx, sqlTokens)
	} else {
		rows, err = s.d.QueryContext(ctx, sqlTokensOf, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes an API token. Revoking a revoked token does nothing.
func (s *Service) RevokeToken(ctx context.Context, id int64) error {
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		t, err := scanToken(tx.QueryRowContext(ctx, sqlTokenByID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlRevokeToken, db.Millis(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already revoked
		}
		return s.record(ctx, tx, audit.Event{
			Action: "token.revoke", ObjectType: "token", ObjectID: strconv.FormatInt(id, 10),
			Before: map[string]any{"revoked": false},
			After:  map[string]any{"revoked": true, "user_id": t.UserID, "name": t.Name},
		})
	})
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return nil
}

// AuthenticateToken returns the user of a bearer token. Unknown or revoked
// tokens give ErrInvalidCredentials; a disabled user ErrDisabled, a locked
// one ErrLocked. last_used_at is written at most once a minute.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > maxTokenLen {
		return User{}, ErrInvalidCredentials
	}
	return s.authenticateHash(ctx, hashToken(token))
}

// authenticateHash is AuthenticateToken for the token's hash: one query
// reads the token, its user and the user's roles.
func (s *Service) authenticateHash(ctx context.Context, hash string) (User, error) {
	rows, err := s.d.QueryContext(ctx, sqlTokenUser, hash)
	if err != nil {
		return User{}, fmt.Errorf("authenticate token: %w", err)
	}
	defer rows.Close()
	var (
		r                        userRow
		tokenID, used, revokedAt int64
		found                    bool
	)
	for rows.Next() {
		var role sql.NullString
		if err := rows.Scan(&tokenID, &used, &revokedAt, &r.id, &r.login, &r.name, &r.disabled, &r.locale,
			&r.lockedAt, &r.totpSecret, &r.createdAt, &role); err != nil {
			return User{}, fmt.Errorf("authenticate token: %w", err)
		}
		found = true
		if role.Valid {
			r.roles = append(r.roles, Role(role.String))
		}
	}
	if err := rows.Err(); err != nil {
		return User{}, fmt.Errorf("authenticate token: %w", err)
	}
	rows.Close()
	switch {
	case !found, revokedAt != 0:
		return User{}, ErrInvalidCredentials
	case r.disabled:
		return User{}, ErrDisabled
	case r.lockedAt != 0:
		return User{}, ErrLocked
	}
	sortRoles(r.roles)
	now := s.now()
	if now.Sub(db.FromMillis(used)) >= touchEvery {
		if _, err := s.d.ExecContext(ctx, sqlTouchToken, db.Millis(now), tokenID, db.Millis(now.Add(-touchEvery))); err != nil {
			return User{}, fmt.Errorf("touch token: %w", err)
		}
	}
	return r.user(), nil
}
