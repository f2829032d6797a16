package portal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestIsolate(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Zoë D'Angelo-Łukasiewicz", "Zoë D'Angelo-Łukasiewicz"},
		{"VPN users (2027)", "VPN users (2027)"},
		{"", ""},
		{"\u202egnalegnA", "\u2068\u202egnalegnA\u2069"},
		{"Ana\u202d", "\u2068Ana\u202d\u2069"},
		{"\u2069\u202eevil", "\u2068\u202eevil\u2069"},
		{"a\u2067b\u2069c\u2069\u202ed", "\u2068a\u2067b\u2069c\u202ed\u2069"},
		{"דנה לוי", "\u2068דנה לוי\u2069"},
		{"فريق المالية", "\u2068فريق المالية\u2069"},
	} {
		require.Equal(t, tt.want, portal.Isolate(tt.in), "%q", tt.in)
	}
}

// TestSummaryIsolatesNames is issue 9's repro: a right-to-left override in
// a name turned "Change …'s profile" around.
func TestSummaryIsolatesNames(t *testing.T) {
	r := portal.Request{Operation: portal.OpUpdatePerson, PersonName: "\u202egnalegnA", RequesterID: "a", PersonID: "b"}
	require.Equal(t, "Change \u2068\u202egnalegnA\u2069's profile", r.Summary())
	r = portal.Request{Operation: portal.OpAddMember, PersonName: "Ben", GroupName: "\u202eYRROS", RequesterID: "a", PersonID: "b"}
	require.Equal(t, "Add Ben to \u2068\u202eYRROS\u2069", r.Summary())
	r = portal.Request{Operation: portal.OpAddMember, GroupName: "VPN users", RequesterID: "a", PersonID: "a"}
	require.Equal(t, "Join VPN users", r.Summary(), "plain names stay plain")
}
