package i18n_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

func TestRelative(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	en, de := i18n.For("en"), i18n.For("de")
	tests := []struct {
		d      time.Duration
		en, de string
	}{
		{10 * time.Second, "just now", "gerade eben"},
		{-30 * time.Second, "just now", "gerade eben"},
		{-time.Minute, "1 minute ago", "vor 1 Minute"},
		{5 * time.Minute, "in 5 minutes", "in 5 Minuten"},
		{-2 * time.Hour, "2 hours ago", "vor 2 Stunden"},
		{20 * time.Hour, "in 20 hours", "in 20 Stunden"},
		{-26 * time.Hour, "yesterday", "gestern"},
		{30 * time.Hour, "tomorrow", "morgen"},
		{3 * 24 * time.Hour, "in 3 days", "in 3 Tagen"},
		{-3 * 24 * time.Hour, "3 days ago", "vor 3 Tagen"},
		{-13 * 24 * time.Hour, "13 days ago", "vor 13 Tagen"},
		{-21 * 24 * time.Hour, "3 weeks ago", "vor 3 Wochen"},
		{60 * 24 * time.Hour, "", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.en, en.Relative(now.Add(tt.d), now), "%v", tt.d)
		require.Equal(t, tt.de, de.Relative(now.Add(tt.d), now), "%v", tt.d)
	}
	require.Equal(t, "due in 3 days", en.Due(now.Add(3*24*time.Hour), now))
	require.Equal(t, "fällig in 3 Tagen", de.Due(now.Add(3*24*time.Hour), now))
	require.Equal(t, "overdue by 1 hour", en.Due(now.Add(-time.Hour), now))
	require.Equal(t, "seit 1 Stunde überfällig", de.Due(now.Add(-time.Hour), now))
	require.Equal(t, "overdue since yesterday", en.Due(now.Add(-30*time.Hour), now))
}

func TestTimeAndNumbers(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 22, 5, 0, 0, time.UTC)
	tokyo, err := portal.LoadTimeZone("Asia/Tokyo")
	require.NoError(t, err)
	en, de := i18n.For("en"), i18n.For("de")
	require.Equal(t, "2 Mar 2026, 07:05 JST", en.Time(at, tokyo))
	require.Equal(t, "2. März 2026, 07:05 JST", de.Time(at, tokyo))
	require.Equal(t, "1 Mar 2026, 22:05 UTC", en.Time(at, nil))
	require.Equal(t, "1 Mar 2026", en.Date(at))
	require.Equal(t, "1. März 2026", de.Date(at))
	require.Equal(t, "12,345", en.Number(12345))
	require.Equal(t, "12.345", de.Number(12345))
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct{ stored, header, want string }{
		{"", "", "en"},
		{"", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"", "de-AT", "de"},
		{"", "fr-FR,fr;q=0.9", "en"},
		{"", "fr-FR,de;q=0.5", "de"},
		{"", "en-GB,de;q=0.5", "en"},
		{"en", "de-DE", "en"},
		{"de", "en-US", "de"},
		{"xx", "de", "de"},
		{"", "\x00garbage;;q=", "en"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, i18n.Negotiate(tt.stored, tt.header).Code(), "%q %q", tt.stored, tt.header)
	}
}

func TestDomainTextKeepsDigits(t *testing.T) {
	t.Parallel()
	err := portal.Errorf(portal.EINVALID, "The port must be from 1 to 65535, not %d.", 70000)
	require.Equal(t, "The port must be from 1 to 65535, not 70000.", i18n.For("en").Error(err))
	require.Equal(t, "Something went wrong on our side. Please try again.", i18n.For("en").Error(errors.New("boom")))
	require.Equal(t, "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es erneut.", i18n.For("de").Error(errors.New("boom")))
	require.Equal(t, "Ben zu Payroll hinzufügen", i18n.For("de").Text(portal.Textf("Add %s to %s", "Ben", "Payroll")))
}
