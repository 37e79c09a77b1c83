package ingest

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"plateau/internal/audit"
	"plateau/internal/db"
	"plateau/internal/vault"
)

// BatchStatus is where a batch is in its life.
type BatchStatus string

// The statuses of a batch.
const (
	// StatusReceiving: the file is being archived; its content is not
	// known yet. Such a batch either becomes loading or disappears (its
	// content was already loaded, or its sender died).
	StatusReceiving BatchStatus = "receiving"
	// StatusLoading: registered, contacts being written (or interrupted:
	// Resume finishes it).
	StatusLoading BatchStatus = "loading"
	StatusDone    BatchStatus = "done"
	// StatusFailed: the file could not be processed at all (see Error).
	StatusFailed BatchStatus = "failed"
)

// ReasonContactIDTaken is the quarantine code of a valid record whose
// contact id the mission already has from another batch: two files read the
// same day give the same ids with the reference template.
const ReasonContactIDTaken = "contact_id_taken"

// Batch is one incoming file and what became of it.
type Batch struct {
	ID             int64       `json:"id"`
	Mission        int         `json:"mission"`
	ProfileVersion int         `json:"profile_version"`
	Source         string      `json:"source"`
	Name           string      `json:"name"`
	SHA256         string      `json:"sha256"` // hex; empty while receiving
	Size           int64       `json:"size"`
	ReceivedAt     time.Time   `json:"received_at"`
	Status         BatchStatus `json:"status"`
	// Progress is the number of the last record whose contacts are
	// committed; the load is complete when it equals Received.
	Progress       int             `json:"progress"`
	Received       int             `json:"received"`
	Loaded         int             `json:"loaded"`
	Quarantined    int             `json:"quarantined"`
	Duplicates     int             `json:"duplicates"`
	Warnings       int             `json:"warnings"`
	Manual         int             `json:"manual"`
	Queue          int             `json:"queue"`
	BlankLines     int             `json:"blank_lines"`
	Encoding       string          `json:"encoding"`
	WarningsByCode map[string]int  `json:"warnings_by_code"`
	OutDir         string          `json:"out_dir,omitempty"`
	NoOutputs      bool            `json:"no_outputs,omitempty"`
	Outputs        []OutputSummary `json:"outputs"`
	Error          string          `json:"error,omitempty"`
	CreatedBy      string          `json:"created_by"`
	CreatedAt      time.Time       `json:"created_at"`
	StartedAt      time.Time       `json:"started_at,omitzero"`
	HeartbeatAt    time.Time       `json:"heartbeat_at,omitzero"`
	FinishedAt     time.Time       `json:"finished_at,omitzero"`

	chunks int // sealed chunks of the original
	sum    []byte
}

func scanBatch(sc interface{ Scan(...any) error }) (Batch, error) {
	var (
		b                                     Batch
		status, byCode, outputs               string
		received, created, started, hb, finis int64
	)
	err := sc.Scan(&b.ID, &b.Mission, &b.ProfileVersion, &b.Source, &b.Name, &b.sum, &b.Size, &b.chunks,
		&received, &status, &b.Progress, &b.Received, &b.Loaded, &b.Quarantined, &b.Duplicates, &b.Warnings,
		&b.Manual, &b.Queue, &b.BlankLines, &b.Encoding, &byCode, &b.OutDir, &b.NoOutputs, &outputs, &b.Error,
		&b.CreatedBy, &created, &started, &hb, &finis)
	if err != nil {
		return Batch{}, err
	}
	b.Status = BatchStatus(status)
	b.SHA256 = hex.EncodeToString(b.sum)
	b.ReceivedAt, b.CreatedAt, b.StartedAt = db.FromMillis(received), db.FromMillis(created), db.FromMillis(started)
	b.HeartbeatAt, b.FinishedAt = db.FromMillis(hb), db.FromMillis(finis)
	b.WarningsByCode = map[string]int{}
	if byCode != "" {
		if err := json.Unmarshal([]byte(byCode), &b.WarningsByCode); err != nil {
			return Batch{}, fmt.Errorf("batch %d: warnings by code: %w", b.ID, err)
		}
	}
	b.Outputs = []OutputSummary{}
	if outputs != "" {
		if err := json.Unmarshal([]byte(outputs), &b.Outputs); err != nil {
			return Batch{}, fmt.Errorf("batch %d: outputs: %w", b.ID, err)
		}
	}
	return b, nil
}

