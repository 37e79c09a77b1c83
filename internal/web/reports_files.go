package web

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"

	"plateau/internal/campaign"
	"plateau/internal/ingest"
)

// buildOpenFiles is seed 000's "dossiers non clôturés": the files still
// being worked (no outcome yet or a retryable one, attempts under the
// cap), for a mission and a contact id prefix.
func buildOpenFiles(ctx context.Context, rq *reportRequest) (*reportTable, error) {
	return buildFiles(ctx, rq, campaign.StateOpen)
}

// buildClosedFiles is seed 000's "dossiers clôturés": the files closed by
// a closing outcome or at the attempt cap, to take off the agents' lists.
func buildClosedFiles(ctx context.Context, rq *reportRequest) (*reportTable, error) {
	return buildFiles(ctx, rq, campaign.StateClosed)
}

// buildFiles lists a mission's open or closed files, with their names and
// numbers when asked: the campaign service then decrypts them and audits
// the access (contacts.export) before the first row leaves.
func buildFiles(ctx context.Context, rq *reportRequest, state campaign.State) (*reportTable, error) {
	t := &reportTable{Personal: rq.p.Fields}
	t.Columns = []string{rq.text("report.col.contact_id"), rq.text("report.col.attempts"),
		rq.text("report.col.last_outcome"), rq.text("report.col.last_call"), rq.text("report.col.loaded")}
	if state == campaign.StateClosed {
		t.Columns = append(t.Columns, rq.text("report.col.close_reason"), rq.text("report.col.closed_at"))
	}
	var fields []string
	if rq.p.Fields {
		var err error
		if fields, err = rq.fieldNames(ctx); err != nil {
			return nil, err
		}
		t.Columns = append(t.Columns, rq.text("report.col.phone"))
		t.Columns = append(t.Columns, fields...)
	}
	f := campaign.FileFilter{Mission: rq.p.Mission, IDPrefix: rq.p.Prefix, WithFields: rq.p.Fields}
	t.rows = func(emit func([]string) error) error {
		each := func(fr campaign.FileRow) error {
			c := fr.Contact
			if rq.p.Fields && fields == nil {
				// No profile to name the columns: the first file's fields.
				fields = slices.Sorted(maps.Keys(c.Fields))
				t.Columns = append(t.Columns, fields...)
			}
			row := []string{c.ID, strconv.Itoa(c.Attempts), rq.outcomeLabel(c.LastOutcome), rq.when(c.LastAttemptAt),
				rq.when(c.LoadedAt)}
			if state == campaign.StateClosed {
				reason := rq.text("report.close.outcome")
				if c.CloseReason == campaign.CloseMaxAttempts {
					reason = rq.text("report.close.max_attempts")
				}
				row = append(row, reason, rq.when(c.ClosedAt))
			}
			if rq.p.Fields {
				row = append(row, c.Phone)
				for _, name := range fields {
					row = append(row, c.Fields[name])
				}
			}
			return emit(row)
		}
		if state == campaign.StateClosed {
			return rq.s.camp.ClosedFiles(ctx, f, each)
		}
		return rq.s.camp.OpenFiles(ctx, f, each)
	}
	return t, nil
}

// fieldNames returns the field names of the mission's active profile, in
// its order; nil when the mission has no profile.
func (rq *reportRequest) fieldNames(ctx context.Context) ([]string, error) {
	sp, err := rq.s.ingest.ActiveProfile(ctx, rq.p.Mission)
	if errors.Is(err, ingest.ErrNoProfile) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sp.Profile.Fields))
	for _, f := range sp.Profile.Fields {
		names = append(names, f.Name)
	}
	return names, nil
}
