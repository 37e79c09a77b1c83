// Package config loads Plateau's configuration: built-in defaults, then an
// optional YAML file, then PLATEAU_* environment variables, then command-line
// flags (applied by the caller), validated once at start.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"plateau/internal/ingest/inbox"
	"plateau/internal/notify"
)

// Config is the whole configuration.
type Config struct {
	// Addr is the address the server listens on.
	Addr string `yaml:"addr"`
	// DataDir holds the SQLite database, the keys and the audit checkpoints.
	DataDir string `yaml:"data_dir"`
	// DB is "sqlite:PATH" or a postgres:// URL; empty means SQLite in DataDir.
	DB string `yaml:"db"`
	// BaseURL is the URL users reach Plateau at (links in mails and the
	// setup link); empty means derived from Addr and TLS.
	BaseURL string `yaml:"base_url"`
	// TLS serves HTTPS when both files are set.
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// TrustProxyHeaders takes the client address from X-Forwarded-For;
	// enable it only behind a reverse proxy that sets it.
	TrustProxyHeaders bool `yaml:"trust_proxy_headers"`
	// Company is refused inside passwords, with the product name and login.
	Company string `yaml:"company"`
	Session struct {
		Idle     Duration `yaml:"idle_timeout"`
		Absolute Duration `yaml:"absolute_timeout"`
	} `yaml:"session"`
	Log struct {
		Level  string `yaml:"level"`  // debug, info, warn, error
		Format string `yaml:"format"` // json or text
	} `yaml:"log"`
	// MasterKeyFile is the vault's master key; PLATEAU_MASTER_KEY overrides it.
	MasterKeyFile string `yaml:"master_key_file"`
	Audit         struct {
		CheckpointFile string   `yaml:"checkpoint_file"`
		SigningKeyFile string   `yaml:"signing_key_file"`
		Interval       Duration `yaml:"checkpoint_interval"`
	} `yaml:"audit"`
	// Inboxes are the SFTP inboxes and watched folders whose files the
	// server loads into missions. None by default.
	Inboxes []Inbox `yaml:"inboxes"`
	// Notify is mail: the SMTP server, the alerts and their recipients,
	// the retries. Off until notify.smtp.host is set.
	Notify notify.Config `yaml:"notify"`
	// Outbox is where the legacy files of each batch are written (a
	// folder per batch) and how long they are kept.
	Outbox struct {
		// Dir defaults to <data_dir>/outbox.
		Dir string `yaml:"dir"`
		// Retention is how long a batch's folder is kept; 0 keeps them.
		Retention Duration `yaml:"retention"`
	} `yaml:"outbox"`
}

// The kinds of inbox.
const (
	InboxSFTP   = "sftp"
	InboxFolder = "folder"
)

// Inbox is one inbox: a folder on an SFTP server or a local folder whose
// files are loaded into a mission. The keys are those of package inbox
// (name, mission, interval, stable_for, max_size, after_load,
// processed_dir; for sftp host, port, user, password, key_file,
// key_passphrase, known_hosts, dir, connect_timeout, io_timeout; for
// folder path) plus kind.
type Inbox struct {
	// Kind is sftp or folder.
	Kind             string `yaml:"kind"`
	inbox.SFTPConfig `yaml:",inline"`
	// Path is the watched folder (kind folder).
	Path string `yaml:"path"`
}

// Folder returns the settings of a folder inbox.
func (i Inbox) Folder() inbox.FolderConfig {
	return inbox.FolderConfig{Common: i.Common, Path: i.Path}
}

// SFTP returns the settings of an SFTP inbox.
func (i Inbox) SFTP() inbox.SFTPConfig { return i.SFTPConfig }

// SourceName is the inbox's name (it hides the promoted
// SFTPConfig.SourceName, which would describe a folder as an SFTP server).
func (i Inbox) SourceName() string { return i.Name }

// Validate checks one inbox as its kind requires (it hides the promoted
// SFTPConfig.Validate); the caller names the inbox in the error.
func (i Inbox) Validate() error {
	if err := checkInboxName(i.Name); err != nil {
		return err
	}
	switch i.Kind {
	case InboxFolder:
		s := i.SFTPConfig
		for key, set := range map[string]bool{
			"host": s.Host != "", "port": s.Port != 0, "user": s.User != "", "password": s.Password != "",
			"key_file": s.KeyFile != "", "key_passphrase": s.KeyPassphrase != "", "known_hosts": s.KnownHosts != "",
			"dir": s.Dir != "", "connect_timeout": s.ConnectTimeout != 0, "io_timeout": s.IOTimeout != 0,
		} {
			if set {
				return fmt.Errorf("%s is an sftp setting, but kind is folder", key)
			}
		}
		return i.Folder().Validate()
	case InboxSFTP:
		if i.Path != "" {
			return errors.New("path is a folder setting (use dir for the remote folder), but kind is sftp")
		}
		return i.SFTP().Validate()
	case "":
		return errors.New("kind is required: sftp or folder")
	default:
		return fmt.Errorf("kind %q: want sftp or folder", i.Kind)
	}
}

