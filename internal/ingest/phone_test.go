package ingest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestPhoneNormalisation(t *testing.T) {
	tests := []struct {
		in       string
		e164     string
		typ      PhoneType
		leading0 bool // the 9-digit form whose 0 a spreadsheet ate
	}{
		{"33612345678", "+33612345678", PhoneMobile, false},
		{"33 6 12 34 56 78", "+33612345678", PhoneMobile, false},
		{"+33 6 12 34 56 78", "+33612345678", PhoneMobile, false},
		{"+33612345678", "+33612345678", PhoneMobile, false},
		{"06.12.34.56.78", "+33612345678", PhoneMobile, false},
		{"06-12-34-56-78", "+33612345678", PhoneMobile, false},
		{"0612345678", "+33612345678", PhoneMobile, false},
		{"612345678", "+33612345678", PhoneMobile, true},
		{"0033612345678", "+33612345678", PhoneMobile, false},
		{"+33 (0)6 12 34 56 78", "+33612345678", PhoneMobile, false},
		{"+330612345678", "+33612345678", PhoneMobile, false},
		{"0145678901", "+33145678901", PhoneFixed, false},
		{"04 78 12 34 56", "+33478123456", PhoneFixed, false},
		{"0800 123 456", "+33800123456", PhoneTollFree, false},
		{"0810123456", "+33810123456", PhoneSharedCost, false},
		{"0892 68 01 23", "+33892680123", PhonePremiumRate, false},
		{"0970123456", "+33970123456", PhoneVoIP, false},
		{"0806123456", "+33806123456", PhoneUAN, false},
		{"0740123456", "+33740123456", PhoneMobile, false},
		{"+32 12 34 56 78", "+3212345678", PhoneFixed, false}, // Belgium, through the library
		{"+44 20 7946 0018", "+442079460018", PhoneFixed, false},
	}
	pp := newPhoneParser()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ph, res := pp.parse(tt.in, "FR")
			if res != phoneOK {
				t.Fatalf("parse(%q) = %s, want valid", tt.in, res.describe())
			}
			if ph.E164 != tt.e164 || ph.Type != tt.typ || pp.leadingZero != tt.leading0 {
				t.Errorf("parse(%q) = %s %s leading0=%v, want %s %s leading0=%v", tt.in, ph.E164, ph.Type, pp.leadingZero, tt.e164, tt.typ, tt.leading0)
			}
		})
	}
}

func TestPhoneInvalid(t *testing.T) {
	tests := []struct {
		in   string
		want phoneResult
	}{
		{"0612", phoneTooShort},
		{"06 12 34 56 78 90 12", phoneTooLong},
		{"inconnu", phoneNotANumber},
		{"0612345678x", phoneOK},         // libphonenumber reads a trailing x as an empty extension
		{"0401234567", phoneNoSuchRange}, // 040 is not allocated
		{"0212345678", phoneOK},
		{"0262123456", phoneNoSuchRange}, // +262 is Réunion, not 02 62
		{"0590123456", phoneNoSuchRange},
		{"0639123456", phoneNoSuchRange},
		{"0836041234", phoneNoSuchRange}, // 08360 4 is not allocated
		{"0870123456", phoneNoSuchRange},
		{"+999 12345678", phoneBadCountry},
	}
	pp := newPhoneParser()
	for _, tt := range tests {
		_, res := pp.parse(tt.in, "FR")
		if res != tt.want {
			t.Errorf("parse(%q) = %s, want %s", tt.in, res.describe(), tt.want.describe())
		}
	}
}

func TestFrenchPlanCompiles(t *testing.T) {
	p, ok := buildFrenchPlan()
	if !ok {
		t.Fatal("the FR metadata no longer compiles into the fast-path table: every French number now goes through libphonenumber (correct but slow); adapt buildFrenchPlan")
	}
	if p.depth < 1 || p.depth > 6 {
		t.Fatalf("depth %d", p.depth)
	}
}

// libType is what libphonenumber says of the French NSN nsn.
func libType(nsn string) (PhoneType, bool) {
	var v uint64
	fmt.Sscan(nsn, &v)
	cc := int32(33)
	n := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &v}
	return fromLibType(phonenumbers.GetNumberType(n)), phonenumbers.IsValidNumber(n)
}

// TestFrenchPlanMatchesLibraryEveryPrefix checks the type table against
// libphonenumber for every prefix the table distinguishes, each with an
// all-0, all-9 or random tail in turn, so that a pattern depending on a
// later digit would show.
func TestFrenchPlanMatchesLibraryEveryPrefix(t *testing.T) {
	t.Parallel()
	p := frenchPlanOnce()
	if p == nil {
		t.Fatal("no fast-path table")
	}
	r := rand.New(rand.NewPCG(1, 2))
	size := len(p.types)
	tailLen := frNSNLen - p.depth
	for x := size / 10; x < size; x++ {
		prefix := fmt.Sprintf("%0*d", p.depth, x)
		tails := []string{strings.Repeat("0", tailLen), strings.Repeat("9", tailLen), fmt.Sprintf("%0*d", tailLen, r.IntN(pow10(tailLen)))}
		nsn := prefix + tails[x%3]
		wantType, wantValid := libType(nsn)
		if p.types[x] != wantType || p.valid[x] != wantValid {
			t.Fatalf("NSN %s: table says %s valid=%v, libphonenumber %s valid=%v", nsn, p.types[x], p.valid[x], wantType, wantValid)
		}
	}
}

