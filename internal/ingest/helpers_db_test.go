package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/clocktest"
	"plateau/internal/db"
	"plateau/internal/ingest/ingesttest"
	"plateau/internal/vault"
)

// receivedAt is the receipt time of the tests' files: Monday 23 November
// 2026, 08:00 in Paris; contact ids start with 261123.
var receivedAt = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

var asCLI = audit.WithActor(context.Background(), audit.Actor{Login: "cli:test", Source: "local", Agent: "go test"})

// dbEnv is an ingestion service over a database, with its dependencies.
type dbEnv struct {
	d      *db.DB
	v      *vault.Vault
	log    *audit.Log
	camp   *campaign.Service
	svc    *Service
	clock  *clocktest.Clock
	outbox string
	dir    string
}

type envOptions struct {
	masterKey string // base64; empty: a fresh one
	dir       string // for the audit files and the outbox; empty: a temporary folder
	chunk     int
	workers   int
}

func newDBEnv(t testing.TB, d *db.DB, o envOptions) *dbEnv {
	t.Helper()
	ctx := context.Background()
	if o.masterKey == "" {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		o.masterKey = base64.StdEncoding.EncodeToString(key)
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	v, err := vault.New(ctx, d, vault.Options{MasterKey: o.masterKey})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	clock := clocktest.New(receivedAt.Add(time.Hour))
	l, err := audit.New(d, v, audit.Options{
		CheckpointFile: filepath.Join(o.dir, "checkpoints.jsonl"),
		SigningKeyFile: filepath.Join(o.dir, "signing.pem"),
		Now:            clock.Now,
	})
	if err != nil {
		t.Fatalf("audit.New: %v", err)
	}
	camp := campaign.New(d, v, l, campaign.Options{Now: clock.Now})
	e := &dbEnv{d: d, v: v, log: l, camp: camp, clock: clock, outbox: filepath.Join(o.dir, "outbox"), dir: o.dir}
	e.svc = NewService(d, v, l, camp, ServiceOptions{OutboxDir: e.outbox, Now: clock.Now, ChunkRecords: o.chunk, Workers: o.workers})
	return e
}

func referenceYAML(t testing.TB) []byte {
	t.Helper()
	y, err := os.ReadFile(referenceProfile)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// mission26 creates the reference mission with the reference profile.
func (e *dbEnv) mission26(t testing.TB) {
	t.Helper()
	e.mission(t, 26, referenceYAML(t))
}

func (e *dbEnv) mission(t testing.TB, number int, yaml []byte) {
	t.Helper()
	_, _, err := e.svc.CreateMission(asCLI, campaign.NewMission{Number: number, Name: "Mission Sortant J+3",
		Client: "phonak", Regime: campaign.RegimeB2B}, yaml)
	if err != nil {
		t.Fatalf("create mission %d: %v", number, err)
	}
}

// leadFile generates a file of the seed's layout.
func leadFile(t testing.TB, records int, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := ingesttest.Generate(&b, ingesttest.Options{Records: records, Seed: seed, Tricky: true}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// expected is what the pipeline alone says of a file.
type expected struct {
	ids     []string // contact ids of the valid records, sorted
	summary *Summary
}

func expect(t testing.TB, data []byte, at time.Time) expected {
	t.Helper()
	p, err := LoadProfile(referenceYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPipeline(p, bytes.NewReader(data), Options{ReceivedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	var ex expected
	ex.summary = NewSummary()
	for {
		it, err := pl.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ex.summary.Add(it)
		if it.Record != nil {
			ex.ids = append(ex.ids, it.Record.ContactID)
		}
	}
	ex.summary.Finish(pl)
	slices.Sort(ex.ids)
	return ex
}

// contactIDs returns the contact ids of a mission, sorted, and fails on a
// repeated one.
func (e *dbEnv) contactIDs(t testing.TB, mission int) []string {
	t.Helper()
	var ids []string
	err := e.camp.OpenFiles(context.Background(), campaign.FileFilter{Mission: mission}, func(r campaign.FileRow) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("contact id %s loaded twice", ids[i])
		}
	}
	return ids
}

func (e *dbEnv) ingest(t testing.TB, mission int, name string, data []byte, o IngestOptions) *BatchResult {
	t.Helper()
	if o.ReceivedAt.IsZero() {
		o.ReceivedAt = receivedAt
	}
	res, err := e.svc.Ingest(asCLI, mission, SourceCLI, name, bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("ingest %s: %v", name, err)
	}
	return res
}

// onlyReader hides the Seek of a reader, as a network stream has none.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
