package demo_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/demo"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := demo.Generate(500)
	require.NoError(t, err)
	b, err := demo.Generate(500)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestGenerateShape(t *testing.T) {
	org, err := demo.Generate(5000)
	require.NoError(t, err)
	require.Len(t, org.People, 5000)

	ids, accounts := map[string]bool{}, map[string]bool{}
	var hasDiacritic, hasApostrophe, hasComma, hasHyphen, hasNonLatin bool
	for _, p := range org.People {
		require.False(t, ids[p.ID], "unique id")
		ids[p.ID] = true
		require.False(t, accounts[strings.ToLower(p.AccountName)], "unique account %s", p.AccountName)
		accounts[strings.ToLower(p.AccountName)] = true
		require.Regexp(t, regexp.MustCompile(`^[a-z0-9]+$`), p.AccountName)
		if p.ManagerID != "" {
			require.True(t, ids[p.ManagerID], "managers come before their reports")
		}
		name := p.DisplayName + p.Title
		hasDiacritic = hasDiacritic || strings.ContainsAny(name, "ëéøłñ")
		hasApostrophe = hasApostrophe || strings.Contains(name, "'")
		hasComma = hasComma || strings.Contains(name, ",")
		hasHyphen = hasHyphen || strings.Contains(name, "-")
		for _, r := range name {
			hasNonLatin = hasNonLatin || unicode.In(r, unicode.Han, unicode.Cyrillic, unicode.Greek, unicode.Arabic, unicode.Hebrew)
		}
	}
	require.True(t, hasDiacritic && hasApostrophe && hasComma && hasHyphen && hasNonLatin)
	require.Len(t, org.Accounts, 4)
	require.Equal(t, "zoe", org.Accounts[0].AccountName)
	require.NotEmpty(t, org.Groups)
	require.NotEmpty(t, org.Members)

	_, err = demo.Generate(demo.MinPeople - 1)
	require.Error(t, err)
}

func TestASCIIFold(t *testing.T) {
	for in, want := range map[string]string{"Zoë": "zoe", "Łukasz": "lukasz", "Øster": "oster", "D'Angelo": "dangelo", "王": "", "Straße": "strasse"} {
		require.Equal(t, want, demo.ASCIIFold(in), in)
	}
}
