package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message is one rendered e-mail. It holds counts and links only: the
// builders never put personal data (names, phone numbers) in a message.
type Message struct {
	// Alert names the kind of alert ("batch_summary", "inbox_waiting"); it
	// appears in logs, never in the mail.
	Alert string
	// To lists the recipients' addresses.
	To []string
	// Subject is one line of UTF-8 text.
	Subject string
	// Text is the plain-text body (UTF-8).
	Text string
	// HTML is an optional HTML alternative of Text.
	HTML string
	// Key, when set, makes queuing idempotent: a second message with the
	// same key is not queued again.
	Key string

	// ID is the left part of the Message-ID header; the outbox sets it once
	// so that every retry of a message carries the same Message-ID.
	ID string
	// Created is when the message was queued (its Date header).
	Created time.Time
}

// validate catches a message that cannot be sent, before it is queued.
func (m Message) validate() error {
	if m.Alert == "" {
		return errors.New("message has no alert name")
	}
	if len(m.To) == 0 {
		return errors.New("message has no recipient")
	}
	for i, a := range m.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("recipient %d: %w", i+1, err)
		}
	}
	if strings.TrimSpace(m.Subject) == "" || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("subject is empty or not one line")
	}
	if m.Text == "" {
		return errors.New("message has no text body")
	}
	return nil
}

// Format says how an alert is written.
type Format struct {
	// Lang is the language; French when empty.
	Lang Lang
	// Location is the time zone of the dates shown; Europe/Paris when nil.
	Location *time.Location
	// HTML adds an HTML alternative part.
	HTML bool
}

func (f Format) lang() Lang {
	if f.Lang == "" {
		return French
	}
	return f.Lang
}

func (f Format) location() (*time.Location, error) {
	if f.Location != nil {
		return f.Location, nil
	}
	return loadLocation(DefaultTimeZone)
}

// oneLine makes text from outside (a file name, a mission name) safe to show
// on one line of a mail: control and invisible formatting characters (line
// breaks, bidirectional overrides that could disguise a name) are removed,
// runs of spaces collapsed, and the result cut to max characters.
func oneLine(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if utf8.RuneCountInString(out) > max {
		runes := []rune(out)
		out = string(runes[:max-1]) + "…"
	}
	return out
}

// fileName keeps only the last element of a path (a client's file name may
// arrive as "dir\sub/name.csv") and sanitises it.
func fileName(s string) string {
	s = strings.ReplaceAll(s, `\`, "/")
	if s = path.Base(s); s == "." || s == "/" {
		s = ""
	}
	return oneLine(s, 120)
}

// checkLink accepts an empty link or an absolute http(s) URL.
func checkLink(link string) error {
	if link == "" {
		return nil
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(link, " \t\r\n") {
		return fmt.Errorf("link %q is not an absolute http(s) URL", link)
	}
	return nil
}
