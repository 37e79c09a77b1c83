package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/db"
	"plateau/internal/ingest"
)

// profileForm posts the profile editor's form: the token first, as the
// page's form sends it.
func (c *client) profileForm(action, yaml string, sample []byte) result {
	c.t.Helper()
	parts := []formPart{
		{name: csrfField, value: []byte(c.csrfFrom("/missions/26/profile"))},
		{name: "yaml", value: []byte(yaml)},
	}
	if sample != nil {
		parts = append(parts, formPart{name: "sample", filename: "sample.csv", value: sample})
	}
	parts = append(parts, formPart{name: "action", value: []byte(action)})
	return c.multipart("/missions/26/profile", parts)
}

func TestProfileEditorShowsWhereTheYAMLIsWrong(t *testing.T) {
	s := newStack(t)
	s.mission26(t)
	c, _ := s.missionUser(t, "tech1", auth.RoleIT)
	ref := string(referenceProfileYAML(t))

	editor := c.get("/missions/26/profile")
	wantStatus(t, editor, http.StatusOK, "profile editor")
	wantIn(t, editor, "profile editor", shown("contact_id: \"{yymmdd}_{n}_{mission}\""))

	broken := map[string]string{
		"unknown type":     strings.Replace(ref, "    type: text\n", "    type: txt\n", 1),
		"unknown dial":     strings.Replace(ref, "dial: hcp_phone_number", "dial: hcp_phone", 1),
		"another mission":  strings.Replace(ref, "  number: 26\n", "  number: 27\n", 1),
		"not YAML at all":  "source: [\n",
		"problems by line": strings.Replace(strings.Replace(ref, "    type: text\n", "    type: txt\n", 1), "dial: hcp_phone_number", "dial: nothing", 1),
	}
	for name, yaml := range broken {
		var pe *ingest.ProfileError
		_, err := s.ingest.StoreProfile(s.ctx(), 26, []byte(yaml))
		if !errors.As(err, &pe) {
			t.Fatalf("%s: the service accepts the profile (%v)", name, err)
		}
		for _, action := range []string{"preview", "save"} {
			r := c.profileForm(action, yaml, nil)
			wantStatus(t, r, http.StatusUnprocessableEntity, name+" "+action)
			wantIn(t, r, name+" "+action, shown(s.srv.cat.text("fr", "profile.error.invalid")))
			for _, p := range pe.Problems {
				if p.Line > 0 {
					wantIn(t, r, name, shown(s.srv.cat.text("fr", "profile.problem.line", p.Line)))
				}
				if p.Path != "" {
					wantIn(t, r, name, "<code>"+shown(p.Path)+"</code>")
				}
				wantIn(t, r, name, shown(p.Message))
			}
			// The YAML comes back as typed, to be fixed.
			if !strings.Contains(r.body, shown(strings.SplitN(yaml, "\n", 2)[0])) {
				t.Errorf("%s: the YAML is not shown again", name)
			}
		}
	}
	if sp, err := s.ingest.ActiveProfile(context.Background(), 26); err != nil || sp.Version != 1 {
		t.Fatalf("a refused profile was stored: version %d, %v", sp.Version, err)
	}

	// A valid profile: preview says so, save makes version 2.
	fixed := strings.Replace(ref, "description: FlexyCall hearing-aid leads, outbound J+3", "description: checked", 1)
	wantIn(t, c.profileForm("preview", fixed, nil), "valid preview", `id="profile-valid"`)
	wantRedirect(t, c.profileForm("save", fixed, nil), "/missions/26/profile?ok=profile_saved", "save")
	sp, err := s.ingest.ActiveProfile(context.Background(), 26)
	if err != nil || sp.Version != 2 || sp.YAML != fixed || sp.CreatedBy != "tech1" {
		t.Fatalf("saved profile: version %d by %q, %v", sp.Version, sp.CreatedBy, err)
	}
	wantIn(t, c.get("/missions/26/profile?ok=profile_saved"), "after saving", shown(s.srv.cat.text("fr", "profile.active", 2)))
	// A textarea sends CRLF line ends: stored as LF.
	if r := c.profileForm("save", strings.ReplaceAll(fixed, "\n", "\r\n"), nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save with CRLF: %d", r.StatusCode)
	}
	if sp, _ := s.ingest.ActiveProfile(context.Background(), 26); strings.Contains(sp.YAML, "\r") {
		t.Error("the profile was stored with CR")
	}
}

func TestProfilePreviewWritesNothing(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		s := newStackOn(t, d)
		s.mission26(t)
		c, _ := s.missionUser(t, "admin1", auth.RoleAdmin)
		counts := func() string {
			return fmt.Sprintf("contacts %d, batches %d, profiles %d, quarantine %d", s.rowCount(t, "contacts"),
				s.rowCount(t, "batches"), s.rowCount(t, "mission_profiles"), s.rowCount(t, "batch_quarantine")) +
				fmt.Sprintf(", archive %d", s.rowCount(t, "batch_archive"))
		}
		before := counts()
		// The profile as edited (not saved) routes one more number to
		// manual dialling: the preview uses it, not the stored one.
		yaml := strings.Replace(string(referenceProfileYAML(t)), "    numbers: []", `    numbers: ["04 78 12 34 56"]`, 1)
		r := c.profileForm("preview", yaml, leadFile())
		wantStatus(t, r, http.StatusOK, "preview with a sample")
		id := contactIDPrefix()
		wantIn(t, r, "preview with a sample", `id="profile-valid"`, "sample.csv",
			`<code>`+id+`_1_26</code>`, `id="preview-loaded">3<`, `id="preview-quarantined">2<`,
			shown(`required field "hcp_phone_number" is empty`),
			"mission.csv", "CRM phonak.csv", "Automate.csv", "Call Centers.csv",
			// mission.csv's first line, as the client's tools will read it
			shown("0;Mission Sortant J+3;"), shown(id+"_1_26;Martin;Jean;jean.martin@orange.fr;33612345678;"),
		)
		if strings.Count(r.body, `<span class="tag tag-warn">`+shown(s.srv.cat.text("fr", "preview.route.manual"))+`</span>`) != 2 {
			t.Error("the edited routing is not the one previewed: want two records to manual dialling")
		}
		if after := counts(); after != before {
			t.Fatalf("the preview wrote to the database: before %s, after %s", before, after)
		}
		if n := s.pendingFiles(t); n != 0 {
			t.Fatalf("the preview left %d files", n)
		}
	})
}
