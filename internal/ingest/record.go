package ingest

import (
	"strings"
	"time"
)

// Route says how a loaded contact will be called.
type Route uint8

// The routes of a loaded record.
const (
	RouteQueue  Route = iota // the autodialer's queue
	RouteManual              // manual dialling: numbers the autodialer cannot call
)

// String returns "queue" or "manual".
func (r Route) String() string {
	if r == RouteManual {
		return "manual"
	}
	return "queue"
}

// Value is one field of a record after normalisation.
type Value struct {
	// Raw is the value as received, trimmed.
	Raw string
	// Text is the normalised value: the trimmed text, the phone in E.164,
	// the date as YYYY-MM-DD, the 5-digit postal code, the integer in
	// decimal. It equals Raw when the value is empty or kept invalid.
	Text string
	// Empty is set when the source column was empty (after trimming).
	Empty bool
	// Invalid is set when an invalid value was kept as received because the
	// field says so (a warning tells why); Text is then Raw.
	Invalid bool
	Phone   Phone     // phone fields
	Date    time.Time // date fields, midnight UTC
	Int     int64     // integer fields
}

// Record is a valid, normalised data record.
type Record struct {
	// Line is the physical line of the file on which the record starts; the
	// first line of the file is line 1.
	Line int
	// N is the 1-based index of the record among the file's data records
	// (header and blank lines excluded; quarantined records count).
	N         int
	ContactID string
	// Values holds one value per profile field, in Profile.Fields order.
	Values []Value
	// Dial is the dialled phone number.
	Dial     Phone
	Route    Route
	Warnings []Warning
}

// Clone returns a copy of r that stays valid after the pipeline moves on.
func (r *Record) Clone() *Record {
	c := *r
	c.Values = append([]Value(nil), r.Values...)
	c.Warnings = append([]Warning(nil), r.Warnings...)
	return &c
}

// Warning is a fix applied to a loaded record, or an invalid value kept.
type Warning struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Warning codes: stable identifiers the UI may translate.
const (
	WarnPhoneLeadingZero = "phone_leading_zero" // a 9-digit national number got its leading 0 back
	WarnPhoneInvalidKept = "phone_invalid_kept"
	WarnPostalCodePadded = "postal_code_padded"
	WarnPostalCodeKept   = "postal_code_invalid_kept"
	WarnDateExcelSerial  = "date_excel_serial"
	WarnDateInvalidKept  = "date_invalid_kept"
	WarnEmailInvalidKept = "email_invalid_kept"
	WarnIntegerKept      = "integer_invalid_kept"
)

// Reason codes of quarantined records: stable identifiers the UI may
// translate.
const (
	ReasonFieldCount  = "field_count" // wrong number of fields
	ReasonRequired    = "required"    // a required field is empty
	ReasonPhone       = "phone"       // invalid phone number
	ReasonDate        = "date"        // date not in an accepted format, or impossible
	ReasonDateAmbig   = "date_ambiguous"
	ReasonEmail       = "email"
	ReasonPostalCode  = "postal_code"
	ReasonInteger     = "integer"
	ReasonDuplicate   = "duplicate"    // exact duplicate of an earlier record
	ReasonQuoting     = "quoting"      // malformed or unbalanced quotes
	ReasonEncoding    = "encoding"     // bytes that are not text in the file's encoding
	ReasonTooLong     = "too_long"     // record longer than the reader's limit
	ReasonEmptyRecord = "empty_record" // delimiters only
	ReasonUnencodable = "unencodable"  // a character the output files cannot hold
)

// Reason is one reason a record was quarantined.
type Reason struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Quarantined is a record set aside whole, with why.
type Quarantined struct {
	Line int
	N    int
	// Reasons lists every problem found; the first is the main one.
	Reasons []Reason
	// DuplicateOf is the line of the earlier record this one duplicates.
	DuplicateOf int
	// Fields are the record's source fields as decoded (not trimmed), for
	// showing the line to an authorised user.
	Fields []string
}

// Code is the code of the main reason.
func (q *Quarantined) Code() string {
	if len(q.Reasons) == 0 {
		return ""
	}
	return q.Reasons[0].Code
}

// Reason is the English explanation of every problem, joined.
func (q *Quarantined) Reason() string {
	if len(q.Reasons) == 1 {
		return q.Reasons[0].Message
	}
	msgs := make([]string, len(q.Reasons))
	for i, r := range q.Reasons {
		msgs[i] = r.Message
	}
	return strings.Join(msgs, "; ")
}

// Clone returns a copy of q that stays valid after the pipeline moves on.
func (q *Quarantined) Clone() *Quarantined {
	c := *q
	c.Reasons = append([]Reason(nil), q.Reasons...)
	c.Fields = append([]string(nil), q.Fields...)
	return &c
}
