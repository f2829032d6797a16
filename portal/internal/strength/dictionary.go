package strength

import (
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
)

// dictionaryMatch finds the password's substrings that are words of the
// ranked dictionaries. The original looked every substring up in each
// dictionary's map in turn (seven maps of up to 30,000 words, a cache
// miss each); this looks it up once in one map of every built-in word
// (builtin), then in the person's own words, and stops lengthening a
// substring past the longest word. The matches are the same.
type dictionaryMatch struct {
	builtin *mergedDictionaries
	user    rankedDictionnary
	userMax int // the longest of user's words, in bytes
}

// dictRank is a word's rank in one dictionary.
type dictRank struct {
	dict string
	rank int
}

// mergedDictionaries are the built-in dictionaries in one map.
type mergedDictionaries struct {
	words  map[string][]dictRank
	maxLen int // the longest word, in bytes
}

func mergeDictionaries(dicts map[string][]string) *mergedDictionaries {
	m := &mergedDictionaries{words: map[string][]dictRank{}}
	for name, list := range dicts {
		for w, rank := range buildRankedDict(list) {
			m.words[w] = append(m.words[w], dictRank{dict: name, rank: rank})
			m.maxLen = max(m.maxLen, len(w))
		}
	}
	return m
}

func (dm dictionaryMatch) Matches(password string) []*match.Match {
	var results []*match.Match
	add := func(i, j int, word, dict string, rank int) {
		results = append(results, &match.Match{
			Pattern:        "dictionary",
			I:              i,
			J:              j,
			Token:          password[i : j+1],
			MatchedWord:    word,
			Rank:           rank,
			DictionaryName: dict,
		})
	}
	// Lower-casing an ASCII password keeps every byte where it was: its
	// substrings' lower case is the lower-cased password's substrings,
	// and a substring's length is its word's, so that a substring longer
	// than every word ends the search from its start.
	ascii := isASCII(password)
	lower := password
	if ascii {
		lower = strings.ToLower(password)
	}
	longest := max(dm.builtin.maxLen, dm.userMax)
	for i := range password {
		for delta := range password[i:] {
			j := i + delta
			var word string
			if ascii {
				if j+1-i > longest {
					break
				}
				word = lower[i : j+1]
			} else {
				word = strings.ToLower(password[i : j+1])
			}
			for _, r := range dm.builtin.words[word] {
				add(i, j, word, r.dict, r.rank)
			}
			if rank, ok := dm.user[word]; ok {
				add(i, j, word, "user_inputs", rank)
			}
		}
	}

	match.Sort(results)
	return results
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (dm dictionaryMatch) withUserInputs(userInputs []string) dictionaryMatch {
	dm.user = buildRankedDict(userInputs)
	dm.userMax = 0
	for w := range dm.user {
		dm.userMax = max(dm.userMax, len(w))
	}
	return dm
}

type rankedDictionnary map[string]int

func buildRankedDict(unrankedList []string) rankedDictionnary {
	result := make(rankedDictionnary)

	for i, v := range unrankedList {
		result[strings.ToLower(v)] = i + 1
	}

	return result
}
