package notify

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// testConfig is a valid configuration with mail on and no alert recipients.
func testConfig(t *testing.T) Config {
	t.Helper()
	c := DefaultConfig()
	c.SMTP.Host = "smtp.example.fr"
	c.SMTP.Username = "robot@example.fr"
	c.SMTP.Password = "s3cret-Pa55"
	c.SMTP.From = "Plateau <robot@example.fr>"
	if err := c.Validate(); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	return c
}

func TestDefaultConfigIsValidAndMailIsOff(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Enabled() || c.SMTP.port() != 587 || c.SMTP.tlsMode() != StartTLS || c.Alerts.InboxWaiting.Schedule != "0 9,10,11,14,15,16 * * 1-4" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		change func(c *Config)
		key    string
	}{
		{"recipients without a server", func(c *Config) { c.SMTP = SMTPConfig{}; c.Alerts.BatchSummary.To = []string{"it@x.fr"} }, "alerts.batch_summary.to"},
		{"bad recipient", func(c *Config) { c.Alerts.InboxWaiting.To = []string{"it at x.fr"} }, "alerts.inbox_waiting.to"},
		{"bad schedule", func(c *Config) { c.Alerts.InboxWaiting.Schedule = "0 9 * *" }, "cron"},
		{"bad schedule zone", func(c *Config) { c.Alerts.InboxWaiting.TimeZone = "Paris" }, "tz"},
		{"bad zone", func(c *Config) { c.TimeZone = "CEST" }, "timezone"},
		{"bad language", func(c *Config) { c.Lang = "de" }, "lang"},
		{"negative give-up", func(c *Config) { c.Outbox.GiveUpAfter = -time.Hour }, "outbox.give_up_after"},
		{"port", func(c *Config) { c.SMTP.Port = 70000 }, "smtp.port"},
		{"tls mode", func(c *Config) { c.SMTP.TLS = "ssl" }, "smtp.tls"},
		{"auth", func(c *Config) { c.SMTP.Auth = "cram-md5" }, "smtp.auth"},
		{"credentials in clear", func(c *Config) { c.SMTP.TLS = Insecure }, "smtp.auth"},
		{"CA file with insecure", func(c *Config) {
			c.SMTP.TLS, c.SMTP.Auth, c.SMTP.Username, c.SMTP.Password, c.SMTP.CAFile = Insecure, AuthNone, "", "", "ca.pem"
		}, "smtp.ca_file"},
		{"missing CA file", func(c *Config) { c.SMTP.CAFile = filepath.Join(dir, "none.pem") }, "smtp.ca_file"},
		{"no username", func(c *Config) { c.SMTP.Username = "" }, "smtp.username"},
		{"no password", func(c *Config) { c.SMTP.Password = "" }, "smtp.password"},
		{"two passwords", func(c *Config) { c.SMTP.PasswordFile = "pw" }, "smtp.password"},
		{"credentials with auth none", func(c *Config) { c.SMTP.Auth = AuthNone }, "smtp.auth"},
		{"no sender", func(c *Config) { c.SMTP.From = "" }, "smtp.from"},
		{"bad sender", func(c *Config) { c.SMTP.From = "Plateau" }, "smtp.from"},
		{"negative timeout", func(c *Config) { c.SMTP.Timeout = -time.Second }, "smtp.timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			tc.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %q", err, tc.key)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
	// A local relay without TLS and without credentials is allowed.
	c := testConfig(t)
	c.SMTP.TLS, c.SMTP.Auth, c.SMTP.Username, c.SMTP.Password = Insecure, AuthNone, "", ""
	if err := c.Validate(); err != nil || c.SMTP.port() != 25 {
		t.Errorf("local relay: %v, port %d", err, c.SMTP.port())
	}
}

func TestConfigFromYAML(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
smtp:
  host: smtp.ionos.fr
  port: 465
  tls: implicit
  username: robot@flexycall.fr
  password_file: ` + pw + `
  from: "Plateau <robot@flexycall.fr>"
  timeout: 45s
lang: en
alerts:
  inbox_waiting:
    to: [ldelorme@flexycall.fr]
    schedule: "0 9,10,11,14,15,16 * * 1-4"
  batch_summary:
    to: [ldelorme@flexycall.fr, it@flexycall.fr]
outbox:
  give_up_after: 12h
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Timeout != 45*time.Second || c.Outbox.GiveUpAfter != 12*time.Hour || c.Outbox.KeepSent != 30*24*time.Hour ||
		c.SMTP.port() != 465 || c.lang() != English || len(c.Alerts.BatchSummary.To) != 2 || c.TimeZone != "Europe/Paris" {
		t.Errorf("decoded %+v", c)
	}
	if p, err := c.SMTP.password(); err != nil || p != "from-file" {
		t.Errorf("password from file = %q, %v", p, err)
	}
}

// TestPasswordNeverShows prints and logs a configuration every usual way.
func TestPasswordNeverShows(t *testing.T) {
	c := testConfig(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("configuration", "smtp", c.SMTP, "password", c.SMTP.Password, "config", c)
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.SMTP), c.SMTP.Password.String(),
		logs.String(), string(out),
	} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("password visible in %q", s)
		}
	}
}
