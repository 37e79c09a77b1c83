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
