package rule_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/rule"
)

// TestCacheStartsAfreshWhenFull: a full cache keeps the entry put and
// forgets the others, so that it never holds more than its bound.
func TestCacheStartsAfreshWhenFull(t *testing.T) {
	c := rule.NewCache[string, int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	v, ok := c.Get("a")
	require.True(t, ok)
	require.Equal(t, 1, v)
	c.Put("b", 3) // full: starts afresh, even for a key it holds
	_, ok = c.Get("a")
	require.False(t, ok)
	v, ok = c.Get("b")
	require.True(t, ok)
	require.Equal(t, 3, v)
	c.Put("c", 4)
	v, ok = c.Get("c")
	require.True(t, ok)
	require.Equal(t, 4, v)
	_, ok = c.Get("missing")
	require.False(t, ok)
}
