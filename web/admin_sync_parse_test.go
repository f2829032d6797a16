package web

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/syncsvc"
)

func TestParseSyncRuleLines(t *testing.T) {
	joins, lines, err := parseJoinRules("employeeID = employeeId\r\n\n# by account name next\n  sAMAccountName=accountName  \n")
	require.NoError(t, err)
	require.Equal(t, []syncsvc.JoinRule{{CS: "employeeID", MV: "employeeId"}, {CS: "sAMAccountName", MV: "accountName"}}, joins)
	require.Equal(t, []int{1, 4}, lines)

	in, lines, err := parseInbound("phone <- 100: cs.telephoneNumber\n\noffice <- 5 : cs.a == \"x\" ? \"y\" : cs.b")
	require.NoError(t, err)
	require.Equal(t, []syncsvc.InboundFlow{{MV: "phone", Expr: "cs.telephoneNumber", Precedence: 100},
		{MV: "office", Expr: `cs.a == "x" ? "y" : cs.b`, Precedence: 5}}, in)
	require.Equal(t, []int{1, 3}, lines)

	out, lines, err := parseOutbound("initial sAMAccountName = person.accountName\ninitials = person.givenName.substring(0, 1)\n" +
		"Initial mail = person.email\ntitle = person.title == \"\" ? \"-\" : person.title")
	require.NoError(t, err)
	require.Equal(t, []syncsvc.OutboundFlow{
		{CS: "sAMAccountName", Expr: "person.accountName", InitialOnly: true},
		{CS: "initials", Expr: "person.givenName.substring(0, 1)"},
		{CS: "mail", Expr: "person.email", InitialOnly: true},
		{CS: "title", Expr: `person.title == "" ? "-" : person.title`},
	}, out)
	require.Equal(t, []int{1, 2, 3, 4}, lines)

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"join without =", second(parseJoinRules("employeeID = employeeId\nsAMAccountName accountName")),
			"Join rules, line 2: write “csAttribute = mvAttribute”"},
		{"join with nothing on one side", second(parseJoinRules("\n\nemployeeID =")), "Join rules, line 3:"},
		{"inbound without <-", second(parseInbound("phone = cs.telephoneNumber")), "Inbound flows, line 1: write"},
		{"inbound without precedence", second(parseInbound("phone <- cs.telephoneNumber")), "Inbound flows, line 1: write"},
		{"inbound with a word for precedence", second(parseInbound("phone <- high: cs.x")), "Inbound flows, line 1: the precedence must be a whole number from 0 up (the lowest wins), not “high”."},
		{"inbound with a negative precedence", second(parseInbound("\nphone <- -1: cs.x")), "Inbound flows, line 2: the precedence must be a whole number from 0 up"},
		{"inbound without an expression", second(parseInbound("phone <- 1:")), "Inbound flows, line 1: write"},
		{"outbound without =", second(parseOutbound("sn = person.surname\n\nmail person.email")), "Outbound flows, line 3: write"},
		{"outbound with two words", second(parseOutbound("first mail = person.email")), "Outbound flows, line 1:"},
		{"outbound without an expression", second(parseOutbound("mail =")), "Outbound flows, line 1:"},
	} {
		require.Equal(t, portal.EINVALID, portal.ErrorCode(tc.err), tc.name)
		require.Contains(t, portal.ErrorMessage(tc.err), tc.want, tc.name)
	}
}

// second returns the error of a parse.
func second[T any](_ T, _ []int, err error) error { return err }

func TestRuleLinesLocate(t *testing.T) {
	l := ruleLines{joins: []int{2}, inbound: []int{1, 4}, outbound: []int{1, 3, 7}}
	// The engine names the item as its first argument (syncsvc/rules.go).
	for _, tc := range []struct {
		err  *portal.Error
		want string
	}{
		{portal.Errorf(portal.EINVALID, "%s must give %s, not %s.", portal.Textf("Outbound flow %d (%s)", 3, "sn"), "text", "true or false"),
			"Outbound flows, line 7 (sn) must give text, not true or false."},
		{portal.Errorf(portal.EINVALID, "%s: %s", portal.Textf("Inbound flow %d (%s)", 2, "phone"), "no such key"),
			"Inbound flows, line 4 (phone): no such key"},
		{portal.Errorf(portal.EINVALID, "%s: %q is not an attribute name.", portal.Textf("Join rule %d", 1), "x y"),
			`Join rules, line 2: "x y" is not an attribute name.`},
		{portal.Errorf(portal.EINVALID, "%s: %s", portal.Textf("Outbound flow %d (%s)", 9, "sn"), "out of range"),
			"Outbound flow 9 (sn): out of range"},
		{portal.Errorf(portal.EINVALID, "Scope: %s", "unknown attribute"), "Scope: unknown attribute"},
	} {
		require.Equal(t, tc.want, portal.ErrorMessage(l.locate(tc.err)), tc.want)
	}
	// The sentence stays one the catalogue translates, its place too.
	join := l.locate(portal.Errorf(portal.EINVALID, "%s: %q is not an attribute name.", portal.Textf("Join rule %d", 1), "x y"))
	require.Equal(t, `Verknüpfungsregeln, Zeile 2: "x y" ist kein Attributname.`, i18n.For("de").Error(join))
	require.Nil(t, l.locate(nil))
	notFound := portal.Errorf(portal.ENOTFOUND, "Outbound flow 1 gone")
	require.Equal(t, notFound, l.locate(notFound))
}

func TestSyncRuleFormRoundTrip(t *testing.T) {
	sys := portal.ConnectedSystem{ID: "s1", Name: "Corp", BaseDN: "DC=corp,DC=example,DC=com"}
	for _, want := range []syncsvc.SyncRule{syncsvc.DefaultUserRule("s1", sys.BaseDN), syncsvc.DefaultGroupRule("s1", sys.BaseDN)} {
		got, _, err := syncRuleFromForm(syncRuleForm(sys, want))
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}
