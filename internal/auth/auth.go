// Package auth holds Plateau's accounts: users and roles, argon2id passwords,
// login throttling and lockout (CNIL deliberation 2022-100), TOTP, server-side
// sessions, API tokens and the one-time setup link.
//
// STUB: the signatures below are the contract other packages code against;
// the bodies are being written.
package auth

import (
	"context"
	"errors"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

var errNotYetBuilt = errors.New("auth: not implemented yet")

// Role is what a user may do. A user may hold several.
type Role string

// The roles.
const (
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
	RoleIT         Role = "it"
	RoleDPO        Role = "dpo"
	RoleAdmin      Role = "admin"
)

// AllRoles lists every role in display order.
var AllRoles = []Role{RoleAgent, RoleSupervisor, RoleIT, RoleDPO, RoleAdmin}

// Errors callers may test with errors.Is. The web layer maps each to a
// message of the catalogue; their texts are for logs and the command line.
var (
	ErrInvalidCredentials = errors.New("invalid login or password")
	ErrLocked             = errors.New("account locked after too many failed logins; an administrator must unlock it")
	ErrDisabled           = errors.New("account disabled")
	ErrInvalidTOTP        = errors.New("invalid or already used TOTP code")
	ErrNoSession          = errors.New("no valid session")
	ErrNotFound           = errors.New("not found")
	ErrLoginTaken         = errors.New("login already taken")
	ErrInvalidLogin       = errors.New("invalid login: 2 to 64 characters among a-z, 0-9, '.', '-', '_'")
	ErrInvalidRole        = errors.New("unknown role")
	ErrNoRole             = errors.New("a user needs at least one role")
	ErrSetupDone          = errors.New("setup link already used or expired")
	ErrLastAdmin          = errors.New("the last active administrator cannot lose that role or be disabled")
	ErrPasswordTooShort   = errors.New("password shorter than 12 characters")
	ErrPasswordTooLong    = errors.New("password longer than 128 characters")
	ErrPasswordCommon     = errors.New("password too common")
	ErrPasswordContext    = errors.New("password contains the login, the name, the product or the company")
	ErrWrongPassword      = errors.New("current password is wrong")
)

// User is an account.
type User struct {
	ID          int64
	Login       string
	Name        string
	Roles       []Role
	Disabled    bool
	Locked      bool   // locked after 10 consecutive failures; only an admin unlocks
	Locale      string // "fr", "en" or "" (the browser's)
	TOTPEnabled bool
	CreatedAt   time.Time
}

// Has reports whether u holds role r.
func (u User) Has(r Role) bool {
	for _, x := range u.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// NeedsTOTP reports whether u's roles make TOTP mandatory (supervisor, it,
// dpo, admin).
func (u User) NeedsTOTP() bool {
	return u.Has(RoleSupervisor) || u.Has(RoleIT) || u.Has(RoleDPO) || u.Has(RoleAdmin)
}

// Stage is how far a session got through login.
type Stage string

// The stages of a session.
const (
	StageTOTP  Stage = "totp"  // password ok, TOTP code still to give
	StageEnrol Stage = "enrol" // password ok, TOTP mandatory but not enrolled: only enrolment allowed
	StageFull  Stage = "full"  // fully logged in
)

// Session is a server-side session. The token itself is never stored: ID is
// the hex SHA-256 of the token.
type Session struct {
	ID        string
	UserID    int64
	Stage     Stage
	CreatedAt time.Time
	LastSeen  time.Time
	Source    string
	Agent     string
}

// NewUser is what creating a user takes.
type NewUser struct {
	Login    string
	Name     string
	Roles    []Role
	Password string
}

// Enrolment is a pending TOTP enrolment to show the user.
type Enrolment struct {
	Secret string // base32, to type by hand
	URL    string // otpauth:// URL
	PNG    []byte // QR code of URL
}

// Token describes an API token (never the token itself).
type Token struct {
	ID        int64
	UserID    int64
	Name      string
	CreatedAt time.Time
	LastUsed  time.Time
	Revoked   bool
}

// Options configure the service.
type Options struct {
	Now             func() time.Time                                 // time.Now when nil
	Sleep           func(ctx context.Context, d time.Duration) error // login delays; a real sleep when nil
	IdleTimeout     time.Duration                                    // 0: 30 minutes
	AbsoluteTimeout time.Duration                                    // 0: 12 hours
	DelayUnit       time.Duration                                    // first throttling delay; 0: 1 second
	Issuer          string                                           // TOTP issuer; "" : "Plateau"
	ContextWords    []string                                         // refused in passwords, e.g. the company name
}

// Service manages accounts. Every change it makes is audited in the same
// transaction; the actor comes from the context (audit.WithActor).
type Service struct {
	d   *db.DB
	v   *vault.Vault
	a   *audit.Log
	opt Options
}

// NewService returns the accounts service.
func NewService(d *db.DB, v *vault.Vault, a *audit.Log, opt Options) *Service {
	return &Service{d: d, v: v, a: a, opt: opt}
}

// ValidatePassword checks the password policy; context words (login, name)
// are refused inside the password.
func ValidatePassword(password string, context ...string) error { return errNotYetBuilt }

// CreateUser creates a user.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (User, error) {
	return User{}, errNotYetBuilt
}

// User returns a user by id.
func (s *Service) User(ctx context.Context, id int64) (User, error) { return User{}, errNotYetBuilt }

// UserByLogin returns a user by login.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	return User{}, errNotYetBuilt
}

