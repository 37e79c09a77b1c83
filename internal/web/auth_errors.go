package web

import (
	"errors"
	"net/http"

	"plateau/internal/auth"
)

// authMessage returns the catalogue key and the status of the page for an
// auth error the user can act on; ok is false for anything else (a failure
// of ours). ErrDisabled reads like wrong credentials, so the login form does
// not tell which accounts exist.
func authMessage(err error) (key string, status int, ok bool) {
	const invalid = http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrDisabled):
		return "login.error.invalid", http.StatusUnauthorized, true
	case errors.Is(err, auth.ErrLocked):
		return "login.error.locked", http.StatusForbidden, true
	case errors.Is(err, auth.ErrInvalidTOTP):
		return "totp.error.invalid", invalid, true
	case errors.Is(err, auth.ErrLoginTaken):
		return "user.error.login_taken", invalid, true
	case errors.Is(err, auth.ErrInvalidLogin):
		return "user.error.login_invalid", invalid, true
	case errors.Is(err, auth.ErrInvalidRole):
		return "user.error.role_invalid", invalid, true
	case errors.Is(err, auth.ErrNoRole):
		return "user.error.no_role", invalid, true
	case errors.Is(err, auth.ErrLastAdmin):
		return "user.error.last_admin", invalid, true
	case errors.Is(err, auth.ErrPasswordTooShort):
		return "password.error.too_short", invalid, true
	case errors.Is(err, auth.ErrPasswordTooLong):
		return "password.error.too_long", invalid, true
	case errors.Is(err, auth.ErrPasswordCommon):
		return "password.error.common", invalid, true
	case errors.Is(err, auth.ErrPasswordContext):
		return "password.error.context", invalid, true
	case errors.Is(err, auth.ErrWrongPassword):
		return "account.error.wrong_password", invalid, true
	}
	return "", 0, false
}
