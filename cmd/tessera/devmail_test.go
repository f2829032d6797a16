package main

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/workflow"
)

// TestDevMailbox: the dev stack's mail goes over real SMTP to its mailbox,
// whose page shows each message's recipient, subject and text, escaped.
func TestDevMailbox(t *testing.T) {
	t.Parallel()
	told := make(chan devMail, 10)
	box, err := startDevMailbox("127.0.0.1:0", func(m devMail) { told <- m })
	require.NoError(t, err)
	t.Cleanup(box.Close)
	mailer, err := workflow.NewSMTPMailer(box.SMTPConfig())
	require.NoError(t, err)
	require.NoError(t, mailer.Send(context.Background(), workflow.Message{ToName: "Zoë", ToEmail: "zoe@tessera.example",
		Subject: "Your password reset code", Text: "Your code:\n\n    12345678\n\n<script>x</script>", HTML: "<p>12345678</p>"}))

	resp, err := http.Get(box.URL)
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), "Your password reset code")
	require.Contains(t, string(page), "zoe@tessera.example")
	require.Contains(t, string(page), "\n    12345678\n")
	require.Contains(t, string(page), "&lt;script&gt;x&lt;/script&gt;")
	require.NotContains(t, string(page), "<script>")
	require.Equal(t, "Your password reset code", (<-told).Subject, "each message is told as it arrives")
}
