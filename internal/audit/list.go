package audit

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"plateau/internal/db"
)

// Page sizes of List.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// List returns entries matching f, newest first.
//
// Every value travels as a bound parameter; only fixed SQL fragments are
// joined into the query.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		// LIKE narrows with the index (byte collation on PostgreSQL); the
		// substr comparison makes the match exact and case-sensitive, which
		// SQLite's LIKE is not.
		where = append(where, `action LIKE ? ESCAPE '!'`, "substr(action, 1, ?) = ?")
		args = append(args, likePrefix(f.Action), utf8.RuneCountInString(f.Action), f.Action)
	}
	if f.ObjectType != "" {
		where = append(where, "object_type = ?")
		args = append(args, f.ObjectType)
	}
	if f.ObjectID != "" {
		where = append(where, "object_id = ?")
		args = append(args, f.ObjectID)
	}
	if !f.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, db.Millis(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, db.Millis(f.To))
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)

	q := qList
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := l.d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Source, &e.Agent, &e.Action, &e.ObjectType, &e.ObjectID,
			&e.Before, &e.After); err != nil {
			return nil, fmt.Errorf("audit: list: %w", err)
		}
		e.At = db.FromMillis(at)
		e.Before, e.After = shown(e.Before), shown(e.After)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

// likePrefix turns prefix into a LIKE pattern matching it literally at the
// start, with '!' as the escape character.
func likePrefix(prefix string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(prefix) + "%"
}
