package workflow

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
)

// Deps is what the workers need.
type Deps struct {
	Processor   portal.RequestProcessor
	Housekeeper portal.Housekeeper
	Mailer      Mailer
	// BaseURL is the portal's public URL, for links in emails.
	BaseURL string
}

// AddWorkers registers every Tessera worker.
func AddWorkers(workers *river.Workers, d Deps) {
	river.AddWorker(workers, &authorizeWorker{p: d.Processor})
	river.AddWorker(workers, &commitWorker{p: d.Processor})
	river.AddWorker(workers, &reminderWorker{p: d.Processor})
	river.AddWorker(workers, &deadlineWorker{p: d.Processor})
	river.AddWorker(workers, &expireMembershipWorker{p: d.Processor})
	river.AddWorker(workers, &notifyWorker{p: d.Processor, mailer: d.Mailer, baseURL: d.BaseURL})
	river.AddWorker(workers, &housekeepingWorker{h: d.Housekeeper})
}

type housekeepingWorker struct {
	river.WorkerDefaults[HousekeepingArgs]
	h portal.Housekeeper
}

func (w *housekeepingWorker) Work(ctx context.Context, job *river.Job[HousekeepingArgs]) error {
	if w.h == nil {
		return nil
	}
	_, err := w.h.RemoveExpired(ctx)
	return err
}

type authorizeWorker struct {
	river.WorkerDefaults[AuthorizeArgs]
	p portal.RequestProcessor
}

func (w *authorizeWorker) Work(ctx context.Context, job *river.Job[AuthorizeArgs]) error {
	return w.p.Authorize(ctx, job.Args.RequestID)
}

type commitWorker struct {
	river.WorkerDefaults[CommitArgs]
	p portal.RequestProcessor
}

func (w *commitWorker) Work(ctx context.Context, job *river.Job[CommitArgs]) error {
	return w.p.Commit(ctx, job.Args.RequestID)
}

type reminderWorker struct {
	river.WorkerDefaults[ReminderArgs]
	p portal.RequestProcessor
}

func (w *reminderWorker) Work(ctx context.Context, job *river.Job[ReminderArgs]) error {
	return w.p.Remind(ctx, job.Args.ApprovalID, job.Args.Round)
}

type deadlineWorker struct {
	river.WorkerDefaults[DeadlineArgs]
	p portal.RequestProcessor
}

func (w *deadlineWorker) Work(ctx context.Context, job *river.Job[DeadlineArgs]) error {
	return w.p.Deadline(ctx, job.Args.ApprovalID, job.Args.Round)
}

type expireMembershipWorker struct {
	river.WorkerDefaults[ExpireMembershipArgs]
	p portal.RequestProcessor
}

func (w *expireMembershipWorker) Work(ctx context.Context, job *river.Job[ExpireMembershipArgs]) error {
	return w.p.ExpireMembership(ctx, job.Args.GroupID, job.Args.PersonID, job.Args.Until)
}

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	p       portal.RequestProcessor
	mailer  Mailer
	baseURL string
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	if w.mailer == nil {
		return nil // email is not configured; the portal shows everything too
	}
	n, err := w.p.Notification(ctx, job.Args.Event, job.Args.RequestID, job.Args.RecipientID)
	if err != nil || n == nil {
		return err
	}
	msg, err := Compose(n, w.baseURL)
	if err != nil {
		return fmt.Errorf("workflow: compose %s: %w", job.Args.Event, err)
	}
	return w.mailer.Send(ctx, msg)
}
