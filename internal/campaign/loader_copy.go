package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"plateau/internal/db"
)

// ErrContactExists is returned by Copy when the mission already has one of
// the contact ids.
var ErrContactExists = errors.New("the mission already has a contact with this id")

// Copy writes rows built by Row in tx, in bulk, for ingestion: COPY on
// PostgreSQL, one prepared multi-row INSERT run again and again on SQLite.
// Unlike Insert it skips nothing: if the mission already has one of the
// contact ids it fails with ErrContactExists and tx must be rolled back
// (the caller may then set those records aside with Taken and copy the
// others). A loader that records its progress in the same transaction is
// exactly-once without ON CONFLICT, which COPY does not offer.
func (l *Loader) Copy(ctx context.Context, tx *db.Tx, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		if len(r) != len(loaderColumns) {
			return fmt.Errorf("copy contacts: a row has %d values, want %d", len(r), len(loaderColumns))
		}
	}
	if err := l.copy(ctx, tx, rows); err != nil {
		if errors.Is(err, ErrContactExists) || db.IsUniqueViolation(err) {
			return fmt.Errorf("copy contacts into mission %d: %w", l.m.Number, ErrContactExists)
		}
		return fmt.Errorf("copy contacts into mission %d: %w", l.m.Number, err)
	}
	if err := l.countLoaded(ctx, tx, len(rows)); err != nil {
		return fmt.Errorf("copy contacts into mission %d: %w", l.m.Number, err)
	}
	// New priorities may have appeared (see Insert).
	l.s.forget(l.m.Number)
	return nil
}

func (l *Loader) copy(ctx context.Context, tx *db.Tx, rows [][]any) error {
	if tx.Engine() == db.Postgres {
		_, err := tx.CopyFrom(ctx, "contacts", loaderColumns, rows)
		return err
	}
	// ON CONFLICT DO NOTHING, then a count: the same statement as Insert,
	// and a conflict reads as a short count rather than an error text.
	// Full blocks reuse one prepared statement: SQLite parses it once.
	var stmt *sql.Stmt
	if len(rows) >= maxInsertRows {
		var err error
		if stmt, err = tx.PrepareContext(ctx, insertContactsSQL(maxInsertRows)); err != nil {
			return err
		}
		defer stmt.Close()
	}
	args := make([]any, 0, min(len(rows), maxInsertRows)*len(loaderColumns))
	for start := 0; start < len(rows); start += maxInsertRows {
		block := rows[start:min(start+maxInsertRows, len(rows))]
		args = args[:0]
		for _, r := range block {
			args = append(args, r...)
		}
		var (
			res sql.Result
			err error
		)
		if len(block) == maxInsertRows {
			res, err = stmt.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, insertContactsSQL(len(block)), args...)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(block)) {
			return errors.Join(ErrContactExists, err)
		}
	}
	return nil
}

// Taken returns which of ids the mission already holds from a batch other
// than batch: the records Copy refused.
func (l *Loader) Taken(ctx context.Context, q db.Querier, batch int64, ids []string) (map[string]bool, error) {
	taken := map[string]bool{}
	for start := 0; start < len(ids); start += maxInsertRows {
		part := ids[start:min(start+maxInsertRows, len(ids))]
		args := make([]any, 0, len(part)+2)
		args = append(args, l.m.Number, batch)
		for _, id := range part {
			args = append(args, id)
		}
		query := `SELECT contact_id FROM contacts WHERE mission = ? AND batch_id <> ? AND contact_id IN (` +
			strings.Repeat("?, ", len(part)-1) + `?)`
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("contact ids taken in mission %d: %w", l.m.Number, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("contact ids taken in mission %d: %w", l.m.Number, err)
			}
			taken[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("contact ids taken in mission %d: %w", l.m.Number, err)
		}
	}
	return taken, nil
}
