package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

func TestIngestLoadsWhatThePipelineSays(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{chunk: 700})
		e.mission26(t)
		data := leadFile(t, 4000, 11)
		ex := expect(t, data, receivedAt)

		res := e.ingest(t, 26, "leads.csv", data, IngestOptions{})
		b := res.Batch
		if b.Status != StatusDone || res.AlreadyLoaded || res.Resumed {
			t.Fatalf("batch %+v, already %v, resumed %v", b, res.AlreadyLoaded, res.Resumed)
		}
		want := ex.summary
		got := res.Summary
		if got.Received != want.Received || got.Loaded != want.Loaded || got.Quarantined != want.Quarantined ||
			got.Warnings != want.Warnings || got.Manual != want.Manual || got.Duplicates != want.Duplicates {
			t.Fatalf("summary %s, want %s", got, want)
		}
		if b.Received != want.Received || b.Loaded != want.Loaded || b.Quarantined != want.Quarantined ||
			b.Progress != want.Received || b.Manual != want.Manual || b.Duplicates != want.Duplicates {
			t.Fatalf("stored batch %+v, want %s", b, want)
		}
		if want.Quarantined == 0 || want.Manual == 0 {
			t.Fatalf("the generated file should have quarantined and manual records: %s", want)
		}
		if ids := e.contactIDs(t, 26); !slices.Equal(ids, ex.ids) {
			t.Fatalf("%d contacts loaded, want %d (first %v, want %v)", len(ids), len(ex.ids), ids[:3], ex.ids[:3])
		}
		if !strings.HasPrefix(ex.ids[0], "261123_") || !strings.HasSuffix(ex.ids[0], "_26") {
			t.Fatalf("contact id %s: want {yymmdd}_{n}_{mission}", ex.ids[0])
		}
		q, err := e.svc.Quarantine(context.Background(), b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != len(want.Quarantine) {
			t.Fatalf("%d quarantine rows, want %d", len(q), len(want.Quarantine))
		}
		for i, w := range want.Quarantine {
			if q[i].Line != w.Line || q[i].Code != w.Code || q[i].Reason != w.Reason {
				t.Fatalf("quarantine %d: %+v, want %+v", i, q[i], w)
			}
		}
		// The records come back whole for an authorised user.
		var n int
		err = e.svc.QuarantineRecords(asCLI, b.ID, func(q QuarantineLine) error {
			if len(q.Fields) == 0 {
				t.Errorf("record %d: no fields", q.N)
			}
			n++
			return nil
		})
		if err != nil || n != len(q) {
			t.Fatalf("QuarantineRecords: %d, %v", n, err)
		}

		// The legacy files are the transform's, byte for byte.
		p, _ := LoadProfile(referenceYAML(t))
		ref := t.TempDir()
		if _, err := Transform(context.Background(), p, bytes.NewReader(data), Options{ReceivedAt: receivedAt, OutDir: ref}); err != nil {
			t.Fatal(err)
		}
		if len(b.Outputs) != 4 {
			t.Fatalf("outputs %+v", b.Outputs)
		}
		for _, o := range b.Outputs {
			if filepath.Dir(o.Path) != filepath.Join(e.outbox, strconv.FormatInt(b.ID, 10)) {
				t.Errorf("output %s not in the batch's outbox folder", o.Path)
			}
			sameFile(t, o.Path, filepath.Join(ref, o.File))
		}
		e.hasAudit(t, "batch.create", "batch.finish", "mission.create", "profile.store")
	})
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s differs from %s (%d and %d bytes)", got, want, len(a), len(b))
	}
}

func (e *dbEnv) hasAudit(t *testing.T, actions ...string) {
	t.Helper()
	for _, a := range actions {
		entries, err := e.log.List(context.Background(), audit.Filter{Action: a})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("no %s event in the audit trail", a)
		}
	}
}

