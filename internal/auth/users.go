package auth

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"plateau/internal/audit"
	"plateau/internal/db"
)

const maxNameRunes = 128

// normaliseLogin lowercases and checks a login: 2 to 64 characters among
// a-z, 0-9, '.', '-', '_'.
func normaliseLogin(login string) (string, error) {
	login = strings.ToLower(strings.TrimSpace(login))
	if len(login) < 2 || len(login) > 64 {
		return "", ErrInvalidLogin
	}
	for i := 0; i < len(login); i++ {
		c := login[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "", ErrInvalidLogin
		}
	}
	return login, nil
}

// normaliseName trims a display name and checks it; empty is allowed (the
// login is shown instead).
func normaliseName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameRunes {
		return "", ErrInvalidName
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", ErrInvalidName
		}
	}
	return name, nil
}

// normaliseRoles checks roles and returns them deduplicated, in AllRoles
// order.
func normaliseRoles(roles []Role) ([]Role, error) {
	if len(roles) == 0 {
		return nil, ErrNoRole
	}
	out := make([]Role, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(AllRoles, r) {
			return nil, ErrInvalidRole
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sortRoles(out)
	return out, nil
}

// passwordContext is what a user's password may not contain.
func (s *Service) passwordContext(login, name string) []string {
	return append([]string{login, name}, s.opt.ContextWords...)
}

// prepareUser validates n and hashes its password (slow: done before any
// transaction opens).
func (s *Service) prepareUser(n NewUser) (login, name string, roles []Role, hash string, err error) {
	if login, err = normaliseLogin(n.Login); err != nil {
		return
	}
	if name, err = normaliseName(n.Name); err != nil {
		return
	}
	if roles, err = normaliseRoles(n.Roles); err != nil {
		return
	}
	if err = ValidatePassword(n.Password, s.passwordContext(login, name)...); err != nil {
		return
	}
	hash, err = hashPassword(n.Password, s.params())
	return
}

// insertUser creates a prepared user inside tx and audits it.
func (s *Service) insertUser(ctx context.Context, tx *db.Tx, login, name string, roles []Role, hash string) (User, error) {
	now := db.Millis(s.now())
	var id int64
	err := tx.QueryRowContext(ctx, sqlInsertUser, login, name, hash, false, now, now).Scan(&id)
	if db.IsUniqueViolation(err) {
		return User{}, ErrLoginTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("insert user: %w", err)
	}
	if err := setRoles(ctx, tx, id, roles); err != nil {
		return User{}, err
	}
	err = s.record(ctx, tx, audit.Event{
		Action: "user.create", ObjectType: "user", ObjectID: strconv.FormatInt(id, 10),
		After:    map[string]any{"login": login, "name": name, "roles": roleStrings(roles)},
		Personal: []string{"name"},
	})
	if err != nil {
		return User{}, err
	}
	return User{ID: id, Login: login, Name: name, Roles: roles, CreatedAt: db.FromMillis(now)}, nil
}

// CreateUser creates a user.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (User, error) {
	login, name, roles, hash, err := s.prepareUser(n)
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	var u User
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		u, err = s.insertUser(ctx, tx, login, name, roles, hash)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// User returns a user by id.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	r, err := loadUser(ctx, s.d, sqlUserByID, id)
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return r.user(), nil
}

// UserByLogin returns a user by login.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	login, err := normaliseLogin(login)
	if err != nil {
		return User{}, fmt.Errorf("user by login: %w", ErrNotFound)
	}
	r, err := loadUser(ctx, s.d, sqlUserByLogin, login)
	if err != nil {
		return User{}, fmt.Errorf("user by login: %w", err)
	}
	return r.user(), nil
}

// Users returns every user, by login.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	rows, err := s.d.QueryContext(ctx, sqlUsers)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var list []userRow
	for rows.Next() {
		r, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list users: %w", err)
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	roles := map[int64][]Role{}
	rrows, err := s.d.QueryContext(ctx, sqlAllRoles)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var id int64
		var r string
		if err := rrows.Scan(&id, &r); err != nil {
			return nil, fmt.Errorf("list roles: %w", err)
		}
		roles[id] = append(roles[id], Role(r))
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	out := make([]User, len(list))
	for i, r := range list {
		r.roles = roles[r.id]
		sortRoles(r.roles)
		out[i] = r.user()
	}
	return out, nil
}

// SetRoles replaces a user's roles. The user's sessions end, so the new
// roles apply at once.
func (s *Service) SetRoles(ctx context.Context, id int64, roles []Role) error {
	roles, err := normaliseRoles(roles)
	if err != nil {
		return fmt.Errorf("set roles: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("set roles: %w", err)
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if slices.Equal(r.roles, roles) {
			return nil
		}
		if r.user().Has(RoleAdmin) && !slices.Contains(roles, RoleAdmin) && !r.disabled {
			if err := guardLastAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if err := setRoles(ctx, tx, id, roles); err != nil {
			return err
		}
		ended, err := endSessions(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "user.roles.change", ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"roles": roleStrings(r.roles)},
			After:  map[string]any{"roles": roleStrings(roles), "sessions_ended": ended},
		})
	})
	if err != nil {
		return fmt.Errorf("set roles of user %d: %w", id, err)
	}
	return nil
}

