package ingest

import (
	"regexp/syntax"
	"slices"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// libphonenumber's Parse costs about 20 µs a number, more than everything
// else a record needs. French numbers arrive in a handful of shapes, so those
// take a fast path: the digits are read by hand and the number type comes
// from a table of the first digits of the national significant number,
// compiled from libphonenumber's own metadata for FR. The table is built
// from the metadata rather than written by hand so that upgrading the library
// updates it; if the metadata ever takes a form this compiler does not
// understand, the fast path switches itself off and every number goes
// through the library. Tests compare both paths over every prefix.

// frenchPlan is France's numbering plan compiled into a lookup table.
type frenchPlan struct {
	depth int         // how many leading NSN digits decide the type
	types []PhoneType // by the first depth digits read as a number
	valid []bool      // whether a number with that prefix is valid
}

// frenchPlanOnce builds the table the first time a parser needs it; the
// table is read-only afterwards.
var frenchPlanOnce = sync.OnceValue(func() *frenchPlan {
	p, _ := buildFrenchPlan()
	return p
})

const frNSNLen = 9

// buildFrenchPlan compiles the FR metadata; ok is false (and the plan nil)
// when the metadata breaks an assumption of the fast path.
func buildFrenchPlan() (*frenchPlan, bool) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, false
	}
	var md *phonenumbers.PhoneMetadata
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "FR" {
			md = m
		}
	}
	if md == nil || md.GetCountryCode() != 33 || md.GetInternationalPrefix() != "00" ||
		md.GetNationalPrefix() != "0" || (md.GetNationalPrefixForParsing() != "" && md.GetNationalPrefixForParsing() != "0") ||
		md.GetNationalPrefixTransformRule() != "" || md.GetLeadingDigits() != "" ||
		!slices.Equal(phonenumbers.GetRegionCodesForCountryCode(33), []string{"FR"}) {
		return nil, false
	}
	general := md.GetGeneralDesc()
	if !slices.Equal(general.GetPossibleLength(), []int32{frNSNLen}) || len(general.GetPossibleLengthLocalOnly()) > 0 {
		return nil, false
	}
	type desc struct {
		d *phonenumbers.PhoneNumberDesc
		t PhoneType
	}
	// The order of getNumberTypeHelper in libphonenumber: the first that
	// matches wins; fixed line and mobile come last.
	descs := []desc{
		{md.GetPremiumRate(), PhonePremiumRate}, {md.GetTollFree(), PhoneTollFree},
		{md.GetSharedCost(), PhoneSharedCost}, {md.GetVoip(), PhoneVoIP},
		{md.GetPersonalNumber(), PhonePersonal}, {md.GetPager(), PhonePager},
		{md.GetUan(), PhoneUAN}, {md.GetVoicemail(), PhoneVoicemail},
		{md.GetFixedLine(), PhoneFixed}, {md.GetMobile(), PhoneMobile},
	}
	all := make([][][]uint16, 0, len(descs)+1)
	seqs, ok := compileDesc(general)
	if !ok {
		return nil, false
	}
	// Every sequence of the general description must be 9 digits long and
	// refuse a leading 0: the shapes the fast path accepts rely on it.
	for _, s := range seqs {
		if len(s) != frNSNLen || s[0]&1 != 0 {
			return nil, false
		}
	}
	all = append(all, seqs)
	for _, d := range descs {
		s, ok := compileDesc(d.d)
		if !ok {
			return nil, false
		}
		all = append(all, s)
	}
	depth := 1
	for _, list := range all {
		for _, s := range list {
			for i, m := range s {
				if m != anyDigit && i+1 > depth {
					depth = i + 1
				}
			}
		}
	}
	if depth > 6 {
		return nil, false
	}
	size := 1
	for range depth {
		size *= 10
	}
	match := make([][]bool, len(all))
	for i, list := range all {
		match[i] = make([]bool, size)
		for _, s := range list {
			markPrefixes(match[i], s[:depth], 0, 0)
		}
	}
	p := &frenchPlan{depth: depth, types: make([]PhoneType, size), valid: make([]bool, size)}
	for x := range size {
		if !match[0][x] {
			continue
		}
		t := PhoneUnknown
		for i, d := range descs[:8] {
			if match[i+1][x] {
				t = d.t
				break
			}
		}
		if t == PhoneUnknown {
			fixed, mobile := match[9][x], match[10][x]
			switch {
			case fixed && (mobile || md.GetSameMobileAndFixedLinePattern()):
				t = PhoneFixedOrMobile
			case fixed:
				t = PhoneFixed
			case mobile && !md.GetSameMobileAndFixedLinePattern():
				t = PhoneMobile
			}
		}
		p.types[x] = t
		p.valid[x] = t != PhoneUnknown
	}
	// The general description must accept every NSN that starts with 1-9,
	// as the shape rules of parse assume.
	for x := size / 10; x < size; x++ {
		if !match[0][x] {
			return nil, false
		}
	}
	return p, true
}

const anyDigit uint16 = 1<<10 - 1

// compileDesc returns the 9-digit sequences a number description matches,
// each position as a bit set of digits. A description that does not apply to
// 9-digit numbers yields none.
func compileDesc(d *phonenumbers.PhoneNumberDesc) ([][]uint16, bool) {
	if d == nil {
		return nil, true
	}
	if pl := d.GetPossibleLength(); len(pl) > 0 && !slices.Contains(pl, frNSNLen) {
		return nil, true
	}
	pattern := d.GetNationalNumberPattern()
	if pattern == "" || pattern == "NA" {
		return nil, true
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false
	}
	budget := 50000
	seqs, ok := expandRegexp(re.Simplify(), &budget)
	if !ok {
		return nil, false
	}
	out := seqs[:0]
	for _, s := range seqs {
		if len(s) == frNSNLen {
			out = append(out, s)
		}
	}
	return out, true
}

