package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"plateau/internal/db"
)

// SQL of the package. Written once with '?' placeholders (db rebinds them)
// in the subset SQLite and PostgreSQL share.
const (
	userColumns = `id, login, name, password_hash, disabled, locale, failed_logins, locked_at,
		totp_secret, totp_pending, totp_last_step, created_at`

	sqlUserByID    = `SELECT ` + userColumns + ` FROM users WHERE id = ?`
	sqlUserByLogin = `SELECT ` + userColumns + ` FROM users WHERE login = ?`
	sqlUsers       = `SELECT ` + userColumns + ` FROM users ORDER BY login`
	// sqlLockUser is a no-op update: on PostgreSQL it takes the row lock (as
	// SELECT ... FOR UPDATE would, which SQLite lacks), so read-decide-write
	// sequences on a user are serialised on both engines.
	sqlLockUser = `UPDATE users SET updated_at = updated_at WHERE id = ? RETURNING ` + userColumns

	sqlRolesOf  = `SELECT role FROM user_roles WHERE user_id = ?`
	sqlAllRoles = `SELECT user_id, role FROM user_roles`
	sqlAddRole  = `INSERT INTO user_roles (user_id, role) VALUES (?, ?)`
	sqlDelRoles = `DELETE FROM user_roles WHERE user_id = ?`

	sqlInsertUser = `INSERT INTO users (login, name, password_hash, disabled, locale, created_at, updated_at)
		VALUES (?, ?, ?, ?, '', ?, ?) RETURNING id`
	sqlCountUsers = `SELECT COUNT(*) FROM users`

	// sqlLockAdmins takes the row lock of every administrator so that two
	// concurrent demotions cannot both see "another admin remains".
	sqlLockAdmins = `UPDATE users SET updated_at = updated_at
		WHERE id IN (SELECT user_id FROM user_roles WHERE role = 'admin')`
	sqlOtherActiveAdmins = `SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role = 'admin'
		WHERE NOT u.disabled AND u.id <> ?`

	sqlSetName     = `UPDATE users SET name = ?, updated_at = ? WHERE id = ?`
	sqlSetDisabled = `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`
	sqlSetLocale   = `UPDATE users SET locale = ?, updated_at = ? WHERE id = ?`
	sqlSetPassword = `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`

	sqlFailUser = `UPDATE users SET failed_logins = failed_logins + 1, updated_at = ? WHERE id = ?
		RETURNING failed_logins`
	sqlLockAccount = `UPDATE users SET locked_at = ?, updated_at = ? WHERE id = ? AND locked_at = 0`
	sqlResetUser   = `UPDATE users SET failed_logins = 0, updated_at = ? WHERE id = ? AND failed_logins <> 0`
	sqlUnlock      = `UPDATE users SET failed_logins = 0, locked_at = 0, updated_at = ? WHERE id = ?`

	sqlAddressFailures = `SELECT failures FROM login_throttle WHERE source = ? AND last_failure_at > ?`
	// A failure after a quiet window starts the count again (see addressWindow).
	sqlFailAddress = `INSERT INTO login_throttle (source, failures, last_failure_at) VALUES (?, 1, ?)
		ON CONFLICT (source) DO UPDATE SET
		failures = CASE WHEN login_throttle.last_failure_at > ? THEN login_throttle.failures + 1 ELSE 1 END,
		last_failure_at = excluded.last_failure_at`
	sqlResetAddress = `DELETE FROM login_throttle WHERE source = ?`

	sqlSetTOTPPending = `UPDATE users SET totp_pending = ?, updated_at = ? WHERE id = ?`
	sqlEnableTOTP     = `UPDATE users SET totp_secret = ?, totp_pending = NULL, totp_last_step = ?, updated_at = ?
		WHERE id = ? AND totp_pending = ?`
	sqlResetTOTP = `UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0, updated_at = ?
		WHERE id = ?`
	sqlUseTOTPStep = `UPDATE users SET totp_last_step = ?, updated_at = ? WHERE id = ? AND totp_last_step < ?`

	sessionColumns          = `id, user_id, stage, created_at, last_seen_at, source, agent`
	sqlSession              = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?`
	sqlInsertSession        = `INSERT INTO sessions (` + sessionColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlDeleteSession        = `DELETE FROM sessions WHERE id = ?`
	sqlDeleteSessionOf      = `DELETE FROM sessions WHERE id = ? AND user_id = ? AND stage = ?`
	sqlLogout               = `DELETE FROM sessions WHERE id = ? RETURNING user_id`
	sqlEndSessions          = `DELETE FROM sessions WHERE user_id = ?`
	sqlEndOtherSess         = `DELETE FROM sessions WHERE user_id = ? AND id <> ?`
	sqlTouchSession         = `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`
	sqlPurgeSessions        = `DELETE FROM sessions WHERE last_seen_at <= ? OR created_at <= ?`
	sqlExpiringSessionUsers = `SELECT DISTINCT user_id FROM sessions WHERE last_seen_at <= ? OR created_at <= ? ORDER BY user_id`
	sqlUserHasSession       = `SELECT 1 FROM sessions WHERE user_id = ? LIMIT 1`

	tokenColumns   = `id, user_id, name, created_at, last_used_at, revoked_at`
	sqlInsertToken = `INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`
	sqlTokens      = `SELECT ` + tokenColumns + ` FROM api_tokens ORDER BY id`
	sqlTokensOf    = `SELECT ` + tokenColumns + ` FROM api_tokens WHERE user_id = ? ORDER BY id`
	sqlTokenByID   = `SELECT ` + tokenColumns + ` FROM api_tokens WHERE id = ?`
	// sqlTokenUser reads, in one round trip, a token with its user and the
	// user's roles: one row per role (one with a NULL role when there is
	// none).
	sqlTokenUser = `SELECT t.id, t.last_used_at, t.revoked_at, u.id, u.login, u.name, u.disabled, u.locale,
		u.locked_at, u.totp_secret, u.created_at, r.role
		FROM api_tokens t JOIN users u ON u.id = t.user_id LEFT JOIN user_roles r ON r.user_id = u.id
		WHERE t.token_hash = ?`
	sqlRevokeToken  = `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`
	sqlTouchToken   = `UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?`
	sqlDeleteSetups = `DELETE FROM setup_tokens WHERE used_at = 0`
	sqlInsertSetup  = `INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)`
	sqlSetupToken   = `SELECT expires_at, used_at FROM setup_tokens WHERE token_hash = ?`
	sqlUseSetup     = `UPDATE setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`
)

// userRow is a users row with its roles.
type userRow struct {
	id          int64
	login       string
	name        string
	hash        string
	disabled    bool
	locale      string
	failures    int
	lockedAt    int64
	totpSecret  []byte
	totpPending []byte
	lastStep    int64
	createdAt   int64
	roles       []Role
}

func (r userRow) user() User {
	return User{
		ID:          r.id,
		Login:       r.login,
		Name:        r.name,
		Roles:       slices.Clone(r.roles),
		Disabled:    r.disabled,
		Locked:      r.lockedAt != 0,
		Locale:      r.locale,
		TOTPEnabled: r.totpSecret != nil,
		CreatedAt:   db.FromMillis(r.createdAt),
	}
}

func (r userRow) idString() string { return strconv.FormatInt(r.id, 10) }

type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (userRow, error) {
	var r userRow
	err := sc.Scan(&r.id, &r.login, &r.name, &r.hash, &r.disabled, &r.locale, &r.failures, &r.lockedAt,
		&r.totpSecret, &r.totpPending, &r.lastStep, &r.createdAt)
	return r, err
}

// loadUser reads one user (query and args select it) with its roles.
func loadUser(ctx context.Context, q db.Querier, query string, args ...any) (userRow, error) {
	r, err := scanUser(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return userRow{}, ErrNotFound
	}
	if err != nil {
		return userRow{}, fmt.Errorf("read user: %w", err)
	}
	if r.roles, err = rolesOf(ctx, q, r.id); err != nil {
		return userRow{}, err
	}
	return r, nil
}

func rolesOf(ctx context.Context, q db.Querier, id int64) ([]Role, error) {
	rows, err := q.QueryContext(ctx, sqlRolesOf, id)
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	defer rows.Close()
	var roles []Role
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("read roles: %w", err)
		}
		roles = append(roles, Role(r))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	sortRoles(roles)
	return roles, nil
}

// sortRoles puts roles in AllRoles order.
func sortRoles(roles []Role) {
	slices.SortFunc(roles, func(a, b Role) int { return slices.Index(AllRoles, a) - slices.Index(AllRoles, b) })
}

func roleStrings(roles []Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// lockUser reads a user inside tx, holding its row lock until commit.
func lockUser(ctx context.Context, tx *db.Tx, id int64) (userRow, error) {
	return loadUser(ctx, tx, sqlLockUser, id)
}

func setRoles(ctx context.Context, tx *db.Tx, id int64, roles []Role) error {
	if _, err := tx.ExecContext(ctx, sqlDelRoles, id); err != nil {
		return fmt.Errorf("set roles: %w", err)
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, sqlAddRole, id, string(r)); err != nil {
			return fmt.Errorf("set roles: %w", err)
		}
	}
	return nil
}

// guardLastAdmin fails with ErrLastAdmin when no active administrator other
// than id would remain.
func guardLastAdmin(ctx context.Context, tx *db.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, sqlLockAdmins); err != nil {
		return fmt.Errorf("lock administrators: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, sqlOtherActiveAdmins, id).Scan(&n); err != nil {
		return fmt.Errorf("count administrators: %w", err)
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

func endSessions(ctx context.Context, tx *db.Tx, userID int64) (int64, error) {
	res, err := tx.ExecContext(ctx, sqlEndSessions, userID)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	return res.RowsAffected()
}

func countUsers(ctx context.Context, q db.Querier) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, sqlCountUsers).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}
