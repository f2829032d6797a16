package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// workflowRow is an approval workflow as the pipeline reads it.
type workflowRow struct {
	ID, Name, Source, Threshold, Outcome string
	ApproverSetID                        *string
	N                                    int
	ApproverIDs, EscalationIDs           []string
	DeadlineHours, DeadlineDays          *int
	CalendarID                           *string
	ReminderHours                        *int
}

// workflowColumns are a workflow's columns, of approval_workflows w, in the
// order of workflowRow.dest; of a workflow left joined as w where there is
// none, "" and 0 (its ID ""), so that one list serves both reads.
const workflowColumns = `coalesce(w.id::text, ''), coalesce(w.name, ''), coalesce(w.approver_source, ''),
		coalesce(w.threshold, ''), coalesce(w.timeout_outcome, ''), coalesce(w.threshold_n, 0),
		w.approver_ids::text[], w.escalation_ids::text[], w.deadline_hours, w.deadline_business_days, w.calendar_id::text,
		w.reminder_hours, w.approver_set_id::text`

// dest is where a row of workflowColumns scans to.
func (w *workflowRow) dest() []any {
	return []any{&w.ID, &w.Name, &w.Source, &w.Threshold, &w.Outcome, &w.N, &w.ApproverIDs, &w.EscalationIDs,
		&w.DeadlineHours, &w.DeadlineDays, &w.CalendarID, &w.ReminderHours, &w.ApproverSetID}
}

func loadWorkflow(ctx context.Context, tx pgx.Tx, id string) (*workflowRow, error) {
	w := &workflowRow{}
	err := tx.QueryRow(ctx, `SELECT `+workflowColumns+` FROM approval_workflows w WHERE w.id = $1`, id).Scan(w.dest()...)
	return w, err
}

// deadline is when an approval started now must be decided, or nil.
func (db *DB) deadline(ctx context.Context, tx pgx.Tx, w *workflowRow, now time.Time) (*time.Time, error) {
	switch {
	case w.DeadlineHours != nil:
		d := now.Add(time.Duration(*w.DeadlineHours) * time.Hour)
		return &d, nil
	case w.DeadlineDays != nil:
		cal, err := db.calendarTx(ctx, tx, w.CalendarID)
		if err != nil {
			return nil, err
		}
		d := cal.AddBusinessDays(now, *w.DeadlineDays)
		return &d, nil
	}
	return nil, nil
}

// requestHead is a request as the pipeline's steps read it, locked.
type requestHead struct {
	ID, Status, Requester, Operation, GroupID, PersonID, WorkflowID string
	Changes                                                         map[string]string
	MemberUntil                                                     *time.Time
	Approved                                                        bool // its approval was granted
}

// requestHeadColumns are a requestHead's columns (but its ID), of requests
// r, in the order of requestHead.dest.
const requestHeadColumns = `status, coalesce(requester_id::text, ''), operation, coalesce(group_id::text, ''),
		coalesce(person_id::text, ''), coalesce(workflow_id::text, ''), changes, member_until,
		coalesce((SELECT status = 'approved' FROM approvals WHERE request_id = r.id), false)`

func (h *requestHead) dest() []any {
	return []any{&h.Status, &h.Requester, &h.Operation, &h.GroupID, &h.PersonID, &h.WorkflowID, &h.Changes, &h.MemberUntil, &h.Approved}
}

// Lock order: a request before its approval, requests in ID order. Every transaction that locks both a request and its
// approval takes them in this order, so that none can deadlock another.

// lockRequestOf locks the request of an approval, before the approval.
func lockRequestOf(ctx context.Context, tx pgx.Tx, approvalID string) error {
	_, err := tx.Exec(ctx, "SELECT 1 FROM requests WHERE id = (SELECT request_id FROM approvals WHERE id = $1) FOR UPDATE", approvalID)
	return err
}

func lockRequest(ctx context.Context, tx pgx.Tx, id string) (requestHead, error) {
	h := requestHead{ID: id}
	err := tx.QueryRow(ctx, `SELECT `+requestHeadColumns+` FROM requests r WHERE id = $1 FOR UPDATE`, id).Scan(h.dest()...)
	return h, err
}

// Authorize starts a request's approval: it resolves the approvers (and
// their deputies), records the approval, tells the approvers, and returns
// when the approval's first timer is due (its reminder, or its deadline;
// zero for none). Submit does this in the transaction that writes the
// request (authorizeTx), with no job: FireTimers fires the first timer.
// Authorize runs for the authorize jobs of older versions, one a request,
// which were that timer: it fires the timer when due; run early, it only
// says when to run next; run again after it fired, it does nothing more
// (Remind reminds once per round). A request written before approvals
// were opened at submission gets its approval here.
func (db *DB) Authorize(ctx context.Context, requestID string) (time.Time, error) {
	var wake time.Time
	var fire func() error
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var err error
		wake, fire, _, err = db.authorizeTx(ctx, tx, requestID)
		return err
	})
	if err == nil && fire != nil {
		err = fire()
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: authorize %s: %w", requestID, err)
	}
	return wake, nil
}

// authorizeTx is Authorize in tx: for a request still without an approval
// (Submit calls it in the transaction that writes the request) it writes
// the approval, or denies the request when no one can approve it (denied
// true); for one with an approval it says when its first timer is due, or
// returns the timer to fire (after tx) when it is due already.
func (db *DB) authorizeTx(ctx context.Context, tx pgx.Tx, requestID string) (wake time.Time, fire func() error, denied bool, err error) {
	var h authorizeHead
	if err := h.scan(tx.QueryRow(ctx, authorizeHeadSQL, requestID)); err != nil {
		return wake, nil, false, err
	}
	return db.authorizeRead(ctx, tx, requestID, &h, nil)
}

// authorizeHeadSQL reads what authorizeTx needs in one statement: the
// request (locked), its approval if it has one, its workflow and the
// approvers it may name from the request itself. No row: there is no such
// request, or it needs no approval.
const authorizeHeadSQL = `SELECT r.status, coalesce(r.requester_id::text, ''), a.id::text, a.status, a.round, a.deadline,
		array(SELECT person_id::text FROM group_owners WHERE group_id = r.group_id),
		(SELECT manager_id::text FROM people WHERE id = r.person_id), ` + workflowColumns + `
	FROM requests r JOIN approval_workflows w ON w.id = r.workflow_id LEFT JOIN approvals a ON a.request_id = r.id
	WHERE r.id = $1 FOR UPDATE OF r`

// authorizeHead is a row of authorizeHeadSQL.
type authorizeHead struct {
	found                      bool
	status, requester          string
	approvalID, approvalStatus *string
	round                      *int
	due                        *time.Time
	c                          candidates
	w                          workflowRow
}

// scan reads the row, if there is one.
func (h *authorizeHead) scan(row pgx.Row) error {
	err := row.Scan(append([]any{&h.status, &h.requester, &h.approvalID, &h.approvalStatus, &h.round, &h.due,
		&h.c.Owners, &h.c.Manager}, h.w.dest()...)...)
	if isNoRows(err) {
		return nil
	}
	h.found = err == nil
	return err
}