func TestSameContentTwiceLoadsNothing(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		e.mission26(t)
		data := leadFile(t, 1500, 12)
		first := e.ingest(t, 26, "leads.csv", data, IngestOptions{})
		before := e.contactIDs(t, 26)

		// Again as a file (hashed before anything is written), then as a
		// stream (received, then recognised), on another day and under
		// another name: the content is what counts.
		for _, how := range []string{"file", "stream"} {
			var res *BatchResult
			var err error
			if how == "file" {
				res, err = e.svc.Ingest(asCLI, 26, SourceCLI, "again.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt.AddDate(0, 0, 1)})
			} else {
				res, err = e.svc.Ingest(asCLI, 26, SourceSFTP("client"), "again.csv", onlyReader{bytes.NewReader(data)}, IngestOptions{ReceivedAt: receivedAt.AddDate(0, 0, 2)})
			}
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			if !res.AlreadyLoaded || res.Batch.ID != first.Batch.ID {
				t.Fatalf("%s: already loaded %v as batch %d, want batch %d", how, res.AlreadyLoaded, res.Batch.ID, first.Batch.ID)
			}
			if res.Summary.Loaded != first.Summary.Loaded || len(res.Summary.Quarantine) != len(first.Summary.Quarantine) {
				t.Fatalf("%s: summary %s, want the first batch's %s", how, res.Summary, first.Summary)
			}
		}
		if after := e.contactIDs(t, 26); !slices.Equal(before, after) {
			t.Fatalf("%d contacts after loading the same file again, want %d", len(after), len(before))
		}
		batches, err := e.svc.Batches(context.Background(), BatchFilter{Mission: 26})
		if err != nil || len(batches) != 1 {
			t.Fatalf("batches %+v, %v: want only the first", batches, err)
		}
		var chunks int
		if err := d.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM batch_archive").Scan(&chunks); err != nil || chunks != first.Batch.chunks {
			t.Fatalf("%d archive chunks (%v), want the first batch's %d", chunks, err, first.Batch.chunks)
		}
		e.hasAudit(t, "batch.duplicate")
	})
}

func TestDryRunLoadsNothing(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		e.mission26(t)
		data := leadFile(t, 500, 13)
		out := t.TempDir()
		res := e.ingest(t, 26, "leads.csv", data, IngestOptions{DryRun: true, OutDir: out})
		if !res.DryRun || res.Batch.ID != 0 || res.Summary.Received != 500 || len(res.Summary.Outputs) != 4 {
			t.Fatalf("dry run: %+v %s", res.Batch, res.Summary)
		}
		if ids := e.contactIDs(t, 26); len(ids) != 0 {
			t.Fatalf("%d contacts after a dry run", len(ids))
		}
		if bs, _ := e.svc.Batches(context.Background(), BatchFilter{}); len(bs) != 0 {
			t.Fatalf("a dry run made batches: %+v", bs)
		}
		e.ingest(t, 26, "leads.csv", data, IngestOptions{})
		res = e.ingest(t, 26, "leads.csv", data, IngestOptions{DryRun: true})
		if !res.AlreadyLoaded || res.Batch.ID == 0 {
			t.Fatalf("a dry run of loaded content should say so: %+v", res)
		}
	})
}

func TestInterruptedLoadCompletesExactlyOnce(t *testing.T) {
	for _, how := range []string{"ingest again", "resume"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
				e := newDBEnv(t, d, envOptions{chunk: 300})
				number := 26
				if how == "resume" {
					number = 27
				}
				y := strings.Replace(string(referenceYAML(t)), "number: 26", "number: "+strconv.Itoa(number), 1)
				e.mission(t, number, []byte(y))
				data := leadFile(t, 3000, 14)
				ex := expect(t, data, receivedAt)
				for i := range ex.ids {
					ex.ids[i] = strings.TrimSuffix(ex.ids[i], "_26") + "_" + strconv.Itoa(number)
				}
				slices.Sort(ex.ids)

				// Stop the load inside its fourth chunk's transaction.
				ctx, cancel := context.WithCancel(asCLI)
				commits := 0
				e.svc.hook = func(point string, _ int64, _ int) {
					if point != "commit" {
						return
					}
					if commits++; commits == 4 {
						cancel()
					}
				}
				_, err := e.svc.Ingest(ctx, number, SourceCLI, "leads.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("interrupted ingest: %v, want context.Canceled", err)
				}
				e.svc.hook = nil
				bs, err := e.svc.Batches(context.Background(), BatchFilter{Mission: number})
				if err != nil || len(bs) != 1 || bs[0].Status != StatusLoading || bs[0].Progress == 0 {
					t.Fatalf("after the interruption: %+v, %v; want one loading batch with some progress", bs, err)
				}
				if got := len(e.contactIDs(t, number)); got != bs[0].Loaded {
					t.Fatalf("%d contacts, the batch says %d loaded", got, bs[0].Loaded)
				}

				var res *BatchResult
				if how == "resume" {
					results, err := e.svc.Resume(asCLI)
					if err != nil || len(results) != 1 {
						t.Fatalf("Resume: %+v, %v", results, err)
					}
					res = &results[0]
				} else {
					res = e.ingest(t, number, "leads.csv", data, IngestOptions{})
				}
				if res.Batch.Status != StatusDone || !res.Resumed || res.Batch.ID != bs[0].ID {
					t.Fatalf("after resuming: %+v", res.Batch)
				}
				if ids := e.contactIDs(t, number); !slices.Equal(ids, ex.ids) {
					t.Fatalf("%d contacts, want %d", len(ids), len(ex.ids))
				}
				if res.Summary.Loaded != ex.summary.Loaded || len(res.Summary.Quarantine) != len(ex.summary.Quarantine) {
					t.Fatalf("summary %s, want %s", res.Summary, ex.summary)
				}
				q, _ := e.svc.Quarantine(context.Background(), res.Batch.ID)
				if len(q) != ex.summary.Quarantined {
					t.Fatalf("%d quarantine rows, want %d", len(q), ex.summary.Quarantined)
				}
				// The legacy files are written whole by the pass that resumed.
				p, _ := LoadProfile([]byte(y))
				ref := t.TempDir()
				if _, err := Transform(context.Background(), p, bytes.NewReader(data), Options{ReceivedAt: receivedAt, OutDir: ref}); err != nil {
					t.Fatal(err)
				}
				for _, o := range res.Batch.Outputs {
					sameFile(t, o.Path, filepath.Join(ref, o.File))
				}
			})
		})
	}
}

