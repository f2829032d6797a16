package portal

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"

	"github.com/tessera-idm/tessera/portal/internal/strength"
)

// Password length bounds. NIST SP 800-63B asks for at least 15 characters
// for a password used alone, allows an administrator no lower than 8 (a
// password inside multi-factor sign-in) and a maximum of at least 64.
const (
	DefaultPasswordMin = 15
	PasswordMinFloor   = 8
	PasswordMinCeiling = 64
	DefaultPasswordMax = 256
	PasswordMaxFloor   = 64
	// BannedAcceptScore is the score at which Entra's banned-password
	// check accepts a password: each banned term found counts 1, each
	// other character 1.
	BannedAcceptScore = 5
	// MaxBannedWords bounds the administrator's own list, as Entra's
	// custom list (1,000 terms of 4 to 16 characters).
	MaxBannedWords = 1000
)

// PasswordPolicy is Tessera's own rule for new passwords. It has no
// composition rules (NIST forbids them); the directory's own rules are
// read from it and checked besides (DirectoryRules).
type PasswordPolicy struct {
	MinLength int
	MaxLength int
	// BannedWords is the administrator's list, besides the built-in one.
	BannedWords []string
}

// DefaultPasswordPolicy is the policy before an administrator changes it.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: DefaultPasswordMin, MaxLength: DefaultPasswordMax}
}

// Validate refuses a policy outside NIST's bounds or an unusable list.
func (p PasswordPolicy) Validate() error {
	if p.MinLength < PasswordMinFloor || p.MinLength > PasswordMinCeiling {
		return Errorf(EINVALID, "The minimum length must be between %d and %d characters.", PasswordMinFloor, PasswordMinCeiling)
	}
	if p.MaxLength < PasswordMaxFloor || p.MaxLength > 1024 || p.MaxLength < p.MinLength {
		return Errorf(EINVALID, "The maximum length must be between %d and 1024 characters, and no less than the minimum.", PasswordMaxFloor)
	}
	if len(p.BannedWords) > MaxBannedWords {
		return Errorf(EINVALID, "The banned list holds %d words; at most %d are allowed.", len(p.BannedWords), MaxBannedWords)
	}
	for _, w := range p.BannedWords {
		if n := utf8.RuneCountInString(w); n < 4 || n > 16 {
			return Errorf(EINVALID, "Banned word %s has %d characters; each must have 4 to 16.", Isolate(w), n)
		}
	}
	return nil
}

// DirectoryRules are a connected system's own password rules for one
// account, read from it before a password is sent (AD: the domain's
// minPwdLength, pwdProperties, pwdHistoryLength, or the account's resultant
// password settings object).
type DirectoryRules struct {
	System        string // the connected system's name
	MinLength     int    // counted in UTF-16 units, as AD counts
	Complexity    bool   // 3 of 5 character kinds
	HistoryLength int
	MinAge        time.Duration
	MaxAge        time.Duration // 0: never expires
	// PSO names the password settings object that applies, "" for the
	// domain's policy.
	PSO string
	// From says where the rules come from when they are neither a
	// domain's policy nor a PSO (Entra ID's cloud password policy).
	From string
	// MaxLength is the longest password the system takes; 0: no limit
	// that matters.
	MaxLength int
	// ASCIIOnly: the system refuses letters outside a–z and A–Z, as
	// Entra ID's cloud policy does.
	ASCIIOnly bool
}

// Explain lists the rules in plain words, for the password form.
func (d DirectoryRules) Explain() []Text {
	from := Textf("the domain policy")
	if d.PSO != "" {
		from = Textf("password settings %s", Isolate(d.PSO))
	} else if d.From != "" {
		from = Textf(d.From)
	}
	var out []Text
	if d.MinLength > 0 {
		out = append(out, Textf("%s asks for at least %d characters (%s).", d.System, d.MinLength, from))
	}
	if d.ASCIIOnly {
		out = append(out, Textf("%s takes only letters without accents (a–z, A–Z), digits and symbols.", d.System))
	}
	if d.Complexity {
		out = append(out, Textf("%s asks for characters of at least 3 kinds: capital letters, small letters, digits, symbols, other letters.", d.System))
	}
	if d.HistoryLength > 0 {
		out = append(out, Textf("%s remembers your last %d passwords: when you change your password, it must differ from them.", d.System, d.HistoryLength))
	}
	if d.MinAge > 0 {
		out = append(out, Textf("%s lets you change your own password once every %s.", d.System, humanDuration(d.MinAge)))
	}
	return out
}

func humanDuration(d time.Duration) Text {
	switch {
	case d >= 48*time.Hour:
		return Textf("%d days", int(d.Hours()/24))
	case d >= 24*time.Hour:
		return Textf("day")
	case d >= 2*time.Hour:
		return Textf("%d hours", int(d.Hours()))
	default:
		return Textf("%d minutes", int(d.Minutes()))
	}
}