// Batch returns a batch.
func (s *Service) Batch(ctx context.Context, id int64) (Batch, error) {
	b, err := scanBatch(s.d.QueryRowContext(ctx, sqlBatch, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Batch{}, fmt.Errorf("batch %d: %w", id, ErrBatchNotFound)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("batch %d: %w", id, err)
	}
	return b, nil
}

// BatchFilter selects batches, newest first. Zero fields match everything.
type BatchFilter struct {
	Mission  int
	Status   BatchStatus
	BeforeID int64 // page: batches with ID < BeforeID
	Limit    int   // 0: 100
}

// Batches lists batches, newest first.
func (s *Service) Batches(ctx context.Context, f BatchFilter) ([]Batch, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.d.QueryContext(ctx, sqlBatches, f.Mission, f.Mission, string(f.Status), string(f.Status),
		f.BeforeID, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	defer rows.Close()
	out := []Batch{}
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("list batches: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	return out, nil
}

// QuarantineLine is one quarantined record of a stored batch.
type QuarantineLine struct {
	// N is the record's number in the file; Line the physical line it
	// starts on (the header is line 1).
	N           int    `json:"n"`
	Line        int    `json:"line"`
	Code        string `json:"code"`
	Field       string `json:"field,omitempty"`
	Reason      string `json:"reason"`
	DuplicateOf int    `json:"duplicate_of,omitempty"`
	// Fields are the record's source fields as decoded, filled only by
	// QuarantineRecords. A record set aside after normalisation (its
	// contact id was taken) has the profile's fields as received instead.
	Fields []string `json:"fields,omitempty"`
}

// Quarantine returns the quarantined records of a batch, in file order,
// without their content.
func (s *Service) Quarantine(ctx context.Context, batch int64) ([]QuarantineLine, error) {
	out := []QuarantineLine{}
	err := s.quarantine(ctx, batch, false, func(q QuarantineLine) error {
		out = append(out, q)
		return nil
	})
	return out, err
}

// QuarantineRecords streams the quarantined records of a batch with their
// content, decrypted, for an authorised user (the batch page, the
// quarantine CSV sent back to the client). The access is audited.
func (s *Service) QuarantineRecords(ctx context.Context, batch int64, fn func(QuarantineLine) error) error {
	b, err := s.Batch(ctx, batch)
	if err != nil {
		return err
	}
	// Recorded before the first record leaves: a download cut short was
	// still an access.
	err = s.a.Append(ctx, audit.Event{At: s.now(), Action: "batch.quarantine.read", ObjectType: "batch",
		ObjectID: strconv.FormatInt(batch, 10), After: map[string]any{"mission": b.Mission}})
	if err != nil {
		return fmt.Errorf("audit quarantine access: %w", err)
	}
	return s.quarantine(ctx, batch, true, fn)
}

func (s *Service) quarantine(ctx context.Context, batch int64, withRecords bool, fn func(QuarantineLine) error) error {
	query := sqlQuarantine
	if withRecords {
		query = sqlQuarantineRecords
	}
	rows, err := s.d.QueryContext(ctx, query, batch)
	if err != nil {
		return fmt.Errorf("quarantine of batch %d: %w", batch, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			q      QuarantineLine
			sealed []byte
		)
		dest := []any{&q.N, &q.Line, &q.Code, &q.Field, &q.Reason, &q.DuplicateOf}
		if withRecords {
			dest = append(dest, &sealed)
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("quarantine of batch %d: %w", batch, err)
		}
		if withRecords {
			plain, err := s.v.Open(ctx, sealed, quarantineAD(batch, q.N))
			if err != nil {
				return fmt.Errorf("quarantine of batch %d, record %d: %w", batch, q.N, err)
			}
			if q.Fields, err = decodeFields(plain); err != nil {
				return fmt.Errorf("quarantine of batch %d, record %d: %w", batch, q.N, err)
			}
		}
		if err := fn(q); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("quarantine of batch %d: %w", batch, err)
	}
	return nil
}

func quarantineAD(batch int64, n int) vault.AD {
	return vault.AD{Table: "batch_quarantine", Column: "record", Row: strconv.FormatInt(batch, 10) + "/" + strconv.Itoa(n)}
}

// encodeFields appends a record's fields to b: a count, then each field's
// length and bytes (uvarints).
func encodeFields(b []byte, fields []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

var errFieldsFormat = errors.New("malformed quarantined record")

func decodeFields(b []byte) ([]string, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errFieldsFormat
	}
	b = b[k:]
	out := make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errFieldsFormat
		}
		out = append(out, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errFieldsFormat
	}
	return out, nil
}

// storedSummary rebuilds the summary of a finished batch from its row and
// its quarantine.
func (s *Service) storedSummary(ctx context.Context, b Batch) (*Summary, error) {
	sum := NewSummary()
	sum.Encoding = b.Encoding
	sum.Received, sum.Loaded, sum.Quarantined, sum.Duplicates = b.Received, b.Loaded, b.Quarantined, b.Duplicates
	sum.Warnings, sum.Manual, sum.Queue, sum.BlankLines = b.Warnings, b.Manual, b.Queue, b.BlankLines
	sum.WarningsByCode = b.WarningsByCode
	sum.Outputs = b.Outputs
	err := s.quarantine(ctx, b.ID, false, func(q QuarantineLine) error {
		sum.Quarantine = append(sum.Quarantine, QuarantineEntry{Line: q.Line, N: q.N, Code: q.Code, Field: q.Field, Reason: q.Reason})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}