// authorizeRead is authorizeTx once its head is read (Submit has it from
// what it read and writes, and sends the request with the approval's
// statements, queued ahead of them). With submit, the transaction is
// Submit's: the approval's first timer is scheduled in it, before the
// approval is written, so that writing the approval can end it.
func (db *DB) authorizeRead(ctx context.Context, tx pgx.Tx, requestID string, h *authorizeHead, submit *finalTx) (wake time.Time, fire func() error, denied bool, err error) {
	if !h.found || h.status != string(portal.StatusAuthorizing) {
		return wake, nil, false, nil
	}
	requester, c, w, approvalID, due := h.requester, h.c, &h.w, h.approvalID, h.due
	if approvalID != nil {
		// Later rounds (after an escalation) have timer jobs of their
		// own.
		if *h.approvalStatus != "pending" || *h.round != 1 || due == nil {
			return wake, nil, false, nil
		}
		now := db.now()
		switch {
		case !now.Before(*due):
			fire = func() error { return db.Deadline(ctx, *approvalID, 1) }
		case w.ReminderHours != nil && !now.Before(due.Add(-time.Duration(*w.ReminderHours)*time.Hour)):
			fire = func() error { return db.Remind(ctx, *approvalID, 1) }
		default:
			wake, _ = nextTimer(w, now, *due)
		}
		return wake, fire, false, nil
	}
	approvers, err := db.resolveApprovers(ctx, w, requester, c)
	if err != nil {
		return wake, nil, false, err
	}
	if len(approvers) == 0 {
		return wake, nil, true, finish(ctx, tx, db, requestID, requester, portal.StatusDenied, "",
			portal.Textf("No one can approve this request: workflow “%s” names no approver other than you.", w.Name))
	}
	needed := 1
	switch w.Threshold {
	case "n":
		needed = min(w.N, len(approvers))
	case "all":
		needed = len(approvers)
	}
	now := db.now()
	deadline, err := db.deadline(ctx, tx, w, now)
	if err != nil {
		return wake, nil, false, err
	}
	id := newUUID()
	dueText := ""
	text := portal.Textf("Sent to %s; %d of %d needed.", "", needed, len(approvers))
	if deadline != nil {
		// Each reader reads the due time in their own zone and language;
		// the English copy (audit, command line) has it in UTC.
		due := portal.At(*deadline)
		dueText = "; due " + due.String()
		text = portal.Textf("Sent to %s; %d of %d needed; due %s.", "", needed, len(approvers), due)
		wake, _ = nextTimer(w, now, *deadline)
	}
	// The first timer needs no job: FireTimers fires it when due.
	return wake, nil, false, db.addApprovers(ctx, tx, submit, id, requestID, requester, approvers, false,
		portal.KindApprovalRequested, "Sent to ", fmt.Sprintf("; %d of %d needed%s.", needed, len(approvers), dueText), text,
		&newApproval{needed, deadline})
}

// newApproval is an approval addApprovers writes, in the statement that
// adds its first approvers.
type newApproval struct {
	Needed   int
	Deadline *time.Time
}

// firstTimersDueSQL finds the approvals whose first timer is due now, in
// their first round (later rounds, after an escalation, have timer jobs of
// their own): the reminder, unless it was due before the approval was
// opened (then the deadline is its first timer, as nextTimer says) or has
// reminded already; and the deadline, unless a reminder (whose job then
// waits for the deadline) came first. A deadline and reminder both passed
// fire the deadline alone, as a timer fired late does. Index look-ups of
// the pending approvals by deadline (approvals_pending), up to the
// longest reminder ahead.
//
// Now is the database's, as approvals.created_at is: not DB.Clock, which
// the sweep, running beside everything, would read at any time.
const firstTimersDueSQL = `SELECT a.id::text, a.deadline > now() AS remind
	FROM approvals a JOIN requests r ON r.id = a.request_id JOIN approval_workflows w ON w.id = r.workflow_id
	WHERE a.status = 'pending' AND a.round = 1 AND a.reminded_round < 1
		AND a.deadline <= now() + make_interval(hours => (SELECT coalesce(max(reminder_hours), 0) FROM approval_workflows))
		AND (a.deadline <= now() OR w.reminder_hours IS NOT NULL
			AND a.deadline - make_interval(hours => w.reminder_hours) BETWEEN a.created_at AND now())
	ORDER BY a.deadline`

// FireTimers fires the first timers of the approvals whose timer is due
// (firstTimersDueSQL): the reminder (Remind, which schedules the
// deadline's job) or the deadline (Deadline). An approval costs no job
// until then, and most, decided before, none at all. Each timer fires in
// a transaction of its own, once: Remind and Deadline do nothing for an
// approval that was reminded, decided or escalated meanwhile (by another
// sweep, or a decision). It returns how many were due; the error joins
// those that failed.
func (db *DB) FireTimers(ctx context.Context) (int, error) {
	type due struct {
		id     string
		remind bool
	}
	rows, err := db.Pool.Query(ctx, firstTimersDueSQL)
	if err != nil {
		return 0, fmt.Errorf("postgres: approval timers: %w", err)
	}
	timers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
		var d due
		return d, row.Scan(&d.id, &d.remind)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: approval timers: %w", err)
	}
	var errs []error
	for _, t := range timers {
		if ctx.Err() != nil {
			break
		}
		if t.remind {
			err = db.Remind(ctx, t.id, 1)
		} else {
			err = db.Deadline(ctx, t.id, 1)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return len(timers), errors.Join(append(errs, ctx.Err())...)
}

// withDeputy is how the timeline names an approver whose deputy stands in.
var withDeputy = portal.Mark("%s (and %s, deputy while away)")

// nextTimer says when an approval's next timer is due: its reminder while
// the workflow has one still ahead (reminder true), and otherwise its
// deadline.
func nextTimer(w *workflowRow, now, deadline time.Time) (at time.Time, reminder bool) {
	if w.ReminderHours != nil {
		if at := deadline.Add(-time.Duration(*w.ReminderHours) * time.Hour); at.After(now) {
			return at, true
		}
	}
	return deadline, false
}

// scheduleDeadline schedules the one timer of an approval's later round (an
// escalation): its reminder when the workflow has one still ahead (the
// reminder then schedules the deadline), and otherwise its deadline.
func (db *DB) scheduleDeadline(ctx context.Context, tx pgx.Tx, w *workflowRow, approvalID string, round int, now time.Time, deadline *time.Time) error {
	if deadline == nil {
		return nil
	}
	if at, reminder := nextTimer(w, now, *deadline); reminder {
		return db.insertJob(ctx, tx, workflow.ReminderArgs{ApprovalID: approvalID, Round: round}, &river.InsertOpts{ScheduledAt: at})
	}
	return db.insertJob(ctx, tx, workflow.DeadlineArgs{ApprovalID: approvalID, Round: round}, &river.InsertOpts{ScheduledAt: *deadline})
}

// candidates are the approvers a workflow may name from the request
// itself: the owners of its group, the manager of its person.
type candidates struct {
	Owners  []string
	Manager *string
}

// resolveApprovers lists the approvers a workflow names for a request,
// never including the requester.
func (db *DB) resolveApprovers(ctx context.Context, w *workflowRow, requester string, c candidates) ([]string, error) {
	var ids []string
	switch w.Source {
	case "owners":
		ids = c.Owners
	case "manager":
		if c.Manager != nil {
			ids = []string{*c.Manager}
		}
	case "named":
		ids = w.ApproverIDs
	case "set":
		if w.ApproverSetID == nil {
			return nil, nil
		}
		set, err := db.FindSet(ctx, *w.ApproverSetID)
		if err != nil {
			return nil, err
		}
		// The set's people, first by name; a rule that selects hundreds of
		// approvers is better served by a group's owners.
		_, sample, err := db.PreviewRule(ctx, set.Rule, portal.MaxSetApprovers)
		if err != nil {
			return nil, err
		}
		for _, p := range sample {
			ids = append(ids, p.ID)
		}
	}
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == requester })
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// stmt is one SQL statement to run ahead of another in the same batch.
type stmt struct {
	SQL  string
	Args []any
}

