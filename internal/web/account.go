package web

import (
	"fmt"
	"net/http"
	"slices"
)

// accountData is what the account page shows besides the user.
type accountData struct {
	Locales []string // the choices of the language form, "" being the browser's
}

// accountLocales are the language choices; a function, so no caller can
// change them for the others.
func accountLocales() []string { return []string{"", "fr", "en"} }

// handleAccount serves GET /account: the user's own settings.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) error {
	return s.renderAccount(w, r, http.StatusOK, "")
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, errKey string) error {
	return s.render(w, r, status, "account", page{Title: "account.title", Section: "account", Error: errKey,
		Data: accountData{Locales: accountLocales()}})
}

// handleAccountPassword serves POST /account/password. The other sessions of
// the user end; this one goes on.
func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	next := r.PostForm.Get("password")
	if next != r.PostForm.Get("confirm") {
		return s.renderAccount(w, r, http.StatusUnprocessableEntity, "password.error.mismatch")
	}
	err := s.auth.ChangePassword(r.Context(), st.user.ID, r.PostForm.Get("current"), next, st.session.ID)
	if err != nil {
		if key, status, ok := authMessage(err); ok {
			return s.renderAccount(w, r, status, key)
		}
		return fmt.Errorf("change password of user %d: %w", st.user.ID, err)
	}
	return redirect(w, r, "/account?ok=password_changed")
}

// handleAccountLanguage serves POST /account/language.
func (s *Server) handleAccountLanguage(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	locale := r.PostForm.Get("locale")
	if !slices.Contains(accountLocales(), locale) {
		return badRequest(fmt.Errorf("unknown locale %q", locale))
	}
	if err := s.auth.SetLocale(r.Context(), st.user.ID, locale); err != nil {
		return fmt.Errorf("set locale of user %d: %w", st.user.ID, err)
	}
	return redirect(w, r, "/account?ok=language_changed")
}