// PasswordCheck is what the policy says of a candidate password.
type PasswordCheck struct {
	// Problems says, in plain words, why the password would be refused;
	// empty when it is acceptable.
	Problems []Text
	// Strength is zxcvbn's score, 0 (guessed at once) to 4, and Hint
	// says it in words (WithStrength); they advise and never refuse.
	Strength int
	Hint     Text
}

// OK reports whether the password may be set.
func (c PasswordCheck) OK() bool { return len(c.Problems) == 0 }

// Err returns the problems as one EINVALID error, or nil.
func (c PasswordCheck) Err() error {
	if c.OK() {
		return nil
	}
	return Errorf(EINVALID, "%s", JoinTexts(c.Problems, " "))
}

// Check applies the policy and the directories' rules to password, for a
// person with the given names (given name, surname, account name...),
// whose parts may not be the password's substance.
func (p PasswordPolicy) Check(password string, names []string, dirs []DirectoryRules) PasswordCheck {
	var c PasswordCheck
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password) || strings.ContainsFunc(password, unicode.IsControl):
		c.Problems = append(c.Problems, Textf("The password holds characters that cannot be typed."))
	case n < p.MinLength:
		c.Problems = append(c.Problems, Textf("Use at least %d characters (this has %d). A few unrelated words make a long password easy to remember.", p.MinLength, n))
	case n > p.MaxLength:
		c.Problems = append(c.Problems, Textf("Use at most %d characters (this has %d).", p.MaxLength, n))
	}
	if len(c.Problems) == 0 {
		if score, terms := BannedScore(password, names, p.BannedWords); score < BannedAcceptScore {
			if len(terms) > 0 {
				c.Problems = append(c.Problems, Textf("The password is built on %s, which are too easy to guess: add more of your own, unrelated words.", quoteList(terms)))
			} else {
				c.Problems = append(c.Problems, Textf("The password is too easy to guess: add more of your own, unrelated words."))
			}
		}
	}
	units := len(utf16.Encode([]rune(password)))
	for _, d := range dirs {
		if d.MinLength > 0 && units < d.MinLength {
			c.Problems = append(c.Problems, Textf("%s needs at least %d characters.", d.System, d.MinLength))
		}
		if d.MaxLength > 0 && units > d.MaxLength {
			c.Problems = append(c.Problems, Textf("%s takes at most %d characters.", d.System, d.MaxLength))
		}
		if d.ASCIIOnly && strings.ContainsFunc(password, func(r rune) bool { return r > '~' }) {
			c.Problems = append(c.Problems, Textf("%s takes only letters without accents (a–z, A–Z), digits and symbols (such as ! or a space).", d.System))
		}
		if d.Complexity && CharacterKinds(password) < 3 {
			c.Problems = append(c.Problems, Textf("%s needs characters of at least 3 kinds: capital letters, small letters, digits, symbols (such as ! or a space), other letters.", d.System))
		}
	}
	return c
}

// strengthRunes is how much of a password zxcvbn reads: its work grows
// steeply with length (a third of a millisecond for 20 characters, 16 for
// a 34-character passphrase, seconds for 256), and the live hint runs
// whenever someone pauses typing. A longer password takes hardly fewer
// guesses than its start, so reading the start only errs on the side of
// caution, and a check costs a few milliseconds whatever is typed.
const strengthRunes = 24

// WithStrength adds zxcvbn's estimate to c (strength.Score, zxcvbn's with
// cheaper dictionary lookups), for the live hint: it advises and never
// refuses, so a submitted password does not pay for it.
func (c PasswordCheck) WithStrength(password string, names []string) PasswordCheck {
	c.Strength = 0
	if utf8.ValidString(password) {
		if r := []rune(password); len(r) > strengthRunes {
			password = string(r[:strengthRunes])
		}
		c.Strength = strength.Score(password, names)
	}
	c.Hint = [...]Text{Textf("Very weak: guessed at once."), Textf("Weak: guessed quickly."), Textf("Fair."), Textf("Strong."), Textf("Very strong.")}[c.Strength]
	return c
}

func quoteList(terms []string) Text {
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = "“" + Isolate(t) + "”"
	}
	if len(q) == 1 {
		return Textf("the common word %s", q[0])
	}
	return Textf("the common words %s and %s", strings.Join(q[:len(q)-1], ", "), q[len(q)-1])
}

// CharacterKinds counts the kinds of character AD's complexity rule knows:
// capitals, small letters, digits, symbols, and letters of neither case.
func CharacterKinds(password string) int {
	var upper, lower, digit, symbol, other bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		case unicode.IsLetter(r):
			other = true
		default:
			symbol = true
		}
	}
	n := 0
	for _, b := range []bool{upper, lower, digit, symbol, other} {
		if b {
			n++
		}
	}
	return n
}

