package inbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSFTPConfigFromYAML(t *testing.T) {
	src := `
name: flexycall
mission: 26
host: sftp.example.fr
port: 2222
user: plateau
key_file: /etc/plateau/sftp_ed25519
known_hosts: /etc/plateau/known_hosts
dir: /in
interval: 5m
stable_for: 45s
max_size: 1073741824
after_load: delete
connect_timeout: 10s
io_timeout: 2m
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var c SFTPConfig
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := SFTPConfig{
		Common: Common{Name: "flexycall", Mission: 26, Interval: 5 * time.Minute, StableFor: 45 * time.Second,
			MaxSize: 1 << 30, AfterLoad: Delete},
		Host: "sftp.example.fr", Port: 2222, User: "plateau", KeyFile: "/etc/plateau/sftp_ed25519",
		KnownHosts: "/etc/plateau/known_hosts", Dir: "/in", ConnectTimeout: 10 * time.Second, IOTimeout: 2 * time.Minute,
	}
	if c != want {
		t.Errorf("decoded\n%+v\nwant\n%+v", c, want)
	}
	opt := c.PollerOptions(nil)
	if opt.Interval != 5*time.Minute || opt.StableFor != 45*time.Second || opt.MaxSize != 1<<30 {
		t.Errorf("PollerOptions = %+v", opt)
	}
}

func TestFolderConfigFromYAML(t *testing.T) {
	var c FolderConfig
	if err := yaml.Unmarshal([]byte("mission: 26\npath: /srv/leads\nprocessed_dir: done\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Mission != 26 || c.Path != "/srv/leads" || c.ProcessedDir != "done" || c.SourceName() != "folder:/srv/leads" {
		t.Errorf("decoded %+v", c)
	}
}

func TestSFTPConfigValidate(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	writeFile(t, kh, "")
	key := filepath.Join(dir, "key")
	writeKey(t, key, "")
	ok := SFTPConfig{Common: Common{Mission: 26}, Host: "sftp.example.fr", User: "plateau", Password: "x", KnownHosts: kh}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	withKey := ok
	withKey.Password, withKey.KeyFile = "", key
	if err := withKey.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*SFTPConfig)
		want []string
	}{
		{"no mission", func(c *SFTPConfig) { c.Mission = 0 }, []string{"mission"}},
		{"no host", func(c *SFTPConfig) { c.Host = "" }, []string{"host"}},
		{"bad port", func(c *SFTPConfig) { c.Port = 70000 }, []string{"port"}},
		{"no user", func(c *SFTPConfig) { c.User = "" }, []string{"user"}},
		{"no credentials", func(c *SFTPConfig) { c.Password = "" }, []string{"password or key_file"}},
		{"both credentials", func(c *SFTPConfig) { c.KeyFile = key }, []string{"exactly one"}},
		{"passphrase without key", func(c *SFTPConfig) { c.KeyPassphrase = "p" }, []string{"key_passphrase"}},
		{"missing key file", func(c *SFTPConfig) { c.Password, c.KeyFile = "", filepath.Join(dir, "nope") }, []string{"key_file"}},
		{"no known_hosts", func(c *SFTPConfig) { c.KnownHosts = "" },
			[]string{"known_hosts is required", "ssh-keyscan -p 22 sftp.example.fr", "fingerprint"}},
		{"missing known_hosts", func(c *SFTPConfig) { c.KnownHosts, c.Port = filepath.Join(dir, "nope"), 2222 },
			[]string{"does not exist", "ssh-keyscan -p 2222 sftp.example.fr > known_hosts", "always checked"}},
		{"known_hosts is a folder", func(c *SFTPConfig) { c.KnownHosts = dir }, []string{"not a regular file"}},
		{"negative timeout", func(c *SFTPConfig) { c.ConnectTimeout = -time.Second }, []string{"connect_timeout"}},
		{"io_timeout too short", func(c *SFTPConfig) { c.IOTimeout = time.Millisecond }, []string{"io_timeout"}},
		{"bad after_load", func(c *SFTPConfig) { c.AfterLoad = "keep" }, []string{"after_load"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			if _, err := OpenSFTP(c, quietLog()); err == nil {
				t.Error("OpenSFTP accepted an invalid configuration")
			}
		})
	}
}

func TestOpenSFTPRefusesAnUnreadableKnownHosts(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, kh, "this is not a known_hosts line\n")
	c := SFTPConfig{Common: Common{Mission: 26}, Host: "h", User: "u", Password: "p", KnownHosts: kh}
	if _, err := OpenSFTP(c, quietLog()); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("err = %v", err)
	}
}

func TestSFTPNeverConnectsWithoutAKnownHost(t *testing.T) {
	// The host is not reachable at all; the error must still come from
	// configuration, before any connection attempt.
	c := SFTPConfig{Common: Common{Mission: 26}, Host: "192.0.2.1", User: "u", Password: "p",
		KnownHosts: filepath.Join(t.TempDir(), "absent")}
	_, err := OpenSFTP(c, quietLog())
	if err == nil || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(c.KnownHosts); statErr == nil {
		t.Error("known_hosts was created: the key must be checked by a person, not trusted on first use")
	}
}
