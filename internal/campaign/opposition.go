package campaign

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// LineProblem is a line of an opposition list that is not a phone number.
type LineProblem struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// maxOppositionLine bounds a line of an opposition list.
const maxOppositionLine = 256

// ParseOppositionList reads an opposition list, one number per line (blank
// lines and lines starting with '#' ignored), and returns the numbers in
// E.164 (French numbers by default: "06 12 34 56 78", "0612345678",
// "33612345678", "+33 6 12 34 56 78" and "612345678" all give
// +33612345678), deduplicated, with the lines that are not valid numbers.
// The problems never quote the line: it may be someone's number.
func ParseOppositionList(r io.Reader) (numbers []string, problems []LineProblem, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	seen := make(map[string]bool)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\uFEFF"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if len(text) > maxOppositionLine {
			problems = append(problems, LineProblem{Line: line, Reason: "line too long"})
			continue
		}
		e164, ok := NormalisePhone(text)
		if !ok {
			problems = append(problems, LineProblem{Line: line, Reason: "not a valid phone number"})
			continue
		}
		if !seen[e164] {
			seen[e164] = true
			numbers = append(numbers, e164)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read opposition list: %w", err)
	}
	return numbers, problems, nil
}

// NormalisePhone turns a phone number as people write it into E.164, French
// by default; ok is false when it is not a valid number.
func NormalisePhone(s string) (string, bool) {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '+' {
			return r
		}
		if r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' || r == '/' || r == '\u00a0' {
			return -1
		}
		return 'x' // anything else makes it invalid below
	}, s)
	switch {
	case strings.HasPrefix(digits, "00"):
		digits = "+" + digits[2:]
	case len(digits) == 11 && strings.HasPrefix(digits, "33"):
		digits = "+" + digits // the client's 33XXXXXXXXX form
	case len(digits) == 9 && digits[0] != '0':
		digits = "0" + digits // a spreadsheet ate the leading 0
	}
	n, err := phonenumbers.Parse(digits, "FR")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// OppositionStatus is the state of a client's opposition list.
type OppositionStatus struct {
	Client    string    `json:"client"`
	CheckedAt time.Time `json:"checked_at,omitzero"` // zero: never
	Entries   int       `json:"entries"`
	// Stale: older than OppositionMaxAge (or never checked); the client's
	// consumer-prospecting missions are not served.
	Stale bool `json:"stale"`
}

// OppositionResult says what LoadOpposition did.
type OppositionResult struct {
	Added   int `json:"added"`
	Entries int `json:"entries"` // on the list now
}

// LoadOpposition loads an opposition list for a client: numbers (E.164, see
// ParseOppositionList) replace the list, or are added to it when replace is
// false. Either way it records the list as checked now. Files held back by
// the list are given back to the queue, to be checked against the new one at
// their next claim. Audited ("client.opposition.load") with counts only.
func (s *Service) LoadOpposition(ctx context.Context, client string, numbers []string, replace bool) (OppositionResult, error) {
	var res OppositionResult
	if err := validClient(client); err != nil {
		return res, err
	}
	for _, n := range numbers {
		if err := validPhone(n); err != nil {
			return res, err
		}
	}
	if err := s.v.EnsureScope(ctx, clientScope(client)); err != nil {
		return res, fmt.Errorf("load opposition list of %s: %w", client, err)
	}
	idx := make([][]byte, len(numbers))
	for i, n := range numbers {
		b, err := s.v.BlindIndex(ctx, clientScope(client), "phone", []byte(n))
		if err != nil {
			return res, fmt.Errorf("load opposition list of %s: %w", client, err)
		}
		idx[i] = b
	}
	now := db.Millis(s.now())
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		var before int
		if err := tx.QueryRowContext(ctx, sqlCountOpposition, client).Scan(&before); err != nil {
			return fmt.Errorf("count list: %w", err)
		}
		if replace {
			if _, err := tx.ExecContext(ctx, sqlClearOpposition, client); err != nil {
				return fmt.Errorf("clear list: %w", err)
			}
		}
		for start := 0; start < len(idx); start += maxInsertRows {
			chunk := idx[start:min(start+maxInsertRows, len(idx))]
			args := make([]any, 0, 3*len(chunk))
			for _, b := range chunk {
				args = append(args, client, b, now)
			}
			r, err := tx.ExecContext(ctx, insertOppositionSQL(len(chunk)), args...)
			if err != nil {
				return fmt.Errorf("insert numbers: %w", err)
			}
			n, _ := r.RowsAffected()
			res.Added += int(n)
		}
		if err := tx.QueryRowContext(ctx, sqlCountOpposition, client).Scan(&res.Entries); err != nil {
			return fmt.Errorf("count list: %w", err)
		}
		if replace {
			res.Added = max(0, res.Entries-before) // new numbers, as far as counts tell
		}
		if _, err := tx.ExecContext(ctx, sqlUpsertOppList, client, now, res.Entries, now); err != nil {
			return fmt.Errorf("record check: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlUnholdClient, now, string(RuleOpposition), client); err != nil {
			return fmt.Errorf("release held files: %w", err)
		}
		return s.record(ctx, tx, audit.Event{Action: "client.opposition.load", ObjectType: "client", ObjectID: client,
			Before: map[string]any{"entries": before},
			After:  map[string]any{"entries": res.Entries, "loaded": len(numbers), "replace": replace}})
	})
	if err != nil {
		return OppositionResult{}, fmt.Errorf("load opposition list of %s: %w", client, err)
	}
	s.forgetClient(client)
	return res, nil
}

