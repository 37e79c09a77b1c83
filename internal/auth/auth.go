// Package auth holds Plateau's accounts: users and roles, argon2id passwords,
// login throttling and lockout (CNIL deliberation 2022-100), TOTP, server-side
// sessions, API tokens and the one-time setup link.
//
// Every change is audited in the same transaction as the change itself; the
// actor comes from the context (audit.WithActor). Nothing secret (password,
// token, TOTP secret) or personal (names) goes to logs or error texts.
package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

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
	ErrInvalidName        = errors.New("invalid name: at most 128 characters, no control characters")
	ErrInvalidLocale      = errors.New("invalid locale: want \"fr\", \"en\" or empty")
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
	// Argon2Memory is the argon2id memory cost of new hashes, in KiB; 0:
	// 65536 (64 MiB). Existing hashes keep their own parameters (stored in
	// the PHC string) and are rehashed with the current ones at next login.
	Argon2Memory uint32
	// Argon2Time is the argon2id number of passes of new hashes; 0: 3.
	Argon2Time uint32
}

// Service manages accounts. Every change it makes is audited in the same
// transaction; the actor comes from the context (audit.WithActor).
type Service struct {
	d   *db.DB
	v   *vault.Vault
	a   *audit.Log
	opt Options

	// scopesReady remembers that the vault scopes this service seals with
	// exist, so EnsureScope runs once per process rather than per request.
	scopesReady atomic.Bool
}

// NewService returns the accounts service.
func NewService(d *db.DB, v *vault.Vault, a *audit.Log, opt Options) *Service {
	return &Service{d: d, v: v, a: a, opt: opt}
}
