package view

import (
	"context"

	"github.com/a-h/templ"

	"github.com/tessera-idm/tessera/portal/i18n"
)

// passkeyMessages are passkey.js's messages in the reader's language, on
// the status line the script writes them to: a script cannot reach the
// catalogue.
func passkeyMessages(ctx context.Context) templ.Attributes {
	return templ.Attributes{
		"data-msg-cancelled":  i18n.T(ctx, "The passkey request was cancelled or timed out. Try again."),
		"data-msg-registered": i18n.T(ctx, "This passkey is registered already."),
		"data-msg-failed":     i18n.T(ctx, "The passkey could not be used. Try again, or use another way."),
	}
}
