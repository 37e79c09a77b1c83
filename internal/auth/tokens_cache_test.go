package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"plateau/internal/db"
)

func TestAuthenticateTokenReadsRoles(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "root.admin", goodPassword, RoleAdmin)
		u := e.mustCreate(t, "robot", goodPassword, RoleAgent, RoleSupervisor)
		tok, _, err := e.svc.CreateToken(asAdmin, u.ID, "dialler")
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.AuthenticateToken(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		want := []Role{RoleSupervisor, RoleAgent}
		sortRoles(want)
		if got.ID != u.ID || got.Login != "robot" || !slices.Equal(got.Roles, want) {
			t.Fatalf("AuthenticateToken = %+v, want robot with %v", got, want)
		}
		if err := e.svc.SetRoles(asAdmin, u.ID, []Role{RoleIT}); err != nil {
			t.Fatal(err)
		}
		got, err = e.svc.AuthenticateToken(context.Background(), tok)
		if err != nil || got.ID != u.ID || !slices.Equal(got.Roles, []Role{RoleIT}) {
			t.Fatalf("AuthenticateToken after a change of roles = %+v, %v", got, err)
		}
	})
}

func TestTokenCacheKeepsAUserForItsTTL(t *testing.T) {
	const ttl = 5 * time.Second
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mustCreate(t, "root.admin", goodPassword, RoleAdmin)
		u := e.mustCreate(t, "robot", goodPassword, RoleAgent)
		v := e.mustCreate(t, "robot2", goodPassword, RoleAgent)
		ctx := context.Background()
		tok, info, err := e.svc.CreateToken(asAdmin, u.ID, "dialler")
		if err != nil {
			t.Fatal(err)
		}
		tok2, _, err := e.svc.CreateToken(asAdmin, v.ID, "dialler")
		if err != nil {
			t.Fatal(err)
		}
		c := e.svc.NewTokenCache(ttl)
		for _, bad := range []string{"", "plt_", "plt_nope", tok + "x"} {
			if _, err := c.Authenticate(ctx, bad); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("Authenticate(%q) = %v", bad, err)
			}
		}
		got, err := c.Authenticate(ctx, tok)
		if err != nil || got.ID != u.ID || !slices.Equal(got.Roles, []Role{RoleAgent}) {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
		got.Roles[0] = RoleAdmin // a caller's change must not reach the cache

		// Revoked and disabled, within the TTL: the cached user still
		// answers; a token not yet cached is refused at once.
		if err := e.svc.RevokeToken(asAdmin, info.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetDisabled(asAdmin, v.ID, true); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(ttl - time.Millisecond)
		got, err = c.Authenticate(ctx, tok)
		if err != nil || got.ID != u.ID || !slices.Equal(got.Roles, []Role{RoleAgent}) {
			t.Fatalf("Authenticate within the TTL = %+v, %v", got, err)
		}
		if _, err := c.Authenticate(ctx, tok2); !errors.Is(err, ErrDisabled) {
			t.Fatalf("uncached token of a disabled user: %v", err)
		}

		// Once the TTL is over, the revocation holds, and keeps holding.
		e.clock.Advance(time.Millisecond)
		for range 2 {
			if _, err := c.Authenticate(ctx, tok); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("revoked token after the TTL: %v", err)
			}
		}

		// A disabled user's cached token is refused after the TTL too.
		if err := e.svc.SetDisabled(asAdmin, v.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Authenticate(ctx, tok2); err != nil {
			t.Fatalf("token of the enabled user: %v", err)
		}
		if err := e.svc.SetDisabled(asAdmin, v.ID, true); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(ttl)
		if _, err := c.Authenticate(ctx, tok2); !errors.Is(err, ErrDisabled) {
			t.Fatalf("disabled user after the TTL: %v", err)
		}
	})
}
