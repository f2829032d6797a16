package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/rule"
)

// Two reads of one version of the rules may list the groups in different
// orders; each read's rules must be its own, index for index, whichever
// read the copy kept and whichever compiled first.
func TestRulesCopyPairsRulesWithTheirOwnRead(t *testing.T) {
	t.Parallel()
	schema := newRuleSchema(nil)
	kept := []dynamicGroup{{ID: "a", Rule: `person.department == "IT"`}, {ID: "b", Rule: `person.department == "HR"`}}
	other := []dynamicGroup{kept[1], kept[0]}
	var c rulesCopy
	c.version, c.groups = 7, kept

	check := func(groups []dynamicGroup, rules []*rule.Rule) {
		t.Helper()
		require.Len(t, rules, len(groups))
		for i, g := range groups {
			require.NotNil(t, rules[i])
			require.Equal(t, g.Rule, rules[i].String(), "group %s is judged by its own rule", g.ID)
		}
	}
	// The other read compiles first: its rules are not kept for the copy's.
	check(other, c.compiled(7, other, schema))
	check(kept, c.compiled(7, kept, schema))
	// Now the copy's rules are kept: the other read still gets its own.
	check(other, c.compiled(7, other, schema))
	check(kept, c.compiled(7, kept, schema))
}
