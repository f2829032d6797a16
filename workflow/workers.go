package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tessera-idm/tessera/portal"
)

// Deps is what the workers need.
type Deps struct {
	Processor   portal.RequestProcessor
	Housekeeper portal.Housekeeper
	Mailer      Mailer
	// Sync is the sync engine; nil: sync jobs do nothing.
	Sync portal.SyncService
	// HR applies HR files and watches their folders; nil: HR jobs do
	// nothing.
	HR portal.HRInbound
	// Teams finds the team notices HR's changes give managers, to mail
	// them; nil: they are only shown on the managers' home pages.
	Teams portal.TeamNotices
	// BaseURL is the portal's public URL, for links in emails.
	BaseURL string
	// Pool is River's database, where the rescue job looks for the jobs
	// of dead worker processes; nil: they wait for River's rescuer.
	Pool *pgxpool.Pool
	// Audit reads the audit log's tip for checkpoints; nil: none are written.
	Audit portal.AuditCheckpointer
	// AuditKey signs the checkpoints; nil (no TESSERA_SECRET_KEY): they are
	// written unsigned.
	AuditKey *portal.AuditKey
	// Logger receives the checkpoints and what workers only log; nil
	// means slog's default.
	Logger *slog.Logger
	// Notices finds where password notices go; nil: none are sent.
	Notices portal.PasswordNotices
	// Expiry finds the passwords that expire soon and Reminders records
	// the reminders sent; either nil: none are sent.
	Expiry    portal.ExpiringAccounts
	Reminders portal.PasswordReminders
	// Governance runs the timers of groups and people that administrators
	// created (a group's expiry, a contractor's end date); nil: they do
	// nothing.
	Governance portal.GovernanceTimers
	// Reviews runs the access reviews' deadlines, repeats and reminders;
	// nil: they do nothing.
	Reviews portal.ReviewTimers
}

// AddWorkers registers every Tessera worker.
func AddWorkers(workers *river.Workers, d Deps) {
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	river.AddWorker(workers, &authorizeWorker{p: d.Processor})
	river.AddWorker(workers, &commitWorker{p: d.Processor})
	river.AddWorker(workers, &approvalTimersWorker{p: d.Processor, logger: logger})
	river.AddWorker(workers, &reminderWorker{p: d.Processor})
	river.AddWorker(workers, &deadlineWorker{p: d.Processor})
	river.AddWorker(workers, &expireMembershipWorker{p: d.Processor})
	river.AddWorker(workers, &notifyWorker{p: d.Processor, mailer: d.Mailer, baseURL: d.BaseURL})
	river.AddWorker(workers, &housekeepingWorker{h: d.Housekeeper})
	river.AddWorker(workers, &auditCheckpointWorker{audit: d.Audit, key: d.AuditKey, logger: logger})
	river.AddWorker(workers, &syncExportWorker{s: d.Sync})
	river.AddWorker(workers, &syncScheduleWorker{s: d.Sync})
	river.AddWorker(workers, &syncCycleWorker{s: d.Sync})
	river.AddWorker(workers, &syncRunWorker{s: d.Sync})
	river.AddWorker(workers, &rescueOrphansWorker{pool: d.Pool})
	river.AddWorker(workers, &hrApplyWorker{hr: d.HR})
	river.AddWorker(workers, &hrWatchWorker{hr: d.HR})
	river.AddWorker(workers, &hrDateWorker{hr: d.HR})
	river.AddWorker(workers, &hrNoticeWorker{teams: d.Teams, mailer: d.Mailer, baseURL: d.BaseURL})
	river.AddWorker(workers, &passwordNoticeWorker{notices: d.Notices, mailer: d.Mailer, baseURL: d.BaseURL})
	river.AddWorker(workers, &passwordExpiryWorker{expiry: d.Expiry, reminders: d.Reminders, mailer: d.Mailer, baseURL: d.BaseURL, logger: logger})
	addGovernanceWorkers(workers, d)
}

// TxInserter inserts a River job in a transaction; *river.Client[pgx.Tx]
// implements it, an insert-only client of a web-only process included.
type TxInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// SyncRunQueue is the sync engine's Queue: it inserts the job that runs a
// queued run, in the transaction that queues it.
func SyncRunQueue(jobs TxInserter) func(ctx context.Context, tx pgx.Tx, runID int64, confirmDeletes bool) error {
	return func(ctx context.Context, tx pgx.Tx, runID int64, confirmDeletes bool) error {
		_, err := jobs.InsertTx(ctx, tx, SyncRunArgs{RunID: runID, ConfirmDeletes: confirmDeletes}, nil)
		return err
	}
}

type syncRunWorker struct {
	river.WorkerDefaults[SyncRunArgs]
	s portal.SyncService
}

// Work runs the queued run; while another run of the system goes on, the
// job snoozes and the run stays queued.
func (w *syncRunWorker) Work(ctx context.Context, job *river.Job[SyncRunArgs]) error {
	if w.s == nil {
		return nil
	}
	err := w.s.RunQueued(ctx, job.Args.RunID, job.Args.ConfirmDeletes)
	if err != nil && portal.Retryable(err) {
		return river.JobSnooze(syncRetry(job.CreatedAt))
	}
	return err
}

// Timeout: a full import of a large directory takes long.
func (w *syncRunWorker) Timeout(*river.Job[SyncRunArgs]) time.Duration { return time.Hour }

