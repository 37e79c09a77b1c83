package campaign

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
)

// Outcome is a qualification an agent gives a call.
type Outcome struct {
	Code  string `json:"code"` // slug: a-z, 0-9, '-', '_'
	Label string `json:"label"`
	// Closes closes the file.
	Closes bool `json:"closes"`
	// CountsAttempt counts the call against the mission's maximum attempts.
	CountsAttempt bool `json:"counts_attempt"`
	// RetryAfter is how long a file that stays open waits before it is due
	// again.
	RetryAfter time.Duration `json:"-"`
	// RetryAfterSeconds is RetryAfter, for JSON.
	RetryAfterSeconds int `json:"retry_after"`
	// Refusal marks the person's refusal (consumer prospecting: 60 days of
	// silence across the client's missions).
	Refusal bool `json:"refusal"`
	// Callback needs a callback time.
	Callback bool `json:"callback"`
	// Success marks the mission's goal (an appointment made...).
	Success  bool `json:"success"`
	Position int  `json:"position"`
}

// DefaultOutcomes returns the French catalogue of seed 000: the retryable
// outcomes, the closing ones, "RDV pris" (success) and "Rappel" (callback).
// Retry delays follow what each outcome means for the next call.
func DefaultOutcomes() []Outcome {
	retry := func(code, label string, after time.Duration) Outcome {
		return Outcome{Code: code, Label: label, CountsAttempt: true, RetryAfter: after}
	}
	closing := func(code, label string, refusal bool) Outcome {
		return Outcome{Code: code, Label: label, Closes: true, CountsAttempt: true, Refusal: refusal}
	}
	list := []Outcome{
		retry("rdv-pas-le-temps", "Refus de RDV: Client n'a pas eu le temps d'appeler", 24*time.Hour),
		retry("lead-injoignable", "Refus de RDV: Lead injoignable", 4*time.Hour),
		retry("lead-non-recu", "Refus de RDV: Lead non reçu", 24*time.Hour),
		retry("client-pas-disponible", "Client pas disponible (déjà en rdv)", time.Hour),
		retry("client-ferme", "Client fermé, hors horaires/jours d'ouverture", 24*time.Hour),
		retry("repondeur", "Répondeur", 2*time.Hour),
		retry("barrage-assistante", "Barrage assistante", time.Hour),
		closing("pas-interesse-orl", "Refus de RDV: Lead pas intéressé: préfère voir son médecin ORL avant", true),
		closing("pas-interesse-curiosite", "Refus de RDV: Lead pas intéressé: simple curiosité", true),
		closing("lead-faux-numero", "Refus de RDV: Lead faux numéro", false),
		closing("pas-interesse-info", "Refus de RDV: Lead pas intéressé: souhaitait juste de l'info mais pas de rdv", true),
		closing("faux-numero", "Faux numéro", false),
		{Code: "rdv-pris", Label: "RDV pris", Closes: true, CountsAttempt: true, Success: true},
		// A callback was agreed with someone: not a failed attempt.
		{Code: "rappel", Label: "Rappel", Callback: true},
	}
	for i := range list {
		list[i].Position = i + 1
		list[i].RetryAfterSeconds = int(list[i].RetryAfter / time.Second)
	}
	return list
}

