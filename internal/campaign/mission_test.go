package campaign

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"plateau/internal/audit"
	"plateau/internal/auth"
	"plateau/internal/db"
	"plateau/internal/vault"
)

func TestCreateMissionDefaults(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		m := e.mission(t, NewMission{Number: 26, Name: "Mission Sortant J+3", Client: "phonak", Script: "Bonjour {name}"})
		got, err := e.svc.Mission(context.Background(), 26)
		if err != nil {
			t.Fatal(err)
		}
		if got.TimeZone != "Europe/Paris" || got.Windows.String() != "mon-fri 09:00-20:00" || got.HolidaysOpen ||
			got.MaxAttempts != 5 || got.Lease != 10*time.Minute || got.Regime != RegimeB2B || got.Script != "Bonjour {name}" {
			t.Fatalf("mission = %+v", got)
		}
		if m.Name != got.Name || !got.CreatedAt.Equal(m.CreatedAt) {
			t.Fatalf("returned %+v, stored %+v", m, got)
		}
		// The default catalogue, labels exactly as in seed 000.
		labels := map[string]bool{}
		for _, o := range got.Outcomes {
			labels[o.Label] = true
		}
		for _, want := range []string{
			"Refus de RDV: Client n'a pas eu le temps d'appeler", "Refus de RDV: Lead injoignable",
			"Refus de RDV: Lead non reçu", "Client pas disponible (déjà en rdv)",
			"Client fermé, hors horaires/jours d'ouverture", "Répondeur", "Barrage assistante",
			"Refus de RDV: Lead pas intéressé: préfère voir son médecin ORL avant",
			"Refus de RDV: Lead pas intéressé: simple curiosité", "Refus de RDV: Lead faux numéro",
			"Refus de RDV: Lead pas intéressé: souhaitait juste de l'info mais pas de rdv", "Faux numéro",
			"RDV pris", "Rappel",
		} {
			if !labels[want] {
				t.Errorf("default catalogue lacks %q", want)
			}
		}
		if len(got.Outcomes) != 14 {
			t.Errorf("%d outcomes, want 14", len(got.Outcomes))
		}
		rep, _ := got.Outcome("repondeur")
		if rep.Closes || !rep.CountsAttempt || rep.RetryAfter != 2*time.Hour {
			t.Errorf("Répondeur = %+v", rep)
		}
		// The vault scopes exist: sealing for them works inside a transaction.
		for _, sc := range []string{"mission:26", "client:phonak"} {
			if _, err := e.vault.Seal(context.Background(), sc, []byte("x"), vault.AD{}); err != nil {
				t.Errorf("scope %s: %v", sc, err)
			}
		}
		if _, err := e.svc.CreateMission(asAdmin, NewMission{Number: 26, Name: "Again", Client: "x", Regime: RegimeB2B}); !errors.Is(err, ErrMissionExists) {
			t.Fatalf("second mission 26: %v", err)
		}
		list, err := e.log.List(context.Background(), audit.Filter{Action: "mission.create"})
		if err != nil || len(list) != 1 || list[0].ObjectID != "26" || list[0].Actor != "cli" {
			t.Fatalf("audit = %+v, %v", list, err)
		}
	})
}

func TestCreateMissionRejects(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, n := range []NewMission{
			{Number: 0, Name: "x", Client: "a", Regime: RegimeB2B},
			{Number: 1, Name: "", Client: "a", Regime: RegimeB2B},
			{Number: 1, Name: "x", Client: "Acme Corp", Regime: RegimeB2B},
			{Number: 1, Name: "x", Client: "a", Regime: "cold-calling"},
			{Number: 1, Name: "x", Client: "a", Regime: RegimeB2B, TimeZone: "Mars/Olympus"},
			{Number: 1, Name: "x", Client: "a", Regime: RegimeB2B, Windows: "weekdays"},
			{Number: 1, Name: "x", Client: "a", Regime: RegimeB2B, MaxAttempts: -1},
			{Number: 1, Name: "x", Client: "a", Regime: RegimeB2B, Lease: time.Second},
			{Number: 1, Name: "x", Client: "a", Regime: RegimeB2B, Outcomes: []Outcome{{Code: "A B", Label: "x"}}},
		} {
			if _, err := e.svc.CreateMission(asAdmin, n); !errors.Is(err, ErrInvalid) {
				t.Errorf("CreateMission(%+v) = %v, want ErrInvalid", n, err)
			}
		}
	})
}

