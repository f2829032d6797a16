package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-idm/tessera/portal"
)

// Message is one email, in plain text and HTML.
type Message struct {
	ToName, ToEmail string
	Subject         string
	Text, HTML      string
}

// Mailer sends email.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Compose writes the email for a notification, with a link back to the
// portal page where the person acts or reads.
func Compose(n *portal.Notification, baseURL string) (Message, error) {
	link := strings.TrimRight(baseURL, "/") + n.Path
	r := &n.Request
	// Names and the texts people wrote are isolated, as on the pages, so
	// that none can turn the sentence around it (portal.Isolate).
	requester := portal.Isolate(r.RequesterName)
	var subject, lead string
	switch n.Event {
	case portal.EventApprovalRequested:
		subject = "Approval needed: " + r.Summary()
		lead = requester + " asks: " + r.Summary() + "."
	case portal.EventReminder:
		subject = "Reminder, approval needed: " + r.Summary()
		lead = requester + "'s request is still waiting for your decision: " + r.Summary() + "."
	case portal.EventEscalated:
		subject = "Escalated to you: " + r.Summary()
		lead = "No one decided in time, so this request now waits for you: " + r.Summary() + "."
	case portal.EventCompleted:
		subject = "Done: " + r.Summary()
		lead = "Your request is done: " + r.Summary() + "."
	case portal.EventDenied:
		subject = "Rejected: " + r.Summary()
		lead = "Your request was rejected: " + r.Summary() + "."
	case portal.EventExpired:
		subject = "Expired: " + r.Summary()
		lead = "Your request expired without a decision: " + r.Summary() + "."
	case portal.EventFailed:
		subject = "Could not be done: " + r.Summary()
		lead = "Your request was approved, but the change could not be made: " + r.Summary() + "."
	default:
		return Message{}, fmt.Errorf("unknown notification event %q", n.Event)
	}
	// Times are written in the recipient's zone, and the email says which.
	loc := portal.ZoneOrUTC(n.ToTimeZone)
	when := "Asked on " + portal.FormatTime(r.CreatedAt, loc)
	if n.Deadline != nil {
		when += "; due by " + portal.FormatTime(*n.Deadline, loc)
	}
	when += " (times in " + portal.ZoneLabel(loc, r.CreatedAt) + ")."
	data := mailData{Name: portal.Isolate(n.ToName), Lead: lead, Justification: portal.Isolate(r.Justification),
		Detail: portal.Isolate(n.Detail), Link: link, When: when}
	var text, html strings.Builder
	if err := textTmpl.Execute(&text, data); err != nil {
		return Message{}, err
	}
	if err := htmlTmpl.Execute(&html, data); err != nil {
		return Message{}, err
	}
	return Message{ToName: n.ToName, ToEmail: n.ToEmail, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

type mailData struct {
	Name, Lead, Justification, Detail, Link, When string
}

// CodeMailer sends the one-time codes of sign-in and recovery methods
// through a Mailer (portal.CodeMailer), at once: the person waits for it.
type CodeMailer struct {
	Mailer Mailer
}

var _ portal.CodeMailer = CodeMailer{}

// SendCode composes and sends the mail that carries one code.
func (c CodeMailer) SendCode(ctx context.Context, m portal.CodeMail) error {
	msg, err := ComposeCode(m)
	if err != nil {
		return err
	}
	if err := c.Mailer.Send(ctx, msg); err != nil {
		// The message's text holds the code; the error names only the
		// subject and the address.
		return fmt.Errorf("workflow: send code: %w", err)
	}
	return nil
}

// ComposeCode writes the mail that carries a one-time code. The code
// stands alone on its line and in the subject's absence, so that a mail
// preview does not show it to someone looking over a shoulder.
func ComposeCode(m portal.CodeMail) (Message, error) {
	var subject, lead string
	switch m.Purpose {
	case portal.CodeVerifyEmail:
		subject = "Confirm your alternate email address"
		lead = "Someone, probably you, added this address to a Tessera account as an alternate email for signing in and recovery. To confirm it, type this code in Tessera:"
	case portal.CodeReset:
		subject = "Your password reset code"
		lead = "Someone, probably you, asked to reset or unlock a Tessera account that this address belongs to. To go on, type this code in Tessera:"
	default:
		return Message{}, fmt.Errorf("unknown code purpose %q", m.Purpose)
	}
	data := codeMailData{Name: portal.Isolate(m.ToName), Lead: lead, Code: m.Code,
		Minutes: int(time.Until(m.ExpiresAt).Round(time.Minute) / time.Minute)}
	if data.Minutes < 1 {
		data.Minutes = int(portal.CodeLifetime / time.Minute)
	}
	var text, html strings.Builder
	if err := codeTextTmpl.Execute(&text, data); err != nil {
		return Message{}, err
	}
	if err := codeHTMLTmpl.Execute(&html, data); err != nil {
		return Message{}, err
	}
	return Message{ToName: m.ToName, ToEmail: m.ToEmail, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

type codeMailData struct {
	Name, Lead, Code string
	Minutes          int
}