// expandRegexp lists the fixed-length digit sequences re matches. It
// understands what number patterns are made of (literals, classes,
// alternation, concatenation, bounded repetition) and gives up on anything
// else.
func expandRegexp(re *syntax.Regexp, budget *int) ([][]uint16, bool) {
	spend := func(n int) bool {
		*budget -= n
		return *budget >= 0
	}
	switch re.Op {
	case syntax.OpNoMatch:
		return nil, true
	case syntax.OpEmptyMatch:
		return [][]uint16{{}}, true
	case syntax.OpLiteral:
		s := make([]uint16, len(re.Rune))
		for i, r := range re.Rune {
			if r < '0' || r > '9' {
				return nil, true // a non-digit never matches a national number
			}
			s[i] = 1 << (r - '0')
		}
		return [][]uint16{s}, spend(1)
	case syntax.OpCharClass:
		var m uint16
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := max(re.Rune[i], '0'); r <= min(re.Rune[i+1], '9'); r++ {
				m |= 1 << (r - '0')
			}
		}
		if m == 0 {
			return nil, true
		}
		return [][]uint16{{m}}, spend(1)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return [][]uint16{{anyDigit}}, spend(1)
	case syntax.OpCapture:
		return expandRegexp(re.Sub[0], budget)
	case syntax.OpAlternate:
		var out [][]uint16
		for _, sub := range re.Sub {
			s, ok := expandRegexp(sub, budget)
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	case syntax.OpConcat:
		acc := [][]uint16{{}}
		for _, sub := range re.Sub {
			s, ok := expandRegexp(sub, budget)
			if !ok {
				return nil, false
			}
			next := make([][]uint16, 0, len(acc)*len(s))
			for _, a := range acc {
				for _, b := range s {
					if len(a)+len(b) > 20 {
						continue // longer than any national number
					}
					next = append(next, append(append(make([]uint16, 0, len(a)+len(b)), a...), b...))
				}
			}
			if !spend(len(next)) {
				return nil, false
			}
			acc = next
		}
		return acc, true
	case syntax.OpQuest:
		s, ok := expandRegexp(re.Sub[0], budget)
		return append([][]uint16{{}}, s...), ok
	case syntax.OpRepeat:
		if re.Max < 0 || re.Max > 20 {
			return nil, false
		}
		var out [][]uint16
		for k := re.Min; k <= re.Max; k++ {
			subs := make([]*syntax.Regexp, k)
			for i := range subs {
				subs[i] = re.Sub[0]
			}
			s, ok := expandRegexp(&syntax.Regexp{Op: syntax.OpConcat, Sub: subs}, budget)
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	}
	return nil, false
}

// markPrefixes sets every prefix number the position sets allow.
func markPrefixes(dst []bool, sets []uint16, i, acc int) {
	if i == len(sets) {
		dst[acc] = true
		return
	}
	for d := range 10 {
		if sets[i]&(1<<d) != 0 {
			markPrefixes(dst, sets, i+1, acc*10+d)
		}
	}
}

// parse handles the shapes French numbers arrive in: digits separated by
// spaces, dots or dashes, as 0XXXXXXXXX, XXXXXXXXX (leading 0 lost),
// 33XXXXXXXXX, 330XXXXXXXXX, 0033XXXXXXXXX, 00330XXXXXXXXX, +33XXXXXXXXX or
// +330XXXXXXXXX. ok is false for any other shape, which libphonenumber then
// parses.
func (p *frenchPlan) parse(s string, leadingZero *bool) (Phone, phoneResult, bool) {
	if len(s) == 0 || len(s) > 32 {
		return Phone{}, 0, false
	}
	var d [16]byte
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return Phone{}, 0, false
			}
			d[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '.' || c == '-':
			if n == 0 {
				return Phone{}, 0, false
			}
		default:
			return Phone{}, 0, false
		}
	}
	if s[len(s)-1] < '0' || s[len(s)-1] > '9' {
		return Phone{}, 0, false
	}
	digits := d[:n]
	var nsn []byte
	switch {
	case plus:
		switch {
		case n == 11 && digits[0] == '3' && digits[1] == '3' && digits[2] != '0':
			nsn = digits[2:]
		case n == 12 && digits[0] == '3' && digits[1] == '3' && digits[2] == '0' && digits[3] != '0':
			nsn = digits[3:]
		}
	case n == 9 && digits[0] != '0':
		nsn = digits
		*leadingZero = true
	case n == 10 && digits[0] == '0' && digits[1] != '0':
		nsn = digits[1:]
	case n == 11 && digits[0] == '3' && digits[1] == '3' && digits[2] != '0':
		nsn = digits[2:]
	case n == 12 && digits[0] == '3' && digits[1] == '3' && digits[2] == '0' && digits[3] != '0':
		nsn = digits[3:]
	case n == 13 && string(digits[:4]) == "0033" && digits[4] != '0':
		nsn = digits[4:]
	case n == 14 && string(digits[:5]) == "00330" && digits[5] != '0':
		nsn = digits[5:]
	}
	if nsn == nil {
		*leadingZero = false
		return Phone{}, 0, false
	}
	x := 0
	for _, c := range nsn[:p.depth] {
		x = x*10 + int(c-'0')
	}
	if !p.valid[x] {
		return Phone{}, phoneNoSuchRange, true
	}
	var e [12]byte
	e[0], e[1], e[2] = '+', '3', '3'
	copy(e[3:], nsn)
	return Phone{E164: string(e[:]), Type: p.types[x]}, phoneOK, true
}
