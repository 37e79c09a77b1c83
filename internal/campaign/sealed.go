package campaign

import (
	"encoding/binary"
	"errors"
	"slices"
)

// The plaintext of a contact's sealed blob, in a compact binary form rather
// than JSON: it is written once per loaded contact (a million per file), so
// its size is most of a row's and its encoding most of a load's CPU.
//
//	version byte (1)
//	phone          string
//	field count    uvarint
//	  flags byte (bit 0: personal), name string, value string   (per field)
//	consent        byte 0 | byte 1, source string, text string
//
// where string is a uvarint length then the bytes.

const sealedVersion = 1

// personalData is the decrypted part of a contact.
type personalData struct {
	phone    string
	fields   map[string]string
	personal []string
	consent  *sealedConsent // nil: none recorded
}

type sealedConsent struct {
	source, text string
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodePersonal appends the binary form of p to b.
func encodePersonal(b []byte, p personalData) []byte {
	b = append(b, sealedVersion)
	b = appendString(b, p.phone)
	b = binary.AppendUvarint(b, uint64(len(p.fields)))
	for k, v := range p.fields {
		var flags byte
		if slices.Contains(p.personal, k) {
			flags = 1
		}
		b = append(b, flags)
		b = appendString(b, k)
		b = appendString(b, v)
	}
	if p.consent == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, p.consent.source)
	return appendString(b, p.consent.text)
}

var errSealedFormat = errors.New("malformed sealed contact")

type sealedReader struct {
	b   []byte
	err error
}

func (r *sealedReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errSealedFormat
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *sealedReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errSealedFormat
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sealedReader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errSealedFormat
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// decodePersonal reads what encodePersonal wrote.
func decodePersonal(b []byte) (personalData, error) {
	r := &sealedReader{b: b}
	if r.byte() != sealedVersion {
		return personalData{}, errSealedFormat
	}
	p := personalData{phone: r.string()}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return personalData{}, errSealedFormat
	}
	p.fields = make(map[string]string, n)
	for range n {
		flags := r.byte()
		k := r.string()
		p.fields[k] = r.string()
		if flags&1 != 0 {
			p.personal = append(p.personal, k)
		}
	}
	if r.byte() == 1 {
		p.consent = &sealedConsent{source: r.string(), text: r.string()}
	}
	if r.err != nil || len(r.b) != 0 {
		return personalData{}, errSealedFormat
	}
	slices.Sort(p.personal)
	return p, nil
}
