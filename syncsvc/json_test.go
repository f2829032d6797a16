package syncsvc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// marshalChanges writes what encoding/json writes, so that a pending export
// reads back the same whichever way it was written.
func TestMarshalChangesMatchesEncodingJSON(t *testing.T) {
	for _, c := range [][]AttributeChange{
		nil,
		{{Op: AttributeReplace, Name: "title"}},
		{{Op: AttributeReplace, Name: "sn", Values: []string{`Smith, "Jr" \ <b> & co`, "Ζωή", "tab\there", "\u2028"}}},
		{{Op: AttributeAddValues, Name: "member", Values: []string{"CN=a,OU=x", "CN=b,OU=x"}}, {Op: AttributeDeleteValues, Name: "member", Values: []string{}}},
	} {
		got, err := marshalChanges(c)
		require.NoError(t, err)
		want := "[]"
		if len(c) > 0 {
			b, err := json.Marshal(c)
			require.NoError(t, err)
			want = string(b)
		}
		require.Equal(t, want, got)
		var back []AttributeChange
		require.NoError(t, json.Unmarshal([]byte(got), &back))
	}
}
