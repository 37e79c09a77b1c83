package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsFinish(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"addr":     {c.Addr, "127.0.0.1:8080"},
		"db":       {c.DB, "sqlite:" + filepath.Join("plateau-data", "plateau.db")},
		"base_url": {c.BaseURL, "http://127.0.0.1:8080"},
		"key":      {c.MasterKeyFile, filepath.Join("plateau-data", "master.key")},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}
	if time.Duration(c.Session.Idle) != 30*time.Minute || time.Duration(c.Session.Absolute) != 12*time.Hour {
		t.Errorf("session timeouts = %v / %v", c.Session.Idle, c.Session.Absolute)
	}
}

func TestFileThenEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plateau.yaml")
	yml := "addr: 0.0.0.0:9000\ndata_dir: /srv/plateau\nsession:\n  idle_timeout: 10m\ntls:\n  cert: c.pem\n  key: k.pem\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"PLATEAU_ADDR=127.0.0.1:9001", "PLATEAU_SESSION_ABSOLUTE_TIMEOUT=8h", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9001" {
		t.Errorf("environment must override the file: addr = %q", c.Addr)
	}
	if c.DataDir != "/srv/plateau" || time.Duration(c.Session.Idle) != 10*time.Minute || time.Duration(c.Session.Absolute) != 8*time.Hour {
		t.Errorf("got data %q idle %v absolute %v", c.DataDir, c.Session.Idle, c.Session.Absolute)
	}
	if c.BaseURL != "https://127.0.0.1:9001" || !c.TLSEnabled() {
		t.Errorf("base URL = %q, TLS = %v", c.BaseURL, c.TLSEnabled())
	}
}

