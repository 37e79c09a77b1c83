package ingest

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneType is the kind of line a number belongs to, as libphonenumber's
// metadata says.
type PhoneType uint8

// The number types.
const (
	PhoneUnknown PhoneType = iota
	PhoneFixed
	PhoneMobile
	PhoneFixedOrMobile
	PhoneTollFree
	PhonePremiumRate
	PhoneSharedCost
	PhoneVoIP
	PhonePersonal
	PhonePager
	PhoneUAN
	PhoneVoicemail
)

var phoneTypeNameList = [...]string{
	PhoneUnknown: "unknown", PhoneFixed: "fixed", PhoneMobile: "mobile", PhoneFixedOrMobile: "fixed_or_mobile",
	PhoneTollFree: "toll_free", PhonePremiumRate: "premium_rate", PhoneSharedCost: "shared_cost",
	PhoneVoIP: "voip", PhonePersonal: "personal", PhonePager: "pager", PhoneUAN: "uan", PhoneVoicemail: "voicemail",
}

// String returns the type's name as written in profiles ("mobile",
// "premium_rate"...).
func (t PhoneType) String() string {
	if int(t) < len(phoneTypeNameList) {
		return phoneTypeNameList[t]
	}
	return "unknown"
}

// MarshalText writes the type's name.
func (t PhoneType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func parsePhoneType(s string) (PhoneType, bool) {
	for i, n := range phoneTypeNameList {
		if n == s {
			return PhoneType(i), true
		}
	}
	return 0, false
}

func phoneTypeNames() []string { return phoneTypeNameList[:] }

// fromLibType maps libphonenumber's types.
func fromLibType(t phonenumbers.PhoneNumberType) PhoneType {
	switch t {
	case phonenumbers.FIXED_LINE:
		return PhoneFixed
	case phonenumbers.MOBILE:
		return PhoneMobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return PhoneFixedOrMobile
	case phonenumbers.TOLL_FREE:
		return PhoneTollFree
	case phonenumbers.PREMIUM_RATE:
		return PhonePremiumRate
	case phonenumbers.SHARED_COST:
		return PhoneSharedCost
	case phonenumbers.VOIP:
		return PhoneVoIP
	case phonenumbers.PERSONAL_NUMBER:
		return PhonePersonal
	case phonenumbers.PAGER:
		return PhonePager
	case phonenumbers.UAN:
		return PhoneUAN
	case phonenumbers.VOICEMAIL:
		return PhoneVoicemail
	}
	return PhoneUnknown
}

// Phone is a valid phone number.
type Phone struct {
	// E164 is the number in E.164 form, "+33612345678".
	E164 string
	Type PhoneType
	// other holds what cannot be derived from E164 for numbers outside
	// France; nil for French numbers, which keeps records small.
	other *phoneOther
}

type phoneOther struct {
	region   string
	national string
}

// Region returns the ISO 3166 region of the number ("FR").
func (p Phone) Region() string {
	if p.other != nil {
		return p.other.region
	}
	if p.E164 == "" {
		return ""
	}
	return "FR"
}

// National returns the number as dialled inside its country, digits only:
// "0612345678" for +33612345678.
func (p Phone) National() string {
	return string(p.appendNational(nil))
}

func (p Phone) appendNational(dst []byte) []byte {
	if p.other != nil {
		return append(dst, p.other.national...)
	}
	if len(p.E164) < 3 {
		return dst
	}
	return append(append(dst, '0'), p.E164[3:]...)
}

// nationalHasPrefix reports whether the national form starts with prefix,
// without building it.
func (p Phone) nationalHasPrefix(prefix string) bool {
	if p.other != nil {
		return strings.HasPrefix(p.other.national, prefix)
	}
	if prefix == "" {
		return true
	}
	return len(p.E164) >= 3 && prefix[0] == '0' && strings.HasPrefix(p.E164[3:], prefix[1:])
}

// phoneResult says why a number is invalid, or that it is valid.
type phoneResult uint8

const (
	phoneOK phoneResult = iota
	phoneNotANumber
	phoneTooShort
	phoneTooLong
	phoneBadCountry
	phoneNoSuchRange // right length, but no number type has this prefix
)

func (r phoneResult) describe() string {
	switch r {
	case phoneNotANumber:
		return "not a phone number"
	case phoneTooShort:
		return "too few digits"
	case phoneTooLong:
		return "too many digits"
	case phoneBadCountry:
		return "unknown country code"
	case phoneNoSuchRange:
		return "no such number range"
	}
	return "valid"
}

// phoneParser normalises phone numbers: a fast path for the shapes French
// numbers arrive in, giving exactly what libphonenumber gives (tests compare
// the two over every prefix), and libphonenumber for everything else.
type phoneParser struct {
	fr  *frenchPlan // nil: no fast path
	num phonenumbers.PhoneNumber
	// leadingZero is set by the last parse when a 9-digit French national
	// number came without its leading 0 (a spreadsheet ate it).
	leadingZero bool
}

func newPhoneParser() *phoneParser {
	return &phoneParser{fr: frenchPlanOnce()}
}

// parse normalises s (already trimmed, not empty) with the default region.
func (pp *phoneParser) parse(s, region string) (Phone, phoneResult) {
	pp.leadingZero = false
	if region == "FR" && pp.fr != nil {
		if ph, res, ok := pp.fr.parse(s, &pp.leadingZero); ok {
			return ph, res
		}
	}
	return pp.parseLib(s, region)
}

// parseLib is the slow, general path.
func (pp *phoneParser) parseLib(s, region string) (Phone, phoneResult) {
	n := &pp.num
	n.Reset()
	if err := phonenumbers.ParseToNumber(s, region, n); err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return Phone{}, phoneBadCountry
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return Phone{}, phoneTooShort
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return Phone{}, phoneTooLong
		}
		return Phone{}, phoneNotANumber
	}
	if !phonenumbers.IsValidNumber(n) {
		switch phonenumbers.IsPossibleNumberWithReason(n) {
		case phonenumbers.TOO_SHORT:
			return Phone{}, phoneTooShort
		case phonenumbers.TOO_LONG:
			return Phone{}, phoneTooLong
		case phonenumbers.INVALID_COUNTRY_CODE:
			return Phone{}, phoneBadCountry
		}
		return Phone{}, phoneNoSuchRange
	}
	ph := Phone{
		E164: phonenumbers.Format(n, phonenumbers.E164),
		Type: fromLibType(phonenumbers.GetNumberType(n)),
	}
	if n.GetCountryCode() != 33 {
		nat := phonenumbers.Format(n, phonenumbers.NATIONAL)
		ph.other = &phoneOther{
			region: phonenumbers.GetRegionCodeForNumber(n),
			national: strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, nat),
		}
	}
	return ph, phoneOK
}

// phoneShape describes s without revealing it: digits become 9, letters A,
// and punctuation stays, so "06 12 34 5X 78" shows as "99 99 99 9A 99".
func phoneShape(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return '9'
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= 0x80:
			return 'A'
		}
		return r
	}, s)
}

func knownRegion(s string) bool {
	return phonenumbers.GetSupportedRegions()[s]
}
