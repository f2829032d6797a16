package syncsvc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// marshalChanges writes JSON that reads back as what was written, as
// encoding/json's does.
func TestMarshalChangesReadsBack(t *testing.T) {
	for _, c := range [][]AttributeChange{
		nil,
		{{Op: AttributeReplace, Name: "title"}},
		{{Op: AttributeReplace, Name: "sn", Values: []string{`Smith, "Jr" \ <b> & co`, "Ζωή", "tab\there", "\u2028", "nul\x00 and \x1f", "bad \xff utf-8"}}},
		{{Op: AttributeAddValues, Name: "member", Values: []string{"CN=a,OU=x", "CN=b,OU=x"}}, {Op: AttributeDeleteValues, Name: "member", Values: []string{}}},
	} {
		got, err := marshalChanges(c)
		require.NoError(t, err)
		var back, want []AttributeChange
		require.NoError(t, json.Unmarshal([]byte(got), &back), got)
		if len(c) > 0 {
			b, err := json.Marshal(c)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &want))
		}
		if len(c) == 0 {
			require.Equal(t, "[]", got)
			continue
		}
		require.Equal(t, want, back, got)
	}
}