func TestInvalidConfigurations(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown key", "adr: x\n", nil, "field adr not found"},
		{"bad duration", "session:\n  idle_timeout: soon\n", nil, "not a duration"},
		{"bad env duration", "", []string{"PLATEAU_SESSION_IDLE_TIMEOUT=x"}, "not a duration"},
		{"bad db", "db: mysql://x\n", nil, "sqlite:PATH or a postgres"},
		{"bad addr", "addr: nowhere\n", nil, "addr"},
		{"half tls", "tls:\n  cert: c.pem\n", nil, "both cert and key"},
		{"idle over absolute", "session:\n  idle_timeout: 13h\n", nil, "idle <= absolute"},
		{"bad level", "log:\n  level: loud\n", nil, "log level"},
		{"bad base url", "base_url: ftp://x\n", nil, "base_url"},
		{"bad bool", "", []string{"PLATEAU_TRUST_PROXY_HEADERS=maybe"}, "true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path, tt.env)
			if err == nil {
				err = c.Finish()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestOutboxAndNotifyDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Outbox.Dir != filepath.Join("plateau-data", "outbox") || time.Duration(c.Outbox.Retention) != 7*24*time.Hour {
		t.Errorf("outbox = %q kept %v", c.Outbox.Dir, c.Outbox.Retention)
	}
	if c.Notify.Enabled() || len(c.Inboxes) != 0 {
		t.Errorf("nothing configured must start nothing: mail %v, inboxes %d", c.Notify.Enabled(), len(c.Inboxes))
	}
	if c.Notify.Alerts.InboxWaiting.Schedule != "0 9,10,11,14,15,16 * * 1-4" || c.Notify.TimeZone != "Europe/Paris" {
		t.Errorf("inbox alert schedule %q in %q", c.Notify.Alerts.InboxWaiting.Schedule, c.Notify.TimeZone)
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInboxesNotifyAndOutboxFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	known := writeFile(t, dir, "known_hosts", "sftp.example.fr ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0aGlzaXNub3RhcmVhbGtleWJ1dGl0cGFyc2Vz\n")
	yml := `
inboxes:
  - name: flexycall
    kind: sftp
    mission: 26
    host: sftp.example.fr
    user: plateau
    known_hosts: ` + known + `
    dir: outgoing
    interval: 5m
    stable_for: 1m
    after_load: delete
  - name: depot
    kind: folder
    mission: 27
    path: ` + drop + `
    processed_dir: done
notify:
  smtp:
    host: smtp.example.fr
    username: plateau
    from: Plateau <plateau@example.fr>
  alerts:
    batch_summary:
      to: [it@example.fr]
outbox:
  dir: /srv/outbox
  retention: 48h
`
	path := writeFile(t, dir, "plateau.yaml", yml)
	env := []string{
		"PLATEAU_SMTP_PASSWORD=s3cret", "PLATEAU_INBOX_FLEXYCALL_PASSWORD=sftp-pass",
		"PLATEAU_NOTIFY_INBOX_WAITING_TO=a@example.fr, b@example.fr", "PLATEAU_OUTBOX_RETENTION=24h", "PLATEAU_SMTP_PORT=2525",
	}
	c, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(c.Inboxes) != 2 {
		t.Fatalf("inboxes = %+v", c.Inboxes)
	}
	s := c.Inboxes[0].SFTP()
	if s.Name != "flexycall" || s.Mission != 26 || s.Host != "sftp.example.fr" || s.Dir != "outgoing" ||
		s.Interval != 5*time.Minute || s.StableFor != time.Minute || s.AfterLoad != "delete" || s.Password != "sftp-pass" {
		t.Errorf("sftp inbox = %+v", s)
	}
	f := c.Inboxes[1].Folder()
	if f.Name != "depot" || f.Mission != 27 || f.Path != drop || f.ProcessedDir != "done" {
		t.Errorf("folder inbox = %+v", f)
	}
	n := c.Notify
	if !n.Enabled() || n.SMTP.Password != "s3cret" || n.SMTP.Port != 2525 || n.SMTP.TLS != "starttls" ||
		strings.Join(n.Alerts.InboxWaiting.To, "|") != "a@example.fr|b@example.fr" || len(n.Alerts.BatchSummary.To) != 1 {
		t.Errorf("notify = %+v", n)
	}
	if c.Outbox.Dir != "/srv/outbox" || time.Duration(c.Outbox.Retention) != 24*time.Hour {
		t.Errorf("outbox = %q kept %v", c.Outbox.Dir, c.Outbox.Retention)
	}
}

func TestInvalidInboxesAndNotify(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "id_ed25519", "not read by Finish")
	tests := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"no kind", "inboxes:\n  - {name: a, mission: 1, path: " + dir + "}\n", nil, "kind is required"},
		{"bad kind", "inboxes:\n  - {name: a, kind: ftp, mission: 1}\n", nil, `kind "ftp"`},
		{"no name", "inboxes:\n  - {kind: folder, mission: 1, path: " + dir + "}\n", nil, "name is required"},
		{"bad name", "inboxes:\n  - {name: 'a b', kind: folder, mission: 1, path: " + dir + "}\n", nil, `name "a b"`},
		{"no mission", "inboxes:\n  - {name: a, kind: folder, path: " + dir + "}\n", nil, "mission"},
		{"missing folder", "inboxes:\n  - {name: a, kind: folder, mission: 1, path: " + dir + "/nope}\n", nil, "inboxes[0] a"},
		{"sftp key on folder", "inboxes:\n  - {name: a, kind: folder, mission: 1, path: " + dir + ", host: h}\n", nil, "host is an sftp setting"},
		{"path on sftp", "inboxes:\n  - {name: a, kind: sftp, mission: 1, path: /x, host: h, user: u, key_file: " + key + "}\n", nil, "path is a folder setting"},
		{"no known_hosts", "inboxes:\n  - {name: a, kind: sftp, mission: 1, host: h, user: u, key_file: " + key + "}\n", nil, "ssh-keyscan"},
		{"bad interval", "inboxes:\n  - {name: a, kind: folder, mission: 1, path: " + dir + ", interval: 10ms}\n", nil, "interval"},
		{"duplicate name", "inboxes:\n  - {name: a, kind: folder, mission: 1, path: " + dir + "}\n  - {name: a, kind: folder, mission: 2, path: " + dir + "}\n", nil, "both named"},
		{"unknown inbox key", "inboxes:\n  - {name: a, kind: folder, mission: 1, folder: " + dir + "}\n", nil, "field folder not found"},
		{"recipients without server", "notify:\n  alerts:\n    batch_summary:\n      to: [it@example.fr]\n", nil, "smtp.host is empty"},
		{"no sender", "notify:\n  smtp:\n    host: smtp.example.fr\n    username: u\n    password: p\n", nil, "smtp.from"},
		{"no password", "notify:\n  smtp: {host: smtp.example.fr, username: u, from: a@example.fr}\n", nil, "smtp.password"},
		{"bad schedule", "notify:\n  alerts:\n    inbox_waiting:\n      schedule: every hour\n", nil, "inbox_waiting"},
		{"bad time zone", "", []string{"PLATEAU_NOTIFY_TIMEZONE=Mars/Olympus"}, "timezone"},
		{"bad port", "", []string{"PLATEAU_SMTP_PORT=smtp"}, "PLATEAU_SMTP_PORT"},
		{"negative retention", "outbox:\n  retention: -1h\n", nil, "retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "c.yaml", tt.yaml)
			c, err := Load(path, tt.env)
			if err == nil {
				err = c.Finish()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestInboxPasswordEnv(t *testing.T) {
	if got := InboxPasswordEnv("flexy-call.prod"); got != "PLATEAU_INBOX_FLEXY_CALL_PROD_PASSWORD" {
		t.Errorf("InboxPasswordEnv = %q", got)
	}
}

// TestREADMEExampleUsesRealKeys decodes the configuration example of the
// README: a key renamed in the code must be renamed there too. (Finish is
// not run: the example's files do not exist here.)
func TestREADMEExampleUsesRealKeys(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.Contains(example, "inboxes:") {
		t.Fatal("README has no yaml example with inboxes")
	}
	path := writeFile(t, t.TempDir(), "example.yaml", example)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Inboxes) != 1 || c.Inboxes[0].Kind != InboxSFTP || !c.Notify.Enabled() || c.Outbox.Dir == "" {
		t.Fatalf("example decoded to %+v", c)
	}
}
