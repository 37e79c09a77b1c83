package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"plateau/internal/db"
)

func TestBatchSummaryReadsWellInBothLanguages(t *testing.T) {
	tests := []struct {
		lang        Lang
		change      func(b *BatchSummary)
		wantSubject string
		wantText    string
	}{
		{
			French, nil,
			"[Plateau] Mission 26, lot 412 : 981 chargés sur 1000, 7 en quarantaine",
			`Bonjour,

Le lot 412 de la mission 26 « Mission Sortant J+3 » est traité (fichier « 2021-03-10_Rapport_mission.csv »).

Les lignes en quarantaine et leurs motifs sont sur la page du lot.

  Reçus                  1000
  Chargés                981
  Avertissements         12
  En quarantaine         7
  Numérotation manuelle  12
  Doublons               3
  Durée                  2,4 s

Page du lot : https://plateau.example.fr/missions/26/batches/412

-- 
Message automatique de Plateau ; merci de ne pas y répondre.
`,
		},
		{
			English, nil,
			"[Plateau] Mission 26, batch 412: 981 of 1000 loaded, 7 quarantined",
			`Hello,

Batch 412 of mission 26 "Mission Sortant J+3" has been processed (file "2021-03-10_Rapport_mission.csv").

The quarantined lines and their reasons are on the batch page.

  Received         1000
  Loaded           981
  Warnings         12
  Quarantined      7
  Manual dialling  12
  Duplicates       3
  Duration         2.4 s

Batch page: https://plateau.example.fr/missions/26/batches/412

-- 
Automatic message from Plateau; please do not reply.
`,
		},
		{
			French,
			func(b *BatchSummary) {
				b.Received, b.Loaded, b.Quarantined, b.Warnings, b.Manual, b.Duplicates = 1, 1, 0, 0, 0, 0
				b.MissionName, b.File, b.Link, b.Duration = "", "", "", 3*time.Minute+5*time.Second
			},
			"[Plateau] Mission 26, lot 412 : 1 chargé sur 1",
			`Bonjour,

Le lot 412 de la mission 26 est traité.

  Reçus                  1
  Chargés                1
  Avertissements         0
  En quarantaine         0
  Numérotation manuelle  0
  Doublons               0
  Durée                  3 min 05 s

-- 
Message automatique de Plateau ; merci de ne pas y répondre.
`,
		},
		{
			English,
			func(b *BatchSummary) {
				b.Received, b.Loaded, b.Quarantined, b.Warnings, b.Manual, b.Duplicates = 0, 0, 0, 0, 0, 0
				b.MissionName, b.Link, b.Duration, b.Failed = "", "", time.Second, true
			},
			"[Plateau] Mission 26, batch 412: FAILED, file not processed",
			`Hello,

Batch 412 of mission 26 could not be processed (file "2021-03-10_Rapport_mission.csv").

The reason is on the batch page; fix the profile, then run the batch again.

  Received         0
  Loaded           0
  Warnings         0
  Quarantined      0
  Manual dialling  0
  Duplicates       0
  Duration         1.0 s

-- 
Automatic message from Plateau; please do not reply.
`,
		},
	}
	for _, tc := range tests {
		t.Run(string(tc.lang), func(t *testing.T) {
			b := testBatchSummary()
			if tc.change != nil {
				tc.change(&b)
			}
			m, err := b.Message([]string{"it@callcenter.test"}, Format{Lang: tc.lang})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.wantSubject {
				t.Errorf("subject = %q\nwant      %q", m.Subject, tc.wantSubject)
			}
			if m.Text != tc.wantText {
				t.Errorf("text =\n%s\nwant\n%s", m.Text, tc.wantText)
			}
			if m.HTML != "" || m.Alert != AlertBatchSummary {
				t.Errorf("HTML %q, alert %q", m.HTML, m.Alert)
			}
		})
	}
}

