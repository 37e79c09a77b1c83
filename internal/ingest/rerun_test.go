package ingest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"plateau/internal/db"
)

func TestRerunLoadsAFailedBatchFromItsArchive(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		e.mission26(t)
		original := leadFile(t, 200, 5)
		data := bytes.Replace(original, []byte("hcp_city"), []byte("hcp_town"), 1)
		_, err := e.svc.Ingest(asCLI, 26, SourceUpload, "renamed.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt})
		var fe *FailedError
		if !errors.As(err, &fe) {
			t.Fatalf("ingest with a renamed column: %v, want a FailedError", err)
		}
		b, err := e.svc.Batch(context.Background(), fe.Batch)
		if err != nil || !b.Rerunnable() {
			t.Fatalf("failed batch %+v (%v) is not rerunnable", b, err)
		}

		// The profile is still wrong: the batch fails again, and stays rerunnable.
		if _, err := e.svc.Rerun(asCLI, b.ID, IngestOptions{}); !errors.As(err, &fe) || fe.Batch != b.ID {
			t.Fatalf("rerun with the same profile: %v, want a FailedError of batch %d", err, b.ID)
		}

		fixed := strings.Replace(string(referenceYAML(t)), "    - hcp_city\n", "    - hcp_town\n", 1)
		fixed = strings.Replace(fixed, "  - name: hcp_city\n", "  - name: hcp_city\n    column: hcp_town\n", 1)
		if _, err := e.svc.StoreProfile(asCLI, 26, []byte(fixed)); err != nil {
			t.Fatal(err)
		}
		want := expect(t, original, receivedAt) // the same records under the expected header
		res, err := e.svc.Rerun(asCLI, b.ID, IngestOptions{})
		if err != nil {
			t.Fatalf("rerun after the fix: %v", err)
		}
		if res.Batch.ID != b.ID || res.Batch.Status != StatusDone || res.Batch.ProfileVersion != 2 {
			t.Fatalf("rerun after the fix: %+v", res.Batch)
		}
		if res.Summary.Loaded != want.summary.Loaded || res.Summary.Quarantined != want.summary.Quarantined {
			t.Fatalf("rerun loaded %d, quarantined %d; the pipeline says %d and %d",
				res.Summary.Loaded, res.Summary.Quarantined, want.summary.Loaded, want.summary.Quarantined)
		}
		if got := e.contactIDs(t, 26); len(got) != want.summary.Loaded {
			t.Fatalf("%d contacts in the mission, want %d", len(got), want.summary.Loaded)
		}
		e.hasAudit(t, "batch.retry")

		// A finished batch is final.
		if _, err := e.svc.Rerun(asCLI, b.ID, IngestOptions{}); !errors.Is(err, ErrNotRerunnable) {
			t.Fatalf("rerun of a finished batch: %v, want ErrNotRerunnable", err)
		}
		if _, err := e.svc.Rerun(asCLI, b.ID+1000, IngestOptions{}); !errors.Is(err, ErrBatchNotFound) {
			t.Fatalf("rerun of a missing batch: %v, want ErrBatchNotFound", err)
		}
	})
}
