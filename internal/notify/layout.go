package notify

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// The shared layout of every alert: introduction paragraphs, an optional
// table of counts, a link, a footer. The plain-text part is what most IT
// mailboxes show; the HTML part (html/template, so names from outside are
// escaped) is optional.

const textLayout = `{{range .Paragraphs}}{{.}}

{{end}}{{if .Rows}}{{range .Rows}}  {{.Padded}}  {{.Value}}
{{end}}
{{end}}{{if .Link}}{{.LinkLabel}}{{.Colon}}: {{.Link}}

{{end}}-- 
{{.Footer}}
`

const htmlLayout = `<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; font-size: 14px;">
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{if .Rows}}<table style="border-collapse: collapse;">
{{range .Rows}}<tr><td style="padding: 2px 16px 2px 0;">{{.Label}}</td><td style="padding: 2px 0; text-align: right;">{{.Value}}</td></tr>
{{end}}</table>
{{end}}{{if .Link}}<p><a href="{{.Link}}">{{.LinkLabel}}</a></p>
{{end}}<p style="color: #666666;">{{.Footer}}</p>
</body>
</html>
`

// row is one line of the count table.
type row struct {
	Label  string
	Padded string // Label followed by spaces, to align the text table
	Value  string
}

// layoutData is what the layouts render.
type layoutData struct {
	Lang       Lang
	Subject    string
	Paragraphs []string
	Rows       []row
	LinkLabel  string
	Colon      string
	Link       string
	Footer     string
}

// composed is the source of one alert before rendering.
type composed struct {
	alert     string
	subject   string // text/template source
	intro     string // text/template source
	data      any    // what subject and intro render
	rows      []row
	linkLabel string
	link      string
}

// render turns an alert into a Message for to.
func render(c composed, t texts, f Format, to []string) (Message, error) {
	subject, err := execText(c.alert+" subject", c.subject, c.data)
	if err != nil {
		return Message{}, err
	}
	intro, err := execText(c.alert+" body", c.intro, c.data)
	if err != nil {
		return Message{}, err
	}
	width := 0
	for _, r := range c.rows {
		width = max(width, utf8.RuneCountInString(r.Label))
	}
	for i := range c.rows {
		c.rows[i].Padded = c.rows[i].Label + strings.Repeat(" ", width-utf8.RuneCountInString(c.rows[i].Label))
	}
	d := layoutData{
		Lang:       f.lang(),
		Subject:    oneLine(subject, 250),
		Paragraphs: strings.Split(intro, "\n\n"),
		Rows:       c.rows,
		LinkLabel:  c.linkLabel,
		Colon:      t.colon,
		Link:       c.link,
		Footer:     t.footer,
	}
	text, err := execText(c.alert+" layout", textLayout, d)
	if err != nil {
		return Message{}, err
	}
	m := Message{Alert: c.alert, To: append([]string(nil), to...), Subject: d.Subject, Text: text}
	if f.HTML {
		tpl, err := htmltemplate.New("html").Option("missingkey=error").Parse(htmlLayout)
		if err != nil {
			return Message{}, fmt.Errorf("parse HTML layout: %w", err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, d); err != nil {
			return Message{}, fmt.Errorf("render %s HTML: %w", c.alert, err)
		}
		m.HTML = b.String()
	}
	return m, nil
}

func execText(name, src string, data any) (string, error) {
	tpl, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", fmt.Errorf("parse %s template: %w", name, err)
	}
	var b strings.Builder
	if err := tpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// formatDuration writes a batch's duration the way a person reads it:
// "850 ms", "2,4 s" (French) or "2.4 s", "3 min 05 s", "1 h 02 min".
func formatDuration(d time.Duration, t texts) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		s := fmt.Sprintf("%.1f s", d.Seconds())
		if t.decimalComma {
			s = strings.Replace(s, ".", ",", 1)
		}
		return s
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
}
