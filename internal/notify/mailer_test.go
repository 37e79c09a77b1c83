package notify

import (
	"context"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

func testBatchSummary() BatchSummary {
	return BatchSummary{
		Mission:     26,
		MissionName: "Mission Sortant J+3",
		BatchID:     412,
		File:        "/inbox/2021-03-10_Rapport_mission.csv",
		Received:    1000,
		Loaded:      981,
		Warnings:    12,
		Quarantined: 7,
		Manual:      12,
		Duplicates:  3,
		Link:        "https://plateau.example.fr/missions/26/batches/412",
		Duration:    2400 * time.Millisecond,
	}
}

func TestMailerDeliversBatchSummaryOverSTARTTLS(t *testing.T) {
	srv := startTestSMTP(t, false)
	m, err := NewMailer(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := testBatchSummary().Message([]string{"it@callcenter.test", "Support <support@callcenter.test>"}, Format{HTML: true})
	if err != nil {
		t.Fatal(err)
	}
	msg.ID = "K7TESTMESSAGEID"
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitReceived(t, 1)[0]
	t.Logf("received:\nSubject: %s\n\n%s", got.Subject, got.Text)

	if !got.Session.StartTLS || !got.Session.Authenticated || got.Session.Login != testUser {
		t.Errorf("session = %+v, want STARTTLS and AUTH as %s", got.Session, testUser)
	}
	if got.Session.MailFrom != "plateau@plateau.test" || strings.Join(got.Session.RcptTos, ",") != "it@callcenter.test,support@callcenter.test" {
		t.Errorf("envelope from %q to %q", got.Session.MailFrom, got.Session.RcptTos)
	}
	wantSubject := "[Plateau] Mission 26, lot 412 : 981 chargés sur 1000, 7 en quarantaine"
	if got.Subject != wantSubject {
		t.Errorf("subject = %q, want %q", got.Subject, wantSubject)
	}
	for _, h := range []struct{ key, want string }{
		{"Message-Id", "<K7TESTMESSAGEID@plateau.test>"},
		{"Auto-Submitted", "auto-generated"},
		{"From", `"Plateau" <plateau@plateau.test>`},
	} {
		if v := got.Header.Get(h.key); v != h.want {
			t.Errorf("header %s = %q, want %q", h.key, v, h.want)
		}
	}
	for _, want := range []string{
		"Reçus                  1000",
		"Chargés                981",
		"Avertissements         12",
		"En quarantaine         7",
		"Numérotation manuelle  12",
		"Doublons               3",
		"Durée                  2,4 s",
		"fichier « 2021-03-10_Rapport_mission.csv »",
		"Page du lot : https://plateau.example.fr/missions/26/batches/412",
	} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, got.Text)
		}
	}
	if !strings.Contains(got.HTML, `<a href="https://plateau.example.fr/missions/26/batches/412">Page du lot</a>`) ||
		!strings.Contains(got.HTML, "<td style=\"padding: 2px 0; text-align: right;\">981</td>") {
		t.Errorf("HTML part:\n%s", got.HTML)
	}
}

func TestMailerImplicitTLS(t *testing.T) {
	srv := startTestSMTP(t, true)
	m, err := NewMailer(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := InboxWaiting{Source: "SFTP FlexyCall", Files: 2}.Message([]string{"it@callcenter.test"}, Format{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitReceived(t, 1)[0]
	if !got.Session.ImplicitTLS || !got.Session.Authenticated {
		t.Errorf("session = %+v", got.Session)
	}
	if got.Subject != "[Plateau] 2 fichiers en attente dans « SFTP FlexyCall »" {
		t.Errorf("subject = %q", got.Subject)
	}
}

// TestMailerRefusesWhatIsNotSafe checks that delivery fails, and nothing
// arrives, whenever the session would not be both encrypted to the right
// server and authenticated.
func TestMailerRefusesWhatIsNotSafe(t *testing.T) {
	srv := startTestSMTP(t, false)
	msg, err := testBatchSummary().Message([]string{"it@callcenter.test"}, Format{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(c *SMTPConfig)
		want   string // in the error
	}{
		{"bad password", func(c *SMTPConfig) { c.Password = "wrong" }, "535"},
		{"unknown user", func(c *SMTPConfig) { c.Username = "nobody@plateau.test" }, "535"},
		{"LOGIN with bad password", func(c *SMTPConfig) { c.Auth, c.Password = AuthLogin, "wrong" }, "535"},
		{"certificate from an unknown CA", func(c *SMTPConfig) { c.CAFile = "" }, "certificate"},
		{"certificate for another name", func(c *SMTPConfig) { c.ServerName = "" }, "certificate"},
		{"no TLS", func(c *SMTPConfig) {
			c.TLS, c.Auth, c.Username, c.Password, c.CAFile, c.ServerName = Insecure, AuthNone, "", "", "", ""
		}, "530"},
		{"implicit TLS against a STARTTLS port", func(c *SMTPConfig) { c.TLS = ImplicitTLS }, "tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config()
			cfg.Timeout = 5 * time.Second
			tc.change(&cfg)
			m, err := NewMailer(cfg)
			if err != nil {
				t.Fatalf("NewMailer: %v", err)
			}
			err = m.Send(context.Background(), msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("refused as expected: %v", err)
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), "wrong") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
	// And the right settings still work, with either mechanism: the
	// failures were the configurations', not the server's.
	for _, auth := range []AuthMethod{AuthPlain, AuthLogin} {
		cfg := srv.Config()
		cfg.Auth = auth
		m, err := NewMailer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send with the right settings (auth %s): %v", auth, err)
		}
	}
	for _, got := range srv.WaitReceived(t, 2) {
		if !got.Session.StartTLS || !got.Session.Authenticated {
			t.Errorf("session = %+v", got.Session)
		}
	}
}

// TestServerRefusesAuthInClear proves the harness: before STARTTLS the
// server neither offers nor accepts AUTH, so a delivery that authenticated
// went through TLS.
func TestServerRefusesAuthInClear(t *testing.T) {
	srv := startTestSMTP(t, false)
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	id, _ := tp.Cmd("EHLO client.test")
	tp.StartResponse(id)
	_, ehlo, err := tp.ReadResponse(250)
	tp.EndResponse(id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Errorf("EHLO before TLS = %q, want STARTTLS offered and AUTH not", ehlo)
	}
	id, _ = tp.Cmd("AUTH PLAIN AHJvYm90QHBsYXRlYXUudGVzdAB4")
	tp.StartResponse(id)
	code, text, _ := tp.ReadResponse(0)
	tp.EndResponse(id)
	if code < 500 {
		t.Errorf("AUTH in clear answered %d %s, want a refusal", code, text)
	}
}
