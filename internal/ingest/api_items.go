package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The JSON API (POST /api/v1/missions/{number}/contacts) takes an array of
// objects instead of a file. The array is written, in memory, as a file in
// the profile's source format and loaded like any other: the same batches,
// the same quarantine, the same exactly-once by content hash. What this file
// adds is the way there and back: items to a file, and the batch's account
// back to one answer per item.

// ErrNoItems: an API load without any item.
var ErrNoItems = errors.New("no items to load")

// ItemError says why an item of an API load cannot be written as a record
// at all (as opposed to a record the profile quarantines). It never quotes a
// value: values are personal data.
type ItemError struct {
	Index int    // 0-based, in the array
	Key   string // the key at fault, if any
	Msg   string
}

func (e *ItemError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("item %d: %s", e.Index, e.Msg)
	}
	return fmt.Sprintf("item %d, key %q: %s", e.Index, e.Key, e.Msg)
}

// The statuses of an item of an API load.
const (
	ItemLoaded      = "loaded"
	ItemQuarantined = "quarantined"
	ItemDuplicate   = "duplicate" // quarantined as a duplicate of an earlier record
)

// ItemResult is what became of one item of an API load.
type ItemResult struct {
	Index  int    `json:"index"` // 0-based, in the array
	Status string `json:"status"`
	// ID is the contact id of a loaded item.
	ID string `json:"id,omitempty"`
	// Routing of a loaded item: "queue" or "manual".
	Routing string `json:"routing,omitempty"`
	// Code, Field and Reason say why an item was quarantined.
	Code   string `json:"code,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ItemsResult is a BatchResult with one answer per item.
type ItemsResult struct {
	*BatchResult
	Items []ItemResult
}

// ItemsEncoder writes items, one at a time, as a file in the profile's
// source format: the header when the profile has one, then one record per
// item, in order, so that the record number N of item i is i+1. The keys of
// an item are the profile's source column names or, failing that, its field
// names (a field stands for its column); a missing key is an empty value.
// An unknown key, two keys for one column, or a character the source
// encoding cannot hold gives an *ItemError. The same items give the same
// bytes whatever the order of their keys, so the same array loads once.
type ItemsEncoder struct {
	p        *Profile
	mission  int // the mission of Service.ItemsEncoder; 0 for a bare profile
	byColumn map[string]int
	enc      Encoding
	buf      bytes.Buffer
	row      []string
	from     []string
	n        int
}

// NewItemsEncoder prepares to write items with profile p.
func NewItemsEncoder(p *Profile) (*ItemsEncoder, error) {
	if p == nil || len(p.Source.Columns) == 0 {
		return nil, errors.New("ingest: the profile was not loaded with LoadProfile")
	}
	e := &ItemsEncoder{p: p, byColumn: make(map[string]int, len(p.Source.Columns)), enc: p.Source.Encoding,
		row: make([]string, len(p.Source.Columns)), from: make([]string, len(p.Source.Columns))}
	for i, c := range p.Source.Columns {
		e.byColumn[c] = i
	}
	if e.enc == EncodingAuto || e.enc == "" {
		// Says UTF-8 outright instead of leaving it to detection.
		e.buf.WriteString("\uFEFF")
		e.enc = EncodingUTF8
	}
	if p.Source.Header {
		for i, c := range p.Source.Columns {
			if i > 0 {
				e.buf.WriteByte(p.Source.Delimiter)
			}
			e.cell(c)
		}
		e.buf.WriteByte('\n')
	}
	return e, nil
}

func (e *ItemsEncoder) cell(s string) {
	if s == "" || !strings.ContainsAny(s, string(e.p.Source.Delimiter)+"\"\r\n") {
		e.buf.Write(appendEncoded(nil, e.enc, []byte(s)))
		return
	}
	e.buf.WriteByte('"')
	e.buf.Write(appendEncoded(nil, e.enc, []byte(strings.ReplaceAll(s, `"`, `""`))))
	e.buf.WriteByte('"')
}

// Add writes the next item as a record.
func (e *ItemsEncoder) Add(item map[string]string) error {
	i := e.n
	clear(e.row)
	clear(e.from)
	for k, v := range item {
		c, ok := e.byColumn[k]
		if !ok {
			fi, found := e.p.FieldIndex(k)
			if !found {
				return &ItemError{Index: i, Key: k, Msg: "no source column or field of the mission's profile has this name"}
			}
			c = e.p.Fields[fi].Index
		}
		if e.from[c] != "" {
			return &ItemError{Index: i, Key: k, Msg: fmt.Sprintf("names the same column as key %q", e.from[c])}
		}
		e.from[c] = k
		if r, bad := firstUnencodable(e.enc, v); bad {
			return &ItemError{Index: i, Key: k, Msg: fmt.Sprintf("character U+%04X cannot be written in %s, the profile's source encoding", r, e.enc)}
		}
		e.row[c] = v
	}
	empty := true
	for c, v := range e.row {
		if c > 0 {
			e.buf.WriteByte(e.p.Source.Delimiter)
		}
		e.cell(v)
		empty = empty && v == ""
	}
	if empty && len(e.row) == 1 {
		// A blank line is not a record: keep the numbering.
		e.buf.WriteString(`""`)
	}
	e.buf.WriteByte('\n')
	e.n++
	return nil
}

