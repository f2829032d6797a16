package i18n

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// EnglishIn returns the English texts of the catalogue that s holds where
// German has other words: a text that is meant to be German and holds one
// shows its reader English (a test's check that a page is German through).
// The parts of each key between its arguments are looked for, those of at
// least three words that German does not use as they are; shorter ones
// ("OK", "Passkey") read the same in both languages too often to tell.
func EnglishIn(s string) []string {
	var found []string
	for _, f := range englishFragments() {
		if strings.Contains(s, f) {
			found = append(found, f)
		}
	}
	return found
}

var (
	fragmentsOnce sync.Once
	fragments     []string
	verb          = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)
)

func englishFragments() []string {
	fragmentsOnce.Do(func() {
		seen := map[string]bool{}
		add := func(key, de string) {
			for _, f := range verb.Split(key, -1) {
				f = strings.TrimSpace(f)
				if strings.Count(f, " ") < 2 || seen[f] || strings.Contains(de, f) {
					continue
				}
				seen[f] = true
				fragments = append(fragments, f)
			}
		}
		for key, de := range german {
			add(key, de)
		}
		for key, p := range germanPluralForms {
			add(englishPluralForms[key].Other, p.Other)
			add(englishPluralForms[key].One, p.One)
		}
		sort.Strings(fragments)
	})
	return fragments
}