func validCode(c string) bool {
	if len(c) < 1 || len(c) > 64 {
		return false
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

func (o *Outcome) validate() error {
	if !validCode(o.Code) {
		return fmt.Errorf("%w: outcome code %q: 1 to 64 characters among a-z, 0-9, '-', '_'", ErrInvalid, o.Code)
	}
	label, err := cleanText("outcome label", o.Label, maxNameLen, false)
	if err != nil {
		return err
	}
	if label == "" {
		return fmt.Errorf("%w: outcome %s: a label is required", ErrInvalid, o.Code)
	}
	o.Label = label
	if o.RetryAfter == 0 && o.RetryAfterSeconds > 0 {
		o.RetryAfter = time.Duration(o.RetryAfterSeconds) * time.Second
	}
	if o.RetryAfter < 0 || o.RetryAfter > 365*24*time.Hour {
		return fmt.Errorf("%w: outcome %s: retry delay: 0 to 365 days", ErrInvalid, o.Code)
	}
	o.RetryAfterSeconds = int(o.RetryAfter / time.Second)
	if o.Callback && o.Closes {
		return fmt.Errorf("%w: outcome %s: a callback cannot close the file", ErrInvalid, o.Code)
	}
	return nil
}

func checkUniqueCodes(list []Outcome) error {
	seen := make(map[string]bool, len(list))
	for _, o := range list {
		if seen[o.Code] {
			return fmt.Errorf("%w: outcome code %q appears twice", ErrInvalid, o.Code)
		}
		seen[o.Code] = true
	}
	return nil
}

func upsertOutcome(ctx context.Context, tx *db.Tx, mission int, o Outcome) error {
	_, err := tx.ExecContext(ctx, sqlUpsertOutcome, mission, o.Code, o.Label, o.Closes, o.CountsAttempt,
		o.RetryAfter.Milliseconds(), o.Refusal, o.Callback, o.Success, o.Position)
	if err != nil {
		return fmt.Errorf("save outcome %s: %w", o.Code, err)
	}
	return nil
}

func loadOutcomes(ctx context.Context, q db.Querier, mission int) ([]Outcome, error) {
	rows, err := q.QueryContext(ctx, sqlOutcomes, mission)
	if err != nil {
		return nil, fmt.Errorf("outcomes of mission %d: %w", mission, err)
	}
	defer rows.Close()
	var out []Outcome
	for rows.Next() {
		var o Outcome
		var retry int64
		if err := rows.Scan(&o.Code, &o.Label, &o.Closes, &o.CountsAttempt, &retry, &o.Refusal, &o.Callback,
			&o.Success, &o.Position); err != nil {
			return nil, fmt.Errorf("outcomes of mission %d: %w", mission, err)
		}
		o.RetryAfter = time.Duration(retry) * time.Millisecond
		o.RetryAfterSeconds = int(o.RetryAfter / time.Second)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Outcomes returns a mission's outcome codes in display order.
func (s *Service) Outcomes(ctx context.Context, mission int) ([]Outcome, error) {
	return loadOutcomes(ctx, s.d, mission)
}

// SetOutcome adds or changes one outcome code of a mission. Past attempts
// keep the code they were given; a changed definition applies to the next
// qualifications.
func (s *Service) SetOutcome(ctx context.Context, mission int, o Outcome) error {
	if err := o.validate(); err != nil {
		return err
	}
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		m, err := lockMission(ctx, tx, mission)
		if err != nil {
			return err
		}
		list, err := loadOutcomes(ctx, tx, mission)
		if err != nil {
			return err
		}
		var before map[string]any
		for _, x := range list {
			if x.Code == o.Code {
				before = x.auditValues()
			}
		}
		if o.Position == 0 {
			o.Position = len(list) + 1
		}
		if err := upsertOutcome(ctx, tx, m.Number, o); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{Action: "mission.outcome.set", ObjectType: "mission",
			ObjectID: strconv.Itoa(mission), Before: before, After: o.auditValues()})
	})
	if err != nil {
		return fmt.Errorf("set outcome %s of mission %d: %w", o.Code, mission, err)
	}
	s.forget(mission)
	return nil
}

// DeleteOutcome removes an outcome code that no call was ever given.
func (s *Service) DeleteOutcome(ctx context.Context, mission int, code string) error {
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := lockMission(ctx, tx, mission); err != nil {
			return err
		}
		var used int
		if err := tx.QueryRowContext(ctx, sqlOutcomeUsed, mission, code).Scan(&used); err != nil {
			return fmt.Errorf("check outcome use: %w", err)
		}
		if used > 0 {
			return ErrOutcomeInUse
		}
		res, err := tx.ExecContext(ctx, sqlDeleteOutcome, mission, code)
		if err != nil {
			return fmt.Errorf("delete outcome: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, audit.Event{Action: "mission.outcome.delete", ObjectType: "mission",
			ObjectID: strconv.Itoa(mission), Before: map[string]any{"code": code}})
	})
	if err != nil {
		return fmt.Errorf("delete outcome %s of mission %d: %w", code, mission, err)
	}
	s.forget(mission)
	return nil
}

func (o Outcome) auditValues() map[string]any {
	return map[string]any{
		"code": o.Code, "label": o.Label, "closes": o.Closes, "counts_attempt": o.CountsAttempt,
		"retry_after": int(o.RetryAfter / time.Second), "refusal": o.Refusal, "callback": o.Callback,
		"success": o.Success, "position": o.Position,
	}
}
