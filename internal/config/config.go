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
		"PLATEAU_ADDR":                  &c.Addr,
		"PLATEAU_DATA":                  &c.DataDir,
		"PLATEAU_DB":                    &c.DB,
		"PLATEAU_BASE_URL":              &c.BaseURL,
		"PLATEAU_TLS_CERT":              &c.TLS.Cert,
		"PLATEAU_TLS_KEY":               &c.TLS.Key,
		"PLATEAU_COMPANY":               &c.Company,
		"PLATEAU_LOG_LEVEL":             &c.Log.Level,
		"PLATEAU_LOG_FORMAT":            &c.Log.Format,
		"PLATEAU_MASTER_KEY_FILE":       &c.MasterKeyFile,
		"PLATEAU_AUDIT_CHECKPOINT_FILE": &c.Audit.CheckpointFile,
		"PLATEAU_AUDIT_SIGNING_KEY":     &c.Audit.SigningKeyFile,
	}
	for k, p := range str {
		if v, ok := vars[k]; ok {
			*p = v
		}
	}
	dur := map[string]*Duration{
		"PLATEAU_SESSION_IDLE_TIMEOUT":     &c.Session.Idle,
		"PLATEAU_SESSION_ABSOLUTE_TIMEOUT": &c.Session.Absolute,
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
	return nil
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
	return nil
}

// TLSEnabled reports whether the server serves HTTPS itself.
func (c *Config) TLSEnabled() bool { return c.TLS.Cert != "" }
