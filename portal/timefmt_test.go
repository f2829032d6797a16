package portal_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestRelativeTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "just now"},
		{-30 * time.Second, "just now"},
		{-time.Minute, "1 minute ago"},
		{5 * time.Minute, "in 5 minutes"},
		{-2 * time.Hour, "2 hours ago"},
		{20 * time.Hour, "in 20 hours"},
		{-26 * time.Hour, "yesterday"},
		{30 * time.Hour, "tomorrow"},
		{3 * 24 * time.Hour, "in 3 days"},
		{-13 * 24 * time.Hour, "13 days ago"},
		{-21 * 24 * time.Hour, "3 weeks ago"},
		{60 * 24 * time.Hour, ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, portal.RelativeTime(now.Add(tt.d), now), "%v", tt.d)
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 7, 1, 22, 5, 0, 0, time.UTC)
	tokyo, err := portal.LoadTimeZone("Asia/Tokyo")
	require.NoError(t, err)
	require.Equal(t, "2 Jul 2026, 07:05 JST", portal.FormatTime(at, tokyo))
	require.Equal(t, "1 Jul 2026, 22:05 UTC", portal.FormatTime(at, nil))
	require.Equal(t, "1 Jul 2026, 23:05 BST", portal.FormatTime(at, portal.ZoneOrUTC("Europe/London")))
	require.Equal(t, time.UTC, portal.ZoneOrUTC(""), "no zone yet: UTC")
	require.Equal(t, time.UTC, portal.ZoneOrUTC("Mars/Olympus"), "a zone that no longer loads: UTC")
	require.Equal(t, "Asia/Tokyo (JST)", portal.ZoneLabel(tokyo, at))
	require.Equal(t, "UTC", portal.ZoneLabel(time.UTC, at))
	require.Equal(t, "1 Jul 2026", portal.FormatDate(at))
}
