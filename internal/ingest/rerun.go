package ingest

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotRerunnable: only a batch that failed before loading anything can be
// run again; a finished batch is final, and an interrupted one is completed
// by Resume.
var ErrNotRerunnable = errors.New("only a failed batch that loaded nothing can be run again")

// Rerunnable reports whether Rerun would try the batch again.
func (b Batch) Rerunnable() bool { return b.Status == StatusFailed && b.Progress == 0 }

// Rerun tries again a batch that failed before loading anything (a header
// the profile did not expect, a renamed column), once the mission's profile
// is fixed: the sealed original is read again with the mission's active
// profile, exactly as ingesting the same file again would. Nobody needs to
// send the file a second time.
//
// The error is a *FailedError when the file still cannot be processed.
func (s *Service) Rerun(ctx context.Context, id int64, o IngestOptions) (*BatchResult, error) {
	b, err := s.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if !b.Rerunnable() {
		return nil, fmt.Errorf("batch %d (%s): %w", id, b.Status, ErrNotRerunnable)
	}
	return s.existing(ctx, b, o)
}