func TestUpdateMissionAndAssign(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 14})
		spec := "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00"
		open, tz, k := true, "America/Martinique", 3
		m, err := e.svc.UpdateMission(asAdmin, 14, MissionUpdate{Windows: &spec, HolidaysOpen: &open, TimeZone: &tz, MaxAttempts: &k})
		if err != nil {
			t.Fatal(err)
		}
		if m.Windows.String() != spec || !m.HolidaysOpen || m.TimeZone != tz || m.MaxAttempts != 3 {
			t.Fatalf("updated = %+v", m)
		}
		bad := "sun-mon 09:00-10:00"
		if _, err := e.svc.UpdateMission(asAdmin, 14, MissionUpdate{Windows: &bad}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad windows: %v", err)
		}
		if _, err := e.svc.UpdateMission(asAdmin, 99, MissionUpdate{MaxAttempts: &k}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown mission: %v", err)
		}
		a := e.user(t, "agent.one")
		sup := e.user(t, "sup.one", auth.RoleSupervisor)
		if err := e.svc.Assign(asAdmin, 14, a, sup, a); err != nil {
			t.Fatal(err)
		}
		members, _ := e.svc.Members(ctx, 14)
		if len(members) != 2 {
			t.Fatalf("members = %v", members)
		}
		if err := e.svc.Assign(asAdmin, 14, 987654); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		mine, err := e.svc.Missions(ctx, MissionFilter{Member: a})
		if err != nil || len(mine) != 1 || mine[0].Number != 14 || len(mine[0].Outcomes) == 0 {
			t.Fatalf("missions of agent = %+v, %v", mine, err)
		}
		if err := e.svc.Unassign(asAdmin, 14, a); err != nil {
			t.Fatal(err)
		}
		if ok, _ := e.svc.IsMember(ctx, 14, a); ok {
			t.Fatal("still a member after Unassign")
		}
		if err := e.svc.SetPresence(ctx, PresenceChange{Mission: 14, Agent: a, State: PresenceService}); !errors.Is(err, ErrNotMember) {
			t.Fatalf("presence of a non-member: %v", err)
		}
		if err := e.svc.SetArchived(asAdmin, 14, true); err != nil {
			t.Fatal(err)
		}
		if all, _ := e.svc.Missions(ctx, MissionFilter{}); len(all) != 0 {
			t.Fatalf("archived mission listed: %+v", all)
		}
		if all, _ := e.svc.Missions(ctx, MissionFilter{IncludeArchived: true}); len(all) != 1 {
			t.Fatalf("archived mission not listed with IncludeArchived: %+v", all)
		}
		for _, action := range []string{"mission.update", "mission.assign", "mission.unassign", "mission.archive"} {
			if l, _ := e.log.List(ctx, audit.Filter{Action: action}); len(l) == 0 {
				t.Errorf("no %s audit event", action)
			}
		}
	})
}

func TestOutcomeEditing(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 3})
		if err := e.svc.SetOutcome(asAdmin, 3, Outcome{Code: "repondeur", Label: "Répondeur", CountsAttempt: true, RetryAfter: 3 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetOutcome(asAdmin, 3, Outcome{Code: "mauvais-interlocuteur", Label: "Mauvais interlocuteur", RetryAfter: time.Hour}); err != nil {
			t.Fatal(err)
		}
		m, _ := e.svc.Mission(ctx, 3)
		if o, _ := m.Outcome("repondeur"); o.RetryAfter != 3*time.Hour {
			t.Fatalf("edited outcome = %+v", o)
		}
		if o, ok := m.Outcome("mauvais-interlocuteur"); !ok || o.Position != 15 {
			t.Fatalf("new outcome = %+v", o)
		}
		// The change reaches Qualify at once on this node.
		a := e.agentOn(t, 3, "alice")
		e.load(t, 3, 1, 0, nil)
		card := e.claim(t, 3, a)
		got := e.qualify(t, card.Contact.Ref, a, "repondeur")
		if !got.DueAt.Equal(t0.Add(3 * time.Hour)) {
			t.Fatalf("due = %v", got.DueAt)
		}
		if err := e.svc.DeleteOutcome(asAdmin, 3, "repondeur"); !errors.Is(err, ErrOutcomeInUse) {
			t.Fatalf("delete used outcome: %v", err)
		}
		if err := e.svc.DeleteOutcome(asAdmin, 3, "mauvais-interlocuteur"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetOutcome(asAdmin, 3, Outcome{Code: "x", Label: "x", Closes: true, Callback: true}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("closing callback: %v", err)
		}
	})
}