// syncRetry is how long a sync job waits when the connected system is
// unreachable or busy with another run: it snoozes (which River does not
// count as an attempt), a quarter of the time it has waited so far, from
// a quarter of a second to a minute.
func syncRetry(created time.Time) time.Duration {
	return min(max(250*time.Millisecond, time.Since(created)/4), time.Minute)
}

type syncExportWorker struct {
	river.WorkerDefaults[SyncExportArgs]
	s portal.SyncService
}

func (w *syncExportWorker) Work(ctx context.Context, job *river.Job[SyncExportArgs]) error {
	if w.s == nil {
		return nil
	}
	ids := job.Args.RequestIDs
	if job.Args.RequestID != "" {
		ids = append(ids, job.Args.RequestID)
	}
	err := w.s.ExportRequests(ctx, ids)
	if err != nil && portal.Retryable(err) {
		return river.JobSnooze(syncRetry(job.CreatedAt))
	}
	return err
}

// Timeout: an export of a large change (a group of thousands) can take
// longer than River's default minute.
func (w *syncExportWorker) Timeout(*river.Job[SyncExportArgs]) time.Duration { return 10 * time.Minute }

type syncScheduleWorker struct {
	river.WorkerDefaults[SyncScheduleArgs]
	s portal.SyncService
}

func (w *syncScheduleWorker) Work(ctx context.Context, job *river.Job[SyncScheduleArgs]) error {
	if w.s == nil {
		return nil
	}
	ids, err := w.s.DueCycles(ctx)
	if err != nil {
		return err
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	for _, id := range ids {
		if _, err := client.Insert(ctx, SyncCycleArgs{SystemID: id}, &river.InsertOpts{
			UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
				rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}},
		}); err != nil {
			return err
		}
	}
	return nil
}

type syncCycleWorker struct {
	river.WorkerDefaults[SyncCycleArgs]
	s portal.SyncService
}

func (w *syncCycleWorker) Work(ctx context.Context, job *river.Job[SyncCycleArgs]) error {
	if w.s == nil {
		return nil
	}
	err := w.s.Cycle(ctx, job.Args.SystemID)
	if err != nil && portal.Retryable(err) {
		return nil // the next scheduled cycle tries again; the run history says why
	}
	return err
}

func (w *syncCycleWorker) Timeout(*river.Job[SyncCycleArgs]) time.Duration { return time.Hour }

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

type auditCheckpointWorker struct {
	river.WorkerDefaults[AuditCheckpointArgs]
	audit  portal.AuditCheckpointer
	key    *portal.AuditKey
	logger *slog.Logger
}

// Work logs the tip as a checkpoint: kept outside the database, it shows
// later whether the newest entries were deleted or the log rewritten.
func (w *auditCheckpointWorker) Work(ctx context.Context, job *river.Job[AuditCheckpointArgs]) error {
	if w.audit == nil {
		return nil
	}
	id, hash, err := w.audit.AuditTip(ctx)
	if err != nil {
		return err
	}
	c := w.key.SignCheckpoint(id, hash, time.Now())
	w.logger.LogAttrs(ctx, slog.LevelInfo, portal.AuditCheckpointMessage, c.LogAttrs()...)
	return nil
}

type authorizeWorker struct {
	river.WorkerDefaults[AuthorizeArgs]
	p portal.RequestProcessor
}

// Work is the approval's first timer: it fires the reminder or deadline
// when due, and otherwise snoozes until it is (and authorizes a request
// still without its approval). The snooze is recorded after the
// transaction; should the process die in between, River rescues the job
// and Authorize, run again early, only says when to wake.
func (w *authorizeWorker) Work(ctx context.Context, job *river.Job[AuthorizeArgs]) error {
	wake, err := w.p.Authorize(ctx, job.Args.RequestID)
	if err != nil || wake.IsZero() {
		return err
	}
	// At least a second: a processor whose clock is behind this one's
	// must not make the job spin.
	return river.JobSnooze(max(time.Until(wake), time.Second))
}

type approvalTimersWorker struct {
	river.WorkerDefaults[ApprovalTimersArgs]
	p      portal.RequestProcessor
	logger *slog.Logger
}

// Work fires the first timers due. Each fires in a transaction of its own
// and only once (under the approval's lock), so that a sweep cut short,
// or two at once, leave nothing fired twice. A timer that fails is logged
// and left due, for the next minute's sweep: a sweep retried for it would
// only pile up beside the next ones.
func (w *approvalTimersWorker) Work(ctx context.Context, job *river.Job[ApprovalTimersArgs]) error {
	_, err := w.p.FireTimers(ctx)
	if err != nil && ctx.Err() == nil {
		w.logger.LogAttrs(ctx, slog.LevelWarn, "approval timers: some did not fire; the next sweep tries them again", slog.Any("error", err))
		return nil
	}
	return err
}

type commitWorker struct {
	river.WorkerDefaults[CommitArgs]
	p portal.RequestProcessor
}

func (w *commitWorker) Work(ctx context.Context, job *river.Job[CommitArgs]) error {
	ids := job.Args.RequestIDs
	if job.Args.RequestID != "" {
		ids = append(ids, job.Args.RequestID)
	}
	return w.p.Commit(ctx, ids)
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