func TestSameDayFilesSetTakenIDsAside(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{chunk: 200})
		e.mission26(t)
		first := leadFile(t, 1000, 15)
		second := leadFile(t, 600, 16)
		e.ingest(t, 26, "morning.csv", first, IngestOptions{})
		exFirst := expect(t, first, receivedAt)
		exSecond := expect(t, second, receivedAt)
		// The second file's valid records whose n is also a valid record
		// of the first file get the same contact id.
		taken := 0
		for _, id := range exSecond.ids {
			if _, found := slices.BinarySearch(exFirst.ids, id); found {
				taken++
			}
		}
		if taken == 0 {
			t.Fatal("the files should share contact ids")
		}
		res := e.ingest(t, 26, "afternoon.csv", second, IngestOptions{})
		if res.Batch.Status != StatusDone {
			t.Fatalf("second batch %+v", res.Batch)
		}
		if res.Summary.Loaded != exSecond.summary.Loaded-taken || res.Summary.Quarantined != exSecond.summary.Quarantined+taken {
			t.Fatalf("second batch: %s; want %d of its ids set aside from %s", res.Summary, taken, exSecond.summary)
		}
		if res.Batch.Loaded != res.Summary.Loaded || res.Batch.Quarantined != res.Summary.Quarantined {
			t.Fatalf("stored counts %+v, summary %s", res.Batch, res.Summary)
		}
		if got := len(e.contactIDs(t, 26)); got != len(exFirst.ids)+len(exSecond.ids)-taken {
			t.Fatalf("%d contacts, want %d", got, len(exFirst.ids)+len(exSecond.ids)-taken)
		}
		q, _ := e.svc.Quarantine(context.Background(), res.Batch.ID)
		var n int
		for _, x := range q {
			if x.Code == ReasonContactIDTaken {
				n++
			}
		}
		if n != taken {
			t.Fatalf("%d records set aside for their ids, want %d", n, taken)
		}
		// The legacy files hold only what was loaded.
		rows := 0
		for _, o := range res.Batch.Outputs {
			if o.File == "mission.csv" {
				rows = o.Rows
			}
		}
		if rows != res.Summary.Loaded {
			t.Fatalf("mission.csv has %d rows, %d contacts were loaded", rows, res.Summary.Loaded)
		}
	})
}

func TestFailedBatchIsTriedAgainAfterTheProfileIsFixed(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		e.mission26(t)
		// The client renamed a column.
		data := bytes.Replace(leadFile(t, 300, 17), []byte("hcp_city"), []byte("hcp_town"), 1)
		_, err := e.svc.Ingest(asCLI, 26, SourceCLI, "renamed.csv", bytes.NewReader(data), IngestOptions{ReceivedAt: receivedAt})
		var fe *FailedError
		if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "hcp_city") {
			t.Fatalf("ingest with a renamed column: %v, want a FailedError naming the column", err)
		}
		b, err := e.svc.Batch(context.Background(), fe.Batch)
		if err != nil || b.Status != StatusFailed || b.Error == "" {
			t.Fatalf("failed batch %+v, %v", b, err)
		}
		// Same file again, same profile: still failing.
		if _, err := e.svc.Ingest(asCLI, 26, SourceCLI, "renamed.csv", bytes.NewReader(data), IngestOptions{}); !errors.As(err, &fe) {
			t.Fatalf("again: %v", err)
		}
		fixed := strings.Replace(string(referenceYAML(t)), "    - hcp_city\n", "    - hcp_town\n", 1)
		fixed = strings.Replace(fixed, "  - name: hcp_city\n", "  - name: hcp_city\n    column: hcp_town\n", 1)
		if _, err := e.svc.StoreProfile(asCLI, 26, []byte(fixed)); err != nil {
			t.Fatal(err)
		}
		res := e.ingest(t, 26, "renamed.csv", data, IngestOptions{})
		if res.Batch.ID != b.ID || res.Batch.Status != StatusDone || res.Batch.ProfileVersion != 2 || res.Summary.Loaded == 0 {
			t.Fatalf("after the fix: %+v %s", res.Batch, res.Summary)
		}
		e.hasAudit(t, "batch.retry")
	})
}

