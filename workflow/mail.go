package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
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
// portal page where the person acts or reads, in the recipient's language
// and time zone.
func Compose(n *portal.Notification, baseURL string) (Message, error) {
	// Times, those inside stored texts too, are written in the
	// recipient's zone, and the email says which.
	loc := portal.ZoneOrUTC(n.ToTimeZone)
	p := i18n.For(n.ToLanguage).In(loc)
	link := strings.TrimRight(baseURL, "/") + n.Path
	r := &n.Request
	// Names and the texts people wrote are isolated, as on the pages, so
	// that none can turn the sentence around it (portal.Isolate).
	requester := portal.Isolate(r.RequesterName)
	summary := p.Text(r.SummaryText())
	var subject, lead string
	switch n.Event {
	case portal.EventApprovalRequested:
		subject = p.T("Approval needed: %s", summary)
		lead = p.T("%s asks: %s.", requester, summary)
	case portal.EventReminder:
		subject = p.T("Reminder, approval needed: %s", summary)
		lead = p.T("%s's request is still waiting for your decision: %s.", requester, summary)
	case portal.EventEscalated:
		subject = p.T("Escalated to you: %s", summary)
		lead = p.T("No one decided in time, so this request now waits for you: %s.", summary)
	case portal.EventCompleted:
		subject = p.T("Done: %s", summary)
		lead = p.T("Your request is done: %s.", summary)
	case portal.EventDenied:
		subject = p.T("Rejected: %s", summary)
		lead = p.T("Your request was rejected: %s.", summary)
	case portal.EventExpired:
		subject = p.T("Expired: %s", summary)
		lead = p.T("Your request expired without a decision: %s.", summary)
	case portal.EventFailed:
		subject = p.T("Could not be done: %s", summary)
		lead = p.T("Your request was approved, but the change could not be made: %s.", summary)
	default:
		return Message{}, fmt.Errorf("unknown notification event %q", n.Event)
	}
	zone := portal.ZoneLabel(loc, r.CreatedAt)
	when := p.T("Asked on %s (times in %s).", p.Time(r.CreatedAt, loc), zone)
	if n.Deadline != nil {
		when = p.T("Asked on %s; due by %s (times in %s).", p.Time(r.CreatedAt, loc), p.Time(*n.Deadline, loc), zone)
	}
	data := newMailData(p, n.ToName)
	data.Lead, data.Justification, data.Detail, data.Link, data.When = lead, portal.Isolate(r.Justification), portal.Isolate(p.Text(n.Detail)), link, when
	return render(data, n.ToName, n.ToEmail, subject)
}

// mailData is what the mail templates write: the texts already in the
// reader's language.
type mailData struct {
	Lang, Hello, Lead, When, JustificationLabel, Justification, Detail, Link, OpenText, OpenButton, Footer string
}

// newMailData starts the data of a mail to name in p's language.
func newMailData(p *i18n.Printer, name string) mailData {
	hello := p.T("Hello,")
	if name != "" {
		hello = p.T("Hello %s,", portal.Isolate(name))
	}
	return mailData{Lang: p.Code(), Hello: hello, JustificationLabel: p.T("Justification:"),
		OpenText: p.T("Open it in Tessera:"), OpenButton: p.T("Open in Tessera"), Footer: p.T("Tessera identity portal")}
}

// render writes data through the text and HTML templates.
func render(data mailData, toName, toEmail, subject string) (Message, error) {
	var text, html strings.Builder
	if err := textTmpl.Execute(&text, data); err != nil {
		return Message{}, err
	}
	if err := htmlTmpl.Execute(&html, data); err != nil {
		return Message{}, err
	}
	return Message{ToName: toName, ToEmail: toEmail, Subject: subject, Text: text.String(), HTML: html.String()}, nil
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
	p := i18n.For(m.Language)
	var subject, lead string
	switch m.Purpose {
	case portal.CodeVerifyEmail:
		subject = p.T("Confirm your alternate email address")
		lead = p.T("Someone, probably you, added this address to a Tessera account as an alternate email for signing in and recovery. To confirm it, type this code in Tessera:")
	case portal.CodeReset:
		subject = p.T("Your password reset code")
		lead = p.T("Someone, probably you, asked to reset or unlock a Tessera account that this address belongs to. To go on, type this code in Tessera:")
	default:
		return Message{}, fmt.Errorf("unknown code purpose %q", m.Purpose)
	}
	minutes := int(time.Until(m.ExpiresAt).Round(time.Minute) / time.Minute)
	if minutes < 1 {
		minutes = int(portal.CodeLifetime / time.Minute)
	}
	base := newMailData(p, m.ToName)
	data := codeMailData{Lang: base.Lang, Hello: base.Hello, Footer: base.Footer, Lead: lead, Code: m.Code,
		Works: p.T("The code works once, for %d minutes. If you did not ask for it, ignore this mail: nothing changes without the code. Tessera never asks for this code by phone or mail.", minutes)}
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
	Lang, Hello, Lead, Code, Works, Footer string
}
