package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// AfterLoad says what becomes of a file once it is loaded.
type AfterLoad string

// The after_load values.
const (
	// Move puts the file in the processed folder (the default).
	Move AfterLoad = "move"
	// Delete removes the file.
	Delete AfterLoad = "delete"
)

// DefaultProcessedDir is the folder, inside the inbox, loaded files are
// moved to.
const DefaultProcessedDir = "processed"

// Common holds the settings both kinds of inbox share. Zero values take the
// defaults.
type Common struct {
	// Name identifies the inbox in logs and batches; derived from the
	// location when empty.
	Name string `yaml:"name"`
	// Mission is the number of the mission the files feed.
	Mission int `yaml:"mission"`
	// Interval is the time between two polls (default 1m).
	Interval time.Duration `yaml:"interval"`
	// StableFor is how long a file must stay unchanged before it is taken
	// (default 30s).
	StableFor time.Duration `yaml:"stable_for"`
	// MaxSize is the largest file taken, in bytes (default 2 GiB).
	MaxSize int64 `yaml:"max_size"`
	// AfterLoad is move (default) or delete.
	AfterLoad AfterLoad `yaml:"after_load"`
	// ProcessedDir is the folder, inside the inbox, that move uses
	// (default "processed"); created when needed.
	ProcessedDir string `yaml:"processed_dir"`
}

// Validate checks the shared settings.
func (c Common) Validate() error {
	if c.Mission <= 0 {
		return errors.New("mission: the number of the mission the files feed is required")
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Second) {
		return fmt.Errorf("interval %s: at least 1s", c.Interval)
	}
	if c.StableFor < 0 {
		return fmt.Errorf("stable_for %s: must not be negative", c.StableFor)
	}
	if c.MaxSize < 0 {
		return fmt.Errorf("max_size %d: must not be negative", c.MaxSize)
	}
	switch c.AfterLoad {
	case "", Move, Delete:
	default:
		return fmt.Errorf("after_load %q: want move or delete", c.AfterLoad)
	}
	if c.ProcessedDir != "" {
		if err := checkName(c.ProcessedDir); err != nil {
			return fmt.Errorf("processed_dir %q: a plain folder name is required: %v", c.ProcessedDir, err)
		}
	}
	return nil
}

// PollerOptions returns the poller settings of c, with the given logger.
func (c Common) PollerOptions(log *slog.Logger) PollerOptions {
	return PollerOptions{Interval: c.Interval, StableFor: c.StableFor, MaxSize: c.MaxSize, Logger: log}
}

// disposal is the after-load action with its defaults applied.
func (c Common) disposal() disposal {
	d := disposal{action: c.AfterLoad, dir: c.ProcessedDir}
	if d.action == "" {
		d.action = Move
	}
	if d.dir == "" {
		d.dir = DefaultProcessedDir
	}
	return d
}

// SFTPConfig is an SFTP inbox. The server's host key is always checked
// against KnownHosts; there is deliberately no way to skip that check.
type SFTPConfig struct {
	Common `yaml:",inline"`
	Host   string `yaml:"host"`
	// Port defaults to 22.
	Port int    `yaml:"port"`
	User string `yaml:"user"`
	// Password, or KeyFile (an OpenSSH or PEM private key, with KeyPassphrase
	// when it is encrypted): exactly one of them.
	Password      string `yaml:"password"`
	KeyFile       string `yaml:"key_file"`
	KeyPassphrase string `yaml:"key_passphrase"`
	// KnownHosts is an OpenSSH known_hosts file that lists the server.
	KnownHosts string `yaml:"known_hosts"`
	// Dir is the remote folder; relative paths start at the login folder
	// (default ".").
	Dir string `yaml:"dir"`
	// ConnectTimeout bounds the connection and SSH handshake (default 30s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// IOTimeout is how long a silent server is waited for before the
	// connection is dropped and made again at the next poll (default 1m).
	IOTimeout time.Duration `yaml:"io_timeout"`
}

// Defaults of SFTPConfig.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultIOTimeout      = time.Minute
)

// Validate checks c, including that the known_hosts and key files exist.
func (c SFTPConfig) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("sftp inbox %s: %w", c.SourceName(), err)
	}
	return nil
}

func (c SFTPConfig) validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	switch {
	case c.Host == "":
		return errors.New("host is required")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d: want 1 to 65535", c.Port)
	case c.User == "":
		return errors.New("user is required")
	case (c.Password == "") == (c.KeyFile == ""):
		return errors.New("set either password or key_file (exactly one)")
	case c.KeyPassphrase != "" && c.KeyFile == "":
		return errors.New("key_passphrase is set but key_file is not")
	case c.ConnectTimeout < 0:
		return fmt.Errorf("connect_timeout %s: must not be negative", c.ConnectTimeout)
	case c.IOTimeout < 0 || (c.IOTimeout > 0 && c.IOTimeout < time.Second):
		return fmt.Errorf("io_timeout %s: at least 1s", c.IOTimeout)
	}
	if err := checkKnownHostsFile(c.KnownHosts, c.Host, c.port()); err != nil {
		return err
	}
	if c.KeyFile != "" {
		if _, err := os.Stat(c.KeyFile); err != nil {
			return fmt.Errorf("key_file: %w", err)
		}
	}
	return nil
}

// checkKnownHostsFile explains how to obtain the host key when the file is
// missing: the host key check cannot be turned off, so the operator needs
// the way forward, not just "no such file".
func checkKnownHostsFile(file, host string, port int) error {
	hint := fmt.Sprintf("the server's host key is always checked: fetch it with\n"+
		"    ssh-keyscan -p %d %s > known_hosts\n"+
		"compare the fingerprint shown by `ssh-keygen -lf known_hosts` with the one the SFTP provider gives you, "+
		"then set known_hosts to that file", port, host)
	if file == "" {
		return errors.New("known_hosts is required; " + hint)
	}
	st, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("known_hosts file %s does not exist; %s", file, hint)
	}
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("known_hosts %s is not a regular file", file)
	}
	return nil
}

func (c SFTPConfig) port() int {
	if c.Port == 0 {
		return 22
	}
	return c.Port
}

func (c SFTPConfig) dir() string {
	if c.Dir == "" {
		return "."
	}
	return c.Dir
}

// SourceName is Name, or sftp:USER@HOST:PORT:DIR when Name is empty.
func (c SFTPConfig) SourceName() string {
	if c.Name != "" {
		return c.Name
	}
	return "sftp:" + c.User + "@" + c.Host + ":" + strconv.Itoa(c.port()) + ":" + c.dir()
}

// FolderConfig is a watched local folder.
type FolderConfig struct {
	Common `yaml:",inline"`
	// Path is the folder; nothing outside it is ever read or written.
	Path string `yaml:"path"`
}

// Validate checks c, including that the folder exists.
func (c FolderConfig) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("folder inbox %s: %w", c.SourceName(), err)
	}
	return nil
}

func (c FolderConfig) validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if c.Path == "" {
		return errors.New("path is required")
	}
	st, err := os.Stat(c.Path)
	if err != nil {
		return fmt.Errorf("path: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("path %s is not a folder", c.Path)
	}
	return nil
}

// SourceName is Name, or folder:PATH when Name is empty.
func (c FolderConfig) SourceName() string {
	if c.Name != "" {
		return c.Name
	}
	return "folder:" + c.Path
}
