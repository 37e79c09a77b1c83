package ingest

import (
	"encoding/binary"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// cp1252 maps each Windows-1252 byte to its rune; the five bytes Windows-1252
// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to utf8.RuneError so
// that they are reported, never guessed. Built once from x/text's table and
// read-only afterwards.
var cp1252 = func() (t [256]rune) {
	for i := range t {
		t[i] = charmap.Windows1252.DecodeByte(byte(i))
	}
	return t
}()

// utf8Seq is a rune's UTF-8 encoding.
type utf8Seq struct {
	b [3]byte
	n uint8
}

// cp1252UTF8 is cp1252 with each rune already in UTF-8, for decoding
// without per-byte encoding work.
var cp1252UTF8 = func() (t [256]utf8Seq) {
	for i, r := range cp1252 {
		n := utf8.EncodeRune(t[i].b[:], r)
		t[i].n = uint8(n)
	}
	return t
}()

// cp1252Encode returns the Windows-1252 byte of r, if it has one.
func cp1252Encode(r rune) (byte, bool) {
	switch {
	case r < 0x80 || (r >= 0xA0 && r <= 0xFF):
		return byte(r), true
	case r > 0xFFFF || r == utf8.RuneError:
		return 0, false
	}
	return charmap.Windows1252.EncodeRune(r)
}

// latin1Encode returns the ISO-8859-1 byte of r, if it has one.
func latin1Encode(r rune) (byte, bool) {
	if r >= 0 && r <= 0xFF {
		return byte(r), true
	}
	return 0, false
}

// encodable reports whether s can be written in encoding e.
func encodable(e Encoding, s string) bool {
	if isASCII(s) {
		return true
	}
	switch e {
	case EncodingWindows1252:
		for _, r := range s {
			if _, ok := cp1252Encode(r); !ok {
				return false
			}
		}
	case EncodingLatin1:
		for _, r := range s {
			if _, ok := latin1Encode(r); !ok {
				return false
			}
		}
	}
	return true
}

// firstUnencodable returns the first rune of s that e cannot hold.
func firstUnencodable(e Encoding, s string) (rune, bool) {
	for _, r := range s {
		var ok bool
		switch e {
		case EncodingWindows1252:
			_, ok = cp1252Encode(r)
		case EncodingLatin1:
			_, ok = latin1Encode(r)
		default:
			ok = true
		}
		if !ok {
			return r, true
		}
	}
	return 0, false
}

// appendEncoded appends b (UTF-8) in encoding e. Callers have checked that
// b is encodable; a rune that is not is written as '?' rather than
// corrupting the row.
func appendEncoded(dst []byte, e Encoding, b []byte) []byte {
	if e == EncodingUTF8 {
		return append(dst, b...)
	}
	for len(b) > 0 {
		i := asciiPrefix(b)
		dst = append(dst, b[:i]...)
		if i == len(b) {
			break
		}
		b = b[i:]
		var r rune
		var n int
		if (b[0] == 0xC2 || b[0] == 0xC3) && len(b) > 1 {
			// U+0080-U+00FF, most accented letters: decode inline.
			r, n = rune(b[0]&0x1F)<<6|rune(b[1]&0x3F), 2
		} else {
			r, n = utf8.DecodeRune(b)
		}
		b = b[n:]
		var c byte
		var ok bool
		if e == EncodingLatin1 {
			c, ok = latin1Encode(r)
		} else {
			c, ok = cp1252Encode(r)
		}
		if !ok {
			c = '?'
		}
		dst = append(dst, c)
	}
	return dst
}

// isASCII reports whether s holds only ASCII bytes; it reads eight bytes at
// a time because most fields are ASCII and this runs on every one.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if x&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isASCIIBytes is isASCII for a byte slice.
func isASCIIBytes(b []byte) bool {
	return asciiPrefix(b) == len(b)
}

// detectWindow is how many bytes, from the first non-ASCII byte, decide
// between UTF-8 and Windows-1252 in auto mode.
const detectWindow = 64 << 10

// looksUTF8 decides auto mode from the window that starts at the file's
// first non-ASCII byte. It counts the multi-byte sequences that are valid
// UTF-8 and the bytes that cannot be UTF-8 (a sequence cut by the end of the
// window, when more of the file follows, is neither): no invalid byte means
// UTF-8, no valid sequence means Windows-1252, and a mix goes to the
// majority. The lines of the minority are then reported by the per-record
// checks (invalid UTF-8, or UTF-8 read as Windows-1252), never guessed.
func looksUTF8(window []byte, cut bool) bool {
	valid, invalid := 0, 0
	for i := 0; i < len(window); {
		if window[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(window[i:])
		if r == utf8.RuneError && size <= 1 {
			if cut && !utf8.FullRune(window[i:]) {
				break
			}
			invalid++
			i++
			continue
		}
		valid++
		i += size
	}
	return valid > invalid
}

// looksDoubleEncoded reports whether b, read as Windows-1252 or Latin-1,
// starts with UTF-8 for U+0080-U+00FF (C2 or C3, then a continuation byte):
// "é" is C3 A9, shown as "Ã©". No French text has "Ã" or "Â" before such a
// character, so this is a line written in UTF-8 inside a single-byte file.
func looksDoubleEncoded(b []byte) bool {
	return len(b) > 1 && (b[0] == 0xC2 || b[0] == 0xC3) && b[1] >= 0x80 && b[1] <= 0xBF
}

// asciiPrefix returns how many bytes at the start of b are ASCII, reading
// eight at a time.
func asciiPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	return i
}
