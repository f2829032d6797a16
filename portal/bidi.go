package portal

import (
	"strings"

	"golang.org/x/text/unicode/bidi"
)

// Unicode's first-strong isolate and its end: the plain-text twin of
// HTML's <bdi>.
const (
	isolateStart = "\u2068"
	isolateEnd   = "\u2069"
)

// Isolate wraps text a person wrote (a name, a reason) for a sentence that
// Tessera writes around it, so that right-to-left letters or bidi controls
// in it cannot reorder the words around it: "Change ‮gnalegnA's profile"
// must not read as someone else's profile. Text without any is returned as
// it is, since isolating it would change nothing. A pop-directional-isolate
// in s that closes no isolate of s's own is dropped: it would close this
// one, and let what follows it out.
func Isolate(s string) string {
	if !NeedsIsolation(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(isolateStart)
	depth := 0
	for _, r := range s {
		switch r {
		case '\u2066', '\u2067', '\u2068': // LRI, RLI, FSI
			depth++
		case '\u2069': // PDI
			if depth == 0 {
				continue
			}
			depth--
		}
		b.WriteRune(r)
	}
	b.WriteString(isolateEnd)
	return b.String()
}

// NeedsIsolation reports whether s holds right-to-left letters or digits,
// or explicit bidi formatting characters.
func NeedsIsolation(s string) bool {
	for i := 0; i < len(s); {
		p, n := bidi.LookupString(s[i:])
		if n == 0 {
			n = 1
		}
		switch p.Class() {
		case bidi.R, bidi.AL, bidi.AN, bidi.LRE, bidi.RLE, bidi.LRO, bidi.RLO, bidi.PDF, bidi.LRI, bidi.RLI, bidi.FSI, bidi.PDI:
			return true
		}
		i += n
	}
	return false
}

// StripIsolates removes what Isolate added, for comparing text.
func StripIsolates(s string) string {
	return strings.NewReplacer(isolateStart, "", isolateEnd, "").Replace(s)
}