// Len returns the number of items written.
func (e *ItemsEncoder) Len() int { return e.n }

// Bytes returns the file written so far.
func (e *ItemsEncoder) Bytes() []byte { return e.buf.Bytes() }

// ItemsFile writes items as a file in the profile's source format (see
// ItemsEncoder).
func ItemsFile(p *Profile, items []map[string]string) ([]byte, error) {
	e, err := NewItemsEncoder(p)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, ErrNoItems
	}
	for _, it := range items {
		if err := e.Add(it); err != nil {
			return nil, err
		}
	}
	return e.Bytes(), nil
}

// ItemsEncoder returns an encoder for the items of an API load into a
// mission, with the mission's active profile.
func (s *Service) ItemsEncoder(ctx context.Context, mission int) (*ItemsEncoder, error) {
	sp, err := s.ActiveProfile(ctx, mission)
	if err != nil {
		return nil, err
	}
	e, err := NewItemsEncoder(sp.Profile)
	if err != nil {
		return nil, err
	}
	e.mission = mission
	return e, nil
}

// IngestItems loads items into a mission as one batch from source "api"
// (see ItemsEncoder for the keys) and answers for each item: loaded with
// its contact id, or quarantined with the reason. The same items again load
// nothing: the result is then the earlier batch's (AlreadyLoaded) with the
// same answers.
func (s *Service) IngestItems(ctx context.Context, mission int, items []map[string]string, o IngestOptions) (*ItemsResult, error) {
	e, err := s.ItemsEncoder(ctx, mission)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if err := e.Add(it); err != nil {
			return nil, err
		}
	}
	return s.IngestEncoded(ctx, mission, e, o)
}

// IngestEncoded is IngestItems for items already written by an encoder of
// the mission (ItemsEncoder), e.g. streamed from a request body.
func (s *Service) IngestEncoded(ctx context.Context, mission int, e *ItemsEncoder, o IngestOptions) (*ItemsResult, error) {
	if e.mission != mission {
		return nil, fmt.Errorf("ingest: items encoded for mission %d, not mission %d", e.mission, mission)
	}
	if e.Len() == 0 {
		return nil, ErrNoItems
	}
	file := e.Bytes()
	res, err := s.Ingest(ctx, mission, SourceAPI, "api.csv", bytes.NewReader(file), o)
	if err != nil {
		return &ItemsResult{BatchResult: res}, err
	}
	out := &ItemsResult{BatchResult: res}
	if out.Items, err = s.itemResults(ctx, mission, res, file, e.Len()); err != nil {
		return out, err
	}
	return out, nil
}

// itemResults reads the file again with the batch's profile version and
// receipt time (which give the same contact ids) and joins it with the
// batch's quarantine, which has the last word: it also holds the records
// set aside because their contact id was taken.
func (s *Service) itemResults(ctx context.Context, mission int, res *BatchResult, file []byte, n int) ([]ItemResult, error) {
	if res == nil || res.Summary == nil {
		return nil, errors.New("ingest: no summary to answer per item")
	}
	quarantined := make(map[int]QuarantineEntry, len(res.Summary.Quarantine))
	for _, q := range res.Summary.Quarantine {
		quarantined[q.N] = q
	}
	var (
		sp  StoredProfile
		err error
	)
	if res.DryRun && res.Batch.ID == 0 {
		sp, err = s.ActiveProfile(ctx, mission)
	} else {
		sp, err = s.ProfileVersion(ctx, mission, res.Batch.ProfileVersion)
	}
	if err != nil {
		return nil, err
	}
	m, err := s.c.Mission(ctx, mission)
	if err != nil {
		return nil, err
	}
	received := res.Batch.ReceivedAt
	if received.IsZero() {
		received = s.now()
	}
	pl, err := NewPipeline(sp.Profile, bytes.NewReader(file), Options{ReceivedAt: received, MissionNumber: mission, MissionName: m.Name})
	if err != nil {
		return nil, err
	}
	out := make([]ItemResult, 0, n)
	for {
		it, err := pl.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("answer per item: %w", err)
		}
		var num int
		r := ItemResult{}
		switch {
		case it.Record != nil:
			num = it.Record.N
			r.Status, r.ID, r.Routing = ItemLoaded, it.Record.ContactID, it.Record.Route.String()
		case it.Quarantined != nil:
			num = it.Quarantined.N
			r.Status, r.Code, r.Reason = ItemQuarantined, it.Quarantined.Code(), it.Quarantined.Reason()
		}
		r.Index = num - 1
		if q, ok := quarantined[num]; ok {
			r = ItemResult{Index: num - 1, Status: ItemQuarantined, Code: q.Code, Field: q.Field, Reason: q.Reason}
		}
		if r.Code == ReasonDuplicate {
			r.Status = ItemDuplicate
		}
		out = append(out, r)
	}
	if len(out) != n {
		return nil, fmt.Errorf("answer per item: %d records read back for %d items", len(out), n)
	}
	return out, nil
}
