package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
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

// HRNoticeArgs mails team notice NoticeID to manager To.
type HRNoticeArgs struct {
	NoticeID int64  `json:"notice_id"`
	To       string `json:"to"`
}

// Kind implements river.JobArgs.
func (HRNoticeArgs) Kind() string { return "hr_team_notice" }

// HRNoticeQueue is the HR service's Notify: it inserts, in tx, the job
// that mails a team notice to a manager.
func HRNoticeQueue(jobs TxInserter) func(ctx context.Context, tx pgx.Tx, id int64, to string) error {
	return func(ctx context.Context, tx pgx.Tx, id int64, to string) error {
		_, err := jobs.InsertTx(ctx, tx, HRNoticeArgs{NoticeID: id, To: to}, nil)
		return err
	}
}

type hrNoticeWorker struct {
	river.WorkerDefaults[HRNoticeArgs]
	teams   portal.TeamNotices
	mailer  Mailer
	baseURL string
}

// Work mails the notice in the manager's language; a manager without an
// email address reads it on their home page only.
func (w *hrNoticeWorker) Work(ctx context.Context, job *river.Job[HRNoticeArgs]) error {
	if w.teams == nil || w.mailer == nil {
		return nil // email is not configured; the home page lists them
	}
	n, err := w.teams.TeamNoticeFor(ctx, job.Args.NoticeID, job.Args.To)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return nil // the person or the manager was deleted since
	} else if err != nil {
		return err
	}
	if n.ToEmail == "" || len(n.Groups) == 0 {
		return nil
	}
	msg, err := ComposeTeamNotice(*n, w.baseURL)
	if err != nil {
		return err
	}
	if err := w.mailer.Send(ctx, msg); err != nil {
		return fmt.Errorf("workflow: team notice to %s: %w", n.ToEmail, err)
	}
	return nil
}

// ComposeTeamNotice writes the email that tells a manager of a rehire's
// former groups (not restored) or of a mover's groups to review.
func ComposeTeamNotice(n portal.TeamNotice, baseURL string) (Message, error) {
	p := i18n.For(n.ToLanguage)
	name := portal.Isolate(n.PersonName)
	var subject string
	data := newMailData(p, n.ToName)
	switch n.Kind {
	case portal.TeamNoticeRehired:
		subject = p.T("%s is back: their former groups", name)
		data.Lead = p.T("HR rehired %s. The groups they had when they left were not restored; ask again for those they need:", name)
	case portal.TeamNoticeMoved:
		subject = p.T("%s moved: groups to review", name)
		data.Lead = p.T("%s has a new department or manager. Review the groups owners approved for them:", name)
	default:
		return Message{}, fmt.Errorf("unknown team notice kind %q", n.Kind)
	}
	names := make([]string, len(n.Groups))
	for i, g := range n.Groups {
		names[i] = portal.Isolate(g.DisplayName)
	}
	data.Detail = strings.Join(names, ", ")
	data.Link = strings.TrimRight(baseURL, "/") + "/people/" + n.PersonID
	return render(data, n.ToName, n.ToEmail, subject)
}
