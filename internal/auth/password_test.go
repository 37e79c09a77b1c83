package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		context  []string
		want     error
	}{
		{"too short", "Abc-def-g11", nil, ErrPasswordTooShort},
		{"too long", strings.Repeat("Lune-", 25) + "soleil", nil, ErrPasswordTooLong},
		{"max length ok", strings.Repeat("Lune-7x", 18) + "Ba", nil, nil},
		// 11 accented letters are 22 bytes but 11 characters.
		{"unicode counts runes", "éàüöçñøåßæœ", nil, ErrPasswordTooShort},
		{"unicode ok", "éàüöçñøåßæœÿ", nil, nil},
		// Decomposed accents (e + U+0301) count once, after NFC.
		{"decomposed accents count once", strings.Repeat("e\u0301", 11), nil, ErrPasswordTooShort},
		{"common digits", "123456789012", nil, ErrPasswordCommon},
		{"common french", "MotDePasse123", nil, ErrPasswordCommon},
		{"common with suffix", "Azertyuiop2024!", nil, ErrPasswordCommon},
		{"common case-insensitive", "BONJOUR123456", nil, ErrPasswordCommon},
		{"repeated character", "zzzzzzzzzzzzzz", nil, ErrPasswordCommon},
		{"repeated block", "abcabcabcabcabc", nil, ErrPasswordCommon},
		{"letter sequence", "bcdefghijklmn", nil, ErrPasswordCommon},
		{"descending digits wrap", "3210987654321", nil, ErrPasswordCommon},
		{"keyboard row", "AZERTYUIOPQSDFG", nil, ErrPasswordCommon},
		{"keyboard row reversed", "dsqpoiuytreza", nil, ErrPasswordCommon},
		{"login inside", "Le-jdupont-du-7e", []string{"jdupont", "Jean Dupont"}, ErrPasswordContext},
		{"name word inside", "chez-DUPONT-en-mai", []string{"jd", "Jean Dupont"}, ErrPasswordContext},
		{"name word without accents", "helene-au-ski-2026", []string{"hm", "Hélène Martin"}, ErrPasswordContext},
		{"short name words are fine", "Lire des livres au lit", []string{"lw", "Li Wu"}, nil},
		{"short login is not matched", "Cheval blanc du roi", []string{"al", ""}, nil},
		{"product name", "Mon PLATEAU de fromages", nil, ErrPasswordContext},
		{"company word", "acmefrance-et-moi-77", []string{"x1", "", "AcmeFrance"}, ErrPasswordContext},
		{"passphrase ok", "correct horse battery staple", []string{"jdupont", "Jean Dupont"}, nil},
		{"twelve ok", "Vh7#qLz!2mPw", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidatePassword(tt.password, tt.context...); !errors.Is(got, tt.want) {
				t.Fatalf("ValidatePassword(%q) = %v, want %v", tt.password, got, tt.want)
			}
		})
	}
}

func TestCommonListIsLoaded(t *testing.T) {
	set := commonPasswords()
	if len(set) < 300 {
		t.Fatalf("common password list has %d entries, want a few hundred", len(set))
	}
	for _, p := range []string{"azertyuiop", "motdepasse", "123456789012", "soleil123456"} {
		if _, ok := set[p]; !ok {
			t.Errorf("%q missing from the common list", p)
		}
	}
}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=1,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashRoundTrip(t *testing.T) {
	p := argonParams{memory: 1024, time: 1, threads: 2}
	h1, err := hashPassword("Vh7#qLz!2mPw", p)
	if err != nil {
		t.Fatal(err)
	}
	if !phcPattern.MatchString(h1) {
		t.Fatalf("hash %q is not the expected PHC string", h1)
	}
	h2, _ := hashPassword("Vh7#qLz!2mPw", p)
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	ok, used, err := verifyPassword("Vh7#qLz!2mPw", h1)
	if err != nil || !ok || used != p {
		t.Fatalf("verify right password = %v, %+v, %v", ok, used, err)
	}
	if ok, _, _ := verifyPassword("Vh7#qLz!2mPx", h1); ok {
		t.Fatal("wrong password verified")
	}
	// Composed and decomposed forms of one password are the same password.
	hc, _ := hashPassword("café-crème-glacée", p)
	if ok, _, _ := verifyPassword("cafe\u0301-cre\u0300me-glace\u0301e", hc); !ok {
		t.Fatal("NFD form of the password did not verify")
	}
	// The default parameters are those of the issue.
	hd, _ := hashPassword("Vh7#qLz!2mPw", (&Service{}).params())
	if !strings.HasPrefix(hd, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("default hash %q", hd[:40])
	}
}

func TestParseHashRefusesMalformed(t *testing.T) {
	good, _ := hashPassword("Vh7#qLz!2mPw", argonParams{memory: 1024, time: 1, threads: 2})
	parts := strings.Split(good, "$")
	bad := []string{
		"",
		"plain",
		"$argon2i$v=19$m=1024,t=1,p=2$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=1024,t=1,p=2$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=1024,t=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=1,p=2$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=1024,t=1,p=2$!!$" + parts[5],
		"$argon2id$v=19$m=1024,t=1,p=2$" + parts[4] + "$",
	}
	for _, b := range bad {
		if _, _, _, err := parseHash(b); !errors.Is(err, errBadHash) {
			t.Errorf("parseHash(%q) = %v, want errBadHash", b, err)
		}
	}
}

func TestDelays(t *testing.T) {
	s := &Service{}
	want := []time.Duration{0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30}
	for failures, w := range want {
		if got := s.delay(failures); got != w*time.Second {
			t.Errorf("delay(%d) = %v, want %v", failures, got, w*time.Second)
		}
	}
	s.opt.DelayUnit = 100 * time.Millisecond
	if got := s.delay(7); got != 400*time.Millisecond {
		t.Errorf("delay(7) with a 100ms unit = %v", got)
	}
}

func TestNormaliseLogin(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", " j.dupont ": "j.dupont", "a_b-c.9": "a_b-c.9"} {
		if got, err := normaliseLogin(in); err != nil || got != want {
			t.Errorf("normaliseLogin(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"a", strings.Repeat("a", 65), "jean dupont", "élodie", "a@b", ""} {
		if _, err := normaliseLogin(in); !errors.Is(err, ErrInvalidLogin) {
			t.Errorf("normaliseLogin(%q) = %v, want ErrInvalidLogin", in, err)
		}
	}
}
