// Package workflow holds Tessera's River jobs and workers: authorisation,
// reminders, deadlines and escalation, commit, membership expiry and email
// notifications. Workers are thin: the work itself is done by the portal's
// RequestProcessor in one transaction, which also enqueues what follows.
package workflow

import "time"

// AuthorizeArgs was the first timer of a request's approval, one job for
// each request (now fired by ApprovalTimersArgs, every minute, for all
// approvals): the jobs an older version scheduled fire that timer, or
// snooze when run early. (A request written by an even older version,
// without its approval, gets it here.)
type AuthorizeArgs struct {
	RequestID string `json:"request_id"`
}

// Kind implements river.JobArgs.
func (AuthorizeArgs) Kind() string { return "authorize" }

// ApprovalTimersArgs fires the approvals' first timers that are due (the
// reminder, or the deadline when there is none): approvals have no job of
// their own until their first timer fires (see DB.FireTimers).
type ApprovalTimersArgs struct{}

// Kind implements river.JobArgs.
func (ApprovalTimersArgs) Kind() string { return "approval_timers" }

// CommitArgs applies approved requests in one transaction: those of a
// decision that could not apply them all itself (one of them cannot be
// applied), or the one a deadline approved.
type CommitArgs struct {
	RequestIDs []string `json:"request_ids"`
	// RequestID is the one request of a commit job queued by an earlier
	// version, which named a single request.
	RequestID string `json:"request_id,omitempty"`
}

// Kind implements river.JobArgs.
func (CommitArgs) Kind() string { return "commit" }

// ReminderArgs reminds the approvers who have not decided yet, and then
// schedules the deadline: an approval has one timer job at a time (in its
// first round, FireTimers fires the first reminder itself).
type ReminderArgs struct {
	ApprovalID string `json:"approval_id"`
	Round      int    `json:"round"`
}

// Kind implements river.JobArgs.
func (ReminderArgs) Kind() string { return "approval_reminder" }

// DeadlineArgs handles an approval whose deadline passed: escalation, or
// the final timeout outcome.
type DeadlineArgs struct {
	ApprovalID string `json:"approval_id"`
	Round      int    `json:"round"`
}

// Kind implements river.JobArgs.
func (DeadlineArgs) Kind() string { return "approval_deadline" }

// ExpireMembershipArgs removes a time-bound membership when it ends, as a
// request of its own.
type ExpireMembershipArgs struct {
	GroupID  string    `json:"group_id"`
	PersonID string    `json:"person_id"`
	Until    time.Time `json:"until"`
}

// Kind implements river.JobArgs.
func (ExpireMembershipArgs) Kind() string { return "expire_membership" }

// NotifyArgs sends one email about a request. It carries IDs only: the
// worker reads the current state when it sends.
type NotifyArgs struct {
	Event       string `json:"event"` // a portal.Event* name
	RequestID   string `json:"request_id"`
	RecipientID string `json:"recipient_id"`
}

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return "notify" }

// HousekeepingArgs removes what has expired: sessions, sign-ins in flight.
type HousekeepingArgs struct{}

// Kind implements river.JobArgs.
func (HousekeepingArgs) Kind() string { return "housekeeping" }

// AuditCheckpointArgs writes a signed checkpoint of the audit log's tip to
// Tessera's log: hourly, and when a worker becomes River's leader.
type AuditCheckpointArgs struct{}

// Kind implements river.JobArgs.
func (AuditCheckpointArgs) Kind() string { return "audit_checkpoint" }

// SyncExportArgs carries the changes of the requests one transaction
// committed to the connected systems at once: one job for a bulk
// decision, so that its requests share one sync and one export of each
// object they change.
type SyncExportArgs struct {
	RequestIDs []string `json:"request_ids"`
	// RequestID is the one request of a job queued by an earlier version,
	// which named a single request.
	RequestID string `json:"request_id,omitempty"`
}

// Kind implements river.JobArgs.
func (SyncExportArgs) Kind() string { return "sync_export" }

// SyncScheduleArgs looks for connected systems whose delta cycle is due.
type SyncScheduleArgs struct{}

// Kind implements river.JobArgs.
func (SyncScheduleArgs) Kind() string { return "sync_schedule" }

// SyncCycleArgs runs one scheduled delta cycle of a connected system.
type SyncCycleArgs struct {
	SystemID string `json:"system_id"`
}

// Kind implements river.JobArgs.
func (SyncCycleArgs) Kind() string { return "sync_cycle" }

// SyncRunArgs runs one run profile that an administrator queued from the
// admin pages; the run's row in run history says which.
type SyncRunArgs struct {
	RunID int64 `json:"run_id"`
	// ConfirmDeletes lets an export delete past the deletion threshold.
	ConfirmDeletes bool `json:"confirm_deletes,omitempty"`
}

// Kind implements river.JobArgs.
func (SyncRunArgs) Kind() string { return "sync_run" }

// HRApplyArgs applies one received HR file or SCIM bulk request.
type HRApplyArgs struct {
	UploadID int64 `json:"upload_id"`
}

// Kind implements river.JobArgs.
func (HRApplyArgs) Kind() string { return "hr_apply" }

// HRWatchArgs looks for files dropped in the HR sources' watched folders.
type HRWatchArgs struct{}

// Kind implements river.JobArgs.
func (HRWatchArgs) Kind() string { return "hr_watch" }

// PasswordNoticeArgs tells a person, at every address they registered,
// that their password was reset or changed or their account unlocked:
// when, and from which address. It carries no secret.
type PasswordNoticeArgs struct {
	PersonID string    `json:"person_id"`
	Event    string    `json:"event"` // reset, unlock, change, helpdesk_reset
	At       time.Time `json:"at"`
	Client   string    `json:"client,omitempty"`
	// Failed names the connected systems that refused or did not answer
	// (their names, never their words: those are in the audit log).
	Failed []string `json:"failed,omitempty"`
}

// Kind implements river.JobArgs.
func (PasswordNoticeArgs) Kind() string { return "password_notice" }

// PasswordExpiryArgs emails the people whose directory password expires
// soon; a periodic job.
type PasswordExpiryArgs struct{}

// Kind implements river.JobArgs.
func (PasswordExpiryArgs) Kind() string { return "password_expiry_reminders" }

// HRDateArgs reads an HR row's start and end dates again: a pre-hire's
// first day begins, or a leaver's last day ends.
type HRDateArgs struct {
	SystemID string `json:"system_id"`
	Anchor   string `json:"anchor"`
}

// Kind implements river.JobArgs.
func (HRDateArgs) Kind() string { return "hr_date" }
