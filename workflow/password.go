package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// passwordNoticeWorker tells a person, at every address they registered,
// that their password was reset or changed, or their account unlocked, so
// that someone who did not do it acts at once.
type passwordNoticeWorker struct {
	river.WorkerDefaults[PasswordNoticeArgs]
	notices portal.PasswordNotices
	mailer  Mailer
	baseURL string
}

func (w *passwordNoticeWorker) Work(ctx context.Context, job *river.Job[PasswordNoticeArgs]) error {
	if w.mailer == nil || w.notices == nil {
		return nil // email is not configured; the audit log has it all
	}
	name, emails, err := w.notices.NoticeRecipients(ctx, job.Args.PersonID)
	if err != nil {
		return err
	}
	for _, to := range emails {
		msg, err := ComposePasswordNotice(job.Args, name, to, w.baseURL)
		if err != nil {
			return err
		}
		if err := w.mailer.Send(ctx, msg); err != nil {
			return fmt.Errorf("workflow: password notice to %s: %w", to, err)
		}
	}
	return nil
}

// ComposePasswordNotice writes the notice of a password event.
func ComposePasswordNotice(a PasswordNoticeArgs, name, to, baseURL string) (Message, error) {
	var subject, what string
	switch a.Event {
	case "reset":
		subject, what = "Your password was reset", "Your password was reset through self-service password reset"
	case "unlock":
		subject, what = "Your account was unlocked", "Your account was unlocked through self-service password reset"
	case "change":
		subject, what = "Your password was changed", "Your password was changed"
	case "helpdesk_reset":
		subject, what = "Your password was reset by the helpdesk", "The helpdesk reset your password to a temporary one"
	default:
		return Message{}, fmt.Errorf("unknown password event %q", a.Event)
	}
	lead := what + " on " + a.At.UTC().Format("Monday 2 January 2006 at 15:04 UTC")
	if a.Client != "" {
		lead += ", from the address " + a.Client
	}
	lead += "."
	data := newMailData(i18n.English(), name)
	data.Lead = lead
	data.Detail = "Not you? Reset your password now with the link below, and call the helpdesk: someone else may know your password or your codes."
	data.Link = strings.TrimRight(baseURL, "/") + "/password/reset"
	return render(data, name, to, subject)
}

// passwordExpiryWorker emails the people whose directory password expires
// within the settings' reminder days, once per expiry, with a link to
// change it.
type passwordExpiryWorker struct {
	river.WorkerDefaults[PasswordExpiryArgs]
	expiry    portal.ExpiringAccounts
	reminders portal.PasswordReminders
	mailer    Mailer
	baseURL   string
	logger    *slog.Logger
}

func (w *passwordExpiryWorker) Work(ctx context.Context, job *river.Job[PasswordExpiryArgs]) error {
	if w.mailer == nil || w.expiry == nil || w.reminders == nil {
		return nil
	}
	s, err := w.reminders.PasswordSettings(ctx)
	if err != nil || s.ExpiryReminderDays == 0 {
		return err
	}
	list, err := w.expiry.ExpiringPasswords(ctx, time.Duration(s.ExpiryReminderDays)*24*time.Hour)
	if err != nil {
		return err
	}
	sent := 0
	for _, e := range list {
		done, err := w.reminders.Reminded(ctx, e)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		if err := w.mailer.Send(ctx, ComposeExpiryReminder(e, w.baseURL)); err != nil {
			return fmt.Errorf("workflow: expiry reminder to %s: %w", e.Email, err)
		}
		if err := w.reminders.MarkReminded(ctx, e); err != nil {
			return err
		}
		sent++
	}
	w.logger.Info("password expiry reminders sent", "sent", sent, "expiring", len(list))
	return nil
}

// ComposeExpiryReminder writes the reminder that a password expires soon.
func ComposeExpiryReminder(e portal.ExpiringPassword, baseURL string) Message {
	days := int(time.Until(e.Expires).Hours()/24 + 0.5)
	when := fmt.Sprintf("in %d days", days)
	if days <= 1 {
		when = "within a day"
	}
	data := newMailData(i18n.English(), e.Name)
	data.Lead = fmt.Sprintf("Your password for %s expires %s, on %s. Change it before then to keep signing in.", portal.Isolate(e.System), when, e.Expires.UTC().Format("2 January 2006 at 15:04 UTC"))
	data.Link = strings.TrimRight(baseURL, "/") + "/password/change"
	// The templates are fixed and the data plain strings: they cannot fail.
	m, _ := render(data, e.Name, e.Email, "Your password expires "+when)
	return m
}
