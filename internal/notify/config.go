package notify

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Paris must load even on a host without /usr/share/zoneinfo (static binary in a bare container)
)

// Lang is the language of the alert messages.
type Lang string

// The languages of the catalogue; French first.
const (
	French  Lang = "fr"
	English Lang = "en"
)

// DefaultTimeZone is the time zone of schedules and of the dates in messages
// unless configured otherwise.
const DefaultTimeZone = "Europe/Paris"

// InboxWaitingSchedule is the schedule of the "files are waiting" alert the
// seed's cron job used: at 9, 10, 11, 14, 15 and 16 h, Monday to Thursday.
const InboxWaitingSchedule = "0 9,10,11,14,15,16 * * 1-4"

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

// The TLS modes.
const (
	// StartTLS connects in clear and requires STARTTLS before anything else
	// (submission, port 587): a server that does not offer it, or a
	// certificate that does not verify, fails the delivery.
	StartTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465).
	ImplicitTLS TLSMode = "implicit"
	// Insecure sends in clear, without TLS. It exists only for a relay on
	// the same host or a trusted local segment (e.g. a local Postfix on port
	// 25); credentials are never sent this way (auth must be "none").
	Insecure TLSMode = "insecure"
)

// AuthMethod is the SMTP authentication mechanism.
type AuthMethod string

// The authentication mechanisms.
const (
	AuthPlain AuthMethod = "plain"
	AuthLogin AuthMethod = "login"
	// AuthNone sends without authenticating (a relay that trusts the host).
	AuthNone AuthMethod = "none"
)

// Secret is a configuration value that must never be printed or logged, such
// as the SMTP password. Printing it with fmt, logging it with slog or
// marshalling it to JSON or YAML shows "xxxxx".
type Secret string

// String hides the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "xxxxx"
}

// GoString hides the secret from %#v too.
func (s Secret) GoString() string { return fmt.Sprintf("notify.Secret(%q)", s.String()) }

// LogValue hides the secret from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML hides the secret when a configuration is dumped.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON hides the secret from JSON, which is also how slog's JSON
// handler writes a whole configuration struct.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// SMTPConfig is the mail server Plateau submits alerts to.
type SMTPConfig struct {
	// Host is the server's name or address; empty disables mail.
	Host string `yaml:"host"`
	// Port defaults to 587 (starttls), 465 (implicit) or 25 (insecure).
	Port int `yaml:"port"`
	// TLS is starttls (default), implicit or insecure; see TLSMode.
	TLS TLSMode `yaml:"tls"`
	// ServerName is the name the server's certificate must carry, when it
	// differs from Host (e.g. Host is an IP address).
	ServerName string `yaml:"server_name"`
	// CAFile is a PEM file of the CAs trusted for the server's certificate
	// (a private CA); empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// Auth is plain (default), login or none.
	Auth AuthMethod `yaml:"auth"`
	// Username is the account used to authenticate.
	Username string `yaml:"username"`
	// Password of Username; prefer PasswordFile so it stays out of the
	// configuration file.
	Password Secret `yaml:"password"`
	// PasswordFile holds the password (trailing newline ignored).
	PasswordFile string `yaml:"password_file"`
	// From is the sender address, e.g. "Plateau <plateau@example.fr>".
	From string `yaml:"from"`
	// HELO is the name announced in EHLO; empty means the host name.
	HELO string `yaml:"helo"`
	// Timeout bounds connecting and each SMTP exchange; default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// String describes the server without its credentials, for logs.
func (c SMTPConfig) String() string {
	return fmt.Sprintf("smtp://%s:%d (tls %s, auth %s)", c.Host, c.port(), c.tlsMode(), c.authMethod())
}

// LogValue keeps the credentials out of log/slog.
func (c SMTPConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c SMTPConfig) tlsMode() TLSMode { return cmp.Or(c.TLS, StartTLS) }

func (c SMTPConfig) authMethod() AuthMethod { return cmp.Or(c.Auth, AuthPlain) }

func (c SMTPConfig) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.tlsMode() {
	case ImplicitTLS:
		return 465
	case Insecure:
		return 25
	default:
		return 587
	}
}

