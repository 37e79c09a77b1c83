package web

import (
	"net/http"

	"plateau/internal/auth"
)

// routes lists every page and action; the handler of "GET /users/{id}" lives
// in the file named after it (user_edit.go).
func (s *Server) routes(mux *http.ServeMux) {
	// Machine endpoints: no session, no page.
	s.raw(mux, "GET /healthz", s.handleHealthz)
	s.raw(mux, "GET /readyz", s.handleReadyz)
	s.raw(mux, "GET /static/{file...}", s.handleStatic)
	s.route(mux, "GET /metrics", withBearer, s.handleMetrics)

	s.route(mux, "GET /{$}", signedIn, s.handleHome)

	s.route(mux, "GET /login", public, s.handleLoginForm)
	s.route(mux, "POST /login", public, s.handleLogin)
	s.route(mux, "GET /login/totp", pendingTOTP, s.handleLoginTOTPForm)
	s.route(mux, "POST /login/totp", pendingTOTP, s.handleLoginTOTP)
	s.route(mux, "POST /logout", leaving, s.handleLogout)

	s.route(mux, "GET /setup/{token}", public, s.handleSetupForm)
	s.route(mux, "POST /setup/{token}", public, s.handleSetup)

	s.route(mux, "GET /account", signedIn, s.handleAccount)
	s.route(mux, "POST /account/password", signedIn, s.handleAccountPassword)
	s.route(mux, "POST /account/language", signedIn, s.handleAccountLanguage)
	s.route(mux, "GET /account/totp", enrolling, s.handleTOTPForm)
	s.route(mux, "POST /account/totp", enrolling, s.handleTOTPConfirm)
	s.route(mux, "GET /account/totp/qr.png", enrolling, s.handleTOTPQR)

	admin := []auth.Role{auth.RoleAdmin}
	s.route(mux, "GET /users", signedIn, s.handleUsersList, admin...)
	s.route(mux, "GET /users/new", signedIn, s.handleUserNewForm, admin...)
	s.route(mux, "POST /users", signedIn, s.handleUserNew, admin...)
	s.route(mux, "GET /users/{id}", signedIn, s.handleUserEdit, admin...)
	s.route(mux, "POST /users/{id}/name", signedIn, s.handleUserName, admin...)
	s.route(mux, "POST /users/{id}/roles", signedIn, s.handleUserRoles, admin...)
	s.route(mux, "POST /users/{id}/disable", signedIn, s.handleUserDisable, admin...)
	s.route(mux, "POST /users/{id}/enable", signedIn, s.handleUserEnable, admin...)
	s.route(mux, "POST /users/{id}/password", signedIn, s.handleUserPassword, admin...)
	s.route(mux, "POST /users/{id}/unlock", signedIn, s.handleUserUnlock, admin...)
	s.route(mux, "POST /users/{id}/sessions/end", signedIn, s.handleUserEndSessions, admin...)
	s.route(mux, "POST /users/{id}/totp/reset", signedIn, s.handleUserResetTOTP, admin...)

	// Every signed-in user manages their own tokens; the handlers widen the
	// view to everyone's for an administrator.
	s.route(mux, "GET /tokens", signedIn, s.handleTokens)
	s.route(mux, "POST /tokens", signedIn, s.handleTokenNew)
	s.route(mux, "POST /tokens/{id}/revoke", signedIn, s.handleTokenRevoke)

	s.route(mux, "GET /audit", signedIn, s.handleAudit, auth.RoleAdmin, auth.RoleDPO)

	// Each area registers its own pages, in the file named after it.
	s.routesMissions(mux) // missions, profiles, batches, uploads (missions.go)
	s.routesFloor(mux)    // the agent's screen and the supervisor's live view (floor.go)
	s.routesReports(mux)  // reports on screen and as CSV (reports.go)
	s.routesAPI(mux)      // the JSON API under /api/v1 (api.go)

	// Anything else: the friendly 404 page instead of the mux's plain text.
	s.route(mux, "/", public, s.handleNotFound)
}
