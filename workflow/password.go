package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// InsertOpts puts notices in their own queue (NoticeQueue).
func (PasswordNoticeArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: NoticeQueue} }

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
	rcpt, err := w.notices.NoticeRecipients(ctx, job.Args.PersonID)
	if err != nil {
		return err
	}
	for _, to := range rcpt.Emails {
		msg, err := ComposePasswordNotice(job.Args, rcpt, to, w.baseURL)
		if err != nil {
			return err
		}
		if err := w.mailer.Send(ctx, msg); err != nil {
			return fmt.Errorf("workflow: password notice to %s: %w", to, err)
		}
	}
	return nil
}

// ComposePasswordNotice writes the notice of a password event to one of
// rcpt's addresses, in their language and time zone.
func ComposePasswordNotice(a PasswordNoticeArgs, rcpt portal.NoticeRecipient, to, baseURL string) (Message, error) {
	p := i18n.For(rcpt.Language)
	var subject, what string
	switch a.Event {
	case "reset":
		subject, what = p.T("Your password was reset"), p.T("Your password was reset through self-service password reset")
	case "unlock":
		subject, what = p.T("Your account was unlocked"), p.T("Your account was unlocked through self-service password reset")
	case "unlock_not_locked":
		subject = p.T("Someone passed your account's checks to unlock it")
		what = p.T("Someone passed your account's checks in self-service unlock; your account was not locked, so nothing was changed")
	case "change":
		subject, what = p.T("Your password was changed"), p.T("Your password was changed")
	case "helpdesk_reset":
		subject, what = p.T("Your password was reset by the helpdesk"), p.T("The helpdesk reset your password to a temporary one")
	default:
		return Message{}, fmt.Errorf("unknown password event %q", a.Event)
	}
	when := p.Time(a.At, portal.ZoneOrUTC(rcpt.TimeZone))
	lead := p.T("%s, on %s.", what, when)
	if a.Client != "" {
		lead = p.T("%s, on %s, from the address %s.", what, when, a.Client)
	}
	if len(a.Failed) > 0 {
		// The person must not believe it was done everywhere.
		names := make([]string, len(a.Failed))
		for i, f := range a.Failed {
			names[i] = portal.Isolate(f)
		}
		lead += " " + p.T("It was not done in %s, which refused or did not answer; the helpdesk can see why.", strings.Join(names, ", "))
	}
	data := newMailData(p, rcpt.Name)
	data.Lead = lead
	data.Detail = p.T("Not you? Reset your password now with the link below, and call the helpdesk: someone else may know your password or your codes.")
	data.Link = strings.TrimRight(baseURL, "/") + "/password/reset"
	return render(data, rcpt.Name, to, subject)
}

// oneAtATime keeps a second job of a kind from being inserted while one
// waits or runs: a periodic job that runs at start and one inserted by
// hand (or by another process's schedule) would otherwise both act.
var oneAtATime = river.UniqueOpts{ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}}

// InsertOpts runs one reminder pass at a time: two at once would both
// read that nobody was reminded and both mail (a reminder is marked after
// its mail went).
func (PasswordExpiryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: oneAtATime}
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

// ComposeExpiryReminder writes the reminder that a password expires soon,
// in the person's language and time zone.
func ComposeExpiryReminder(e portal.ExpiringPassword, baseURL string) Message {
	p := i18n.For(e.Language)
	days := int(time.Until(e.Expires).Hours()/24 + 0.5)
	when := p.T("in %d days", days)
	if days <= 1 {
		when = p.T("within a day")
	}
	data := newMailData(p, e.Name)
	data.Lead = p.T("Your password for %s expires %s, on %s. Change it before then to keep signing in.",
		portal.Isolate(e.System), when, p.Time(e.Expires, portal.ZoneOrUTC(e.TimeZone)))
	data.Link = strings.TrimRight(baseURL, "/") + "/password/change"
	// The templates are fixed and the data plain strings: they cannot fail.
	m, _ := render(data, e.Name, e.Email, p.T("Your password expires %s", when))
	return m
}
