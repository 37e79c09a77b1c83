package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// maxAgentBytes bounds the stored user agent (attacker-chosen).
const maxAgentBytes = 256

// maxTokenLen bounds what is hashed and looked up as a token; real ones are
// 43 (session) or 47 (API) characters.
const maxTokenLen = 128

// newSession stores a session for userID under a fresh token. createdAt is
// kept across stage changes, so the absolute timeout counts from the
// password.
func (s *Service) newSession(ctx context.Context, tx *db.Tx, userID int64, stage Stage, createdAt time.Time) (string, Session, error) {
	token, err := randomToken()
	if err != nil {
		return "", Session{}, err
	}
	actor := audit.ActorFrom(ctx)
	now := s.now()
	sess := Session{
		ID:        hashToken(token),
		UserID:    userID,
		Stage:     stage,
		CreatedAt: db.FromMillis(db.Millis(createdAt)),
		LastSeen:  db.FromMillis(db.Millis(now)),
		Source:    truncate(actor.Source, maxAgentBytes),
		Agent:     truncate(actor.Agent, maxAgentBytes),
	}
	_, err = tx.ExecContext(ctx, sqlInsertSession, sess.ID, sess.UserID, string(sess.Stage),
		db.Millis(sess.CreatedAt), db.Millis(sess.LastSeen), sess.Source, sess.Agent)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

func scanSession(sc scanner) (Session, error) {
	var sess Session
	var stage string
	var created, seen int64
	err := sc.Scan(&sess.ID, &sess.UserID, &stage, &created, &seen, &sess.Source, &sess.Agent)
	sess.Stage, sess.CreatedAt, sess.LastSeen = Stage(stage), db.FromMillis(created), db.FromMillis(seen)
	return sess, err
}

// expired reports whether sess ran past its idle or absolute timeout.
func (s *Service) expired(sess Session, now time.Time) bool {
	return now.Sub(sess.LastSeen) >= s.idleTimeout() || now.Sub(sess.CreatedAt) >= s.absoluteTimeout()
}

// liveSession finds the session of token and its user, refusing expired
// sessions and disabled or locked users with ErrNoSession.
func (s *Service) liveSession(ctx context.Context, q db.Querier, token string) (Session, userRow, error) {
	if token == "" || len(token) > maxTokenLen {
		return Session{}, userRow{}, ErrNoSession
	}
	sess, err := scanSession(q.QueryRowContext(ctx, sqlSession, hashToken(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, userRow{}, ErrNoSession
	}
	if err != nil {
		return Session{}, userRow{}, fmt.Errorf("read session: %w", err)
	}
	if s.expired(sess, s.now()) {
		return Session{}, userRow{}, ErrNoSession
	}
	r, err := loadUser(ctx, q, sqlUserByID, sess.UserID)
	if errors.Is(err, ErrNotFound) {
		return Session{}, userRow{}, ErrNoSession
	}
	if err != nil {
		return Session{}, userRow{}, err
	}
	if r.disabled || r.lockedAt != 0 {
		return Session{}, userRow{}, ErrNoSession
	}
	return sess, r, nil
}

// Session returns the live session and its user for a token, extending its
// idle timeout. Expired, revoked or disabled: ErrNoSession. last_seen_at is
// written at most once a minute, not on every request.
func (s *Service) Session(ctx context.Context, token string) (Session, User, error) {
	sess, r, err := s.liveSession(ctx, s.d, token)
	if err != nil {
		return Session{}, User{}, err
	}
	now := s.now()
	if now.Sub(sess.LastSeen) >= touchEvery {
		if _, err := s.d.ExecContext(ctx, sqlTouchSession, db.Millis(now), sess.ID, db.Millis(now.Add(-touchEvery))); err != nil {
			return Session{}, User{}, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeen = db.FromMillis(db.Millis(now))
	}
	return sess, r.user(), nil
}

// Logout revokes the session of token. An unknown or already ended session
// is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" || len(token) > maxTokenLen {
		return nil
	}
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	id := hashToken(token)
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		var userID int64
		err := tx.QueryRowContext(ctx, sqlLogout, id).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		e := audit.Event{
			Action: "session.end", ObjectType: "session", ObjectID: id,
			After: map[string]any{"user_id": userID, "reason": "logout"},
		}
		if audit.ActorFrom(ctx).Login == "" {
			if r, err := loadUser(ctx, tx, sqlUserByID, userID); err == nil {
				e.Actor = r.login
			}
		}
		return s.record(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// EndSessions revokes every session of a user.
func (s *Service) EndSessions(ctx context.Context, userID int64) error {
	if err := s.ensureScopes(ctx); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		n, err := endSessions(ctx, tx, userID)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{
			Action: "session.end", ObjectType: "user", ObjectID: strconv.FormatInt(userID, 10),
			After: map[string]any{"sessions_ended": n, "reason": "revoked"},
		})
	})
	if err != nil {
		return fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	return nil
}

// Purged is what PurgeSessions did.
type Purged struct {
	Sessions  int64   // sessions ended
	SignedOut []int64 // users left without any session: their presence ends too
}

// PurgeSessions deletes the sessions past their idle or absolute timeout,
// and says which users that left without a session (an agent's presence on
// the floor ends with their last session).
func (s *Service) PurgeSessions(ctx context.Context) (Purged, error) {
	if err := s.ensureScopes(ctx); err != nil {
		return Purged{}, fmt.Errorf("purge sessions: %w", err)
	}
	now := s.now()
	idle, absolute := db.Millis(now.Add(-s.idleTimeout())), db.Millis(now.Add(-s.absoluteTimeout()))
	var p Purged
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		p = Purged{}
		users, err := queryIDs(ctx, tx, sqlExpiringSessionUsers, idle, absolute)
		if err != nil || len(users) == 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlPurgeSessions, idle, absolute)
		if err != nil {
			return err
		}
		if p.Sessions, err = res.RowsAffected(); err != nil {
			return err
		}
		for _, u := range users {
			var one int
			switch err := tx.QueryRowContext(ctx, sqlUserHasSession, u).Scan(&one); {
			case errors.Is(err, sql.ErrNoRows):
				p.SignedOut = append(p.SignedOut, u)
			case err != nil:
				return err
			}
		}
		e := audit.Event{Action: "session.purge", ObjectType: "session", After: map[string]any{"sessions_ended": p.Sessions}}
		if audit.ActorFrom(ctx).Login == "" {
			e.Actor = "system"
		}
		return s.record(ctx, tx, e)
	})
	if err != nil {
		return Purged{}, fmt.Errorf("purge sessions: %w", err)
	}
	return p, nil
}

// queryIDs runs a query whose rows are one integer id each.
func queryIDs(ctx context.Context, q db.Querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