// genericPlans makes the rest of a transaction use generic plans. The
// statements over arrays of IDs (id = ANY ($1), unnest) look cheaper to
// Postgres with custom plans, which know the array's length, so it would
// plan them afresh on every call: for one ID, planning costs up to six
// times what running them does. Their generic plans (index look-ups per
// ID) are right for any number of IDs.
var genericPlans = stmt{SQL: "SET LOCAL plan_cache_mode = force_generic_plan"}

// byKeyPlans is genericPlans without sequential scans where an index
// serves, for decide's checks and decisions, until byKeyPlansEnd: a
// generic plan is cached for the connection's life, and those made just
// after approvals and approvers were analyzed small (an autoanalyze of a
// young database, at 50 changed rows) read all of approvals for "a.id =
// ANY ($1)" and all of approvers for each decision's checks, cheaper for
// their two or three pages then and ever dearer as they grew, until the
// next analyze: in BenchmarkRequestPipelineOneByOne, 41 to 135 buffers a
// decision's check instead of 16, run after run. Those statements look
// rows up by key, which an index does at any size. (What follows in the
// transaction, applying the requests, is planned as before: without
// sequential scans it took three times as long.)
var byKeyPlans = stmt{SQL: "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)"}

const byKeyPlansEnd = "SET LOCAL enable_seqscan TO DEFAULT"

// decide's statements, over the approvals $1 (text[]) and the deciding
// person $2, planned under byKeyPlans. decideCheckSQL reads and locks each
// approval with what the checks need (decision.problem).
const decideCheckSQL = `SELECT a.id::text, a.request_id::text, a.status,
				coalesce((SELECT requester_id::text FROM requests WHERE id = a.request_id), ''),
				me.principal::text, (SELECT display_name FROM people WHERE id = me.principal), me.decision,
				(SELECT p.display_name FROM approvers b JOIN people p ON p.id = b.person_id WHERE b.approval_id = a.id
					AND coalesce(b.on_behalf_of, b.person_id) = me.principal AND b.decision IS NOT NULL LIMIT 1)
			FROM approvals a
			LEFT JOIN LATERAL (SELECT coalesce(on_behalf_of, person_id) AS principal, decision FROM approvers
				WHERE approval_id = a.id AND person_id = $2 LIMIT 1) me ON true
			WHERE a.id = ANY ($1::text[]::uuid[]) ORDER BY a.id FOR UPDATE OF a`

// decideApproverSQL records the decision $3 (with the reason $4) of each
// approver row of $2 whose checks pass, by conditions of its own.
const decideApproverSQL = `UPDATE approvers me SET decision = $3, reason = $4, decided_at = now()
			WHERE approval_id = ANY ($1::text[]::uuid[]) AND person_id = $2 AND (
				SELECT count(*) FROM approvers b WHERE b.approval_id = me.approval_id AND b.decision IS NOT NULL
				AND coalesce(b.on_behalf_of, b.person_id) = coalesce(me.on_behalf_of, me.person_id)) = 0
				AND (SELECT a.status = 'pending' AND r.requester_id IS DISTINCT FROM $2 FROM approvals a
					JOIN requests r ON r.id = a.request_id WHERE a.id = me.approval_id)
			RETURNING approval_id::text`

// decideSettleSQL settles as approved the approvals that have enough
// approvals now, of those $2 decided in this transaction.
const decideSettleSQL = `UPDATE approvals a SET status = 'approved' WHERE id = ANY ($1::text[]::uuid[]) AND needed <= (
				SELECT count(DISTINCT coalesce(on_behalf_of, person_id)) FROM approvers WHERE approval_id = a.id AND decision = 'approved')
				AND a.status || '' = 'pending'
				AND (SELECT me.decided_at = now() FROM approvers me WHERE me.approval_id = a.id AND me.person_id = $2)
				RETURNING request_id::text`

