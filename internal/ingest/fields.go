package ingest

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// trimSpace removes the blanks spreadsheets and typists leave around values:
// ASCII white space, the no-break space (U+00A0) and the narrow no-break
// space of French typography (U+202F). Nothing else, so that the Python
// reference can trim exactly the same way.
func trimSpace(s string) string {
	for len(s) > 0 {
		c := s[0]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			s = s[1:]
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s)
			if r == 0xA0 || r == 0x202F {
				s = s[n:]
				continue
			}
		}
		break
	}
	for len(s) > 0 {
		c := s[len(s)-1]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			s = s[:len(s)-1]
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeLastRuneInString(s)
			if r == 0xA0 || r == 0x202F {
				s = s[:len(s)-n]
				continue
			}
		}
		break
	}
	return s
}

// emailProblem returns why s is not an e-mail address, or "".
func emailProblem(s string) string {
	at := strings.IndexByte(s, '@')
	switch {
	case at < 0:
		return "no @"
	case strings.IndexByte(s[at+1:], '@') >= 0:
		return "more than one @"
	case at == 0:
		return "nothing before the @"
	case at == len(s)-1:
		return "nothing after the @"
	case len(s) > 254:
		return "longer than 254 characters"
	case at > 64:
		return "more than 64 characters before the @"
	}
	local, domain := s[:at], s[at+1:]
	for i := 0; i < len(local); i++ {
		if c := local[i]; c < 0x80 && !emailLocal[c] {
			return "a character not allowed in an address (space, comma, quote...)"
		}
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "a misplaced dot before the @"
	}
	if strings.IndexByte(domain, '.') < 0 {
		return "no dot in the domain"
	}
	tld := ""
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' || len(label) > 63 {
			return "a malformed domain"
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; c < 0x80 && !isAlnum(c) && c != '-' {
				return "a character not allowed in a domain name"
			}
		}
		tld = label
	}
	if len(tld) < 2 || allDigits(tld) {
		return "a malformed domain"
	}
	return ""
}

// emailLocal marks the ASCII characters allowed before the @ (RFC 5322
// atoms and dots).
var emailLocal = func() (t [128]bool) {
	for c := range t {
		t[c] = isAlnum(byte(c)) || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", byte(c)) >= 0
	}
	return t
}()

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// postalResult says how a French postal code was read.
type postalResult uint8

const (
	postalOK postalResult = iota
	postalPadded
	postalInvalid
)

// normalisePostalCode reads a French postal code: five digits, or four when
// a spreadsheet dropped the leading zero (01000-09999 are Ain to Ariège).
func normalisePostalCode(s string) (string, postalResult) {
	if !allDigits(s) {
		return "", postalInvalid
	}
	switch len(s) {
	case 5:
		return s, postalOK
	case 4:
		return "0" + s, postalPadded
	}
	return "", postalInvalid
}

// parseInteger reads an optionally signed decimal integer.
func parseInteger(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