// Users returns every user, by login.
func (s *Service) Users(ctx context.Context) ([]User, error) { return nil, errNotYetBuilt }

// SetRoles replaces a user's roles.
func (s *Service) SetRoles(ctx context.Context, id int64, roles []Role) error { return errNotYetBuilt }

// SetName changes a user's display name.
func (s *Service) SetName(ctx context.Context, id int64, name string) error { return errNotYetBuilt }

// SetDisabled disables (ending all their sessions and tokens' use) or
// re-enables a user.
func (s *Service) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	return errNotYetBuilt
}

// SetLocale stores the user's language ("fr", "en" or "").
func (s *Service) SetLocale(ctx context.Context, id int64, locale string) error {
	return errNotYetBuilt
}

// ResetPassword sets a new password chosen by an administrator and ends the
// user's sessions.
func (s *Service) ResetPassword(ctx context.Context, id int64, password string) error {
	return errNotYetBuilt
}

// ChangePassword changes the user's own password after checking the current
// one; other sessions of the user end.
func (s *Service) ChangePassword(ctx context.Context, id int64, current, next string, keepSession string) error {
	return errNotYetBuilt
}

// Unlock lifts a lockout and clears the failure counters.
func (s *Service) Unlock(ctx context.Context, id int64) error { return errNotYetBuilt }

// EndSessions revokes every session of a user.
func (s *Service) EndSessions(ctx context.Context, userID int64) error { return errNotYetBuilt }

// Login checks a password, applying the throttling delays before answering.
// The source address throttled per address is audit.ActorFrom(ctx).Source.
// On success it returns a new session token and the session (stage totp,
// enrol or full).
func (s *Service) Login(ctx context.Context, login, password string) (string, Session, error) {
	return "", Session{}, errNotYetBuilt
}

// VerifyTOTP completes a StageTOTP session with a code; it returns a new
// token (the old one is revoked) for a StageFull session.
func (s *Service) VerifyTOTP(ctx context.Context, token, code string) (string, Session, error) {
	return "", Session{}, errNotYetBuilt
}

// Session returns the live session and its user for a token, extending its
// idle timeout. Expired, revoked or disabled: ErrNoSession.
func (s *Service) Session(ctx context.Context, token string) (Session, User, error) {
	return Session{}, User{}, errNotYetBuilt
}

// Logout revokes the session of token.
func (s *Service) Logout(ctx context.Context, token string) error { return errNotYetBuilt }

// BeginTOTP starts (or restarts) an enrolment: a new secret, kept sealed
// until confirmed.
func (s *Service) BeginTOTP(ctx context.Context, userID int64) (Enrolment, error) {
	return Enrolment{}, errNotYetBuilt
}

// ConfirmTOTP checks a code against the pending secret and enables TOTP. When
// token names a StageEnrol session it becomes StageFull under a new token,
// which is returned ("" otherwise).
func (s *Service) ConfirmTOTP(ctx context.Context, userID int64, code, token string) (string, error) {
	return "", errNotYetBuilt
}

// ResetTOTP removes a user's TOTP (administrator); they enrol again at next
// login.
func (s *Service) ResetTOTP(ctx context.Context, userID int64) error { return errNotYetBuilt }

// CreateToken creates an API token for a user and returns it once.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string) (string, Token, error) {
	return "", Token{}, errNotYetBuilt
}

// Tokens lists a user's API tokens (all users' when userID is 0).
func (s *Service) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	return nil, errNotYetBuilt
}

// RevokeToken revokes an API token.
func (s *Service) RevokeToken(ctx context.Context, id int64) error { return errNotYetBuilt }

// AuthenticateToken returns the user of a bearer token.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (User, error) {
	return User{}, errNotYetBuilt
}

// SetupNeeded reports whether no user exists yet.
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) { return false, errNotYetBuilt }

// NewSetupToken makes the one-time setup link's token (invalidating any
// earlier one); it fails with ErrSetupDone when users exist.
func (s *Service) NewSetupToken(ctx context.Context) (string, error) { return "", errNotYetBuilt }

// CheckSetupToken reports whether a setup token is still valid.
func (s *Service) CheckSetupToken(ctx context.Context, token string) error { return errNotYetBuilt }

// CompleteSetup consumes the setup token and creates the first administrator,
// returning a StageEnrol session token for them (TOTP enrolment comes next).
func (s *Service) CompleteSetup(ctx context.Context, setupToken string, n NewUser) (User, string, error) {
	return User{}, "", errNotYetBuilt
}
