package web

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/db"
	"plateau/internal/ingest"
)

func TestFailedBatchIsRerunFromItsPageAfterTheProfileIsFixed(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s := newStackOn(t, d)
		s.mission26(t)
		c, _ := s.missionUser(t, "tech1", auth.RoleIT)
		sup, _ := s.missionUser(t, "sup1", auth.RoleSupervisor)

		// The client renamed a column: the file arrives (from the inbox)
		// and fails.
		data := bytes.Replace(leadFile(), []byte("hcp_city"), []byte("hcp_town"), 1)
		_, err := s.ingest.Ingest(s.ctx(), 26, ingest.SourceFolder("inbox"), "renamed.csv", bytes.NewReader(data), ingest.IngestOptions{})
		var fe *ingest.FailedError
		if !errors.As(err, &fe) {
			t.Fatalf("ingest with a renamed column: %v", err)
		}
		id := strconv.FormatInt(fe.Batch, 10)
		page := c.get("/batches/" + id)
		wantIn(t, page, "failed batch", `id="batch-error"`, "hcp_city", `action="/batches/`+id+`/rerun"`)
		if strings.Contains(sup.get("/batches/"+id).body, "/rerun") {
			t.Error("a supervisor is offered the re-run")
		}
		wantStatus(t, sup.post("/batches/"+id, "/batches/"+id+"/rerun", nil), http.StatusForbidden, "supervisor re-run")

		// Fixed through the editor, then re-run from the batch page.
		ref := string(referenceProfileYAML(t))
		fixed := strings.Replace(ref, "    - hcp_city\n", "    - hcp_town\n", 1)
		fixed = strings.Replace(fixed, "  - name: hcp_city\n", "  - name: hcp_city\n    column: hcp_town\n", 1)
		wantRedirect(t, c.profileForm("save", fixed, nil), "/missions/26/profile?ok=profile_saved", "fix the profile")
		r := c.post("/batches/"+id, "/batches/"+id+"/rerun", nil)
		if got := batchOf(t, r); got != id {
			t.Fatalf("re-run went to batch %s, want %s", got, id)
		}
		b := s.waitBatch(t, fe.Batch)
		if b.Status != ingest.StatusDone || b.ProfileVersion != 2 || b.Loaded != 3 || b.Quarantined != 2 {
			t.Fatalf("after the re-run: %+v", b)
		}
		wantIn(t, c.get("/batches/"+id), "re-run batch", `id="count-loaded">3<`)
		// A loaded batch is final.
		wantStatus(t, c.post("/batches/"+id, "/batches/"+id+"/rerun", nil), http.StatusConflict, "re-run of a loaded batch")
		wantStatus(t, c.get("/batches/999999"), http.StatusNotFound, "a batch that does not exist")
	})
}
