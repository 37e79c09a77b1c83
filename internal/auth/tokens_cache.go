package auth

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxCachedTokens bounds a TokenCache: when it is full, expired entries are
// dropped, and if none had expired, all of them.
const maxCachedTokens = 10_000

// TokenCache remembers, for ttl, the users of the API tokens it
// authenticated, so that a client calling the API many times a second (an
// agent's dialler claims and qualifies in a loop) is not read from the
// database at every request.
//
// The price is a delay: a token revoked, or its user disabled, locked or
// given other roles, keeps working with its old user for at most ttl
// (measured on the service's clock) in the process that cached it. Failures
// are never cached: an unknown or refused token is looked up every time.
type TokenCache struct {
	s   *Service
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]cachedToken // by token hash
}

type cachedToken struct {
	user  User
	until time.Time
}

// NewTokenCache returns a cache of authenticated tokens kept ttl each.
func (s *Service) NewTokenCache(ttl time.Duration) *TokenCache {
	return &TokenCache{s: s, ttl: ttl, entries: make(map[string]cachedToken)}
}

// Authenticate is Service.AuthenticateToken, answered from the cache when
// the token was authenticated less than ttl ago.
func (c *TokenCache) Authenticate(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > maxTokenLen {
		return User{}, ErrInvalidCredentials
	}
	hash := hashToken(token)
	now := c.s.now()
	c.mu.Lock()
	e, ok := c.entries[hash]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return cloneUser(e.user), nil
	}
	u, err := c.s.authenticateHash(ctx, hash)
	if err != nil {
		if ok {
			c.mu.Lock()
			delete(c.entries, hash)
			c.mu.Unlock()
		}
		return User{}, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedTokens {
			clear(c.entries)
		}
	}
	c.entries[hash] = cachedToken{user: cloneUser(u), until: now.Add(c.ttl)}
	c.mu.Unlock()
	return u, nil
}

// cloneUser copies u so that no caller shares the cached roles.
func cloneUser(u User) User {
	u.Roles = slices.Clone(u.Roles)
	return u
}
