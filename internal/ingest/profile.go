package ingest

import (
	"fmt"
	"strings"
	"time"
)

// FieldType is the kind of value a field holds; it decides how the value is
// validated and normalised.
type FieldType string

// The field types a profile may declare.
const (
	TypeText       FieldType = "text"
	TypePhone      FieldType = "phone"
	TypeDate       FieldType = "date"
	TypeEmail      FieldType = "email"
	TypePostalCode FieldType = "postal_code"
	TypeInteger    FieldType = "integer"
)

// Encoding is a character set of a source or output file.
type Encoding string

// The encodings a profile may declare. EncodingAuto (sources only) reads a
// UTF-8 byte order mark as UTF-8 and otherwise decides at the first
// non-ASCII byte; see the Reader.
const (
	EncodingAuto        Encoding = "auto"
	EncodingUTF8        Encoding = "utf-8"
	EncodingWindows1252 Encoding = "windows-1252"
	EncodingLatin1      Encoding = "latin-1"
)

// RecordFilter says which records an output file receives.
type RecordFilter string

// The record filters of an output.
const (
	RecordsValid  RecordFilter = "valid"  // every loaded record
	RecordsManual RecordFilter = "manual" // loaded records routed to manual dialling
	RecordsQueue  RecordFilter = "queue"  // loaded records routed to the dial queue
)

// Profile is a validated ingestion profile. Build one with LoadProfile; the
// zero value is not usable. A Profile is read-only once loaded and may be
// shared by concurrent pipelines.
type Profile struct {
	Version     int
	Description string
	// Mission holds the defaults for the mission placeholders of the contact
	// id and outputs; Options may override them.
	Mission MissionInfo
	// Location is the time zone in which the receipt date is written.
	Location *time.Location
	Source   Source
	Fields   []Field
	// Dial is the index in Fields of the phone that is dialled.
	Dial int
	// DuplicateKey lists the indexes in Fields whose normalised values make
	// the duplicate key; DuplicateRecord means the whole record (every source
	// column, trimmed). Neither set: no duplicate detection.
	DuplicateKey    []int
	DuplicateRecord bool
	ContactID       *Template
	Routing         Routing
	Outputs         []Output
	// Sinks are the SQL tables the loaded records are inserted into.
	Sinks []SinkSpec

	byName map[string]int
}

// MissionInfo names a mission.
type MissionInfo struct {
	Number int
	Name   string
}

// Source describes the layout of the incoming file.
type Source struct {
	Encoding  Encoding
	Delimiter byte
	Header    bool
	Columns   []string
}

// Field is one named value taken from a source column.
type Field struct {
	Name     string
	Column   string
	Index    int // position of Column in Source.Columns
	Type     FieldType
	Required bool
	Personal bool
	// KeepInvalid keeps an invalid value as received (trimmed) with a
	// warning instead of quarantining the record.
	KeepInvalid bool
	// Region is the default region of a phone field (ISO 3166, "FR").
	Region string
	// Formats are the accepted layouts of a date field (Go layouts).
	Formats []string
	// ExcelSerialDigits, when not zero, also accepts a date written as an
	// Excel serial day number of exactly that many digits.
	ExcelSerialDigits int
	// ExcelEpoch is the day serial 0 stands for. The default, 31 December
	// 1899, is the convention Plateau's specification uses (44333 is 18 May
	// 2021); 30 December 1899 reads serials as Excel's 1900 date system
	// displays them (44333 is 17 May 2021, with the phantom 29 February
	// 1900 accounted for). Profile key excel_epoch: "1899-12-31" or
	// "1899-12-30".
	ExcelEpoch time.Time
	// Line is the line of the field in the profile, for messages.
	Line int
}

// Routing sends some dialled numbers to manual dialling instead of the dial
// queue.
type Routing struct {
	// ManualPrefixes are national forms ("08") whose numbers go to manual
	// dialling.
	ManualPrefixes []string
	// ManualTypes are number types that go to manual dialling.
	ManualTypes []PhoneType
	// ManualNumbers are E.164 numbers that go to manual dialling.
	ManualNumbers map[string]bool
}

// Output is a legacy file written for each batch.
type Output struct {
	File       string
	Encoding   Encoding
	Delimiter  byte
	Header     []string // nil: no header line
	LineEnding string   // "\r\n" or "\n"
	Records    RecordFilter
	Columns    []*Template
}

// The SQL drivers a sink may name; "mariadb" is the same driver as "mysql".
const (
	DriverMySQL   = "mysql"
	DriverMariaDB = "mariadb"
)

// SinkSpec is an SQL table a batch's loaded records are inserted into, once
// per batch (see SQLSink). The DSN, which holds a password, is never in the
// profile: the server's configuration names it, or the environment variable
// DSNEnv holds it.
type SinkSpec struct {
	Name    string
	Driver  string
	DSNEnv  string // "" when the server's configuration must name the DSN
	Table   string
	Records RecordFilter
	// EmptyAsNull writes an empty value as NULL instead of ''.
	EmptyAsNull bool
	Columns     []SinkColumn
	// Line is the line of the sink in the profile, for messages.
	Line int
}

// SinkColumn is one column of a sink's table and the template of its value.
type SinkColumn struct {
	Name  string
	Value *Template
}

// FieldIndex returns the index in p.Fields of the named field.
func (p *Profile) FieldIndex(name string) (int, bool) {
	i, ok := p.byName[name]
	return i, ok
}

// Problem is one thing wrong in a profile, located in its YAML text.
type Problem struct {
	Line, Column int
	Path         string // "fields[3].type"
	Message      string
}

// String writes the problem as "line N, path: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
		if p.Path != "" {
			b.WriteString(", ")
		}
	}
	b.WriteString(p.Path)
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ProfileError lists every problem found in a profile.
type ProfileError struct {
	Problems []Problem
}

// Error lists the problems, one a line when there are several.
func (e *ProfileError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid profile: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid profile (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}