func TestInboxWaitingMessage(t *testing.T) {
	oldest := time.Date(2026, 3, 10, 7, 42, 0, 0, time.UTC) // 08:42 in Paris
	tests := []struct {
		lang        Lang
		files       int
		oldest      time.Time
		wantSubject string
		wantIntro   string
	}{
		{French, 3, oldest, "[Plateau] 3 fichiers en attente dans « SFTP FlexyCall »",
			"3 fichiers attendent dans la boîte de dépôt « SFTP FlexyCall » ; le plus ancien est arrivé le 10/03/2026 à 08:42 (CET)."},
		{French, 1, time.Time{}, "[Plateau] 1 fichier en attente dans « SFTP FlexyCall »",
			"Un fichier attend dans la boîte de dépôt « SFTP FlexyCall »."},
		{English, 3, oldest, `[Plateau] 3 files waiting in "SFTP FlexyCall"`,
			`3 files are waiting in the inbox "SFTP FlexyCall"; the oldest arrived on 2026-03-10 08:42 CET.`},
		{English, 1, oldest, `[Plateau] 1 file waiting in "SFTP FlexyCall"`,
			`One file is waiting in the inbox "SFTP FlexyCall"; the oldest arrived on 2026-03-10 08:42 CET.`},
	}
	for _, tc := range tests {
		w := InboxWaiting{Source: "SFTP FlexyCall", Files: tc.files, Oldest: tc.oldest, Link: "https://plateau.example.fr/sources/1"}
		m, err := w.Message([]string{"it@callcenter.test"}, Format{Lang: tc.lang})
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != tc.wantSubject {
			t.Errorf("subject = %q, want %q", m.Subject, tc.wantSubject)
		}
		if !strings.Contains(m.Text, tc.wantIntro+"\n") || !strings.Contains(m.Text, "https://plateau.example.fr/sources/1") {
			t.Errorf("text lacks %q:\n%s", tc.wantIntro, m.Text)
		}
	}
}