// checkInboxName keeps inbox names plain: they name the batches' source
// ("sftp:<name>", "folder:<name>") and appear in logs and alerts.
func checkInboxName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("name is required: 1 to 64 characters among a-z, A-Z, 0-9, '.', '-', '_'")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("name %q: 1 to 64 characters among a-z, A-Z, 0-9, '.', '-', '_'", name)
		}
	}
	return nil
}

// InboxPasswordEnv is the variable that holds the SFTP password of the
// inbox named name: PLATEAU_INBOX_<NAME>_PASSWORD, the name in capitals
// with '.' and '-' as '_'.
func InboxPasswordEnv(name string) string {
	up := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r == '.' || r == '-':
			return '_'
		}
		return r
	}, name)
	return "PLATEAU_INBOX_" + up + "_PASSWORD"
}

// Duration is a time.Duration written as "30m", "12h" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30m, 12h): %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// DefaultOutboxRetention is how long the legacy files of a batch stay in
// the outbox: they hold personal data in clear, for tools that pick them
// up within the day.
const DefaultOutboxRetention = 7 * 24 * time.Hour

// Default returns the built-in configuration: everything local, in
// ./plateau-data.
func Default() Config {
	var c Config
	c.Addr = "127.0.0.1:8080"
	c.DataDir = "plateau-data"
	c.Session.Idle = Duration(30 * time.Minute)
	c.Session.Absolute = Duration(12 * time.Hour)
	c.Log.Level = "info"
	c.Log.Format = "json"
	c.Audit.Interval = Duration(time.Minute)
	c.Notify = notify.DefaultConfig()
	c.Outbox.Retention = Duration(DefaultOutboxRetention)
	return c
}

// Load returns the defaults overlaid with the YAML file at path (if path is
// not empty) and then with the PLATEAU_* variables of env (os.Environ form).
func Load(path string, env []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read configuration: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		// An empty file decodes to io.EOF: a valid, empty configuration.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("configuration %s: %w", path, err)
		}
	}
	if err := c.applyEnv(env); err != nil {
		return c, err
	}
	return c, nil
}

