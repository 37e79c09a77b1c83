package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/text/language"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

// defaultLang is French: Plateau is made for French call centres.
const defaultLang = "fr"

// catalogue holds every user-visible text, per language, keyed like
// "login.title". Texts with arguments use fmt verbs (%s, %d).
type catalogue struct {
	langs    []string // defaultLang first
	messages map[string]map[string]string
	matcher  language.Matcher
}

func loadCatalogue() (*catalogue, error) {
	c := &catalogue{langs: []string{"fr", "en"}, messages: map[string]map[string]string{}}
	tags := make([]language.Tag, 0, len(c.langs))
	for _, lang := range c.langs {
		m, err := loadLanguage(lang)
		if err != nil {
			return nil, err
		}
		c.messages[lang] = m
		tags = append(tags, language.MustParse(lang))
	}
	// The first tag is the fallback when nothing in Accept-Language matches.
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// loadLanguage merges the catalogue files of one language: "fr.json" and
// one file per area, "fr.<area>.json". A key defined twice is an error.
func loadLanguage(lang string) (map[string]string, error) {
	names, err := fs.Glob(catalogueFS, "i18n/"+lang+".*json")
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("load catalogue %s: no file", lang)
	}
	m := map[string]string{}
	for _, name := range names {
		b, err := catalogueFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("load catalogue %s: %w", name, err)
		}
		part := map[string]string{}
		if err := json.Unmarshal(b, &part); err != nil {
			return nil, fmt.Errorf("load catalogue %s: %w", name, err)
		}
		for k, v := range part {
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("load catalogue %s: key %q defined twice", name, k)
			}
			m[k] = v
		}
	}
	return m, nil
}

// match picks the language of an Accept-Language header.
func (c *catalogue) match(acceptLanguage string) string {
	if acceptLanguage == "" {
		return defaultLang
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return defaultLang
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return defaultLang
	}
	return c.langs[i]
}

func (c *catalogue) has(key string) bool {
	_, ok := c.messages[defaultLang][key]
	return ok
}

// text returns the message of key in lang, formatted with args. A missing
// key shows as itself between brackets rather than failing the page; a test
// makes sure none is missing.
func (c *catalogue) text(lang, key string, args ...any) string {
	msg, ok := c.messages[lang][key]
	if !ok {
		if msg, ok = c.messages[defaultLang][key]; !ok {
			return "[" + key + "]"
		}
	}
	if len(args) == 0 {
		return msg
	}
	return strings.TrimSpace(fmt.Sprintf(msg, args...))
}