func TestBuildersRefuseBadInput(t *testing.T) {
	to := []string{"it@callcenter.test"}
	tests := []struct {
		name  string
		build func() (Message, error)
	}{
		{"no file waiting", func() (Message, error) { return InboxWaiting{Source: "x", Files: 0}.Message(to, Format{}) }},
		{"no source", func() (Message, error) { return InboxWaiting{Source: " \t", Files: 1}.Message(to, Format{}) }},
		{"script link", func() (Message, error) {
			return InboxWaiting{Source: "x", Files: 1, Link: "javascript:alert(1)"}.Message(to, Format{})
		}},
		{"relative link", func() (Message, error) {
			b := testBatchSummary()
			b.Link = "/missions/26/batches/412"
			return b.Message(to, Format{})
		}},
		{"negative count", func() (Message, error) {
			b := testBatchSummary()
			b.Quarantined = -1
			return b.Message(to, Format{})
		}},
		{"no mission", func() (Message, error) {
			b := testBatchSummary()
			b.Mission = 0
			return b.Message(to, Format{})
		}},
		{"unknown language", func() (Message, error) { return testBatchSummary().Message(to, Format{Lang: "de"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.build(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestNamesFromOutsideCannotShapeTheMail feeds hostile file and mission
// names: they stay on one line, lose their path and invisible characters,
// and are escaped in HTML.
func TestNamesFromOutsideCannotShapeTheMail(t *testing.T) {
	b := testBatchSummary()
	b.File = `C:\depot\..\leads` + "\u202Evsc.exe\r\nBcc: x@evil.test" + strings.Repeat("a", 300)
	b.MissionName = "<script>alert(1)</script>\nSubject: hi"
	m, err := b.Message([]string{"it@callcenter.test"}, Format{HTML: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, "\u202E") || strings.Contains(m.Text, `depot`) || strings.Contains(m.Text, "\nBcc:") || strings.Contains(m.Text, "\nSubject:") {
		t.Errorf("text:\n%s", m.Text)
	}
	if !strings.Contains(m.Text, "(fichier « leadsvsc.exe Bcc: x@evil.test") || !strings.Contains(m.Text, "…") {
		t.Errorf("file name not sanitised as expected:\n%s", m.Text)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML not escaped:\n%s", m.HTML)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject = %q", m.Subject)
	}
}

func TestFormatDuration(t *testing.T) {
	fr, _ := catalogue(French)
	en, _ := catalogue(English)
	tests := []struct {
		d      time.Duration
		fr, en string
	}{
		{850 * time.Millisecond, "850 ms", "850 ms"},
		{2400 * time.Millisecond, "2,4 s", "2.4 s"},
		{3*time.Minute + 5*time.Second, "3 min 05 s", "3 min 05 s"},
		{time.Hour + 2*time.Minute + 40*time.Second, "1 h 03 min", "1 h 03 min"},
		{-time.Second, "-", "-"},
	}
	for _, tc := range tests {
		if got := formatDuration(tc.d, fr); got != tc.fr {
			t.Errorf("fr %s = %q, want %q", tc.d, got, tc.fr)
		}
		if got := formatDuration(tc.d, en); got != tc.en {
			t.Errorf("en %s = %q, want %q", tc.d, got, tc.en)
		}
	}
}

func TestAlertsQueueOnlyWhatIsConfigured(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		cfg := testConfig(t)
		cfg.Alerts.BatchSummary.To = []string{"it@callcenter.test", "lead@callcenter.test"}
		cfg.Alerts.InboxWaiting.To = nil // off
		out := NewOutbox(d, nil, OutboxOptions{})
		a, err := NewAlerts(cfg, out)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error { return a.QueueBatchSummary(ctx, tx, testBatchSummary()) }); err != nil {
			t.Fatal(err)
		}
		if err := a.QueueInboxWaiting(ctx, InboxWaiting{Source: "SFTP", Files: 2}); err != nil {
			t.Fatal(err)
		}
		var recipients, alert string
		if err := d.QueryRowContext(ctx, `SELECT alert, recipients FROM notify_outbox`).Scan(&alert, &recipients); err != nil {
			t.Fatal(err)
		}
		if alert != AlertBatchSummary || recipients != `["it@callcenter.test","lead@callcenter.test"]` {
			t.Errorf("queued %s to %s", alert, recipients)
		}

		// Mail off altogether: nothing queued, no outbox needed.
		off, err := NewAlerts(DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error { return off.QueueBatchSummary(ctx, tx, testBatchSummary()) }); err != nil {
			t.Fatal(err)
		}
		if n, _ := out.Pending(ctx); n != 1 {
			t.Errorf("%d pending, want 1", n)
		}
	})
}

// TestInboxCheckQueuesAnAlertAtEachTick wires the scheduled alert end to
// end: at 9:00 on a Monday the check finds files and an alert is queued,
// with the configured recipients.
func TestInboxCheckQueuesAnAlertAtEachTick(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		cfg := testConfig(t)
		cfg.Alerts.InboxWaiting.To = []string{"it@callcenter.test"}
		out := NewOutbox(d, nil, OutboxOptions{})
		a, err := NewAlerts(cfg, out)
		if err != nil {
			t.Fatal(err)
		}
		clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 9, 7, 30, 0, 0, time.UTC)) // Monday 08:30 Paris
		log, _ := testLog()
		s, err := NewScheduler(SchedulerOptions{DB: d, Clock: clock, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		ticked := make(chan bool, 1)
		s.afterTick = func(_ string, ran bool) { ticked <- ran }
		check := func(context.Context) ([]InboxWaiting, error) {
			return []InboxWaiting{
				{Source: "SFTP FlexyCall", Files: 2, Oldest: clock.Now().Add(-time.Hour)},
				{Source: "Dossier surveillé", Files: 0},
			}, nil
		}
		if err := a.ScheduleInboxCheck(s, check); err != nil {
			t.Fatal(err)
		}
		s.Start()
		defer s.Stop()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := clock.BlockUntilContext(wctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Minute)
		select {
		case ran := <-ticked:
			if !ran {
				t.Fatal("the inbox check did not run")
			}
		case <-wctx.Done():
			t.Fatal("no tick at 9:00")
		}
		var subject string
		if err := d.QueryRowContext(ctx, `SELECT subject FROM notify_outbox`).Scan(&subject); err != nil {
			t.Fatal(err)
		}
		if subject != "[Plateau] 2 fichiers en attente dans « SFTP FlexyCall »" {
			t.Errorf("queued %q", subject)
		}
		if n, _ := out.Pending(ctx); n != 1 {
			t.Errorf("%d pending, want 1 (the empty inbox sends nothing)", n)
		}
	})
}
