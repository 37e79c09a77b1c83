package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"plateau/internal/auth"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	c, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.langs {
		for _, b := range c.langs {
			for key := range c.messages[a] {
				if _, ok := c.messages[b][key]; !ok {
					t.Errorf("key %q is in %s.json but not in %s.json", key, a, b)
				}
			}
		}
	}
	for _, lang := range c.langs {
		for key, msg := range c.messages[lang] {
			if strings.TrimSpace(msg) == "" {
				t.Errorf("%s.json: %q is empty", lang, key)
			}
			// The same verbs in the same order, or a translation would
			// print %!s(MISSING) or drop an argument.
			if got, want := verbs(msg), verbs(c.messages[defaultLang][key]); !slices.Equal(got, want) {
				t.Errorf("%s.json: %q has verbs %v, %s.json %v", lang, key, got, defaultLang, want)
			}
		}
	}
}

var verbRE = regexp.MustCompile(`%[a-z]`)

func verbs(msg string) []string { return verbRE.FindAllString(msg, -1) }

// TestEveryKeyInUseExists reads the templates and the Go sources for the
// keys they name, so a typo shows here rather than as "[key]" on a page.
func TestEveryKeyInUseExists(t *testing.T) {
	c, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{} // key -> where

	tkey := regexp.MustCompile(`\bt\s+"([^"]+)"`)
	err = fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, p)
		if err != nil {
			return err
		}
		for _, m := range tkey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in the templates: the pattern no longer matches how they call t", len(used))
	}

	// Go code passes keys as string literals ("login.error.invalid") and
	// confirmations as ?ok=NAME (the key notice.NAME).
	namespaces := map[string]bool{}
	for key := range c.messages[defaultLang] {
		namespaces[key[:strings.IndexByte(key, '.')]] = true
	}
	keyLike := regexp.MustCompile(`^[a-z]+(\.[a-z0-9_]+)+$`)
	okParam := regexp.MustCompile(`[?&]ok=([a-z_]+)`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			where := fset.Position(lit.Pos()).String()
			if keyLike.MatchString(s) && namespaces[s[:strings.IndexByte(s, '.')]] {
				used[s] = where
			}
			for _, m := range okParam.FindAllStringSubmatch(s, -1) {
				used["notice."+m[1]] = where
			}
			return true
		})
	}
	for _, r := range auth.AllRoles {
		used["role."+string(r)] = "the role template function"
	}
	// The ingestion codes' labels are looked up by the code template
	// function (TestIngestionCodesAreLabelled checks the codes).
	for key := range c.messages[defaultLang] {
		if strings.HasPrefix(key, "code.") {
			used[key] = "the code template function"
		}
	}

	for key, where := range used {
		if !c.has(key) {
			t.Errorf("%s uses %q, which the catalogue lacks", where, key)
		}
	}
	for key := range c.messages[defaultLang] {
		if _, ok := used[key]; !ok {
			t.Errorf("catalogue key %q is never used", key)
		}
	}
}
