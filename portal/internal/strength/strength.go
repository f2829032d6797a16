// Package strength is zxcvbn's password strength estimate
// (github.com/trustelem/zxcvbn v1.0.1, whose matching package this is,
// MIT licensed: LICENSE.txt; dictionary.go, omnimatch.go and date.go
// differ from it), with the dictionary matching made cheaper: the
// live hint of every password reset scores a password, and zxcvbn's
// dictionary lookups were most of a reset's CPU in Tessera (one lookup of
// every substring in each of seven dictionaries). Score gives what
// zxcvbn.PasswordStrength's Score gives (TestScoreAsZxcvbn); the scoring
// itself is zxcvbn's own package.
package strength

import (
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/scoring"
)

// Score is zxcvbn's score of password for a person of userInputs, 0
// (guessed at once) to 4.
func Score(password string, userInputs []string) int {
	if !utf8.ValidString(password) {
		return 0
	}
	seq := scoring.MostGuessableMatchSequence(password, omnimatch(password, userInputs), false)
	return guessesToScore(seq.Guesses)
}

// guessesToScore is zxcvbn's.
func guessesToScore(guesses float64) int {
	const delta = 5
	switch {
	case guesses < 1e3+delta:
		return 0
	case guesses < 1e6+delta:
		return 1
	case guesses < 1e8+delta:
		return 2
	case guesses < 1e10+delta:
		return 3
	}
	return 4
}
