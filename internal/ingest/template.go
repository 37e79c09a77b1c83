package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Template is a compiled text template: literal text with placeholders in
// braces, "{name}" or "{name:format}"; "{{" and "}}" stand for literal
// braces. Output columns and the contact id are templates.
type Template struct {
	// Source is the template as written in the profile.
	Source string
	parts  []part
}

type partKind uint8

const (
	partLiteral partKind = iota
	partField
	partReceived
	partContactID
	partMissionName
	partMissionNumber
	partN
	partLine
)

// phoneFormat is how a phone field is written in an output column.
type phoneFormat uint8

const (
	phoneE164       phoneFormat = iota // +33612345678
	phoneE164NoPlus                    // 33612345678
	phoneNational                      // 0612345678
	phoneNational9                     // 612345678: the last 9 digits
	phoneRaw                           // as received, trimmed
)

var phoneFormats = map[string]phoneFormat{
	"e164": phoneE164, "e164_no_plus": phoneE164NoPlus, "national": phoneNational,
	"national9": phoneNational9, "raw": phoneRaw,
}

type part struct {
	kind   partKind
	lit    string
	field  int
	ftype  FieldType // type of the field
	layout string    // date layout, for dates and the receipt time
	raw    bool      // write the value as received, trimmed
	phone  phoneFormat
}

// constant reports whether the template's value is the same for every
// record of a batch, so it can be rendered once.
func (t *Template) constant() bool {
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral, partReceived, partMissionName, partMissionNumber:
		default:
			return false
		}
	}
	return true
}

// placeholder resolves one "{name:format}" into a part; format is "" when
// absent.
type placeholder func(name, format string, hasFormat bool) (part, error)

func parseTemplate(s string, resolve placeholder) (*Template, error) {
	t := &Template{Source: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{kind: partLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("a '}' at position %d closes nothing (write '}}' for a literal brace)", i+1)
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("the '{' at position %d is never closed (write '{{' for a literal brace)", i+1)
			}
			inner := s[i+1 : i+1+end]
			name, format, hasFormat := strings.Cut(inner, ":")
			name = strings.TrimSpace(name)
			if name == "" {
				return nil, fmt.Errorf("empty placeholder at position %d", i+1)
			}
			p, err := resolve(name, format, hasFormat)
			if err != nil {
				return nil, fmt.Errorf("{%s}: %w", inner, err)
			}
			flush()
			t.parts = append(t.parts, p)
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// contactIDPlaceholder resolves the placeholders of a contact id template.
func contactIDPlaceholder(name, format string, hasFormat bool) (part, error) {
	if hasFormat {
		return part{}, errors.New("the contact id placeholders take no format")
	}
	switch name {
	case "yymmdd":
		return part{kind: partReceived, layout: "060102"}, nil
	case "yyyymmdd":
		return part{kind: partReceived, layout: "20060102"}, nil
	case "n":
		return part{kind: partN}, nil
	case "line":
		return part{kind: partLine}, nil
	case "mission":
		return part{kind: partMissionNumber}, nil
	}
	return part{}, errors.New("unknown placeholder (want yymmdd, yyyymmdd, n, line or mission)")
}

// reservedNames are the placeholders of output columns that are not fields.
var reservedNames = map[string]bool{
	"received": true, "contact_id": true, "mission_name": true, "mission_number": true,
	"n": true, "line": true, "record": true,
}

// columnPlaceholder returns the resolver of output column placeholders for
// the profile's fields.
func columnPlaceholder(fields []Field, byName map[string]int) placeholder {
	return func(name, format string, hasFormat bool) (part, error) {
		switch name {
		case "received":
			layout := "2006-01-02 15:04:05"
			if hasFormat {
				layout = format
			}
			if layout == "" {
				return part{}, errors.New("empty time layout")
			}
			return part{kind: partReceived, layout: layout}, nil
		case "contact_id", "mission_name", "mission_number", "n", "line":
			if hasFormat {
				return part{}, errors.New("this placeholder takes no format")
			}
			return part{kind: map[string]partKind{
				"contact_id": partContactID, "mission_name": partMissionName,
				"mission_number": partMissionNumber, "n": partN, "line": partLine,
			}[name]}, nil
		}
		i, ok := byName[name]
		if !ok {
			return part{}, fmt.Errorf("no field or placeholder named %q (placeholders: received, contact_id, mission_name, mission_number, n, line)", name)
		}
		f := &fields[i]
		p := part{kind: partField, field: i, ftype: f.Type}
		if !hasFormat {
			if f.Type == TypeDate {
				p.layout = "2006-01-02"
			}
			return p, nil
		}
		if format == "raw" {
			p.raw = true
			return p, nil
		}
		switch f.Type {
		case "":
			return p, nil // the field's type is wrong, and already reported
		case TypePhone:
			pf, ok := phoneFormats[format]
			if !ok {
				return part{}, fmt.Errorf("unknown phone format %q (want e164, e164_no_plus, national, national9 or raw)", format)
			}
			p.phone = pf
			p.raw = pf == phoneRaw
		case TypeDate:
			if format == "" {
				return part{}, errors.New("empty date layout")
			}
			if !strings.ContainsAny(format, "0123456789JM") {
				return part{}, fmt.Errorf("date layout %q has no date element (write it with Go's reference date, e.g. 02/01/2006)", format)
			}
			p.layout = format
		default:
			return part{}, fmt.Errorf("a %s field takes no format other than raw", f.Type)
		}
		return p, nil
	}
}

// renderContext is what a template needs besides a record.
type renderContext struct {
	received      time.Time
	missionName   string
	missionNumber string
}

// appendConst appends the value of a constant template.
func (t *Template) appendConst(dst []byte, rc *renderContext) []byte {
	for _, p := range t.parts {
		dst = appendConstPart(dst, p, rc)
	}
	return dst
}

// bind renders the parts that are the same for the whole batch, so that
// per-record rendering only fills in the rest.
func (t *Template) bind(rc *renderContext) *Template {
	b := &Template{Source: t.Source}
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral, partReceived, partMissionName, partMissionNumber:
			lit := string(appendConstPart(nil, p, rc))
			if n := len(b.parts); n > 0 && b.parts[n-1].kind == partLiteral {
				b.parts[n-1].lit += lit
			} else {
				b.parts = append(b.parts, part{kind: partLiteral, lit: lit})
			}
		default:
			b.parts = append(b.parts, p)
		}
	}
	return b
}

