package workflow

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
)

// HRApplyQueue is the HR service's Queue: it inserts the job that applies
// an upload, in the transaction that receives or confirms it.
func HRApplyQueue(jobs TxInserter) func(ctx context.Context, tx pgx.Tx, id int64) error {
	return func(ctx context.Context, tx pgx.Tx, id int64) error {
		_, err := jobs.InsertTx(ctx, tx, HRApplyArgs{UploadID: id}, nil)
		return err
	}
}

type hrApplyWorker struct {
	river.WorkerDefaults[HRApplyArgs]
	hr portal.HRInbound
}

// Work applies the upload; while its system or a system it exports to is
// busy or unreachable, the job snoozes.
func (w *hrApplyWorker) Work(ctx context.Context, job *river.Job[HRApplyArgs]) error {
	if w.hr == nil {
		return nil
	}
	err := w.hr.ApplyHRUpload(ctx, job.Args.UploadID)
	if err != nil && portal.Retryable(err) {
		return river.JobSnooze(syncRetry(job.CreatedAt))
	}
	return err
}

// Timeout: a file of 100,000 people takes longer than River's minute.
func (w *hrApplyWorker) Timeout(*river.Job[HRApplyArgs]) time.Duration { return time.Hour }

type hrWatchWorker struct {
	river.WorkerDefaults[HRWatchArgs]
	hr portal.HRInbound
}

func (w *hrWatchWorker) Work(ctx context.Context, job *river.Job[HRWatchArgs]) error {
	if w.hr == nil {
		return nil
	}
	return w.hr.WatchHRFolders(ctx)
}

// HRDateQueue is the HR service's Schedule: it inserts the timer that
// reads a row's dates again at the given instant, in tx.
func HRDateQueue(jobs TxInserter) func(ctx context.Context, tx pgx.Tx, systemID, anchor string, at time.Time) error {
	return func(ctx context.Context, tx pgx.Tx, systemID, anchor string, at time.Time) error {
		_, err := jobs.InsertTx(ctx, tx, HRDateArgs{SystemID: systemID, Anchor: anchor}, &river.InsertOpts{ScheduledAt: at})
		return err
	}
}

type hrDateWorker struct {
	river.WorkerDefaults[HRDateArgs]
	hr portal.HRInbound
}

// Work reads the row's dates again; while a system is busy or
// unreachable, the timer snoozes.
func (w *hrDateWorker) Work(ctx context.Context, job *river.Job[HRDateArgs]) error {
	if w.hr == nil {
		return nil
	}
	err := w.hr.HRDateDue(ctx, job.Args.SystemID, job.Args.Anchor)
	if err != nil && portal.Retryable(err) {
		return river.JobSnooze(syncRetry(job.CreatedAt))
	}
	return err
}