func TestProfilesAreVersioned(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		ctx := asCLI
		if _, err := e.svc.ActiveProfile(ctx, 26); err == nil {
			t.Fatal("a profile for a mission that does not exist")
		}
		_, _, err := e.svc.CreateMission(ctx, campaign.NewMission{Number: 26, Name: "X", Client: "phonak", Regime: campaign.RegimeB2B}, []byte("version: 1\nsource: {}\n"))
		var pe *ProfileError
		if !errors.As(err, &pe) {
			t.Fatalf("invalid profile: %v, want a ProfileError", err)
		}
		if _, err := e.camp.Mission(context.Background(), 26); !errors.Is(err, campaign.ErrNotFound) {
			t.Fatalf("a mission was created with an invalid profile: %v", err)
		}
		if _, _, err := e.svc.CreateMission(ctx, campaign.NewMission{Number: 27, Name: "X", Client: "phonak", Regime: campaign.RegimeB2B}, referenceYAML(t)); !errors.As(err, &pe) || !strings.Contains(err.Error(), "mission 26") {
			t.Fatalf("the profile of mission 26 for mission 27: %v", err)
		}
		e.mission26(t)
		sp, err := e.svc.StoreProfile(ctx, 26, referenceYAML(t))
		if err != nil || sp.Version != 2 || sp.CreatedBy != "cli:test" {
			t.Fatalf("second version: %+v, %v", sp, err)
		}
		active, err := e.svc.ActiveProfile(ctx, 26)
		if err != nil || active.Version != 2 || active.Profile == nil {
			t.Fatalf("active: %+v, %v", active, err)
		}
		v1, err := e.svc.ProfileVersion(ctx, 26, 1)
		if err != nil || v1.Version != 1 || v1.YAML != string(referenceYAML(t)) {
			t.Fatalf("version 1: %+v, %v", v1, err)
		}
	})
}

func TestStaleReceiptIsAbandoned(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		e.mission26(t)
		sp, _ := e.svc.ActiveProfile(asCLI, 26)
		b, err := e.svc.createBatch(asCLI, sp, SourceCLI, "cut.csv", receivedAt, IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A sender that died after two chunks.
		if err := e.svc.writeChunks(asCLI, b.ID, []sealedChunk{{seq: 0, data: []byte("x")}, {seq: 1, data: []byte("y")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Resume(asCLI); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Batch(context.Background(), b.ID); err != nil {
			t.Fatalf("a fresh receipt was abandoned: %v", err)
		}
		e.clock.Advance(DefaultStaleAfter + time.Second)
		if _, err := e.svc.Resume(asCLI); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Batch(context.Background(), b.ID); !errors.Is(err, ErrBatchNotFound) {
			t.Fatalf("stale receipt: %v, want it removed", err)
		}
		var chunks int
		if err := d.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM batch_archive").Scan(&chunks); err != nil || chunks != 0 {
			t.Fatalf("%d chunks left, %v", chunks, err)
		}
		e.hasAudit(t, "batch.abandon")
	})
}

func TestSourcesAndNames(t *testing.T) {
	for _, ok := range []string{"cli", "upload", "api", "sftp:phonak", "folder:inbox-2"} {
		if err := checkSource(ok); err != nil {
			t.Errorf("checkSource(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ftp", "sftp:", "sftp:a b", "mail:x"} {
		if err := checkSource(bad); !errors.Is(err, ErrInvalidSource) {
			t.Errorf("checkSource(%q) = %v, want ErrInvalidSource", bad, err)
		}
	}
	for in, want := range map[string]string{
		"leads.csv":                       "leads.csv",
		`C:\Users\jean\Export 1.csv`:      "Export 1.csv",
		"../../etc/passwd":                "passwd",
		"bad\x00\u202ename.csv":           "badname.csv",
		"  ":                              "unnamed",
		"..":                              "unnamed",
		strings.Repeat("é", 200) + ".csv": strings.Repeat("é", 125) + ".csv",
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldsEncodingRoundTrips(t *testing.T) {
	for _, f := range [][]string{nil, {""}, {"a", "", "é;\"x\"\r\n"}} {
		got, err := decodeFields(encodeFields(nil, f))
		if err != nil || !reflect.DeepEqual(got, append([]string{}, f...)) {
			t.Errorf("round trip of %q: %q, %v", f, got, err)
		}
	}
	if _, err := decodeFields([]byte{5, 1}); err == nil {
		t.Error("a truncated record decodes")
	}
}
