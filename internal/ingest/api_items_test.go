package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"plateau/internal/campaign"
	"plateau/internal/db"
)

// apiLead is a valid item of the reference profile; with changes applied.
func apiLead(changes map[string]string) map[string]string {
	it := map[string]string{
		"type": "Lead", "name": "Marie", "surname": "Durand", "email_address": "marie@example.org",
		"phone_number": "33612345678", "statut_de_la_piste": "Nouveau", "proprietaire_de_la_piste": "Paul",
		"mc_form_id": "F-1", "lead_creation_date": "18/05/2021", "hearing_center": "Audition Centre",
		"hcp_erp_number": "ERP1", "hcp_postal_code": "75001", "hcp_phone_number": "33145678901",
		"hcp_address": "1 rue de la Paix", "hcp_city": "Paris", "hcp_email_address": "centre@example.org",
	}
	maps.Copy(it, changes)
	return it
}

func TestItemsFileRoundTrips(t *testing.T) {
	p, err := LoadProfile(referenceYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	tricky := apiLead(map[string]string{"hcp_address": "12; rue \"du\" Port\nBât. B", "hcp_city": "Évry"})
	file, err := ItemsFile(p, []map[string]string{apiLead(nil), tricky, {"hcp_phone_number": "0145678901"}})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPipeline(p, bytes.NewReader(file), Options{ReceivedAt: receivedAt})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	for {
		it, err := pl.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Record == nil {
			t.Fatalf("record quarantined: %s", it.Quarantined.Reason())
		}
		if want := len(got) + 1; it.Record.N != want {
			t.Fatalf("record number %d, want %d", it.Record.N, want)
		}
		m := map[string]string{}
		for i, f := range p.Fields {
			m[f.Name] = it.Record.Values[i].Raw
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("%d records read back, want 3", len(got))
	}
	if got[1]["hcp_address"] != tricky["hcp_address"] || got[1]["hcp_city"] != "Évry" {
		t.Errorf("tricky values read back as %q, %q", got[1]["hcp_address"], got[1]["hcp_city"])
	}
	if got[2]["name"] != "" || got[2]["hcp_phone_number"] != "0145678901" {
		t.Errorf("a sparse item read back as %v", got[2])
	}

	// The same items, keys in any order, give the same bytes.
	again, err := ItemsFile(p, []map[string]string{maps.Clone(apiLead(nil)), maps.Clone(tricky), {"hcp_phone_number": "0145678901"}})
	if err != nil || !bytes.Equal(again, file) {
		t.Errorf("the same items gave other bytes (%v)", err)
	}
}

func TestItemsFileRefusesWhatCannotBeARecord(t *testing.T) {
	p, err := LoadProfile(referenceYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := LoadProfile(bytes.Replace(referenceYAML(t), []byte("encoding: auto"), []byte("encoding: windows-1252"), 1))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		p     *Profile
		items []map[string]string
		index int
		key   string
	}{
		{"unknown key", p, []map[string]string{apiLead(nil), apiLead(map[string]string{"age": "3"})}, 1, "age"},
		{"unencodable", cp, []map[string]string{apiLead(map[string]string{"name": "Őrs"})}, 0, "name"},
	}
	for _, c := range cases {
		_, err := ItemsFile(c.p, c.items)
		var ie *ItemError
		if !errors.As(err, &ie) || ie.Index != c.index || ie.Key != c.key {
			t.Errorf("%s: %v, want an item error on item %d, key %q", c.name, err, c.index, c.key)
		}
		if err != nil && strings.Contains(err.Error(), "Őrs") {
			t.Errorf("%s: the error quotes the value: %v", c.name, err)
		}
	}
	if _, err := ItemsFile(p, nil); !errors.Is(err, ErrNoItems) {
		t.Errorf("no items: %v, want ErrNoItems", err)
	}
	// Windows-1252 holds the euro sign and accents.
	if _, err := ItemsFile(cp, []map[string]string{apiLead(map[string]string{"name": "Éloïse €"})}); err != nil {
		t.Errorf("windows-1252 item: %v", err)
	}
}

func TestIngestItemsAnswersPerItemOnce(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newDBEnv(t, d, envOptions{})
		e.mission26(t)
		items := []map[string]string{
			apiLead(nil),
			apiLead(map[string]string{"hcp_phone_number": "12"}), // not a phone number
			apiLead(nil), // the same record as item 0
			apiLead(map[string]string{"name": "Jean", "hcp_phone_number": "0800123456"}), // special number: manual
		}
		res, err := e.svc.IngestItems(asCLI, 26, items, IngestOptions{ReceivedAt: receivedAt})
		if err != nil {
			t.Fatal(err)
		}
		if res.AlreadyLoaded || res.Batch.Source != SourceAPI || res.Batch.Loaded != 2 || res.Batch.Quarantined != 2 {
			t.Fatalf("batch %+v (already loaded %v)", res.Batch, res.AlreadyLoaded)
		}
		want := []ItemResult{
			{Index: 0, Status: ItemLoaded, ID: "261123_1_26", Routing: "queue"},
			{Index: 1, Status: ItemQuarantined, Code: ReasonPhone},
			{Index: 2, Status: ItemDuplicate, Code: ReasonDuplicate},
			{Index: 3, Status: ItemLoaded, ID: "261123_4_26", Routing: "manual"},
		}
		check := func(got []ItemResult) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("%d items answered, want %d: %+v", len(got), len(want), got)
			}
			for i, w := range want {
				g := got[i]
				if g.Index != w.Index || g.Status != w.Status || g.ID != w.ID || g.Code != w.Code || g.Routing != w.Routing {
					t.Errorf("item %d: %+v, want %+v", i, g, w)
				}
				if g.Status != ItemLoaded && g.Reason == "" {
					t.Errorf("item %d: quarantined without a reason", i)
				}
			}
		}
		check(res.Items)
		for _, id := range []string{"261123_1_26", "261123_4_26"} {
			if _, err := e.camp.Info(context.Background(), campaign.Ref{Mission: 26, ID: id}); err != nil {
				t.Errorf("contact %s: %v", id, err)
			}
		}

		again, err := e.svc.IngestItems(asCLI, 26, items, IngestOptions{ReceivedAt: receivedAt.Add(5 * 60e9)})
		if err != nil {
			t.Fatal(err)
		}
		if !again.AlreadyLoaded || again.Batch.ID != res.Batch.ID {
			t.Fatalf("the same items again: batch %d, already loaded %v; want batch %d", again.Batch.ID, again.AlreadyLoaded, res.Batch.ID)
		}
		check(again.Items)
		if ids := e.contactIDs(t, 26); len(ids) != 2 {
			t.Errorf("contacts after loading twice: %v", ids)
		}
	})
}
