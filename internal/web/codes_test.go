package web

import (
	"testing"

	"plateau/internal/ingest"
)

// TestIngestionCodesAreLabelled: every quarantine reason and every fix the
// ingestion reports has a label in the catalogue, so the batch page and
// the preview speak the user's language.
func TestIngestionCodesAreLabelled(t *testing.T) {
	s := newStack(t)
	codes := []string{
		ingest.ReasonFieldCount, ingest.ReasonRequired, ingest.ReasonPhone, ingest.ReasonDate, ingest.ReasonDateAmbig,
		ingest.ReasonEmail, ingest.ReasonPostalCode, ingest.ReasonInteger, ingest.ReasonDuplicate, ingest.ReasonQuoting,
		ingest.ReasonEncoding, ingest.ReasonTooLong, ingest.ReasonEmptyRecord, ingest.ReasonUnencodable,
		ingest.ReasonContactIDTaken,
		ingest.WarnPhoneLeadingZero, ingest.WarnPhoneInvalidKept, ingest.WarnPostalCodePadded, ingest.WarnPostalCodeKept,
		ingest.WarnDateExcelSerial, ingest.WarnDateInvalidKept, ingest.WarnEmailInvalidKept, ingest.WarnIntegerKept,
	}
	for _, lang := range s.srv.cat.langs {
		label := s.srv.funcs(lang)["code"].(func(string) string)
		for _, c := range codes {
			if got := label(c); got == c || got == "" {
				t.Errorf("%s: code %q has no label", lang, c)
			}
		}
		if got := label("no_such_code"); got != "no_such_code" {
			t.Errorf("%s: an unknown code shows as %q, want itself", lang, got)
		}
	}
	if fr := s.srv.funcs("fr")["code"].(func(string) string)(ingest.ReasonFieldCount); fr != "Nombre de champs incorrect" {
		t.Errorf("French label of field_count: %q", fr)
	}
}
