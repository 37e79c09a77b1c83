package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"plateau/internal/auth"
)

// maxTokenName bounds a token's label.
const maxTokenName = 100

// tokenRow is a token with its owner's login (shown to administrators).
type tokenRow struct {
	auth.Token
	Owner string
}

// tokensData is the API tokens page.
type tokensData struct {
	All      bool // an administrator sees everyone's tokens
	Tokens   []tokenRow
	Name     string // the creation form, filled again after a failure
	NewToken string // shown once, right after creation
	NewName  string
}

// handleTokens serves GET /tokens: an administrator sees every token, any
// other user their own.
func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request) error {
	return s.renderTokens(w, r, http.StatusOK, "", tokensData{})
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, errKey string, data tokensData) error {
	st := stateOf(r)
	ctx := r.Context()
	data.All = st.user.Has(auth.RoleAdmin)
	owner := st.user.ID
	if data.All {
		owner = 0
	}
	tokens, err := s.auth.Tokens(ctx, owner)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	logins := map[int64]string{st.user.ID: st.user.Login}
	if data.All {
		users, err := s.auth.Users(ctx)
		if err != nil {
			return fmt.Errorf("list tokens: %w", err)
		}
		for _, u := range users {
			logins[u.ID] = u.Login
		}
	}
	data.Tokens = make([]tokenRow, 0, len(tokens))
	for _, t := range tokens {
		data.Tokens = append(data.Tokens, tokenRow{Token: t, Owner: logins[t.UserID]})
	}
	return s.render(w, r, status, "tokens", page{Title: "tokens.title", Section: "tokens", Error: errKey, Data: data})
}

// handleTokenNew serves POST /tokens: a token for the user themself, shown
// once on the page that answers (it is not stored in clear anywhere).
func (s *Server) handleTokenNew(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || utf8.RuneCountInString(name) > maxTokenName {
		return s.renderTokens(w, r, http.StatusUnprocessableEntity, "tokens.error.name", tokensData{Name: name})
	}
	token, _, err := s.auth.CreateToken(r.Context(), st.user.ID, name)
	if err != nil {
		return fmt.Errorf("create token for user %d: %w", st.user.ID, err)
	}
	return s.renderTokens(w, r, http.StatusOK, "", tokensData{NewToken: token, NewName: name})
}

// handleTokenRevoke serves POST /tokens/{id}/revoke: an administrator may
// revoke any token, another user only their own.
func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound(fmt.Errorf("token id %q", r.PathValue("id")))
	}
	if !st.user.Has(auth.RoleAdmin) {
		own, err := s.auth.Tokens(ctx, st.user.ID)
		if err != nil {
			return fmt.Errorf("list tokens of user %d: %w", st.user.ID, err)
		}
		found := false
		for _, t := range own {
			found = found || t.ID == id
		}
		if !found {
			// The same answer as for a token that does not exist: the
			// page does not tell which ids belong to others.
			return notFound(errors.New("token of another user"))
		}
	}
	if err := s.auth.RevokeToken(ctx, id); err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return redirect(w, r, "/tokens?ok=token_revoked")
}