func pow10(n int) int {
	v := 1
	for range n {
		v *= 10
	}
	return v
}

// TestPhoneFastPathMatchesLibrary writes random French numbers (valid and
// not, from every leading digit) in every shape the fast path takes, and in
// neighbouring shapes it must leave to the library, and checks that the
// result is exactly libphonenumber's.
func TestPhoneFastPathMatchesLibrary(t *testing.T) {
	t.Parallel()
	p := frenchPlanOnce()
	if p == nil {
		t.Fatal("no fast-path table")
	}
	shapes := []struct {
		name string
		fast bool
		f    func(nsn string) string
	}{
		{"0N", true, func(n string) string { return "0" + n }},
		{"N", true, func(n string) string { return n }},
		{"33N", true, func(n string) string { return "33" + n }},
		{"330N", true, func(n string) string { return "330" + n }},
		{"0033N", true, func(n string) string { return "0033" + n }},
		{"00330N", true, func(n string) string { return "00330" + n }},
		{"+33N", true, func(n string) string { return "+33" + n }},
		{"+330N", true, func(n string) string { return "+330" + n }},
		{"0N spaced", true, func(n string) string { return "0" + n[:1] + " " + n[1:3] + " " + n[3:5] + " " + n[5:7] + " " + n[7:] }},
		{"0N dotted", true, func(n string) string { return "0" + n[:1] + "." + n[1:3] + "." + n[3:5] + "." + n[5:7] + "." + n[7:] }},
		{"0N dashed", true, func(n string) string { return "0" + n[:1] + "-" + n[1:3] + "-" + n[3:5] + "-" + n[5:7] + "-" + n[7:] }},
		{"+33 N spaced", true, func(n string) string {
			return "+33 " + n[:1] + " " + n[1:3] + " " + n[3:5] + " " + n[5:7] + " " + n[7:]
		}},
		{"33 N spaced", true, func(n string) string { return "33 " + n[:1] + " " + n[1:3] + " " + n[3:5] + " " + n[5:7] + " " + n[7:] }},
		{"+33 (0)N", false, func(n string) string { return "+33 (0)" + n }},
		{"0N slashed", false, func(n string) string { return "0" + n[:3] + "/" + n[3:] }},
		{"00 0N", false, func(n string) string { return "00" + n }},
		{"N minus one digit", false, func(n string) string { return "0" + n[:8] }},
		{"N plus one digit", false, func(n string) string { return "0" + n + "1" }},
		{"+ 33 N", false, func(n string) string { return "+ 33 " + n }},
		{"N.", false, func(n string) string { return "0" + n + "." }},
		{"tel:", false, func(n string) string { return "tel:+33" + n }},
	}
	r := rand.New(rand.NewPCG(3, 4))
	pp := newPhoneParser()
	fastTaken := map[string]int{}
	for i := range 3000 {
		// Every leading digit, and a share of numbers from unallocated
		// ranges, so invalid numbers are compared too.
		nsn := fmt.Sprintf("%d%08d", 1+i%9, r.IntN(100_000_000))
		shape := shapes[i%len(shapes)]
		in := shape.f(nsn)
		var lz bool
		fast, fres, ok := p.parse(in, &lz)
		lib, lres := pp.parseLib(in, "FR")
		if ok != shape.fast {
			t.Errorf("%s %q: fast path taken=%v, want %v", shape.name, in, ok, shape.fast)
		}
		if !ok {
			continue
		}
		fastTaken[shape.name]++
		if fres != lres || fast.E164 != lib.E164 || fast.Type != lib.Type || fast.Region() != lib.Region() {
			t.Fatalf("%s %q: fast path %s %s %s %s, libphonenumber %s %s %s %s", shape.name, in,
				fres.describe(), fast.E164, fast.Type, fast.Region(), lres.describe(), lib.E164, lib.Type, lib.Region())
		}
	}
	for _, s := range shapes {
		if s.fast && fastTaken[s.name] == 0 {
			t.Errorf("shape %s never took the fast path", s.name)
		}
	}
}

func TestPhoneRoutingForms(t *testing.T) {
	pp := newPhoneParser()
	ph, _ := pp.parse("0800123456", "FR")
	if ph.National() != "0800123456" || !ph.nationalHasPrefix("08") || ph.nationalHasPrefix("06") || ph.Region() != "FR" {
		t.Errorf("national %q region %q", ph.National(), ph.Region())
	}
	be, _ := pp.parse("+32 12 34 56 78", "FR")
	if be.National() != "012345678" || !be.nationalHasPrefix("01") || be.nationalHasPrefix("08") || be.Region() != "BE" {
		t.Errorf("BE national %q region %q", be.National(), be.Region())
	}
}

func TestPhoneShapeHidesDigits(t *testing.T) {
	if got := phoneShape("06 12 34 5X 78"); got != "99 99 99 9A 99" {
		t.Errorf("shape = %q", got)
	}
	if got := phoneShape("+33 6.12"); got != "+99 9.99" {
		t.Errorf("shape = %q", got)
	}
}

func BenchmarkPhoneFastPath(b *testing.B) {
	pp := newPhoneParser()
	for b.Loop() {
		pp.parse("33612345678", "FR")
	}
}

func BenchmarkPhoneLibrary(b *testing.B) {
	pp := newPhoneParser()
	for b.Loop() {
		pp.parseLib("33612345678", "FR")
	}
}