// SetName changes a user's display name.
func (s *Service) SetName(ctx context.Context, id int64, name string) error {
	name, err := normaliseName(name)
	if err != nil {
		return fmt.Errorf("set name: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("set name: %w", err)
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.name == name {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlSetName, name, db.Millis(s.now()), id); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "user.rename", ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"name": r.name}, After: map[string]any{"name": name},
			Personal: []string{"name"},
		})
	})
	if err != nil {
		return fmt.Errorf("set name of user %d: %w", id, err)
	}
	return nil
}

// SetDisabled disables (ending all their sessions and tokens' use) or
// re-enables a user.
func (s *Service) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("set disabled: %w", err)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.disabled == disabled {
			return nil
		}
		if disabled && r.user().Has(RoleAdmin) {
			if err := guardLastAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, sqlSetDisabled, disabled, db.Millis(s.now()), id); err != nil {
			return err
		}
		action := "user.enable"
		after := map[string]any{"disabled": disabled}
		if disabled {
			action = "user.disable"
			ended, err := endSessions(ctx, tx, id)
			if err != nil {
				return err
			}
			after["sessions_ended"] = ended
		}
		return s.record(ctx, tx, audit.Event{
			Action: action, ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"disabled": r.disabled}, After: after,
		})
	})
	if err != nil {
		return fmt.Errorf("set disabled of user %d: %w", id, err)
	}
	return nil
}

// SetLocale stores the user's language ("fr", "en" or "").
func (s *Service) SetLocale(ctx context.Context, id int64, locale string) error {
	switch locale {
	case "fr", "en", "":
	default:
		return fmt.Errorf("set locale: %w", ErrInvalidLocale)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("set locale: %w", err)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.locale == locale {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlSetLocale, locale, db.Millis(s.now()), id); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "user.locale.change", ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"locale": r.locale}, After: map[string]any{"locale": locale},
		})
	})
	if err != nil {
		return fmt.Errorf("set locale of user %d: %w", id, err)
	}
	return nil
}

// ResetPassword sets a new password chosen by an administrator and ends the
// user's sessions. It does not lift a lockout (Unlock does).
func (s *Service) ResetPassword(ctx context.Context, id int64, password string) error {
	r, err := loadUser(ctx, s.d, sqlUserByID, id)
	if err != nil {
		return fmt.Errorf("reset password of user %d: %w", id, err)
	}
	if err := ValidatePassword(password, s.passwordContext(r.login, r.name)...); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	hash, err := hashPassword(password, s.params())
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := lockUser(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlSetPassword, hash, db.Millis(s.now()), id); err != nil {
			return err
		}
		ended, err := endSessions(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "auth.password.reset", ObjectType: "user", ObjectID: strconv.FormatInt(id, 10),
			After: map[string]any{"sessions_ended": ended},
		})
	})
	if err != nil {
		return fmt.Errorf("reset password of user %d: %w", id, err)
	}
	return nil
}

// ChangePassword changes the user's own password after checking the current
// one; other sessions of the user end. keepSession is the token (or the
// Session.ID) of the session to keep; "" ends them all. A wrong current
// password counts as a failed login (delays, lockout).
func (s *Service) ChangePassword(ctx context.Context, id int64, current, next string, keepSession string) error {
	r, err := loadUser(ctx, s.d, sqlUserByID, id)
	if err != nil {
		return fmt.Errorf("change password of user %d: %w", id, err)
	}
	if err := ValidatePassword(next, s.passwordContext(r.login, r.name)...); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	source := audit.ActorFrom(ctx).Source
	if err := s.throttle(ctx, r.failures, source); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ok := false
	if len(current) <= maxPasswordBytes {
		ok, _, err = verifyPassword(current, r.hash)
		if err != nil {
			return fmt.Errorf("change password of user %d: %w", id, err)
		}
	} else {
		burnHash("", s.params())
	}
	var hash string
	if ok {
		if hash, err = hashPassword(next, s.params()); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
	}
	keepID := keepSession
	if !isSessionID(keepSession) {
		keepID = hashToken(keepSession)
	}
	var result error
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.lockedAt != 0 {
			result = ErrLocked
			return nil
		}
		if !ok {
			locked, err := s.fail(ctx, tx, r, source, "wrong current password")
			result = ErrWrongPassword
			if locked {
				result = ErrLocked
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlSetPassword, hash, db.Millis(s.now()), id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlEndOtherSess, id, keepID)
		if err != nil {
			return err
		}
		ended, _ := res.RowsAffected()
		return s.record(ctx, tx, audit.Event{
			Action: "auth.password.change", ObjectType: "user", ObjectID: r.idString(),
			After: map[string]any{"sessions_ended": ended},
		})
	})
	if err != nil {
		return fmt.Errorf("change password of user %d: %w", id, err)
	}
	if result != nil {
		return fmt.Errorf("change password: %w", result)
	}
	return nil
}

// isSessionID reports whether s looks like a Session.ID (64 hex digits) rather
// than a token (43 base64url characters).
func isSessionID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Unlock lifts a lockout and clears the failure counters.
func (s *Service) Unlock(ctx context.Context, id int64) error {
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		r, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.lockedAt == 0 && r.failures == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlUnlock, db.Millis(s.now()), id); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "auth.unlock", ObjectType: "user", ObjectID: r.idString(),
			Before: map[string]any{"locked": r.lockedAt != 0, "failed_logins": r.failures},
			After:  map[string]any{"locked": false, "failed_logins": 0},
		})
	})
	if err != nil {
		return fmt.Errorf("unlock user %d: %w", id, err)
	}
	return nil
}