// substitutions undo the common character swaps before matching, as
// Entra's normalisation does (0→o, 1→l, $→s, @→a, ...).
var substitutions = strings.NewReplacer("0", "o", "1", "l", "!", "i", "|", "l", "$", "s", "5", "s", "@", "a",
	"4", "a", "3", "e", "7", "t", "+", "t", "8", "b", "€", "e")

// normalizeBanned lower-cases s and undoes substitutions.
func normalizeBanned(s string) string {
	return substitutions.Replace(strings.ToLower(s))
}

//go:embed passwords_banned.txt
var bannedText string

// bannedTerm is a term of the banned list, prepared once: its runes,
// whether it may match within one edit at another length, and its two
// halves, one of which every match holds exactly (one edit spoils at most
// one half), so that the terms a password cannot hold are skipped at the
// cost of two substring searches.
type bannedTerm struct {
	text   string
	runes  []rune
	fuzzy  bool
	halves [2]string
}

func newBannedTerm(text string, fuzzy bool) bannedTerm {
	r := []rune(text)
	return bannedTerm{text: text, runes: r, fuzzy: fuzzy, halves: [2]string{string(r[:len(r)/2]), string(r[len(r)/2:])}}
}

// mayMatch reports whether the normalised password pw could hold t within
// one edit.
func (t bannedTerm) mayMatch(pw string) bool {
	return strings.Contains(pw, t.halves[0]) || strings.Contains(pw, t.halves[1])
}

// builtinTerms are builtinBanned prepared for BannedScore: checking a
// password is on the path of every reset, and the list is 2,000 terms.
var builtinTerms = sync.OnceValue(func() []bannedTerm {
	words := builtinBanned()
	out := make([]bannedTerm, len(words))
	for i, w := range words {
		out[i] = newBannedTerm(w, utf8.RuneCountInString(w) >= 5)
	}
	return out
})

var builtinBanned = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		n := normalizeBanned(strings.TrimSpace(w))
		if utf8.RuneCountInString(n) >= 4 && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, line := range strings.Split(bannedText, "\n") {
		if !strings.HasPrefix(line, "#") {
			add(line)
		}
	}
	// The most used passwords, from zxcvbn's own frequency list.
	for _, w := range frequency.FrequencyLists["passwords"][:2000] {
		add(w)
	}
	// Longer terms first: "password" should count once, not as "pass"
	// and "word".
	slices.SortStableFunc(out, func(a, b string) int { return utf8.RuneCountInString(b) - utf8.RuneCountInString(a) })
	return out
})

// BannedScore scores password as Entra's banned-password check does:
// normalised, each banned term found (a built-in common password, one of
// extra, or a name part of 4 characters or more; exactly, or within one
// edit for terms of 5 or more) counts 1, each other character 1. It
// returns the score and the terms found.
func BannedScore(password string, names, extra []string) (int, []string) {
	normal := normalizeBanned(password)
	pw := []rune(normal)
	covered := make([]bool, len(pw))
	var found []string
	match := func(term bannedTerm) {
		if !term.mayMatch(normal) {
			return
		}
		t, fuzzy := term.runes, term.fuzzy
		for i := 0; i < len(pw); i++ {
			for _, l := range []int{len(t), len(t) + 1, len(t) - 1} {
				if l < 4 || (!fuzzy && l != len(t)) || i+l > len(pw) || slices.Contains(covered[i:i+l], true) {
					continue
				}
				if withinOneEdit(pw[i:i+l], t) {
					for k := i; k < i+l; k++ {
						covered[k] = true
					}
					if !slices.Contains(found, term.text) {
						found = append(found, term.text)
					}
					// Each occurrence counts, as a repeated word adds
					// nothing to guess.
					found = append(found, "")
					i += l - 1
					break
				}
			}
		}
	}
	var personal []string
	for _, n := range names {
		for _, part := range strings.FieldsFunc(n, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if p := normalizeBanned(part); utf8.RuneCountInString(p) >= 4 {
				personal = append(personal, p)
			}
		}
	}
	slices.SortFunc(personal, func(a, b string) int { return utf8.RuneCountInString(b) - utf8.RuneCountInString(a) })
	for _, p := range personal {
		match(newBannedTerm(p, false))
	}
	for _, w := range extra {
		match(newBannedTerm(normalizeBanned(w), true))
	}
	for _, t := range builtinTerms() {
		match(t)
	}
	score := 0
	var terms []string
	for _, f := range found {
		if f == "" {
			score++
		} else {
			terms = append(terms, f)
		}
	}
	for _, c := range covered {
		if !c {
			score++
		}
	}
	return score, terms
}

// withinOneEdit reports whether a and b differ by at most one insertion,
// deletion or substitution.
func withinOneEdit(a, b []rune) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(a)-len(b) > 1 {
		return false
	}
	i := 0
	for i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(b) {
		return true
	}
	if len(a) == len(b) {
		return slices.Equal(a[i+1:], b[i+1:])
	}
	return slices.Equal(a[i+1:], b[i:])
}
