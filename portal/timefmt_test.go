package portal_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestZones(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 7, 1, 22, 5, 0, 0, time.UTC)
	tokyo, err := portal.LoadTimeZone("Asia/Tokyo")
	require.NoError(t, err)
	require.Equal(t, time.UTC, portal.ZoneOrUTC(""), "no zone yet: UTC")
	require.Equal(t, time.UTC, portal.ZoneOrUTC("Mars/Olympus"), "a zone that no longer loads: UTC")
	require.Equal(t, "Asia/Tokyo (JST)", portal.ZoneLabel(tokyo, at))
	require.Equal(t, "UTC", portal.ZoneLabel(time.UTC, at))
}
