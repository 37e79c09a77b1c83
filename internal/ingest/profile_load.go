package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // profiles name time zones; a static binary may run where there is no zoneinfo

	"go.yaml.in/yaml/v3"
)

// maxProfileSize bounds what LoadProfile reads: a profile is a page of text,
// and a bound keeps a hostile upload from costing memory.
const maxProfileSize = 1 << 20

// LoadProfileFile reads and validates the profile in the named file.
func LoadProfileFile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	p, err := LoadProfile(data)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return p, nil
}

// LoadProfile parses and validates a YAML profile. Every problem found is
// reported, each with its line and key, in a *ProfileError; unknown keys are
// refused so that a misspelt option is never silently ignored.
func LoadProfile(data []byte) (*Profile, error) {
	if len(data) > maxProfileSize {
		return nil, &ProfileError{Problems: []Problem{{Message: fmt.Sprintf("profile larger than %d bytes", maxProfileSize)}}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ProfileError{Problems: []Problem{{Message: "the profile is empty"}}}
		}
		return nil, &ProfileError{Problems: []Problem{{Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ProfileError{Problems: []Problem{{Line: extra.Line, Message: "a profile is one YAML document; found a second one"}}}
	}
	l := &loader{}
	p := l.profile(&doc)
	if len(l.problems) > 0 {
		slices.SortStableFunc(l.problems, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &ProfileError{Problems: l.problems}
	}
	return p, nil
}

type loader struct {
	problems []Problem
}

func (l *loader) add(n *yaml.Node, path, format string, args ...any) {
	p := Problem{Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	l.problems = append(l.problems, p)
}

// keyed is a mapping's values by key, with the mapping node for "missing key"
// messages.
type keyed struct {
	node   *yaml.Node
	values map[string]*yaml.Node
}

func (k keyed) get(key string) *yaml.Node {
	return k.values[key]
}

// mapping checks that n is a mapping with only the given keys, at most once
// each.
func (l *loader) mapping(n *yaml.Node, path string, keys ...string) keyed {
	k := keyed{node: n, values: map[string]*yaml.Node{}}
	if n.Kind == yaml.AliasNode {
		l.add(n, path, "YAML aliases are not supported in profiles")
		return k
	}
	if n.Kind != yaml.MappingNode {
		l.add(n, path, "expected a mapping of keys to values, found %s", describe(n))
		return k
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		if kn.Kind != yaml.ScalarNode {
			l.add(kn, path, "a key must be a plain word")
			continue
		}
		if !slices.Contains(keys, key) {
			l.add(kn, join(path, key), "unknown key %q (known keys here: %s)", key, strings.Join(keys, ", "))
			continue
		}
		if _, dup := k.values[key]; dup {
			l.add(kn, join(path, key), "key %q given twice", key)
			continue
		}
		if vn.Kind == yaml.AliasNode {
			l.add(vn, join(path, key), "YAML aliases are not supported in profiles")
			continue
		}
		k.values[key] = vn
	}
	return k
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// str returns a scalar's text; ok is false (and a problem recorded) if n is
// not a non-empty scalar.
func (l *loader) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.add(n, path, "expected a text value, found %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (l *loader) boolean(n *yaml.Node, path string) bool {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true
		case "false", "no", "off":
			return false
		}
	}
	l.add(n, path, "expected true or false (or yes/no), found %s", describe(n))
	return false
}

func (l *loader) integer(n *yaml.Node, path string) (int, bool) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return v, true
		}
	}
	l.add(n, path, "expected a whole number, found %s", describe(n))
	return 0, false
}

func (l *loader) stringList(n *yaml.Node, path string) []string {
	if n.Kind != yaml.SequenceNode {
		l.add(n, path, "expected a list, found %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if s, ok := l.str(c, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) oneOf(n *yaml.Node, path string, allowed ...string) (string, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		l.add(n, path, "%q is not one of: %s", s, strings.Join(allowed, ", "))
		return "", false
	}
	return s, true
}

func (l *loader) delimiter(n *yaml.Node, path string) byte {
	s, ok := l.str(n, path)
	if !ok {
		return 0
	}
	switch s {
	case "tab", `\t`:
		s = "\t"
	}
	if len(s) != 1 || s[0] >= 0x80 || s[0] == '"' || s[0] == '\r' || s[0] == '\n' || s[0] == ' ' {
		l.add(n, path, "the delimiter must be one ASCII character other than a quote, a space or a line break (\";\", \",\", \"tab\"...), found %q", s)
		return 0
	}
	return s[0]
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

var fieldKeys = []string{"name", "column", "type", "required", "personal", "invalid", "region", "formats", "excel_serial_digits", "excel_epoch"}

func (l *loader) profile(doc *yaml.Node) *Profile {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	top := l.mapping(root, "", "version", "description", "mission", "timezone", "source", "fields",
		"dial", "duplicate_key", "contact_id", "routing", "outputs", "sinks")
	p := &Profile{Dial: -1, byName: map[string]int{}}

	if n := top.get("version"); n == nil {
		l.add(root, "version", "missing: write 'version: 1'")
	} else if v, ok := l.integer(n, "version"); ok {
		if v != 1 {
			l.add(n, "version", "unsupported profile version %d (this Plateau reads version 1)", v)
		}
		p.Version = v
	}
	if n := top.get("description"); n != nil {
		p.Description, _ = l.str(n, "description")
	}
	if n := top.get("mission"); n != nil {
		m := l.mapping(n, "mission", "number", "name")
		if v := m.get("number"); v != nil {
			if num, ok := l.integer(v, "mission.number"); ok {
				if num <= 0 {
					l.add(v, "mission.number", "a mission number is a positive whole number")
				}
				p.Mission.Number = num
			}
		}
		if v := m.get("name"); v != nil {
			p.Mission.Name, _ = l.str(v, "mission.name")
		}
	}
	p.Location, _ = time.LoadLocation("Europe/Paris")
	if n := top.get("timezone"); n != nil {
		if s, ok := l.str(n, "timezone"); ok {
			loc, err := time.LoadLocation(s)
			if err != nil || s == "" || s == "Local" {
				l.add(n, "timezone", "unknown time zone %q (write an IANA name such as Europe/Paris)", s)
			} else {
				p.Location = loc
			}
		}
	}
	if p.Location == nil {
		p.Location = time.UTC
	}

	l.source(top, root, p)
	l.fields(top, root, p)

	if n := top.get("dial"); n == nil {
		l.add(root, "dial", "missing: name the phone field that is dialled")
	} else if s, ok := l.str(n, "dial"); ok {
		i, found := p.byName[s]
		switch {
		case !found:
			l.add(n, "dial", "no field named %q", s)
		case p.Fields[i].Type == "":
			// Its type is wrong, and already reported.
		case p.Fields[i].Type != TypePhone:
			l.add(n, "dial", "field %q is a %s field; the dialled field must be a phone", s, p.Fields[i].Type)
		case !p.Fields[i].Required:
			l.add(n, "dial", "field %q must be required: a contact without a number cannot be called", s)
		case p.Fields[i].KeepInvalid:
			l.add(n, "dial", "field %q cannot keep invalid values: an invalid number cannot be dialled", s)
		default:
			p.Dial = i
		}
	}

	if n := top.get("duplicate_key"); n != nil {
		if n.Kind == yaml.ScalarNode {
			if n.Value == "record" {
				p.DuplicateRecord = true
			} else {
				l.add(n, "duplicate_key", "expected 'record' (the whole record) or a list of field names, found %s", describe(n))
			}
		} else {
			names := l.stringList(n, "duplicate_key")
			if len(names) == 0 && n.Kind == yaml.SequenceNode {
				l.add(n, "duplicate_key", "the list is empty: omit the key for no duplicate detection")
			}
			for j, name := range names {
				i, ok := p.byName[name]
				if !ok {
					l.add(n.Content[j], fmt.Sprintf("duplicate_key[%d]", j), "no field named %q", name)
					continue
				}
				if slices.Contains(p.DuplicateKey, i) {
					l.add(n.Content[j], fmt.Sprintf("duplicate_key[%d]", j), "field %q listed twice", name)
					continue
				}
				p.DuplicateKey = append(p.DuplicateKey, i)
			}
		}
	}

	if n := top.get("contact_id"); n == nil {
		l.add(root, "contact_id", "missing: write the contact id template, e.g. '{yymmdd}_{n}_{mission}'")
	} else if s, ok := l.str(n, "contact_id"); ok {
		t, err := parseTemplate(s, contactIDPlaceholder)
		switch {
		case err != nil:
			l.add(n, "contact_id", "%v", err)
		case !slices.ContainsFunc(t.parts, func(p part) bool { return p.kind == partN || p.kind == partLine }):
			l.add(n, "contact_id", "the template must contain {n} or {line}, or every contact of a file gets the same id")
		default:
			p.ContactID = t
		}
	}

	if n := top.get("routing"); n != nil {
		l.routing(n, p)
	}
	if n := top.get("outputs"); n != nil {
		l.outputs(n, p)
	}
	if n := top.get("sinks"); n != nil {
		l.sinks(n, p)
	}
	return p
}

func (l *loader) source(top keyed, root *yaml.Node, p *Profile) {
	n := top.get("source")
	if n == nil {
		l.add(root, "source", "missing: describe the incoming file (encoding, delimiter, header, columns)")
		return
	}
	s := l.mapping(n, "source", "encoding", "delimiter", "header", "columns")
	p.Source.Encoding = EncodingAuto
	if v := s.get("encoding"); v != nil {
		if e, ok := l.oneOf(v, "source.encoding", "auto", "utf-8", "windows-1252", "latin-1"); ok {
			p.Source.Encoding = Encoding(e)
		}
	}
	if v := s.get("delimiter"); v == nil {
		l.add(n, "source.delimiter", "missing: write the field delimiter, e.g. ';'")
	} else {
		p.Source.Delimiter = l.delimiter(v, "source.delimiter")
	}
	if v := s.get("header"); v == nil {
		l.add(n, "source.header", "missing: say whether the first line names the columns (true or false)")
	} else {
		p.Source.Header = l.boolean(v, "source.header")
	}
	v := s.get("columns")
	if v == nil {
		l.add(n, "source.columns", "missing: list the columns of the file, in order")
		return
	}
	p.Source.Columns = l.stringList(v, "source.columns")
	if len(p.Source.Columns) == 0 && v.Kind == yaml.SequenceNode {
		l.add(v, "source.columns", "the list is empty")
	}
	seen := map[string]bool{}
	for i, c := range p.Source.Columns {
		key := strings.ToLower(strings.TrimSpace(c))
		if key == "" {
			l.add(v.Content[i], fmt.Sprintf("source.columns[%d]", i), "empty column name")
		} else if seen[key] {
			l.add(v.Content[i], fmt.Sprintf("source.columns[%d]", i), "column %q listed twice", c)
		}
		seen[key] = true
	}
}

func (l *loader) fields(top keyed, root *yaml.Node, p *Profile) {
	n := top.get("fields")
	if n == nil {
		l.add(root, "fields", "missing: list the fields taken from the columns")
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.add(n, "fields", "expected a list of fields, found %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		l.add(n, "fields", "the list is empty")
	}
	colIndex := map[string]int{}
	for i, c := range p.Source.Columns {
		colIndex[strings.ToLower(strings.TrimSpace(c))] = i
	}
	for i, fn := range n.Content {
		path := fmt.Sprintf("fields[%d]", i)
		k := l.mapping(fn, path, fieldKeys...)
		f := Field{Index: -1, Line: fn.Line}
		if v := k.get("name"); v == nil {
			l.add(fn, path+".name", "missing: every field has a name")
		} else if s, ok := l.str(v, path+".name"); ok {
			switch {
			case !nameRE.MatchString(s):
				l.add(v, path+".name", "%q is not a valid field name (lower-case letters, digits and '_', starting with a letter)", s)
			case reservedNames[s]:
				l.add(v, path+".name", "%q is reserved for a placeholder; choose another name", s)
			default:
				if _, dup := p.byName[s]; dup {
					l.add(v, path+".name", "field %q declared twice", s)
				}
				f.Name = s
			}
		}
		f.Column = f.Name
		colNode := k.get("column")
		if colNode != nil {
			f.Column, _ = l.str(colNode, path+".column")
		} else {
			colNode = fn
		}
		if f.Column != "" {
			if ci, ok := colIndex[strings.ToLower(strings.TrimSpace(f.Column))]; ok {
				f.Index = ci
			} else if len(p.Source.Columns) > 0 {
				l.add(colNode, path+".column", "no column %q in source.columns", f.Column)
			}
		}
		if v := k.get("type"); v == nil {
			l.add(fn, path+".type", "missing: text, phone, date, email, postal_code or integer")
		} else if t, ok := l.oneOf(v, path+".type", "text", "phone", "date", "email", "postal_code", "integer"); ok {
			f.Type = FieldType(t)
		}
		if v := k.get("required"); v != nil {
			f.Required = l.boolean(v, path+".required")
		}
		if v := k.get("personal"); v != nil {
			f.Personal = l.boolean(v, path+".personal")
		}
		if v := k.get("invalid"); v != nil {
			if s, ok := l.oneOf(v, path+".invalid", "reject", "keep"); ok {
				f.KeepInvalid = s == "keep"
				if f.KeepInvalid && f.Type == TypeText {
					l.add(v, path+".invalid", "a text field is never invalid; remove this key")
				}
			}
		}
		if v := k.get("region"); v != nil {
			if f.Type != TypePhone {
				l.add(v, path+".region", "only phone fields have a region")
			} else if s, ok := l.str(v, path+".region"); ok {
				if !knownRegion(s) {
					l.add(v, path+".region", "unknown region %q (write an ISO 3166 code such as FR)", s)
				}
				f.Region = s
			}
		} else if f.Type == TypePhone {
			f.Region = "FR"
		}
		if v := k.get("formats"); v != nil {
			if f.Type != TypeDate {
				l.add(v, path+".formats", "only date fields have formats")
			} else {
				f.Formats = l.stringList(v, path+".formats")
				for j, layout := range f.Formats {
					if msg := checkDateLayout(layout); msg != "" {
						l.add(v.Content[j], fmt.Sprintf("%s.formats[%d]", path, j), "%s", msg)
					}
				}
			}
		}
		if v := k.get("excel_serial_digits"); v != nil {
			if f.Type != TypeDate {
				l.add(v, path+".excel_serial_digits", "only date fields accept Excel serial numbers")
			} else if d, ok := l.integer(v, path+".excel_serial_digits"); ok {
				if d < 1 || d > 6 {
					l.add(v, path+".excel_serial_digits", "an Excel serial day number has 1 to 6 digits, not %d", d)
				}
				f.ExcelSerialDigits = d
			}
		}
		if f.ExcelSerialDigits > 0 {
			f.ExcelEpoch = specEpoch
		}
		if v := k.get("excel_epoch"); v != nil {
			switch {
			case f.ExcelSerialDigits == 0:
				l.add(v, path+".excel_epoch", "excel_epoch needs excel_serial_digits")
			case v.Value == "1899-12-31":
				f.ExcelEpoch = specEpoch
			case v.Value == "1899-12-30":
				f.ExcelEpoch = excelEpoch
			default:
				l.add(v, path+".excel_epoch", "%q: use 1899-12-31 (44333 is 18/05/2021) or 1899-12-30 (as Excel displays it: 44333 is 17/05/2021)", v.Value)
			}
		}
		if f.Type == TypeDate && len(f.Formats) == 0 && f.ExcelSerialDigits == 0 && k.get("formats") == nil {
			l.add(fn, path+".formats", "missing: list the accepted date layouts, e.g. [\"02/01/2006\"] for dd/mm/yyyy")
		}
		if f.Name != "" {
			p.byName[f.Name] = len(p.Fields)
		}
		p.Fields = append(p.Fields, f)
	}
}

func (l *loader) routing(n *yaml.Node, p *Profile) {
	r := l.mapping(n, "routing", "manual")
	m := r.get("manual")
	if m == nil {
		return
	}
	k := l.mapping(m, "routing.manual", "prefixes", "types", "numbers")
	if v := k.get("prefixes"); v != nil {
		for i, s := range l.stringList(v, "routing.manual.prefixes") {
			if s == "" || strings.Trim(s, "0123456789") != "" {
				l.add(v.Content[i], fmt.Sprintf("routing.manual.prefixes[%d]", i), "a prefix is digits in national form, like \"08\"; found %q", s)
				continue
			}
			p.Routing.ManualPrefixes = append(p.Routing.ManualPrefixes, s)
		}
	}
	if v := k.get("types"); v != nil {
		for i, s := range l.stringList(v, "routing.manual.types") {
			t, ok := parsePhoneType(s)
			if !ok {
				l.add(v.Content[i], fmt.Sprintf("routing.manual.types[%d]", i), "unknown number type %q (want one of: %s)", s, strings.Join(phoneTypeNames(), ", "))
				continue
			}
			p.Routing.ManualTypes = append(p.Routing.ManualTypes, t)
		}
	}
	if v := k.get("numbers"); v != nil {
		region := "FR"
		if p.Dial >= 0 {
			region = p.Fields[p.Dial].Region
		}
		p.Routing.ManualNumbers = map[string]bool{}
		np := newPhoneParser()
		for i, s := range l.stringList(v, "routing.manual.numbers") {
			ph, res := np.parse(trimSpace(s), region)
			if res != phoneOK {
				l.add(v.Content[i], fmt.Sprintf("routing.manual.numbers[%d]", i), "not a valid phone number (%s)", res.describe())
				continue
			}
			p.Routing.ManualNumbers[ph.E164] = true
		}
	}
}

func (l *loader) outputs(n *yaml.Node, p *Profile) {
	if n.Kind != yaml.SequenceNode {
		l.add(n, "outputs", "expected a list of output files, found %s", describe(n))
		return
	}
	files := map[string]bool{}
	for i, on := range n.Content {
		path := fmt.Sprintf("outputs[%d]", i)
		k := l.mapping(on, path, "file", "encoding", "delimiter", "header", "line_ending", "quoting", "records", "columns")
		o := Output{Encoding: EncodingWindows1252, LineEnding: "\r\n", Records: RecordsValid}
		if v := k.get("file"); v == nil {
			l.add(on, path+".file", "missing: the output file name")
		} else if s, ok := l.str(v, path+".file"); ok {
			if msg := checkFileName(s); msg != "" {
				l.add(v, path+".file", "%s", msg)
			} else if files[strings.ToLower(s)] {
				l.add(v, path+".file", "file %q is written by another output already", s)
			}
			files[strings.ToLower(s)] = true
			o.File = s
		}
		if v := k.get("encoding"); v != nil {
			if e, ok := l.oneOf(v, path+".encoding", "windows-1252", "latin-1", "utf-8"); ok {
				o.Encoding = Encoding(e)
			}
		}
		if v := k.get("delimiter"); v == nil {
			l.add(on, path+".delimiter", "missing: the field delimiter of the file, e.g. ';'")
		} else {
			o.Delimiter = l.delimiter(v, path+".delimiter")
		}
		if v := k.get("line_ending"); v != nil {
			if s, ok := l.oneOf(v, path+".line_ending", "crlf", "lf"); ok && s == "lf" {
				o.LineEnding = "\n"
			}
		}
		if v := k.get("quoting"); v != nil {
			l.oneOf(v, path+".quoting", "minimal")
		}
		if v := k.get("records"); v != nil {
			if s, ok := l.oneOf(v, path+".records", "valid", "manual", "queue"); ok {
				o.Records = RecordFilter(s)
			}
		}
		if v := k.get("header"); v != nil {
			if v.Kind == yaml.ScalarNode && v.Value == "none" {
				o.Header = nil
			} else {
				o.Header = l.stringList(v, path+".header")
				for j, h := range o.Header {
					if !encodable(o.Encoding, h) {
						l.add(v.Content[j], fmt.Sprintf("%s.header[%d]", path, j), "%q has a character that %s cannot hold", h, o.Encoding)
					}
				}
			}
		}
		v := k.get("columns")
		if v == nil {
			l.add(on, path+".columns", "missing: list the columns of the file")
			p.Outputs = append(p.Outputs, o)
			continue
		}
		cols := l.stringList(v, path+".columns")
		if len(cols) == 0 && v.Kind == yaml.SequenceNode {
			l.add(v, path+".columns", "the list is empty")
		}
		if o.Header != nil && len(o.Header) != len(cols) {
			l.add(k.get("header"), path+".header", "the header has %d names but there are %d columns", len(o.Header), len(cols))
		}
		resolve := columnPlaceholder(p.Fields, p.byName)
		for j, c := range cols {
			t, err := parseTemplate(c, resolve)
			if err != nil {
				l.add(v.Content[j], fmt.Sprintf("%s.columns[%d]", path, j), "%v", err)
				continue
			}
			for _, pt := range t.parts {
				if pt.kind == partLiteral && !encodable(o.Encoding, pt.lit) {
					l.add(v.Content[j], fmt.Sprintf("%s.columns[%d]", path, j), "%q has a character that %s cannot hold", pt.lit, o.Encoding)
				}
			}
			o.Columns = append(o.Columns, t)
		}
		p.Outputs = append(p.Outputs, o)
	}
}

// checkFileName refuses names that could leave the output folder or clash
// with the temporary files written beside it.
func checkFileName(s string) string {
	switch {
	case s == "" || strings.TrimSpace(s) != s:
		return "a file name cannot be empty or start or end with a space"
	case strings.ContainsAny(s, `/\:*?"<>|`) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Sprintf("%q: a file name cannot contain / \\ : * ? \" < > | or control characters", s)
	case s[0] == '.':
		return fmt.Sprintf("%q: a file name cannot start with a dot", s)
	case len(s) > 200:
		return "a file name is at most 200 bytes"
	}
	return ""
}

// checkDateLayout refuses layouts that could not name a single day.
func checkDateLayout(layout string) string {
	// A day whose parts all differ from the reference date's, so that a
	// layout missing one of them cannot read it back.
	ref := time.Date(2021, 11, 23, 0, 0, 0, 0, time.UTC)
	t, err := time.Parse(layout, ref.Format(layout))
	if err != nil || !t.Equal(ref) {
		return fmt.Sprintf("%q is not a date layout with a day, a month and a year written with Go's reference date (02/01/2006 for dd/mm/yyyy, 2006-01-02 for yyyy-mm-dd)", layout)
	}
	return ""
}

// identRE is what a sink accepts as a table or column name: it is quoted
// with backticks in the SQL it writes, and this keeps anything that could
// end the quote out.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// dsnEnvRE restricts the environment variables a profile may read a DSN
// from: a profile editor must not be able to point a sink at another
// secret of the server's environment.
var dsnEnvRE = regexp.MustCompile(`^PLATEAU_SINK_[A-Z0-9_]{1,64}$`)

func (l *loader) sinks(n *yaml.Node, p *Profile) {
	if n.Kind != yaml.SequenceNode {
		l.add(n, "sinks", "expected a list of SQL sinks, found %s", describe(n))
		return
	}
	names := map[string]bool{}
	for i, sn := range n.Content {
		path := fmt.Sprintf("sinks[%d]", i)
		k := l.mapping(sn, path, "name", "driver", "dsn_env", "table", "records", "empty_as_null", "columns")
		s := SinkSpec{Records: RecordsValid, Line: sn.Line}
		if v := k.get("name"); v == nil {
			l.add(sn, path+".name", "missing: every sink has a name, e.g. crm")
		} else if name, ok := l.str(v, path+".name"); ok {
			switch {
			case !nameRE.MatchString(name):
				l.add(v, path+".name", "%q is not a valid sink name (lower-case letters, digits and '_', starting with a letter)", name)
			case names[name]:
				l.add(v, path+".name", "sink %q declared twice", name)
			}
			names[name] = true
			s.Name = name
		}
		if v := k.get("driver"); v == nil {
			l.add(sn, path+".driver", "missing: write 'driver: mysql' (MariaDB or MySQL)")
		} else if _, ok := l.oneOf(v, path+".driver", DriverMySQL, DriverMariaDB); ok {
			s.Driver = DriverMySQL // one driver speaks to both
		}
		if v := k.get("dsn_env"); v != nil {
			if env, ok := l.str(v, path+".dsn_env"); ok {
				if !dsnEnvRE.MatchString(env) {
					l.add(v, path+".dsn_env", "%q: the DSN's environment variable must be named PLATEAU_SINK_<NAME> (capitals, digits, '_')", env)
				}
				s.DSNEnv = env
			}
		}
		if v := k.get("table"); v == nil {
			l.add(sn, path+".table", "missing: the table the rows are inserted into")
		} else if t, ok := l.str(v, path+".table"); ok {
			if !identRE.MatchString(t) {
				l.add(v, path+".table", "%q is not a table name Plateau writes to (letters, digits and '_', not starting with a digit, at most 64)", t)
			} else if strings.EqualFold(t, sinkMarkerTable) {
				l.add(v, path+".table", "%q is the table where Plateau records the batches delivered", t)
			}
			s.Table = t
		}
		if v := k.get("records"); v != nil {
			if r, ok := l.oneOf(v, path+".records", "valid", "manual", "queue"); ok {
				s.Records = RecordFilter(r)
			}
		}
		if v := k.get("empty_as_null"); v != nil {
			s.EmptyAsNull = l.boolean(v, path+".empty_as_null")
		}
		v := k.get("columns")
		if v == nil {
			l.add(sn, path+".columns", "missing: map the table's columns to values, e.g. contact_id: \"{contact_id}\"")
			p.Sinks = append(p.Sinks, s)
			continue
		}
		if v.Kind != yaml.MappingNode {
			l.add(v, path+".columns", "expected a mapping of column names to values, found %s", describe(v))
			p.Sinks = append(p.Sinks, s)
			continue
		}
		if len(v.Content) == 0 {
			l.add(v, path+".columns", "the mapping is empty")
		}
		resolve := columnPlaceholder(p.Fields, p.byName)
		cols := map[string]bool{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			kn, vn := v.Content[j], v.Content[j+1]
			if kn.Kind != yaml.ScalarNode {
				l.add(kn, path+".columns", "a column name must be a plain word")
				continue
			}
			cpath := path + ".columns." + kn.Value
			switch {
			case !identRE.MatchString(kn.Value):
				l.add(kn, cpath, "%q is not a column name Plateau writes to (letters, digits and '_', not starting with a digit, at most 64)", kn.Value)
				continue
			case cols[strings.ToLower(kn.Value)]:
				l.add(kn, cpath, "column %q given twice", kn.Value)
				continue
			}
			cols[strings.ToLower(kn.Value)] = true
			if vn.Kind == yaml.AliasNode {
				l.add(vn, cpath, "YAML aliases are not supported in profiles")
				continue
			}
			if vn.Kind != yaml.ScalarNode || vn.Tag == "!!null" {
				l.add(vn, cpath, "expected a value template such as \"{surname}\", found %s", describe(vn))
				continue
			}
			t, err := parseTemplate(vn.Value, resolve)
			if err != nil {
				l.add(vn, cpath, "%v", err)
				continue
			}
			s.Columns = append(s.Columns, SinkColumn{Name: kn.Value, Value: t})
		}
		p.Sinks = append(p.Sinks, s)
	}
}
