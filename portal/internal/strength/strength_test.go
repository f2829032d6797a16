package strength

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"github.com/trustelem/zxcvbn/scoring"
)

// passwords is a corpus of the kinds of password zxcvbn tells apart:
// dictionary words and common passwords in several cases, reversed and
// in l33t, passphrases with digits, names, keyboard walks, repeats,
// sequences, dates and years (in ASCII and other digits), and non-ASCII
// text.
func passwords() []string {
	r := rand.New(rand.NewPCG(1, 2))
	var words []string
	for _, name := range []string{"passwords", "english_wikipedia", "female_names", "surnames", "us_tv_and_film", "male_names"} {
		list := frequency.FrequencyLists[name]
		for range 60 {
			words = append(words, list[r.IntN(len(list))])
		}
	}
	leet := strings.NewReplacer("a", "4", "e", "3", "i", "1", "o", "0", "s", "$", "t", "7", "l", "|")
	out := []string{"", "a", "password", "P@ssw0rd!", "correcthorsebatterystaple", "qwertyuiop", "zxcvbn", "1q2w3e4r",
		"aaaaaaa", "abcabcabc", "abcdefg", "13579", "9876543", "19.07.1985", "1985-07-19", "20110101", "19851985",
		"Meadow copper 3 bell 7 v", "Orchid lantern 3 gravel tuba 1", "Plain-Loop-1-2-3-4-x", "Bench Three",
		"Grüße aus München 2024", "Ελληνικά κείμενα", "日本語のパスワード", "ÄÖÜäöüß€", "naïve café 7", "tr0ub4dor&3",
		"Jennifer1985", "smith!smith", "٢٠١١٠١٠١", "١٩.٠٧.١٩٨٥", "x٣4٥6/07/1985", "٠/07/01", "qq٠/07/01zz",
		"zoltraxa.quibblewick7", "Quibblewick!Zoltraxa", "zoltraxaquibblewickvande", "3zoltraxaquibblewickvande", "]'/.,mnbvcxz", "hunter2hunter2", "drowssap", "Summer2023!"}
	for i, w := range words {
		out = append(out, w, strings.ToUpper(w), leet.Replace(w), reverse(w))
		if i > 0 {
			out = append(out, fmt.Sprintf("%s %s %d", w, words[i-1], r.IntN(2100)), w+"_"+strings.ToUpper(words[i-1][:1])+words[i-1][1:]+"!")
		}
	}
	return out
}

// TestScoreAsZxcvbn: the same guesses, and so the same score, as zxcvbn's
// own for every password of the corpus, with and without a person's names:
// names in zxcvbn's dictionaries, and names in none of them (whose words
// only the person's own dictionary finds), one longer than the longest
// built-in word.
func TestScoreAsZxcvbn(t *testing.T) {
	names := []string{"Jennifer", "Smith", "Jennifer Smith", "jsmith", "jennifer.smith"}
	unknown := []string{"Zoltraxa", "Quibblewick", "Zoltraxa Quibblewick", "zoltraxaquibblewickvande"}
	if Score("zoltraxaquibblewickvande", unknown) == Score("zoltraxaquibblewickvande", nil) {
		t.Fatal("the names in no dictionary change no score: the corpus does not test the person's dictionary")
	}
	if Score("qq٠/07/01zz", nil) != zxcvbn.PasswordStrength("qq٠/07/01zz", nil).Score {
		t.Fatal("a date in Arabic-Indic digits scores differently")
	}
	n := 0
	for _, pw := range passwords() {
		if r := []rune(pw); len(r) > 24 {
			pw = string(r[:24]) // as the hint reads them
		}
		for _, in := range [][]string{nil, names, unknown} {
			want := zxcvbn.PasswordStrength(pw, in)
			got := Score(pw, in)
			guesses := scoring.MostGuessableMatchSequence(pw, omnimatch(pw, in), false).Guesses
			if got != want.Score || guesses != want.Guesses {
				t.Errorf("%q (names %v): score %d, guesses %g; zxcvbn: %d, %g", pw, in, got, guesses, want.Score, want.Guesses)
			}
			n++
		}
	}
	if n < 2000 {
		t.Fatalf("only %d passwords compared", n)
	}
}

func BenchmarkScore(b *testing.B) {
	names := []string{"Bench", "Three", "Bench Three", "bench3", "bench3"}
	b.Run("strength", func(b *testing.B) {
		for b.Loop() {
			Score("Meadow copper 3 bell 7 v", names)
		}
	})
	b.Run("zxcvbn", func(b *testing.B) {
		for b.Loop() {
			zxcvbn.PasswordStrength("Meadow copper 3 bell 7 v", names)
		}
	})
}
