package workflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

func TestComposePasswordMails(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 21, 30, 0, 0, time.UTC)
	zoe := portal.NoticeRecipient{Name: "Zoë", TimeZone: "Europe/Berlin"}
	m, err := workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{PersonID: "p", Event: "reset", At: at, Client: "192.0.2.7"},
		zoe, "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Equal(t, "Your password was reset", m.Subject)
	// In the recipient's time zone, which the mail names.
	for _, want := range []string{"5 Dec 2026, 22:30 CET", "192.0.2.7", "Not you?", "https://id.example.com/password/reset"} {
		require.Contains(t, m.Text, want)
	}
	_, err = workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{Event: "other"}, portal.NoticeRecipient{}, "x@example.com", "")
	require.Error(t, err)

	// A reset one system refused says so: the person must not believe it
	// was done everywhere.
	partial := workflow.PasswordNoticeArgs{PersonID: "p", Event: "reset", At: at, Failed: []string{"Demo Entra (simulated)"}}
	m, err = workflow.ComposePasswordNotice(partial, zoe, "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Contains(t, m.Text, "It was not done in")
	require.Contains(t, m.Text, "Demo Entra (simulated)")
	zoe.Language = "de"
	m, err = workflow.ComposePasswordNotice(partial, zoe, "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Contains(t, m.Text, "ist das nicht geschehen")
	zoe.Language = ""

	// In the recipient's stored language.
	zoe.Language = "de"
	m, err = workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{PersonID: "p", Event: "helpdesk_reset", At: at},
		zoe, "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Equal(t, "Ihr Kennwort wurde vom Helpdesk zurückgesetzt", m.Subject)
	for _, want := range []string{"Guten Tag", "5. Dez. 2026, 22:30 CET", "Nicht Sie?"} {
		require.Contains(t, m.Text, want)
	}
	require.Contains(t, m.HTML, `lang="de"`)

	// Someone passed the checks of self-service unlock for an account that
	// was not locked: the notice says so, truly, in both languages.
	m, err = workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{PersonID: "p", Event: "unlock_not_locked", At: at},
		zoe, "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Equal(t, "Jemand hat die Prüfungen zum Entsperren Ihres Kontos bestanden", m.Subject)
	require.Contains(t, m.Text, "Ihr Konto war nicht gesperrt, daher wurde nichts geändert")
	zoe.Language = ""
	m, err = workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{PersonID: "p", Event: "unlock_not_locked", At: at},
		zoe, "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Equal(t, "Someone passed your account's checks to unlock it", m.Subject)
	require.Contains(t, m.Text, "your account was not locked, so nothing was changed")
	zoe.Language = "de"

	expiring := portal.ExpiringPassword{Name: "Zoë", Email: "zoe@example.com", System: "Demo AD",
		Expires: time.Now().Add(5*24*time.Hour + time.Hour)}
	r := workflow.ComposeExpiryReminder(expiring, "https://id.example.com")
	require.Equal(t, "Your password expires in 5 days", r.Subject)
	require.True(t, strings.Contains(r.Text, "https://id.example.com/password/change"), r.Text)
	require.Contains(t, r.Text, "Demo AD")
	expiring.Language = "de"
	r = workflow.ComposeExpiryReminder(expiring, "https://id.example.com")
	require.Equal(t, "Ihr Kennwort läuft in 5 Tagen ab", r.Subject)
	require.Contains(t, r.Text, "Ändern Sie es vorher")
}