// appendContactID appends the contact id of record number n on line line.
func (t *Template) appendContactID(dst []byte, rc *renderContext, n, line int) []byte {
	for _, p := range t.parts {
		switch p.kind {
		case partN:
			dst = strconv.AppendInt(dst, int64(n), 10)
		case partLine:
			dst = strconv.AppendInt(dst, int64(line), 10)
		default:
			dst = appendConstPart(dst, p, rc)
		}
	}
	return dst
}

func appendConstPart(dst []byte, p part, rc *renderContext) []byte {
	switch p.kind {
	case partLiteral:
		dst = append(dst, p.lit...)
	case partReceived:
		dst = rc.received.AppendFormat(dst, p.layout)
	case partMissionName:
		dst = append(dst, rc.missionName...)
	case partMissionNumber:
		dst = append(dst, rc.missionNumber...)
	}
	return dst
}

// appendRecord appends the template's value for a record.
func (t *Template) appendRecord(dst []byte, rc *renderContext, r *Record) []byte {
	for _, p := range t.parts {
		dst = appendPart(dst, p, rc, r)
	}
	return dst
}

// appendPart appends one part's value for a record.
func appendPart(dst []byte, p part, rc *renderContext, r *Record) []byte {
	switch p.kind {
	case partField:
		return appendValue(dst, &r.Values[p.field], p)
	case partContactID:
		return append(dst, r.ContactID...)
	case partN:
		return strconv.AppendInt(dst, int64(r.N), 10)
	case partLine:
		return strconv.AppendInt(dst, int64(r.Line), 10)
	}
	return appendConstPart(dst, p, rc)
}

// appendValue writes a field value in the part's format. An empty value, or
// an invalid one kept as received, is written as received (trimmed).
func appendValue(dst []byte, v *Value, p part) []byte {
	if v.Empty || v.Invalid || p.raw {
		return append(dst, v.Raw...)
	}
	switch p.ftype {
	case TypePhone:
		e := v.Phone.E164
		switch p.phone {
		case phoneE164:
			return append(dst, e...)
		case phoneE164NoPlus:
			return append(dst, e[1:]...)
		case phoneNational:
			return v.Phone.appendNational(dst)
		case phoneNational9:
			digits := e[1:]
			if len(digits) > 9 {
				digits = digits[len(digits)-9:]
			}
			return append(dst, digits...)
		}
	case TypeDate:
		if p.layout == "02/01/2006" {
			// The usual French form, on every record: by hand, as
			// AppendFormat reads its layout each time.
			y, m, d := v.Date.Date()
			if y >= 0 && y <= 9999 {
				return append(dst, byte('0'+d/10), byte('0'+d%10), '/', byte('0'+int(m)/10), byte('0'+int(m)%10), '/',
					byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
			}
		}
		return v.Date.AppendFormat(dst, p.layout)
	}
	return append(dst, v.Text...)
}
