package hr

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The staged attributes are the JSON a connector space object holds,
// whatever the values hold.
func TestAppendValuesIsJSON(t *testing.T) {
	attrs := map[string]string{"title": `Nurse "day" \ night`, "office": "", "displayname": "Zoë 中文 \u2028x", "tab": "a\tb\x01",
		"bad": "a\xffb", "<html>": "&"}
	var got map[string][]string
	require.NoError(t, json.Unmarshal(appendValues([]byte("junk"), attrs)[4:], &got))
	want := map[string][]string{}
	for k, v := range attrs {
		want[k] = []string{}
		if v != "" {
			want[k] = []string{v}
		}
	}
	want["bad"] = []string{"a\uFFFDb"}
	require.Equal(t, want, got)
	require.Equal(t, "{}", string(appendValues(nil, nil)))
}