func TestAddContactsIsIdempotentAndSealed(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mission(t, NewMission{Number: 26, Client: "phonak"})
		l, err := e.svc.Loader(ctx, 26)
		if err != nil {
			t.Fatal(err)
		}
		cs := []NewContact{
			{ContactID: "210510_1_26", Phone: "+33478000001", PhoneType: "fixed", BatchID: 4,
				Fields: map[string]string{"surname": "Martin", "hcp_city": "Lyon"}, Personal: []string{"surname"}},
			{ContactID: "210510_2_26", Phone: "+33800000001", Routing: RoutingManual, Priority: 1,
				Fields: map[string]string{"surname": "Durand"}},
		}
		add := func(cs []NewContact) int {
			var n int
			if err := d.Tx(ctx, func(tx *db.Tx) error {
				var err error
				n, err = l.Add(ctx, tx, cs)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := add(cs); n != 2 {
			t.Fatalf("first load inserted %d", n)
		}
		// A resumed batch: the same two plus a new one.
		more := append(cs, NewContact{ContactID: "210510_3_26", Phone: "+33478000003"})
		if n := add(more); n != 1 {
			t.Fatalf("resumed load inserted %d, want 1", n)
		}
		c, err := e.svc.Contact(asAdmin, ref(26, "210510_1_26"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Phone != "+33478000001" || c.Fields["surname"] != "Martin" || c.Fields["hcp_city"] != "Lyon" ||
			len(c.Personal) != 1 || c.PhoneType != "fixed" || c.BatchID != 4 || c.Priority != 2 || c.Routing != RoutingQueue {
			t.Fatalf("contact = %+v", c)
		}
		manual, _ := e.svc.Info(ctx, ref(26, "210510_2_26"))
		if manual.Routing != RoutingManual || manual.Priority != 1 || manual.Phone != "" {
			t.Fatalf("manual contact = %+v", manual)
		}
		if r, err := e.svc.Resolve(ctx, "210510_2_26"); err != nil || r != ref(26, "210510_2_26") {
			t.Fatalf("Resolve = %v, %v", r, err)
		}
		if _, err := e.svc.Resolve(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Resolve(nope) = %v", err)
		}
		byPhone, err := e.svc.ContactsByPhone(ctx, "phonak", "+33478000001")
		if err != nil || len(byPhone) != 1 || byPhone[0].ID != "210510_1_26" {
			t.Fatalf("ContactsByPhone = %+v, %v", byPhone, err)
		}
		assertNotInDB(t, d, "Martin", "Durand", "+33478000001", "33478000001", "Lyon")
		if reads, _ := e.log.List(ctx, audit.Filter{Action: "contact.read"}); len(reads) != 1 {
			t.Fatalf("contact.read events = %d", len(reads))
		}
		for _, bad := range []NewContact{
			{ContactID: "", Phone: "+33478000001"},
			{ContactID: "a/b", Phone: "+33478000001"},
			{ContactID: "x", Phone: "0478000001"},
			{ContactID: "x", Phone: "+33478000001", Routing: "robot"},
			{ContactID: "x", Phone: "+33478000001", Priority: 100},
		} {
			if _, err := l.Row(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("Row(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		// The loader's columns and rows line up (for COPY).
		row, err := l.Row(ctx, NewContact{ContactID: "y", Phone: "+33478000009"})
		if err != nil || len(row) != len(l.Columns()) || !strings.Contains(strings.Join(l.Columns(), ","), "fields") {
			t.Fatalf("row %d values, columns %v, %v", len(row), l.Columns(), err)
		}
	})
}
