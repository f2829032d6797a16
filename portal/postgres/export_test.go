package postgres

import (
	"context"

	"github.com/tessera-idm/tessera/portal"
)

// FinishThenExec runs a transaction that ends with finish (running first)
// and then issues after on it, as a caller that forgot finish ended it
// would; it returns what finish and the late statement each returned.
func (db *DB) FinishThenExec(ctx context.Context, first, after string) (finishErr, afterErr error) {
	err := db.inTx(ctx, func(tx *finalTx) error {
		finishErr = tx.finish(ctx, stmt{first, nil})
		_, afterErr = tx.Exec(ctx, after)
		return nil
	})
	if finishErr == nil {
		finishErr = err
	}
	return finishErr, afterErr
}

// PasswordEventsSQL is the helpdesk panel's query, for its plan.
var PasswordEventsSQL = passwordEventsSQL

// AuditWritersSQL is the sequencer's query of the writers still running,
// for its plan.
const AuditWritersSQL = auditWriters

// DecideSQL is decide's statements, for their plans; ByKeyPlansSQL is
// the settings they are planned under.
var DecideSQL, ByKeyPlansSQL = []string{decideCheckSQL, decideApproverSQL, decideSettleSQL}, byKeyPlans.SQL

// FindSessionBadgeSQL is the session's statement with the approvals badge,
// for its plan.
var FindSessionBadgeSQL = findSessionBadgeSQL

// NotificationApprovalSQL is Notification's statement for the approval
// waiting for its recipient, for its plan.
const NotificationApprovalSQL = notificationApprovalSQL

// MyApprovalsSQL is MyApprovals' statement for f, for its plan.
func MyApprovalsSQL(f portal.ApprovalFilter) string { return myApprovalsSQL(f) }

// FindSessionSQL is the session's statement without the badge, for its
// plan.
var FindSessionSQL = findSessionSQL
