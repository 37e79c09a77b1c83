package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Password length bounds, in characters (runes after NFC normalisation).
const (
	minPasswordRunes = 12
	maxPasswordRunes = 128
	// maxPasswordBytes bounds what Login hashes: no valid password is longer
	// (128 runes of at most 4 bytes), and argon2 reads its whole input.
	maxPasswordBytes = maxPasswordRunes * utf8.UTFMax
)

// Default argon2id parameters (OWASP's "m=64 MiB, t=3, p=2" tier).
const (
	defaultArgon2Memory  = 64 * 1024 // KiB
	defaultArgon2Time    = 3
	defaultArgon2Threads = 2
	argon2SaltLen        = 16
	argon2KeyLen         = 32
)

// productWord is always refused inside a password.
const productWord = "plateau"

//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the folded common-password list, parsed once and then
// only read.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 1024)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[fold(line)] = struct{}{}
	}
	return set
})

// ValidatePassword checks the password policy; context words (login, name)
// are refused inside the password. Each context string is refused whole (when
// at least 3 characters long) and each of its words of 4 letters or more;
// "plateau" is always refused. Comparisons ignore case and accents. It
// returns ErrPasswordTooShort, ErrPasswordTooLong, ErrPasswordContext or
// ErrPasswordCommon.
func ValidatePassword(password string, context ...string) error {
	password = norm.NFC.String(password)
	n := utf8.RuneCountInString(password)
	if n < minPasswordRunes {
		return ErrPasswordTooShort
	}
	if n > maxPasswordRunes {
		return ErrPasswordTooLong
	}
	f := fold(password)
	for _, w := range contextWords(append([]string{productWord}, context...)) {
		if strings.Contains(f, w) {
			return ErrPasswordContext
		}
	}
	if isCommon(f) {
		return ErrPasswordCommon
	}
	return nil
}

// contextWords turns context strings into the folded words to refuse.
func contextWords(context []string) []string {
	var out []string
	for _, c := range context {
		c = fold(strings.TrimSpace(c))
		// A whole string of 1-2 characters (a short login) would refuse
		// half the passwords in the world without protecting anything.
		if utf8.RuneCountInString(c) >= 3 {
			out = append(out, c)
		}
		for _, w := range strings.FieldsFunc(c, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if utf8.RuneCountInString(w) >= 4 && w != c {
				out = append(out, w)
			}
		}
	}
	return out
}

// isCommon reports whether the folded password is on the list (alone or
// wrapped in digits and punctuation), a single repeated character, a short
// block repeated, or a simple sequence (abcd..., 9876..., keyboard rows).
func isCommon(f string) bool {
	set := commonPasswords()
	if _, ok := set[f]; ok {
		return true
	}
	core := strings.TrimFunc(f, func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	if utf8.RuneCountInString(core) >= 4 {
		if _, ok := set[core]; ok {
			return true
		}
	}
	r := []rune(f)
	return repeatsBlock(r, 4) || isSequence(r) || onKeyboardRow(f)
}

// repeatsBlock reports whether r is a block of at most maxBlock runes
// repeated ("aaaa...", "abab...", "azeaze...").
func repeatsBlock(r []rune, maxBlock int) bool {
	for size := 1; size <= maxBlock && size < len(r); size++ {
		same := true
		for i := size; i < len(r); i++ {
			if r[i] != r[i-size] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// isSequence reports whether every rune follows the previous one by +1 (or
// every one by -1); digits wrap around (…8901…).
func isSequence(r []rune) bool {
	if len(r) < 3 {
		return false
	}
	step := func(a, b rune) int {
		if unicode.IsDigit(a) && unicode.IsDigit(b) {
			d := (int(b-'0') - int(a-'0') + 10) % 10
			switch d {
			case 1:
				return 1
			case 9:
				return -1
			}
			return 0
		}
		switch b - a {
		case 1:
			return 1
		case -1:
			return -1
		}
		return 0
	}
	dir := step(r[0], r[1])
	if dir == 0 {
		return false
	}
	for i := 2; i < len(r); i++ {
		if step(r[i-1], r[i]) != dir {
			return false
		}
	}
	return true
}

// keyboardRows are the letter rows of AZERTY and QWERTY keyboards read in
// order, so that "azertyuiopqsdf" or "poiuytreza" count as sequences.
var keyboardRows = [...]string{
	"azertyuiopqsdfghjklmwxcvbn",
	"qwertyuiopasdfghjklzxcvbnm",
	"qwertzuiopasdfghjklyxcvbnm",
}

func onKeyboardRow(f string) bool {
	rev := []rune(f)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	r := string(rev)
	for _, row := range keyboardRows {
		if strings.Contains(row, f) || strings.Contains(row, r) {
			return true
		}
	}
	return false
}

// fold lowercases s and strips its accents, so "Hélène" matches "helene".
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// argonParams are the cost parameters of one hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// hashPassword returns the PHC string of password with params p.
func hashPassword(password string, p argonParams) (string, error) {
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(norm.NFC.String(password)), salt, p.time, p.memory, p.threads, argon2KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// errBadHash means a stored hash is not a PHC string this package can check.
var errBadHash = errors.New("stored password hash is malformed")

// parseHash splits a PHC argon2id string.
func parseHash(phc string) (p argonParams, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	var m, t, th uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			th = n
		default:
			return p, nil, nil, errBadHash
		}
	}
	// Bounds keep a corrupted row from making one login allocate gigabytes
	// or loop for minutes.
	if th < 1 || th > 64 || t < 1 || t > 64 || m < 8*th || m > 4*1024*1024 {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return argonParams{memory: uint32(m), time: uint32(t), threads: uint8(th)}, salt, key, nil
}

// verifyPassword reports whether password matches the PHC string, comparing
// in constant time.
func verifyPassword(password, phc string) (bool, argonParams, error) {
	p, salt, key, err := parseHash(phc)
	if err != nil {
		return false, p, err
	}
	got := argon2.IDKey([]byte(norm.NFC.String(password)), salt, p.time, p.memory, p.threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, p, nil
}

// burnHash spends the time of one verification with the current parameters,
// so that an unknown login answers as slowly as a known one.
func burnHash(password string, p argonParams) {
	var salt [argon2SaltLen]byte
	_ = argon2.IDKey([]byte(password), salt[:], p.time, p.memory, p.threads, argon2KeyLen)
}