// applyEnv overlays the PLATEAU_* variables.
func (c *Config) applyEnv(env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PLATEAU_") {
			vars[k] = v
		}
	}
	str := map[string]*string{
		"PLATEAU_ADDR":                          &c.Addr,
		"PLATEAU_DATA":                          &c.DataDir,
		"PLATEAU_DB":                            &c.DB,
		"PLATEAU_BASE_URL":                      &c.BaseURL,
		"PLATEAU_TLS_CERT":                      &c.TLS.Cert,
		"PLATEAU_TLS_KEY":                       &c.TLS.Key,
		"PLATEAU_COMPANY":                       &c.Company,
		"PLATEAU_LOG_LEVEL":                     &c.Log.Level,
		"PLATEAU_LOG_FORMAT":                    &c.Log.Format,
		"PLATEAU_MASTER_KEY_FILE":               &c.MasterKeyFile,
		"PLATEAU_AUDIT_CHECKPOINT_FILE":         &c.Audit.CheckpointFile,
		"PLATEAU_AUDIT_SIGNING_KEY":             &c.Audit.SigningKeyFile,
		"PLATEAU_OUTBOX_DIR":                    &c.Outbox.Dir,
		"PLATEAU_SMTP_HOST":                     &c.Notify.SMTP.Host,
		"PLATEAU_SMTP_USERNAME":                 &c.Notify.SMTP.Username,
		"PLATEAU_SMTP_PASSWORD_FILE":            &c.Notify.SMTP.PasswordFile,
		"PLATEAU_SMTP_FROM":                     &c.Notify.SMTP.From,
		"PLATEAU_NOTIFY_TIMEZONE":               &c.Notify.TimeZone,
		"PLATEAU_NOTIFY_INBOX_WAITING_SCHEDULE": &c.Notify.Alerts.InboxWaiting.Schedule,
	}
	for k, p := range str {
		if v, ok := vars[k]; ok {
			*p = v
		}
	}
	dur := map[string]*Duration{
		"PLATEAU_SESSION_IDLE_TIMEOUT":     &c.Session.Idle,
		"PLATEAU_SESSION_ABSOLUTE_TIMEOUT": &c.Session.Absolute,
		"PLATEAU_OUTBOX_RETENTION":         &c.Outbox.Retention,
	}
	for k, p := range dur {
		if v, ok := vars[k]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not a duration (e.g. 30m, 12h)", k, v)
			}
			*p = Duration(d)
		}
	}
	if v, ok := vars["PLATEAU_TRUST_PROXY_HEADERS"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("PLATEAU_TRUST_PROXY_HEADERS: %q is not true or false", v)
		}
		c.TrustProxyHeaders = b
	}
	if v, ok := vars["PLATEAU_SMTP_PASSWORD"]; ok {
		c.Notify.SMTP.Password = notify.Secret(v)
	}
	if v, ok := vars["PLATEAU_SMTP_PORT"]; ok {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("PLATEAU_SMTP_PORT: %q is not a port number", v)
		}
		c.Notify.SMTP.Port = p
	}
	if v, ok := vars["PLATEAU_SMTP_TLS"]; ok {
		c.Notify.SMTP.TLS = notify.TLSMode(v)
	}
	if v, ok := vars["PLATEAU_NOTIFY_LANG"]; ok {
		c.Notify.Lang = notify.Lang(v)
	}
	lists := map[string]*[]string{
		"PLATEAU_NOTIFY_INBOX_WAITING_TO": &c.Notify.Alerts.InboxWaiting.To,
		"PLATEAU_NOTIFY_BATCH_SUMMARY_TO": &c.Notify.Alerts.BatchSummary.To,
	}
	for k, p := range lists {
		if v, ok := vars[k]; ok {
			*p = splitList(v)
		}
	}
	for i := range c.Inboxes {
		if v, ok := vars[InboxPasswordEnv(c.Inboxes[i].Name)]; ok {
			c.Inboxes[i].Password = v
		}
	}
	return nil
}

// splitList reads a comma-separated list, blanks ignored.
func splitList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Finish fills the values derived from others (paths inside DataDir, the
// SQLite DSN, the base URL) and validates the result.
func (c *Config) Finish() error {
	if c.DataDir == "" {
		return errors.New("configuration: data_dir is empty")
	}
	inData := func(p *string, name string) {
		if *p == "" {
			*p = filepath.Join(c.DataDir, name)
		}
	}
	inData(&c.MasterKeyFile, "master.key")
	inData(&c.Audit.CheckpointFile, "audit-checkpoints.jsonl")
	inData(&c.Audit.SigningKeyFile, "audit-signing.key")
	if c.DB == "" {
		c.DB = "sqlite:" + filepath.Join(c.DataDir, "plateau.db")
	}
	if !strings.HasPrefix(c.DB, "sqlite:") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return errors.New("configuration: db must be sqlite:PATH or a postgres:// URL")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("configuration: addr %q: %w", c.Addr, err)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("configuration: tls needs both cert and key")
	}
	if c.BaseURL == "" {
		scheme := "http"
		if c.TLS.Cert != "" {
			scheme = "https"
		}
		c.BaseURL = scheme + "://" + c.Addr
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("configuration: base_url %q is not an http(s) URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Session.Idle <= 0 || c.Session.Absolute <= 0 || c.Session.Idle > c.Session.Absolute {
		return errors.New("configuration: session timeouts must be positive and idle <= absolute")
	}
	if c.Audit.Interval <= 0 || time.Duration(c.Audit.Interval) > time.Minute {
		return errors.New("configuration: audit checkpoint_interval must be between 0 and 1m")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("configuration: log level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("configuration: log format %q (want json or text)", c.Log.Format)
	}
	inData(&c.Outbox.Dir, "outbox")
	if c.Outbox.Retention < 0 {
		return errors.New("configuration: outbox retention must not be negative (0 keeps the files)")
	}
	if err := c.Notify.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	names := map[string]int{}
	for i, in := range c.Inboxes {
		if err := in.Validate(); err != nil {
			return fmt.Errorf("configuration: inboxes[%d] %s: %w", i, in.Name, err)
		}
		if j, dup := names[in.Name]; dup {
			return fmt.Errorf("configuration: inboxes[%d] and inboxes[%d] are both named %q", j, i, in.Name)
		}
		names[in.Name] = i
	}
	return nil
}

// TLSEnabled reports whether the server serves HTTPS itself.
func (c *Config) TLSEnabled() bool { return c.TLS.Cert != "" }