// addApprovers records approvers (and the deputies standing in for them
// today) and tells each of them. The timeline event of kind that comes
// with them names them between prefix and suffix in English, and as text,
// whose first argument the statement sets to their names; it is written by
// the same statement.
//
// With last, the transaction ends with these statements when nothing is
// left to follow them (no mail to queue): their round trip carries the
// COMMIT (finalTx.finish). With open, the statement writes the approval
// too (approvalID, of requestID), ahead of its approvers.
func (db *DB) addApprovers(ctx context.Context, tx pgx.Tx, last *finalTx, approvalID, requestID, requester string, ids []string, escalation bool,
	kind portal.EventKind, prefix, suffix string, text portal.Text, open *newApproval) error {
	event := portal.EventApprovalRequested
	if escalation {
		event = portal.EventEscalated
	}
	b := &pgx.Batch{}
	b.Queue(genericPlans.SQL)
	args := []any{approvalID, ids, escalation, nullable(requester), requestID, kind, prefix, suffix, storedText(text), withDeputy}
	with := "WITH "
	if open != nil {
		args = append(args, open.Needed, open.Deadline)
		with = `WITH approval AS (INSERT INTO approvals (id, request_id, needed, deadline) VALUES ($1, $5, $11::int, $12::timestamptz)), `
	}
	var tell []string // approvers and deputies, each approver first
	b.Queue(with+`added AS (
			INSERT INTO approvers (approval_id, person_id, escalation) SELECT $1, unnest($2::text[]::uuid[]), $3
			ON CONFLICT DO NOTHING RETURNING person_id),
		list AS (
			SELECT p.id, p.display_name, p.sort_name, d.deputy_id, dp.display_name AS deputy_name
			FROM added JOIN people p ON p.id = added.person_id
			LEFT JOIN deputies d ON d.person_id = p.id AND current_date BETWEEN d.starts AND d.ends
				AND d.deputy_id IS DISTINCT FROM $4::uuid AND d.deputy_id <> ALL ($2::text[]::uuid[])
			LEFT JOIN people dp ON dp.id = d.deputy_id),
		deputized AS (
			INSERT INTO approvers (approval_id, person_id, on_behalf_of, escalation)
			SELECT $1, deputy_id, id, $3 FROM list WHERE deputy_id IS NOT NULL ON CONFLICT DO NOTHING),
		noted AS (
			INSERT INTO request_events (request_id, kind, detail, detail_text)
			SELECT $5, $6, $7::text || coalesce(string_agg(display_name || coalesce(' (and ' || deputy_name || ', deputy while away)', ''),
				', ' ORDER BY sort_name, id), '') || $8::text,
				jsonb_set($9::jsonb, '{a,0}', jsonb_build_object('t', jsonb_build_object('f', coalesce(string_agg('%s', ', '), ''),
					'a', coalesce(jsonb_agg(CASE WHEN deputy_name IS NULL THEN jsonb_build_object('s', display_name)
						ELSE jsonb_build_object('t', stored_text($10::text, display_name, deputy_name)) END ORDER BY sort_name, id), '[]')))) FROM list)
		SELECT id::text, coalesce(deputy_id::text, '') FROM list ORDER BY sort_name, id`, args...).Query(func(rows pgx.Rows) error {
		var id, deputy string
		_, err := pgx.ForEachRow(rows, []any{&id, &deputy}, func() error {
			if tell = append(tell, id); deputy != "" {
				tell = append(tell, deputy)
			}
			return nil
		})
		return err
	})
	if last != nil && !db.Email {
		return last.finishBatch(ctx, b)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if !db.Email || len(tell) == 0 {
		return nil
	}
	// One insert for every approver's mail.
	jobs := make([]river.InsertManyParams, len(tell))
	for i, id := range tell {
		jobs[i] = river.InsertManyParams{Args: workflow.NotifyArgs{Event: event, RequestID: requestID, RecipientID: id}}
	}
	return db.insertJobs(ctx, tx, jobs...)
}

// finish ends a request that will not be committed (denied, expired),
// records why and tells the requester.
func finish(ctx context.Context, tx pgx.Tx, db *DB, requestID, requester string, status portal.RequestStatus, actorID string, detail portal.Text, earlier ...event) error {
	notice := portal.EventDenied
	if status == portal.StatusExpired {
		notice = portal.EventExpired
	}
	if err := db.notify(ctx, tx, notice, requestID, requester); err != nil {
		return err
	}
	return recordStatus(ctx, tx, requestID, status, "request_"+string(status), auditDetail(detail),
		append(earlier, event{portal.EventKind(status), actorID, detail})...)
}

// Decide records the viewer's decision on one approval; see DecideMany.
func (db *DB) Decide(ctx context.Context, v portal.Viewer, approvalID string, approve bool, reason string) error {
	errs, err := db.DecideMany(ctx, v, []string{approvalID}, approve, reason)
	if err != nil {
		return err
	}
	return errs[0]
}

// decision is one approval as DecideMany reads it, locked.
type decision struct {
	ApprovalID, RequestID, Status, Requester string
	// Principal is whom the viewer decides for (themself, or the approver
	// they are deputy for); nil when the viewer is not an approver.
	Principal, PrincipalName, Decided, ByOther *string
}

// DecideMany records the viewer's decision on several approvals in one
// transaction and, under each approval's row lock, settles it: one
// rejection denies the request; enough approvals commit it, in the same
// transaction (the change applied, the sync hand-off queued: a decision
// costs one transaction, and no commit job to wait for). Should applying
// fail (a change that can no longer be made: the group's last owner
// removed meanwhile, a value Postgres refuses), the decision is made again
// with one commit job for the requests it settles, which applies each on
// its own and fails the one that cannot be applied with the reason
// (Commit). Concurrent decisions queue on the locks (taken in ID order, so
// that two bulk decisions cannot deadlock), so a request is never
// committed twice nor after a rejection. The result has one entry per ID:
// nil when decided, or why not (nothing is recorded for it); err is for a
// failure of the whole call.
func (db *DB) DecideMany(ctx context.Context, v portal.Viewer, approvalIDs []string, approve bool, reason string) ([]error, error) {
	reason = strings.TrimSpace(reason)
	if len([]rune(reason)) > portal.MaxJustification {
		return nil, portal.Errorf(portal.EINVALID, "The reason is too long; use at most %d characters.", portal.MaxJustification)
	}
	if !approve && reason == "" {
		return nil, portal.Errorf(portal.EINVALID, "Say why you reject the request; the requester will read it.")
	}
	if len(approvalIDs) > portal.MaxBulkDecisions {
		return nil, portal.Errorf(portal.EINVALID, "Decide on at most %d requests at once.", portal.MaxBulkDecisions)
	}
	notFound := portal.Errorf(portal.ENOTFOUND, "There is no such approval.")
	errs := make([]error, len(approvalIDs))
	var ids []string
	for i, id := range approvalIDs {
		if !validID(id) {
			errs[i] = notFound
		} else {
			ids = append(ids, strings.ToLower(id))
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return errs, nil
	}
	verdict := "rejected"
	if approve {
		verdict = "approved"
	}
	found, tried, err := db.decide(ctx, v, ids, approve, verdict, reason, approve)
	if err != nil && tried && ctx.Err() == nil {
		// Applying failed, and with it the whole transaction: decide
		// again, leaving the commit to its job (see above).
		found, _, err = db.decide(ctx, v, ids, approve, verdict, reason, false)
	}
	if err != nil {
		return nil, storeError("decide", err)
	}
	for i, id := range approvalIDs {
		if errs[i] != nil {
			continue
		}
		problem, ok := found[strings.ToLower(id)]
		if !ok {
			problem = notFound
		}
		errs[i] = problem
	}
	return errs, nil
}

// decide is DecideMany's transaction over the approvals ids (valid, sorted,
// distinct): it returns, for each approval found, nil when decided or why
// not. With apply, the requests the decision settles are applied in it
// (tried says it got that far); without, one commit job applies them.
func (db *DB) decide(ctx context.Context, v portal.Viewer, ids []string, approve bool, verdict, reason string,
	apply bool) (found map[string]error, tried bool, err error) {
	err = db.inTx(ctx, func(tx *finalTx) error {
		found = make(map[string]error, len(ids))
		// Each part is an index look-up per approval (scalar subqueries, a
		// lateral subquery kept apart by its LIMIT), so that the generic
		// plan is right for any number of approvals.
		var ok []decision
		var heads []requestHead
		var syncing bool
		b := &pgx.Batch{}
		b.Queue(byKeyPlans.SQL)
		// The requests first (see lockRequestOf), then the approvals. A
		// decision that may apply them reads them as it locks them, and
		// whether a connected system is to be told (lockForApply). Each
		// request is looked up by its key on its own (lockedByKey).
		locked := `FROM (SELECT request_id FROM approvals WHERE id = ANY ($1::text[]::uuid[]) ORDER BY 1) AS k(id), ` +
			lockedByKey + ` ORDER BY r.id`
		if apply {
			b.Queue(`SELECT r.id::text, `+requestHeadColumns+`, `+syncingColumn+` `+locked, ids).Query(func(rows pgx.Rows) error {
				var err error
				heads, syncing, err = scanHeads(rows)
				return err
			})
		} else {
			b.Queue(`SELECT 1 `+locked, ids)
		}
		b.Queue(decideCheckSQL, ids, v.PersonID).Query(func(rows pgx.Rows) error {
			var d decision
			_, err := pgx.ForEachRow(rows, []any{&d.ApprovalID, &d.RequestID, &d.Status, &d.Requester,
				&d.Principal, &d.PrincipalName, &d.Decided, &d.ByOther}, func() error {
				problem := d.problem(v)
				found[d.ApprovalID] = problem
				if problem == nil {
					ok = append(ok, d)
				}
				return nil
			})
			return err
		})
		// The decisions, in the same round trip, after the checks above
		// and under their locks: the update decides only where the checks
		// pass (d.problem), by conditions of its own. The checks read the
		// decisions in the snapshot taken before the locks were granted:
		// the same person deciding twice at once (a double click), or an
		// approver and their deputy at once, pass them both; the update,
		// whose snapshot is taken after, tells the second apart.
		//
		// Its conditions, and the settling update's below, are scalar
		// subqueries over each approval's own rows, looked up by key: as
		// NOT EXISTS and EXISTS, Postgres may join them, and a generic
		// plan made while approvers was small read every decided
		// approver (a hash anti join over a sequential scan) for each
		// decision, or every approver to find the few decided now().
		var updated []string
		b.Queue(decideApproverSQL, ids, v.PersonID, verdict, reason).Query(func(rows pgx.Rows) error {
			var err error
			updated, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		// Enough approvals (counted by whom the approvers stand for, under
		// the row locks, so exactly) settle an approval.
		var settled []string
		if approve {
			// Only those this viewer's update decided (decided_at is
			// the transaction's now()): whoever else posts, a pending
			// approval is never settled by their post. And only pending
			// ones, which that update's check implies but a transaction
			// begun in the same microsecond could not tell apart: the
			// status is compared as an expression (status || ''), which
			// does not match approvals_pending's predicate, so Postgres
			// reaches these few by their IDs rather than by reading
			// every pending approval whenever its statistics say few are
			// pending.
			b.Queue(decideSettleSQL, ids, v.PersonID).Query(func(rows pgx.Rows) error {
				var err error
				settled, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
		}
		b.Queue(byKeyPlansEnd)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		for _, id := range updated {
			if problem, checked := found[id]; !checked || problem != nil {
				// Never so: the update's conditions are the checks'.
				return fmt.Errorf("approval %s decided against the checks: %v", id, problem)
			}
		}
		if len(ok) == 0 {
			return nil
		}
		again := portal.Errorf(portal.ECONFLICT, "This request was decided meanwhile, by you or for the approver you stand for.")
		var recs []recording
		for _, d := range ok {
			if !slices.Contains(updated, d.ApprovalID) {
				found[d.ApprovalID] = again
				continue
			}
			detail := portal.Textf("%s", reason)
			if *d.Principal != v.PersonID && d.PrincipalName != nil {
				detail = portal.Textf("As deputy for %s.", *d.PrincipalName)
				if reason != "" {
					detail = portal.Textf("As deputy for %s. %s", *d.PrincipalName, reason)
				}
			}
			rec := recording{d.RequestID, "approval_" + verdict, map[string]any{"approval": d.ApprovalID, "reason": reason},
				[]event{{portal.EventKind(verdict), v.PersonID, detail}}}
			if !approve {
				// One rejection ends the approval and denies the request.
				if err := db.notify(ctx, tx, portal.EventDenied, d.RequestID, d.Requester); err != nil {
					return err
				}
				denied := portal.Textf("Rejected by %s: %s", v.DisplayName, reason)
				rec.Action = "request_denied"
				maps.Copy(rec.Details, auditDetail(denied))
				rec.Events = append(rec.Events, event{portal.KindDenied, v.PersonID, denied})
			}
			recs = append(recs, rec)
		}
		if len(recs) == 0 {
			return nil
		}
		if !approve {
			return tx.finish(ctx,
				stmt{`UPDATE approvals SET status = 'rejected' WHERE id = ANY ($1::text[]::uuid[])`, []any{updated}},
				recordManyStmt(portal.StatusDenied, recs...))
		}
		if len(settled) == 0 {
			return tx.finish(ctx, recordManyStmt("", recs...))
		}
		if !apply {
			// One commit job for the requests settled, and the records
			// with the COMMIT.
			if err := db.insertJob(ctx, tx, workflow.CommitArgs{RequestIDs: settled}, nil); err != nil {
				return err
			}
			return tx.finish(ctx, recordManyStmt("", recs...))
		}
		// The requests settled are committed here, as Commit would: in ID
		// order, after the decisions' records (the timeline says approved,
		// then committed).
		tried = true
		var a applying
		for _, h := range heads {
			if !slices.Contains(settled, h.ID) || h.Status != string(portal.StatusAuthorizing) {
				continue
			}
			h.Approved = true
			a.notify(db, portal.EventCompleted, h.ID, h.Requester)
			if err := db.applyLocked(ctx, tx, &a, h, "", syncing); err != nil {
				return err
			}
		}
		// The decisions' records and the commits' in one statement.
		return a.flush(ctx, tx, db, syncing, recs...)
	})
	return found, tried, err
}

// decisionWord is an approval's status as the word a sentence about it
// ends in ("it was approved"), in the reader's language.
func decisionWord(status string) portal.Text {
	switch status {
	case "approved":
		return portal.Textf("approved")
	case "rejected":
		return portal.Textf("rejected")
	case "expired":
		return portal.Textf("ended by its deadline")
	case "canceled":
		return portal.Textf("canceled")
	}
	return portal.Textf("%s", status)
}

// problem says why the viewer cannot decide on d, or nil.
func (d *decision) problem(v portal.Viewer) error {
	switch {
	case d.Requester == v.PersonID:
		return portal.Errorf(portal.EFORBIDDEN, "You cannot decide on your own request.")
	case d.Principal == nil:
		return portal.Errorf(portal.EFORBIDDEN, "You are not an approver of this request.")
	case d.Status != "pending":
		return portal.Errorf(portal.ECONFLICT, "This request is no longer waiting for a decision: it was %s.", decisionWord(d.Status))
	case d.Decided != nil:
		return portal.Errorf(portal.ECONFLICT, "You already %s this request.", decisionWord(*d.Decided))
	case d.ByOther != nil:
		return portal.Errorf(portal.ECONFLICT, "%s already decided on this request for the same approver.", *d.ByOther)
	}
	return nil
}

// Commit applies requests whose approval was granted, in one transaction.
// It is idempotent: a request that is no longer authorizing, or not
// approved, is left alone. When one of several cannot be applied (say, it
// would remove a group's last owner), each is committed on its own, and a
// request that cannot be is marked failed with the reason.
func (db *DB) Commit(ctx context.Context, requestIDs []string) error {
	ids := slices.DeleteFunc(slices.Clone(requestIDs), func(id string) bool { return !validID(id) })
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx *finalTx) error {
		heads, syncing, err := lockForApply(ctx, tx, ids)
		if err != nil {
			return err
		}
		var a applying
		for _, h := range heads {
			if h.Status != string(portal.StatusAuthorizing) || !h.Approved {
				continue
			}
			a.notify(db, portal.EventCompleted, h.ID, h.Requester)
			if err := db.applyLocked(ctx, tx, &a, h, "", syncing); err != nil {
				return err
			}
		}
		return a.flush(ctx, tx, db, syncing)
	})
	switch {
	case err == nil:
		return nil
	case len(ids) > 1:
		// One request must not hold the others back: each on its own.
		var errs []error
		for _, id := range ids {
			errs = append(errs, db.Commit(ctx, []string{id}))
		}
		return errors.Join(errs...)
	case portal.ErrorCode(err) != portal.EINTERNAL:
		return db.failCommit(ctx, ids[0], err)
	case refusedData(err):
		// The database refuses the change itself (a value out of range):
		// trying again cannot help.
		return db.failCommit(ctx, ids[0], portal.Errorf(portal.EINVALID, "the new value is not accepted."))
	}
	return fmt.Errorf("postgres: commit %s: %w", ids[0], err)
}

// refusedData reports whether err is Postgres refusing the data itself
// (SQLSTATE classes 22, data exception, and 23, integrity constraint
// violation) rather than failing to run.
func refusedData(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

// failCommit marks an approved request failed because its change cannot
// be applied (problem says why, in words for the requester), and tells the
// requester.
func (db *DB) failCommit(ctx context.Context, requestID string, problem error) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		h, err := lockRequest(ctx, tx, requestID)
		if err != nil || h.Status != string(portal.StatusAuthorizing) {
			return err
		}
		detail := portal.Textf("The change could not be made: %s", portal.Reason(problem))
		if err := db.notify(ctx, tx, portal.EventFailed, requestID, h.Requester); err != nil {
			return err
		}
		return recordStatus(ctx, tx, requestID, portal.StatusFailed, "request_failed", auditDetail(detail),
			event{portal.KindFailed, "", detail})
	})
	if err != nil {
		return fmt.Errorf("postgres: fail commit %s: %w", requestID, err)
	}
	return nil
}

// Remind tells the approvers who have not decided that the deadline nears,
// and schedules the deadline. An approval decided meanwhile needs neither.
func (db *DB) Remind(ctx context.Context, approvalID string, round int) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var requestID string
		var deadline *time.Time
		if err := lockRequestOf(ctx, tx, approvalID); err != nil {
			return err
		}
		// Once per round, however often the timer runs.
		err := tx.QueryRow(ctx, `UPDATE approvals SET reminded_round = $2
			WHERE id = $1 AND status = 'pending' AND round = $2 AND reminded_round < $2 RETURNING request_id, deadline`,
			approvalID, round).Scan(&requestID, &deadline)
		if isNoRows(err) {
			return nil
		} else if err != nil {
			return err
		}
		if deadline != nil {
			if err := db.insertJob(ctx, tx, workflow.DeadlineArgs{ApprovalID: approvalID, Round: round},
				&river.InsertOpts{ScheduledAt: *deadline}); err != nil {
				return err
			}
		}
		ids, err := undecided(ctx, tx, approvalID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := db.notify(ctx, tx, portal.EventReminder, requestID, id); err != nil {
				return err
			}
		}
		return addEvent(ctx, tx, requestID, portal.KindReminded, "", portal.Textf("Approvers reminded: %d.", len(ids)))
	})
	if err != nil {
		return fmt.Errorf("postgres: remind %s: %w", approvalID, err)
	}
	return nil
}

