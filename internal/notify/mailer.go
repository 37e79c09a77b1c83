package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/mail"
	"os"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Mailer submits messages to the configured SMTP server, one connection per
// message. It is safe for concurrent use.
type Mailer struct {
	client *gomail.Client
	from   string
	domain string // right-hand side of Message-IDs
	server string // for errors: host:port, never credentials
}

// NewMailer checks cfg, reads its CA and password files and returns a
// Mailer. It does not connect.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	password, err := cfg.password()
	if err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp.from: %w", err)
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.port()),
		gomail.WithTimeout(cfg.timeout()),
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	mode := cfg.tlsMode()
	if mode == Insecure {
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	} else {
		tc := &tls.Config{ServerName: cfg.serverName(), MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("notify: smtp.ca_file: %w", err)
			}
			// Only the given CAs: a private CA is meant to replace the
			// public roots for this server, not to add to them.
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("notify: smtp.ca_file %s: no PEM certificate in it", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, gomail.WithTLSConfig(tc))
		if mode == ImplicitTLS {
			opts = append(opts, gomail.WithSSL())
		} else {
			// Mandatory, never opportunistic: a server (or a man in the
			// middle) that does not offer STARTTLS gets nothing.
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		}
	}
	switch cfg.authMethod() {
	case AuthPlain:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(cfg.Username), gomail.WithPassword(password))
	case AuthLogin:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLogin), gomail.WithUsername(cfg.Username), gomail.WithPassword(password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP client for %s: %w", cfg, err)
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Mailer{client: client, from: cfg.From, domain: domain, server: fmt.Sprintf("%s:%d", cfg.Host, cfg.port())}, nil
}

// Send submits msg in one SMTP transaction: connect, STARTTLS (unless
// configured otherwise), authenticate, send, quit. ctx bounds the
// connection; each exchange after it is bounded by the configured timeout.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if err := msg.validate(); err != nil {
		return fmt.Errorf("send %s mail: %w", msg.Alert, err)
	}
	gm := gomail.NewMsg()
	if err := gm.From(m.from); err != nil {
		return fmt.Errorf("send %s mail: from: %w", msg.Alert, err)
	}
	if err := gm.To(msg.To...); err != nil {
		return fmt.Errorf("send %s mail: to: %w", msg.Alert, err)
	}
	gm.Subject(msg.Subject)
	id := msg.ID
	if id == "" {
		id = rand.Text()
	}
	gm.SetMessageIDWithValue(id + "@" + m.domain)
	if msg.Created.IsZero() {
		gm.SetDate()
	} else {
		gm.SetDateWithValue(msg.Created)
	}
	// RFC 3834: keeps out-of-office replies and loops away from the robot.
	gm.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	gm.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	if err := m.client.DialAndSendWithContext(ctx, gm); err != nil {
		return fmt.Errorf("send %s mail via %s: %w", msg.Alert, m.server, err)
	}
	return nil
}
