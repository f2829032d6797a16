package portal_test

import (
	"strings"
	"testing"

	"github.com/tessera-idm/tessera/portal"
)

func TestBannedScore(t *testing.T) {
	for _, tc := range []struct {
		password string
		names    []string
		extra    []string
		accept   bool
	}{
		// Entra's own example: contoso and blank are banned, 1 and 2 add 2.
		{"C0ntos0Blank12", nil, []string{"blank"}, false},
		{"P@ssw0rd", nil, nil, false},
		{"Passw0rd!Passw0rd!", nil, nil, false}, // repeated terms each count once
		{"Pa55word24!", nil, nil, false},
		{"Welcome1Welcome2", nil, nil, false},
		{"Summer25!", nil, nil, false},
		{"Passwird", nil, nil, false}, // one edit from "password"
		{"Brightwater99", []string{"Zoë Brightwater"}, nil, false},
		{"Brightwater1", []string{"Brightwater"}, nil, false},
		{"orchid lantern gravel tuba", nil, nil, true},
		{"Blank-fjord-quiver-7", nil, []string{"blank"}, true},
		{"correct horse battery staple", nil, nil, true},
	} {
		score, terms := portal.BannedScore(tc.password, tc.names, tc.extra)
		if got := score >= portal.BannedAcceptScore; got != tc.accept {
			t.Errorf("BannedScore(%q) = %d %q, accept %v; want %v", tc.password, score, terms, got, tc.accept)
		}
	}
}

func TestPasswordPolicyCheck(t *testing.T) {
	p := portal.DefaultPasswordPolicy()
	ad := portal.DirectoryRules{System: "Demo AD", MinLength: 7, Complexity: true, HistoryLength: 24}
	for _, tc := range []struct {
		password string
		dirs     []portal.DirectoryRules
		want     string // a phrase of the first problem; "" when accepted
	}{
		{"short", nil, "at least 15 characters (this has 5)"},
		{strings.Repeat("x", 300), nil, "at most 256"},
		{"password password password", nil, "too easy to guess"},
		{"orchid lantern gravel tuba", nil, ""},
		{"orchid lantern gravel tuba", []portal.DirectoryRules{ad}, "Demo AD needs characters of at least 3 kinds"},
		{"Orchid lantern gravel tuba", []portal.DirectoryRules{ad}, ""},
		// NIST: any characters; a Unicode letter is a kind of its own in AD.
		{"ørkidé lantern 木 gravel", []portal.DirectoryRules{ad}, ""},
	} {
		c := p.Check(tc.password, []string{"Zoë Brightwater", "zbrightwater"}, tc.dirs)
		if tc.want == "" {
			if !c.OK() {
				t.Errorf("Check(%q) refused: %q", tc.password, c.Problems)
			}
			continue
		}
		if c.OK() || !strings.Contains(c.Problems[0].String(), tc.want) {
			t.Errorf("Check(%q) = %q; want a problem with %q", tc.password, c.Problems, tc.want)
		}
	}
	if c := p.Check("orchid lantern gravel tuba", nil, nil).WithStrength("orchid lantern gravel tuba", nil); c.Strength < 3 || c.Hint.String() == "" {
		t.Errorf("strength of a four-word passphrase = %d %q; want 3 or more", c.Strength, c.Hint)
	}
	// Past its first 24 characters the estimate reads no further: a weak
	// start is weak however long the rest, and a long password costs no
	// more to check than a short one.
	if c := (portal.PasswordCheck{}).WithStrength("password1234password1234"+strings.Repeat("4@3$1!0+7|", 20), nil); c.Strength > 2 {
		t.Errorf("strength of a long password with a weak start = %d; want 2 or less", c.Strength)
	}
	for _, bad := range []portal.PasswordPolicy{{MinLength: 7, MaxLength: 64}, {MinLength: 65, MaxLength: 128},
		{MinLength: 15, MaxLength: 63}, {MinLength: 15, MaxLength: 64, BannedWords: []string{"abc"}}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
	if err := (portal.PasswordPolicy{MinLength: 8, MaxLength: 64, BannedWords: []string{"contoso"}}).Validate(); err != nil {
		t.Errorf("Validate of a good policy: %v", err)
	}
}