// undecided lists approvers (and deputies) whose principal has not decided.
func undecided(ctx context.Context, tx pgx.Tx, approvalID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT a.person_id::text FROM approvers a WHERE a.approval_id = $1 AND NOT EXISTS (
		SELECT 1 FROM approvers b WHERE b.approval_id = a.approval_id
		AND coalesce(b.on_behalf_of, b.person_id) = coalesce(a.on_behalf_of, a.person_id) AND b.decision IS NOT NULL)
		ORDER BY 1`, approvalID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Deadline handles an approval still pending at its deadline: it escalates
// once to the workflow's escalation approvers with a fresh deadline, and
// after that applies the workflow's final timeout outcome.
func (db *DB) Deadline(ctx context.Context, approvalID string, round int) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var requestID string
		var escalated bool
		if err := lockRequestOf(ctx, tx, approvalID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "SELECT request_id, escalated FROM approvals WHERE id = $1 AND status = 'pending' AND round = $2 FOR UPDATE",
			approvalID, round).Scan(&requestID, &escalated)
		if isNoRows(err) {
			return nil
		} else if err != nil {
			return err
		}
		h, err := lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		w, err := loadWorkflow(ctx, tx, h.WorkflowID)
		if err != nil {
			return err
		}
		escalateTo := slices.DeleteFunc(slices.Clone(w.EscalationIDs), func(id string) bool { return id == h.Requester })
		if !escalated && len(escalateTo) > 0 {
			now := db.now()
			deadline, err := db.deadline(ctx, tx, w, now)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE approvals SET escalated = true, round = round + 1, deadline = $2 WHERE id = $1",
				approvalID, deadline); err != nil {
				return err
			}
			if err := db.addApprovers(ctx, tx, nil, approvalID, requestID, h.Requester, escalateTo, true,
				portal.KindEscalated, "No decision by the deadline; escalated to ", ".", portal.Textf("No decision by the deadline; escalated to %s.", ""), nil); err != nil {
				return err
			}
			return db.scheduleDeadline(ctx, tx, w, approvalID, round+1, now, deadline)
		}
		if w.Outcome == "approve" {
			if _, err := tx.Exec(ctx, "UPDATE approvals SET status = 'approved' WHERE id = $1", approvalID); err != nil {
				return err
			}
			if err := addEvent(ctx, tx, requestID, portal.KindApproved, "", portal.Textf("Approved automatically: no decision by the final deadline.")); err != nil {
				return err
			}
			return db.insertJob(ctx, tx, workflow.CommitArgs{RequestIDs: []string{requestID}}, nil)
		}
		if _, err := tx.Exec(ctx, "UPDATE approvals SET status = 'expired' WHERE id = $1", approvalID); err != nil {
			return err
		}
		return finish(ctx, tx, db, requestID, h.Requester, portal.StatusExpired, "", portal.Textf("No decision by the final deadline."))
	})
	if err != nil {
		return fmt.Errorf("postgres: deadline %s: %w", approvalID, err)
	}
	return nil
}

// ExpireMembership ends a time-bound membership as a request by Tessera
// itself, unless the membership was changed or extended meanwhile.
func (db *DB) ExpireMembership(ctx context.Context, groupID, personID string, until time.Time) error {
	err := db.inTx(ctx, func(tx *finalTx) error {
		var expires *time.Time
		err := tx.QueryRow(ctx, "SELECT expires_at FROM group_members WHERE group_id = $1 AND person_id = $2 FOR UPDATE",
			groupID, personID).Scan(&expires)
		if isNoRows(err) || (err == nil && (expires == nil || !expires.Equal(until))) {
			return nil
		} else if err != nil {
			return err
		}
		var id string
		// Tessera asks, so there is no justification (a person's words):
		// the timeline says why, in each reader's language and zone.
		if err := tx.QueryRow(ctx, `INSERT INTO requests (operation, group_id, person_id, status)
			VALUES ('remove_member', $1, $2, 'committed') RETURNING id`, groupID, personID).Scan(&id); err != nil {
			return err
		}
		return db.apply(ctx, tx, id, "", event{portal.KindSubmitted, "", portal.Textf("Time-bound membership ended on %s.", portal.At(until))})
	})
	if err != nil {
		return fmt.Errorf("postgres: expire membership: %w", err)
	}
	return nil
}

// approvalOrders are the ORDER BY clauses of MyApprovals over its CTE m,
// by ApprovalFilter.Sort; the request ID breaks ties so that pages never
// overlap.
var approvalOrders = map[string]string{
	"":          "m.created_at, m.request_id",
	"newest":    "m.created_at DESC, m.request_id",
	"due":       "m.deadline NULLS LAST, m.created_at, m.request_id",
	"requester": "lower(m.requester), m.created_at, m.request_id",
	"group":     "lower(m.group_name) NULLS LAST, m.created_at, m.request_id",
}

// approvalDues are the conditions of ApprovalFilter.Due.
var approvalDues = map[string]string{
	"":        "true",
	"overdue": "a.deadline < now()",
	"3d":      "a.deadline < now() + interval '3 days'",
	"week":    "a.deadline < now() + interval '7 days'",
	"none":    "a.deadline IS NULL",
}

// MyApprovals lists the approvals waiting for the viewer's decision that f
// selects, in f's order, with how many f selects in all.
//
// An approver may have thousands waiting: the statement first picks the
// page's approvals by their keys alone (names only when the filter or the
// order needs them), then reads the whole requests of that page only.
func (db *DB) MyApprovals(ctx context.Context, v portal.Viewer, f portal.ApprovalFilter) (portal.Page[portal.ApprovalItem], error) {
	if err := f.Normalize(); err != nil {
		return portal.Page[portal.ApprovalItem]{}, err
	}
	page := portal.Page[portal.ApprovalItem]{Offset: f.Offset, Limit: f.Limit}
	rows, err := db.Pool.Query(ctx, myApprovalsSQL(f),
		v.PersonID, f.Requester, f.Group, string(f.Kind), f.Limit, f.Offset)
	if err != nil {
		return page, fmt.Errorf("postgres: my approvals: %w", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.ApprovalItem, error) {
		var it portal.ApprovalItem
		err := scanRequest(row, &it.Request, &it.ApprovalID, &it.Deadline, &it.OnBehalfOf, &page.Total)
		return it, err
	})
	if err != nil {
		return page, fmt.Errorf("postgres: my approvals: %w", err)
	}
	page.More = page.Offset+len(page.Items) < page.Total
	return page, nil
}

// myApprovalsSQL is MyApprovals' statement for f (normalized).
func myApprovalsSQL(f portal.ApprovalFilter) string {
	requester, group, joins := "''::text", "''::text", ""
	if f.Requester != "" || f.Sort == "requester" {
		requester, joins = "coalesce(rq.display_name, 'Tessera')", joins+" LEFT JOIN people rq ON rq.id = r.requester_id"
	}
	if f.Group != "" || f.Sort == "group" {
		group, joins = "g.display_name", joins+" LEFT JOIN groups g ON g.id = r.group_id"
	}
	// Only fixed SQL from this function reaches the statement; what was
	// typed goes as parameters.
	return `WITH m AS (SELECT a.id AS approval_id, a.deadline, ap.on_behalf_of, r.id AS request_id, r.created_at,
				` + requester + ` AS requester, ` + group + ` AS group_name
			FROM approvers ap, ` + pendingApproval + `
			JOIN requests r ON r.id = a.request_id` + joins + `
			WHERE a.status = 'pending' AND ap.person_id = $1 AND ap.decision IS NULL
			AND NOT EXISTS (SELECT 1 FROM approvers b WHERE b.approval_id = a.id
				AND coalesce(b.on_behalf_of, b.person_id) = coalesce(ap.on_behalf_of, ap.person_id) AND b.decision IS NOT NULL)
			AND ($2 = '' OR strpos(lower(` + requester + `), lower($2)) > 0)
			AND ($3 = '' OR strpos(lower(` + group + `), lower($3)) > 0)
			AND ($4 = '' OR r.operation = $4)
			AND ` + approvalDues[f.Due] + `),
		pg AS (SELECT * FROM m ORDER BY ` + approvalOrders[f.Sort] + ` LIMIT $5 OFFSET $6)
		SELECT ` + requestColumns + `, m.approval_id, m.deadline,
			coalesce((SELECT display_name FROM people WHERE id = m.on_behalf_of), ''), (SELECT count(*) FROM m)
		FROM pg m JOIN requests r ON r.id = m.request_id
		ORDER BY ` + approvalOrders[f.Sort]
}

// FindApproval returns the approval approvalID as its approver sees it:
// the request it is about (its ID only), its deadline, for whom the viewer
// stands in, and whether it still waits for the viewer's decision.
func (db *DB) FindApproval(ctx context.Context, v portal.Viewer, approvalID string) (*portal.ApprovalItem, bool, error) {
	notFound := portal.Errorf(portal.ENOTFOUND, "There is no such approval of yours.")
	if !validID(approvalID) {
		return nil, false, notFound
	}
	it := &portal.ApprovalItem{ApprovalID: approvalID}
	var open, approver bool
	err := db.Pool.QueryRow(ctx, `SELECT a.request_id::text, a.deadline, coalesce(bp.display_name, ''), ap.person_id IS NOT NULL,
			ap.person_id IS NOT NULL AND a.status = 'pending' AND ap.decision IS NULL AND NOT EXISTS (SELECT 1 FROM approvers b WHERE b.approval_id = a.id
				AND coalesce(b.on_behalf_of, b.person_id) = coalesce(ap.on_behalf_of, ap.person_id) AND b.decision IS NOT NULL)
		FROM approvals a
		LEFT JOIN approvers ap ON ap.approval_id = a.id AND ap.person_id = $2
		LEFT JOIN people bp ON bp.id = ap.on_behalf_of
		WHERE a.id = $1`, approvalID, v.PersonID).Scan(&it.Request.ID, &it.Deadline, &it.OnBehalfOf, &approver, &open)
	if isNoRows(err) || err == nil && !approver && !v.SeesPrivileged() {
		return nil, false, notFound
	} else if err != nil {
		return nil, false, fmt.Errorf("postgres: find approval: %w", err)
	}
	return it, open, nil
}

// pendingApproval is the approval of the approver's row ap, as a, for
// the statements that find the approvals waiting for an approver (whose
// condition a.status = 'pending' stays outside it): reached by its key
// whatever the statistics say. Joined plainly, approvals analyzed while
// none was pending (an autoanalyze between two busy spells) planned the
// join as every pending approval, read by approvals_pending, for each of
// the approver's undecided rows, for the plan's life in a connection:
// hundreds times hundreds of index entries a page for an approver with
// hundreds waiting (TestPendingApprovalPlansReadByKey). OFFSET 0 keeps
// it a subquery of its own, which only ap's approval_id can reach.
const pendingApproval = `LATERAL (SELECT id, status, deadline, request_id FROM approvals WHERE id = ap.approval_id OFFSET 0) a`

// countPendingApprovals is a scalar subquery counting the approvals that
// wait for the person whose ID is the SQL expression person, up to limit
// of them (0: all).
func countPendingApprovals(person string, limit int) string {
	waiting := `SELECT FROM approvers ap, ` + pendingApproval + `
		WHERE a.status = 'pending' AND ap.person_id = ` + person + ` AND ap.decision IS NULL AND NOT EXISTS (SELECT 1 FROM approvers b WHERE b.approval_id = a.id
			AND coalesce(b.on_behalf_of, b.person_id) = coalesce(ap.on_behalf_of, ap.person_id) AND b.decision IS NOT NULL)`
	if limit > 0 {
		waiting += " LIMIT " + strconv.Itoa(limit)
	}
	return "(SELECT count(*) FROM (" + waiting + ") waiting)"
}

// CountMyApprovals counts the approvals waiting for the viewer.
func (db *DB) CountMyApprovals(ctx context.Context, v portal.Viewer) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, "SELECT "+countPendingApprovals("$1", 0), v.PersonID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count approvals: %w", err)
	}
	return n, nil
}

// GroupAccess says what the viewer may do on a group's page.
func (db *DB) GroupAccess(ctx context.Context, v portal.Viewer, groupID string) (portal.GroupAccess, error) {
	var a portal.GroupAccess
	if !validID(groupID) {
		return a, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	}
	var policy string
	err := db.Pool.QueryRow(ctx, `SELECT g.join_policy, g.membership_rule IS NOT NULL,
			EXISTS (SELECT 1 FROM group_members WHERE group_id = g.id AND person_id = $2),
			EXISTS (SELECT 1 FROM group_owners WHERE group_id = g.id AND person_id = $2),
			coalesce((SELECT id::text FROM requests WHERE group_id = g.id AND person_id = $2 AND status = 'authorizing' LIMIT 1), '')
		FROM groups g WHERE g.id = $1`, groupID, v.PersonID).Scan(&policy, &a.Dynamic, &a.IsMember, &a.IsOwner, &a.PendingRequest)
	if isNoRows(err) {
		return a, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	} else if err != nil {
		return a, fmt.Errorf("postgres: group access: %w", err)
	}
	if a.PendingRequest == "" && !a.Dynamic {
		a.CanJoin = !a.IsMember && (policy == string(portal.JoinOpen) || a.IsOwner)
		a.CanRequest = !a.IsMember && policy == string(portal.JoinOwnerApproval) && !a.IsOwner
		a.CanLeave = a.IsMember
	}
	return a, nil
}

// notificationApprovalSQL finds the approval of request $1 still waiting
// for approver $2's decision, for the mail that asks them for it. The
// request's approval is read by its key (request_id is unique), and the
// approver's row by approvers' key, whatever the statistics say of pending
// approvals (each OFFSET 0 keeps a subquery one, so that the conditions
// outside it cannot choose another index): planned from statistics that
// counted none, the plain join read every pending approval by
// approvals_pending and every row of the approver, for each mail
// (TestPendingApprovalPlansReadByKey).
const notificationApprovalSQL = `SELECT a.id, a.deadline
	FROM (SELECT id, deadline, status FROM approvals WHERE request_id = $1 OFFSET 0) a
	CROSS JOIN LATERAL (SELECT decision FROM approvers WHERE approval_id = a.id AND person_id = $2 OFFSET 0) ap
	WHERE a.status = 'pending' AND ap.decision IS NULL`

// Notification returns the email for event about a request, or nil when it
// no longer applies (an approval decided before its reminder went out).
func (db *DB) Notification(ctx context.Context, event, requestID, recipientID string) (*portal.Notification, error) {
	n := &portal.Notification{Event: event}
	row := db.Pool.QueryRow(ctx, requestSelect+` WHERE r.id = $1`, requestID)
	if err := scanRequest(row, &n.Request); isNoRows(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("postgres: notification: %w", err)
	}
	// A policy may turn notifications off for the requests it grants.
	var notify bool
	err := db.Pool.QueryRow(ctx, `SELECT p.display_name, p.email, coalesce((SELECT pol.notify FROM requests r
			JOIN policies pol ON pol.id = r.policy_id WHERE r.id = $2), true),
			coalesce(ps.time_zone, ''), coalesce(ps.language, '')
		FROM people p LEFT JOIN person_settings ps ON ps.person_id = p.id
		WHERE p.id = $1`, recipientID, requestID).Scan(&n.ToName, &n.ToEmail, &notify, &n.ToTimeZone, &n.ToLanguage)
	if isNoRows(err) || (err == nil && (n.ToEmail == "" || !notify)) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("postgres: notification: %w", err)
	}
	n.Path = "/requests/" + requestID
	switch event {
	case portal.EventApprovalRequested, portal.EventReminder, portal.EventEscalated:
		var approvalID string
		err := db.Pool.QueryRow(ctx, notificationApprovalSQL, requestID, recipientID).Scan(&approvalID, &n.Deadline)
		if isNoRows(err) {
			return nil, nil // decided or withdrawn meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("postgres: notification: %w", err)
		}
		n.Path = "/approvals/" + approvalID
	case portal.EventDenied, portal.EventExpired, portal.EventFailed:
		var english string
		var stored []byte
		err := db.Pool.QueryRow(ctx, `SELECT detail, detail_text FROM request_events WHERE request_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1`,
			requestID, event).Scan(&english, &stored)
		if err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("postgres: notification: %w", err)
		}
		if n.Detail, err = portal.ReadStored(stored, english, portal.EventText); err != nil {
			return nil, fmt.Errorf("postgres: notification: %w", err)
		}
	}
	return n, nil
}
