package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// ExpireGroupArgs deletes a group when its expiry passes, as a request of
// Tessera's own.
type ExpireGroupArgs struct {
	GroupID string    `json:"group_id"`
	Until   time.Time `json:"until"`
}

// Kind implements river.JobArgs.
func (ExpireGroupArgs) Kind() string { return "expire_group" }

// EndPersonArgs disables a person created by hand when their last day
// ends, as a request of Tessera's own.
type EndPersonArgs struct {
	PersonID string    `json:"person_id"`
	At       time.Time `json:"at"`
}

// Kind implements river.JobArgs.
func (EndPersonArgs) Kind() string { return "end_person" }

type expireGroupWorker struct {
	river.WorkerDefaults[ExpireGroupArgs]
	g portal.GovernanceTimers
}

func (w *expireGroupWorker) Work(ctx context.Context, job *river.Job[ExpireGroupArgs]) error {
	if w.g == nil {
		return nil
	}
	return w.g.ExpireGroup(ctx, job.Args.GroupID, job.Args.Until)
}

type endPersonWorker struct {
	river.WorkerDefaults[EndPersonArgs]
	g portal.GovernanceTimers
}

func (w *endPersonWorker) Work(ctx context.Context, job *river.Job[EndPersonArgs]) error {
	if w.g == nil {
		return nil
	}
	return w.g.EndPerson(ctx, job.Args.PersonID, job.Args.At)
}

// addGovernanceWorkers registers the timers of groups and people created
// by administrators.
func addGovernanceWorkers(workers *river.Workers, d Deps) {
	river.AddWorker(workers, &expireGroupWorker{g: d.Governance})
	river.AddWorker(workers, &endPersonWorker{g: d.Governance})
	river.AddWorker(workers, &reviewDeadlineWorker{r: d.Reviews})
	river.AddWorker(workers, &reviewScheduleWorker{r: d.Reviews})
	river.AddWorker(workers, &reviewRemindWorker{r: d.Reviews, mailer: d.Mailer, baseURL: d.BaseURL})
}

// ReviewDeadlineArgs ends an access review at its deadline.
type ReviewDeadlineArgs struct {
	ReviewID string `json:"review_id"`
}

// Kind implements river.JobArgs.
func (ReviewDeadlineArgs) Kind() string { return "review_deadline" }

// ReviewRemindArgs emails the reviewers of an access review who have
// memberships still to decide; Last is the reminder a day before the
// deadline.
type ReviewRemindArgs struct {
	ReviewID string `json:"review_id"`
	Last     bool   `json:"last,omitempty"`
}

// Kind implements river.JobArgs.
func (ReviewRemindArgs) Kind() string { return "review_remind" }

// ReviewScheduleArgs starts the repeating access reviews that are due; a
// periodic job of the leader's.
type ReviewScheduleArgs struct{}

// Kind implements river.JobArgs.
func (ReviewScheduleArgs) Kind() string { return "review_schedule" }

type reviewDeadlineWorker struct {
	river.WorkerDefaults[ReviewDeadlineArgs]
	r portal.ReviewTimers
}

func (w *reviewDeadlineWorker) Work(ctx context.Context, job *river.Job[ReviewDeadlineArgs]) error {
	if w.r == nil {
		return nil
	}
	return w.r.ReviewDeadline(ctx, job.Args.ReviewID)
}

type reviewScheduleWorker struct {
	river.WorkerDefaults[ReviewScheduleArgs]
	r portal.ReviewTimers
}

func (w *reviewScheduleWorker) Work(ctx context.Context, job *river.Job[ReviewScheduleArgs]) error {
	if w.r == nil {
		return nil
	}
	_, err := w.r.StartDueReviews(ctx)
	return err
}

type reviewRemindWorker struct {
	river.WorkerDefaults[ReviewRemindArgs]
	r       portal.ReviewTimers
	mailer  Mailer
	baseURL string
}

// Work emails each reviewer with memberships still to decide; a review
// that ended meanwhile has none.
func (w *reviewRemindWorker) Work(ctx context.Context, job *river.Job[ReviewRemindArgs]) error {
	if w.r == nil || w.mailer == nil {
		return nil // email is not configured; the reviews page lists them
	}
	list, err := w.r.ReviewReminders(ctx, job.Args.ReviewID)
	if err != nil {
		return err
	}
	for _, rem := range list {
		msg, err := ComposeReviewReminder(rem, job.Args.Last, w.baseURL)
		if err != nil {
			return err
		}
		if err := w.mailer.Send(ctx, msg); err != nil {
			return fmt.Errorf("workflow: access review reminder to %s: %w", rem.ToEmail, err)
		}
	}
	return nil
}

// ComposeReviewReminder writes the email that asks a reviewer to review
// their memberships of an access review by its deadline.
func ComposeReviewReminder(r portal.ReviewReminder, last bool, baseURL string) (Message, error) {
	p := i18n.For(r.ToLanguage)
	name := portal.Isolate(r.ReviewName)
	subject := p.T("Access review: %s", name)
	if last {
		subject = p.T("Reminder, due soon: access review %s", name)
	}
	loc := portal.ZoneOrUTC(r.ToTimeZone)
	data := newMailData(p, r.ToName)
	data.Lead = p.T("The access review %s asks you whether people should keep their group memberships. Memberships waiting for your decision: %d.", name, r.Pending)
	data.Detail = p.T("Memberships nobody reviews by the deadline follow the review's default, which may remove them.")
	data.Link = strings.TrimRight(baseURL, "/") + "/reviews/" + r.ReviewID
	data.When = p.T("Due by %s (times in %s).", p.Time(r.Deadline, loc), portal.ZoneLabel(loc, r.Deadline))
	return render(data, r.ToName, r.ToEmail, subject)
}