func (c SMTPConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

func (c SMTPConfig) serverName() string {
	if c.ServerName != "" {
		return c.ServerName
	}
	return c.Host
}

// password returns the configured password, reading PasswordFile if set.
func (c SMTPConfig) password() (string, error) {
	if c.PasswordFile == "" {
		return string(c.Password), nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("notify: smtp.password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Validate checks the server settings; each error names the offending key.
func (c SMTPConfig) Validate() error {
	if c.Host == "" {
		return errors.New("notify: smtp.host is empty")
	}
	if strings.ContainsAny(c.Host, " /\t\r\n") {
		return fmt.Errorf("notify: smtp.host %q: not a host name or address", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("notify: smtp.port %d: not a port (1-65535)", c.Port)
	}
	mode := c.tlsMode()
	switch mode {
	case StartTLS, ImplicitTLS, Insecure:
	default:
		return fmt.Errorf("notify: smtp.tls %q: want starttls, implicit or insecure", c.TLS)
	}
	if mode == Insecure && (c.CAFile != "" || c.ServerName != "") {
		return errors.New("notify: smtp.ca_file and smtp.server_name need tls starttls or implicit, not insecure")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return fmt.Errorf("notify: smtp.ca_file: %w", err)
		}
	}
	auth := c.authMethod()
	switch auth {
	case AuthPlain, AuthLogin:
		if mode == Insecure {
			return errors.New("notify: smtp.auth: credentials are never sent without TLS; use tls starttls or implicit, or auth none for a local relay")
		}
		if c.Username == "" {
			return fmt.Errorf("notify: smtp.username is empty (auth %s)", auth)
		}
		if c.Password == "" && c.PasswordFile == "" {
			return fmt.Errorf("notify: smtp.password or smtp.password_file is needed (auth %s)", auth)
		}
		if c.Password != "" && c.PasswordFile != "" {
			return errors.New("notify: smtp.password and smtp.password_file are both set; keep one")
		}
		if c.PasswordFile != "" {
			if _, err := os.Stat(c.PasswordFile); err != nil {
				return fmt.Errorf("notify: smtp.password_file: %w", err)
			}
		}
	case AuthNone:
		if c.Username != "" || c.Password != "" || c.PasswordFile != "" {
			return errors.New("notify: smtp.username/password are set but smtp.auth is none")
		}
	default:
		return fmt.Errorf("notify: smtp.auth %q: want plain, login or none", c.Auth)
	}
	if c.From == "" {
		return errors.New("notify: smtp.from is empty")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("notify: smtp.from %q: %w", c.From, err)
	}
	if strings.ContainsAny(c.HELO, " \t\r\n") {
		return fmt.Errorf("notify: smtp.helo %q: not a host name", c.HELO)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("notify: smtp.timeout %s: must be positive", c.Timeout)
	}
	return nil
}

// Config is the notify section of Plateau's configuration.
type Config struct {
	SMTP SMTPConfig `yaml:"smtp"`
	// Lang is the language of the messages: fr (default) or en.
	Lang Lang `yaml:"lang"`
	// TimeZone is used for the dates written in messages and as the default
	// time zone of schedules; default Europe/Paris.
	TimeZone string `yaml:"timezone"`
	// HTML adds a simple HTML part next to the plain-text one.
	HTML   bool         `yaml:"html"`
	Outbox OutboxConfig `yaml:"outbox"`
	Alerts AlertsConfig `yaml:"alerts"`
}

// OutboxConfig bounds how long messages are retried and kept.
type OutboxConfig struct {
	// GiveUpAfter is how long after its creation a message is still
	// retried; default 24h.
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// KeepSent is how long sent and abandoned messages stay in the table;
	// default 720h (30 days).
	KeepSent time.Duration `yaml:"keep_sent"`
}

// AlertsConfig lists the alerts and their recipients. An alert without
// recipients is off.
type AlertsConfig struct {
	InboxWaiting InboxAlertConfig `yaml:"inbox_waiting"`
	BatchSummary AlertConfig      `yaml:"batch_summary"`
}

// AlertConfig is an alert sent when something happens.
type AlertConfig struct {
	// To lists the recipients' addresses.
	To []string `yaml:"to"`
}

// InboxAlertConfig is the "files are waiting" alert, checked on a schedule.
type InboxAlertConfig struct {
	// To lists the recipients' addresses.
	To []string `yaml:"to"`
	// Schedule is a 5-field cron expression; default
	// "0 9,10,11,14,15,16 * * 1-4".
	Schedule string `yaml:"schedule"`
	// TimeZone of the schedule; empty means Config.TimeZone.
	TimeZone string `yaml:"timezone"`
}

// DefaultConfig returns the built-in settings: mail off (no host), French,
// Europe/Paris, STARTTLS and PLAIN authentication once a host is set.
func DefaultConfig() Config {
	return Config{
		SMTP:     SMTPConfig{TLS: StartTLS, Auth: AuthPlain, Timeout: 30 * time.Second},
		Lang:     French,
		TimeZone: DefaultTimeZone,
		Outbox:   OutboxConfig{GiveUpAfter: 24 * time.Hour, KeepSent: 30 * 24 * time.Hour},
		Alerts: AlertsConfig{
			InboxWaiting: InboxAlertConfig{Schedule: InboxWaitingSchedule},
		},
	}
}

// Enabled reports whether mail is configured at all.
func (c Config) Enabled() bool { return c.SMTP.Host != "" }

// lang returns the configured language, French when unset.
func (c Config) lang() Lang { return cmp.Or(c.Lang, French) }

func (c Config) timeZone() string { return cmp.Or(c.TimeZone, DefaultTimeZone) }

func (c InboxAlertConfig) schedule() string { return cmp.Or(c.Schedule, InboxWaitingSchedule) }

// Validate checks the whole section; each error names the offending key.
func (c Config) Validate() error {
	switch c.lang() {
	case French, English:
	default:
		return fmt.Errorf("notify: lang %q: want fr or en", c.Lang)
	}
	if _, err := loadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("notify: timezone: %w", err)
	}
	if c.Outbox.GiveUpAfter < 0 {
		return fmt.Errorf("notify: outbox.give_up_after %s: must be positive", c.Outbox.GiveUpAfter)
	}
	if c.Outbox.KeepSent < 0 {
		return fmt.Errorf("notify: outbox.keep_sent %s: must be positive", c.Outbox.KeepSent)
	}
	lists := []struct {
		key string
		to  []string
	}{
		{"alerts.inbox_waiting.to", c.Alerts.InboxWaiting.To},
		{"alerts.batch_summary.to", c.Alerts.BatchSummary.To},
	}
	for _, l := range lists {
		if len(l.to) > 0 && !c.Enabled() {
			return fmt.Errorf("notify: %s is set but smtp.host is empty", l.key)
		}
		if err := checkRecipients(l.to); err != nil {
			return fmt.Errorf("notify: %s: %w", l.key, err)
		}
	}
	tz := c.Alerts.InboxWaiting.TimeZone
	if tz == "" {
		tz = c.timeZone()
	}
	if err := ValidateSchedule(c.Alerts.InboxWaiting.schedule(), tz); err != nil {
		return fmt.Errorf("notify: alerts.inbox_waiting: %w", err)
	}
	if c.Enabled() {
		return c.SMTP.Validate()
	}
	return nil
}

// checkRecipients accepts bare addresses or "Name <address>" forms.
func checkRecipients(to []string) error {
	for i, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("recipient %d %q: %w", i+1, a, err)
		}
	}
	return nil
}

// loadLocation loads a IANA time zone; empty means DefaultTimeZone. "Local"
// is refused: a schedule must not change meaning with the host's settings.
func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimeZone
	}
	if name == "Local" {
		return nil, errors.New(`"Local" is not allowed; name a zone such as Europe/Paris`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone (e.g. Europe/Paris): %w", name, err)
	}
	return loc, nil
}