func insertOppositionSQL(n int) string {
	return "INSERT INTO opposition (client, phone, added_at) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ") +
		" ON CONFLICT (client, phone) DO NOTHING"
}

// RecordOppositionCheck records that a client's list was checked at `at`
// without any change (the operator checked it against the national list and
// found nothing new). Audited ("client.opposition.check").
func (s *Service) RecordOppositionCheck(ctx context.Context, client string, at time.Time) error {
	if err := validClient(client); err != nil {
		return err
	}
	if at.IsZero() || at.After(s.now().Add(time.Minute)) {
		return fmt.Errorf("%w: check date: not in the future", ErrInvalid)
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, sqlCountOpposition, client).Scan(&n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlUpsertOppList, client, db.Millis(at), n, db.Millis(s.now())); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{Action: "client.opposition.check", ObjectType: "client", ObjectID: client,
			After: map[string]any{"checked_at": db.Millis(at), "entries": n}})
	})
	if err != nil {
		return fmt.Errorf("record opposition check of %s: %w", client, err)
	}
	s.forgetClient(client)
	return nil
}

// RemoveOpposition takes numbers (E.164) off a client's list; the files
// they held back are given back to the queue. Audited.
func (s *Service) RemoveOpposition(ctx context.Context, client string, numbers []string) (int, error) {
	if err := validClient(client); err != nil {
		return 0, err
	}
	idx := make([][]byte, len(numbers))
	for i, n := range numbers {
		if err := validPhone(n); err != nil {
			return 0, err
		}
		b, err := s.v.BlindIndex(ctx, clientScope(client), "phone", []byte(n))
		if err != nil {
			return 0, fmt.Errorf("remove opposition of %s: %w", client, err)
		}
		idx[i] = b
	}
	removed := 0
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		for _, b := range idx {
			r, err := tx.ExecContext(ctx, sqlDeleteOpposition, client, b)
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			removed += int(n)
		}
		var n int
		if err := tx.QueryRowContext(ctx, sqlCountOpposition, client).Scan(&n); err != nil {
			return err
		}
		now := db.Millis(s.now())
		if _, err := tx.ExecContext(ctx, sqlSetOppositionEntries, n, now, client); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlUnholdClient, now, string(RuleOpposition), client); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{Action: "client.opposition.remove", ObjectType: "client", ObjectID: client,
			After: map[string]any{"removed": removed, "entries": n}})
	})
	if err != nil {
		return 0, fmt.Errorf("remove opposition of %s: %w", client, err)
	}
	s.forgetClient(client)
	return removed, nil
}

// Opposition returns the state of a client's opposition list.
func (s *Service) Opposition(ctx context.Context, client string) (OppositionStatus, error) {
	st := OppositionStatus{Client: client, Stale: true}
	var checked int64
	err := s.d.QueryRowContext(ctx, sqlOppositionList, client).Scan(&checked, &st.Entries)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("opposition list of %s: %w", client, err)
	}
	st.CheckedAt = db.FromMillis(checked)
	st.Stale = s.now().Sub(st.CheckedAt) > OppositionMaxAge
	return st, nil
}

// IsOpposed reports whether a number (E.164) is on a client's list.
func (s *Service) IsOpposed(ctx context.Context, client, e164 string) (bool, error) {
	if err := validPhone(e164); err != nil {
		return false, err
	}
	b, err := s.v.BlindIndex(ctx, clientScope(client), "phone", []byte(e164))
	if err != nil {
		return false, fmt.Errorf("opposition check: %w", err)
	}
	return s.isOpposed(ctx, s.d, client, b)
}
