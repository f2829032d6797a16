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
	m, err := workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{PersonID: "p", Event: "reset", At: at, Client: "192.0.2.7"},
		"Zoë", "zoe@example.com", "https://id.example.com/")
	require.NoError(t, err)
	require.Equal(t, "Your password was reset", m.Subject)
	for _, want := range []string{"Saturday 5 December 2026 at 21:30 UTC", "192.0.2.7", "Not you?", "https://id.example.com/password/reset"} {
		require.Contains(t, m.Text, want)
	}
	_, err = workflow.ComposePasswordNotice(workflow.PasswordNoticeArgs{Event: "other"}, "", "x@example.com", "")
	require.Error(t, err)

	r := workflow.ComposeExpiryReminder(portal.ExpiringPassword{Name: "Zoë", Email: "zoe@example.com", System: "Demo AD",
		Expires: time.Now().Add(5*24*time.Hour + time.Hour)}, "https://id.example.com")
	require.Equal(t, "Your password expires in 5 days", r.Subject)
	require.True(t, strings.Contains(r.Text, "https://id.example.com/password/change"), r.Text)
	require.Contains(t, r.Text, "Demo AD")
}
