package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// JobInserter inserts River jobs inside a transaction; *river.Client[pgx.Tx]
// implements it (an insert-only client in a web-only process).
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

var (
	_ portal.RequestService   = (*DB)(nil)
	_ portal.RequestProcessor = (*DB)(nil)
)

func (db *DB) insertJob(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	return db.insertJobs(ctx, tx, river.InsertManyParams{Args: args, InsertOpts: opts})
}

// insertJobs inserts River jobs in tx, in one statement.
func (db *DB) insertJobs(ctx context.Context, tx pgx.Tx, jobs ...river.InsertManyParams) error {
	if db.Jobs == nil {
		return errors.New("postgres: no job inserter configured")
	}
	if _, err := db.Jobs.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("insert %s job: %w", jobs[0].Args.Kind(), err)
	}
	return nil
}

func (db *DB) notify(ctx context.Context, tx pgx.Tx, event, requestID, recipientID string) error {
	if recipientID == "" || !db.Email {
		return nil
	}
	return db.insertJob(ctx, tx, workflow.NotifyArgs{Event: event, RequestID: requestID, RecipientID: recipientID}, nil)
}

func addEvent(ctx context.Context, tx pgx.Tx, requestID string, kind portal.EventKind, actorID string, detail portal.Text) error {
	return record(ctx, tx, requestID, "", nil, event{kind, actorID, detail})
}

// event is one timeline entry to record. Its detail is kept as English
// text (for the audit log and older readers) and as format and arguments,
// read in each reader's language (request_events.detail_text).
type event struct {
	Kind    portal.EventKind
	ActorID string
	Detail  portal.Text
}

// storedText is t as a parameter for a jsonb column of stored texts
// (text, cast in SQL): nil (NULL) when t is zero.
func storedText(t portal.Text) *string {
	data := t.Stored()
	if data == nil {
		return nil
	}
	s := string(data)
	return &s
}

// record adds timeline events to a request and, when action is set, the
// audit entry for them, in one statement (one round trip on a hot path).
func record(ctx context.Context, tx pgx.Tx, requestID, action string, details map[string]any, events ...event) error {
	return recordStatus(ctx, tx, requestID, "", action, details, events...)
}

// auditDetail is what an audit entry keeps of a request's timeline text:
// its English ("detail", as older entries have it) and its format and
// arguments ("detail_text", as resultDetails keeps "error_text"), which
// the audit page writes in the administrator's language.
func auditDetail(t portal.Text) map[string]any {
	return map[string]any{"detail": t.String(), "detail_text": json.RawMessage(t.Stored())}
}

// recordStatus is record that also moves the request to status (when set)
// in the same statement. Callers make it their transaction's last
// statement, so that it goes with the COMMIT (finalTx).
func recordStatus(ctx context.Context, tx pgx.Tx, requestID string, status portal.RequestStatus, action string, details map[string]any, events ...event) error {
	st := recordStmt(requestID, status, action, details, events...)
	if _, err := tx.Exec(ctx, st.SQL, st.Args...); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// recordStmt is the statement recordStatus runs, for callers that batch it
// behind the change it records.
func recordStmt(requestID string, status portal.RequestStatus, action string, details map[string]any, events ...event) stmt {
	d := make(map[string]any, len(details))
	for k, v := range details {
		d[k] = v
	}
	return recordManyStmt(status, recording{requestID, action, d, events})
}

// recording is what recordManyStmt writes for one request: its timeline
// events and, when Action is set, its audit entry.
type recording struct {
	RequestID string
	Action    string
	Details   map[string]any
	Events    []event
}

// recordManyStmt records several requests in one statement: their timeline
// events, their audit entries (in order), and their new status when set.
// Callers make it their transaction's last statement (it goes with the
// COMMIT), and hold the locks on the requests it records beforehand.
func recordManyStmt(status portal.RequestStatus, recs ...recording) stmt {
	return recordAfterStmt(nil, status, recs...)
}

// recordAfterStmt is recordManyStmt writing the records before first, which
// leave their requests' status as it is: a decision's records, then the
// commits it made, in one statement (the timeline says approved, then
// committed).
func recordAfterStmt(before []recording, status portal.RequestStatus, recs ...recording) stmt {
	var reqs, kinds, texts []string
	var actors []*string
	var stored []*string
	var auditReqs, auditActions, auditDetails []string
	var auditActors []*string
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	for _, r := range append(slices.Clip(before), recs...) {
		var first *string
		for i, e := range r.Events {
			reqs, kinds, texts = append(reqs, r.RequestID), append(kinds, string(e.Kind)), append(texts, e.Detail.String())
			stored = append(stored, storedText(e.Detail))
			var actor *string
			if e.ActorID != "" {
				actor = &r.Events[i].ActorID
			}
			if i == 0 {
				first = actor
			}
			actors = append(actors, actor)
		}
		if r.Action == "" {
			continue
		}
		details := []byte("{}")
		if len(r.Details) > 0 {
			details, _ = json.Marshal(r.Details) // a map of strings always encodes
		}
		auditReqs, auditActions = append(auditReqs, r.RequestID), append(auditActions, r.Action)
		auditActors, auditDetails = append(auditActors, first), append(auditDetails, string(details))
	}
	args := []any{reqs, kinds, actors, texts, stored}
	param := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	// IDs and actors go as text: pgx cannot send strings as binary uuids,
	// and falling back to text costs it an error per call.
	sql := `WITH e AS (INSERT INTO request_events (request_id, kind, actor_id, detail, detail_text)
		SELECT r::uuid, k, a::uuid, d, s::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(r, k, a, d, s))`
	// Without a status to set, the update is left out of the statement:
	// even when it updates no row, it costs Postgres as much as the insert.
	if status != "" && len(ids) > 0 {
		// A committed request waits for its sync_export job to plan its
		// change for every system (requests.planned).
		planned := ""
		if status == portal.StatusCommitted {
			planned = ", planned = false"
		}
		// One request (most statements) is updated by "id = $n": as
		// "id = ANY", its generic plan may read every request (see
		// lockedByKey).
		set := `, s AS (UPDATE requests SET status = ` + param(string(status)) + `, updated_at = now()` + planned
		if len(ids) == 1 {
			sql += set + ` WHERE id = ` + param(ids[0]) + `::text::uuid)`
		} else {
			sql += set + ` WHERE id = ANY (` + param(ids) + `::text[]::uuid[]))`
		}
	}
	if len(auditReqs) == 0 {
		return stmt{sql + ` SELECT 1`, args}
	}
	// One call appends the entries, in order
	// (migrations/0050_audit_append_many.sql).
	types := make([]string, len(auditReqs))
	for i := range types {
		types[i] = "request"
	}
	sql += ` SELECT audit_append_many(` + param(auditActors) + `::text[]::uuid[], ` + param(auditActions) + `::text[], ` +
		param(types) + `::text[], ` + param(auditReqs) + `::text[], ` + param(auditDetails) + `::text[]::jsonb[])`
	return stmt{sql, args}
}

// placeholder is a parameter of a statement ($1, $2, ...).
var placeholder = regexp.MustCompile(`\$(\d+)`)

// with is rec, a statement of recordAfterStmt, with st, a data-modifying
// statement (whose SQL has no $ but its parameters'), as its CTE name: one
// statement where there were two, which Postgres starts, runs and ends
// once. ret, when set, is an expression (over name) that the statement
// returns after rec's own column. st must not change what rec changes:
// the parts of one statement run in no given order.
func (rec stmt) with(name string, st stmt, ret string) stmt {
	n := len(rec.Args)
	sql := placeholder.ReplaceAllStringFunc(st.SQL, func(p string) string {
		i, _ := strconv.Atoi(p[1:]) // digits only
		return "$" + strconv.Itoa(i+n)
	})
	out := "WITH " + name + " AS (" + sql + "), " + strings.TrimPrefix(rec.SQL, "WITH ")
	if ret != "" {
		out += ", " + ret
	}
	return stmt{out, append(slices.Clip(rec.Args), st.Args...)}
}

// policyRow is a policy as evaluation reads it.
type policyRow struct {
	ID, Name, Requestor, WorkflowID, RequestorSetID string
	JoinPolicies, Attributes                        []string
}

// target is what evaluation knows about a request's target.
type target struct {
	GroupName, JoinPolicy string
	GroupRule             string // a dynamic group's membership rule
	PersonIsOwner         bool   // the person the request is about owns the group
	Owners                int    // how many owners the group has
	OwnerIDs              []string
	IsMember, IsOwner     bool // the person's membership; the viewer's ownership
	PersonName            string
	PersonManagerID       string
	GroupAccount          string // the group's name (sAMAccountName)
	GroupRole             string // the role the group grants, "" for none
	MembershipDays        int    // the group's default length of a membership
	// Limits are what the connected systems allow the attributes an
	// update_person request changes.
	Limits []systemLimit
}

// systemLimit is the longest value a connected system takes for a person
// attribute, through the system's attribute its outbound flow writes.
type systemLimit struct {
	Attribute, System, CSAttribute string
	MaxLen                         int
}

// Submit validates a request, evaluates policy, and in one transaction
// writes the request, its audit entry and its first job, or commits it at
// once when no approval is needed.
func (db *DB) Submit(ctx context.Context, v portal.Viewer, n portal.NewRequest) (*portal.Request, error) {
	// Only a change of attributes reads the attribute table: the extra
	// attributes it may change.
	schema := portal.CoreSchema()
	if (n.Operation == portal.OpUpdatePerson || n.Operation == portal.OpCreatePerson) && hasExtraChange(n.Changes) {
		var err error
		if schema, err = db.Schema(ctx); err != nil {
			return nil, err
		}
	}
	if err := n.ValidateIn(schema, db.now()); err != nil {
		return nil, err
	}
	if n.Operation == portal.OpUpdatePerson {
		n.Changes = normalizeChanges(schema, n.Changes)
	}
	if (n.GroupID != "" && !validID(n.GroupID)) || (n.PersonID != "" || needsPerson(n.Operation)) && !validID(n.PersonID) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such group or person.")
	}
	var id string
	var req *portal.Request
	err := db.inTx(ctx, func(tx *finalTx) error {
		t, policies, workflows, err := loadTarget(ctx, tx, v, n)
		if err != nil {
			return err
		}
		if err := checkRequestShape(v, n, t, schema); err != nil {
			return err
		}
		pol, err := db.evaluatePolicy(ctx, v, n, t, policies)
		if err != nil {
			return err
		}
		if err := db.checkTargets(ctx, tx, &n, t, schema); err != nil {
			return err
		}
		status := portal.StatusAuthorizing
		if pol.WorkflowID == "" {
			status = portal.StatusCommitted
		}
		changes := n.Changes
		if changes == nil {
			changes = map[string]string{}
		}
		req = &portal.Request{RequesterID: v.PersonID, RequesterName: v.DisplayName, Operation: n.Operation,
			GroupID: n.GroupID, GroupName: t.GroupName, PersonID: n.PersonID, PersonName: t.PersonName, Changes: changes,
			MemberUntil: n.MemberUntil, Justification: n.Justification, Status: status, PolicyName: pol.Name}
		id = newUUID()
		b := &pgx.Batch{}
		insert := stmt{`INSERT INTO requests (id, requester_id, operation, group_id, person_id, changes, member_until,
				justification, status, policy_id, workflow_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING created_at`,
			[]any{id, nullable(v.PersonID), string(n.Operation), nullable(n.GroupID), nullable(n.PersonID), changes, n.MemberUntil,
				n.Justification, string(status), pol.ID, nullable(pol.WorkflowID)}}
		submitted := event{portal.KindSubmitted, v.PersonID, portal.Textf("under policy “%s”", pol.Name)}
		req.ID = id
		if pol.WorkflowID != "" {
			// The request and its record are one statement.
			st := recordStmt(id, "", "request_submitted", map[string]any{"operation": string(n.Operation), "group": n.GroupID,
				"person": n.PersonID, "policy": pol.Name}, submitted).with("q", insert, "(SELECT created_at FROM q)")
			b.Queue(st.SQL, st.Args...).QueryRow(func(row pgx.Row) error { return row.Scan(nil, &req.CreatedAt) })
			// The request and its record go with its approval's
			// statements (and the COMMIT), in one round trip: what
			// opening the approval reads of the request (authorizeHeadSQL)
			// is what this transaction wrote, and what loadTarget read.
			w, found := workflows[pol.WorkflowID]
			head := authorizeHead{found: found, status: string(status), requester: v.PersonID, w: w,
				c: candidates{Owners: t.OwnerIDs}}
			if t.PersonManagerID != "" {
				head.c.Manager = &t.PersonManagerID
			}
			tx.sendAhead(b)
			err := db.authorizeAtSubmit(ctx, tx, req, &head)
			if err == nil {
				// Nothing followed them (no approval opened): they go
				// alone.
				err = tx.flush(ctx)
			}
			return pendingConflict(err, "requests_one_pending")
		}
		b.Queue(insert.SQL, insert.Args...).QueryRow(func(row pgx.Row) error { return row.Scan(&req.CreatedAt) })
		if err := pendingConflict(tx.SendBatch(ctx, b).Close(), ""); err != nil {
			return err
		}
		req.Status = portal.StatusCompleted
		return db.apply(ctx, tx, id, v.PersonID, submitted)
	})
	if err == nil {
		req.UpdatedAt = req.CreatedAt
	}
	if err != nil {
		if portal.ErrorCode(err) != portal.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: submit request: %w", err)
	}
	return req, nil
}

// pendingConflict says so when err is a second pending request for the
// same change: a unique violation (of constraint, when it is named, for
// errors of statements that may violate others).
func pendingConflict(err error, constraint string) error {
	var pgErr *pgconn.PgError
	if isUniqueViolation(err) && errors.As(err, &pgErr) && (constraint == "" || pgErr.ConstraintName == constraint) {
		return portal.Errorf(portal.ECONFLICT, "There is already a pending request for this change; see My requests.")
	}
	return err
}

// authorizeAtSubmit opens the approval of a request just written, in the
// transaction that writes it (authorizeTx, its head made of what Submit
// wrote and read): the approvers see it when the request is committed, and a
// request costs one transaction and no job until someone decides (or its
// first timer, its reminder or deadline, fires: FireTimers). The
// approval's statements go with the COMMIT.
func (db *DB) authorizeAtSubmit(ctx context.Context, tx *finalTx, req *portal.Request, head *authorizeHead) error {
	if !head.found {
		// Never so while loadTarget reads each policy with its workflow
		// in one statement and policies.workflow_id is a foreign key (it
		// read them in two, and a workflow changed in between could be
		// missing). Kept because what it guards is an invariant: were the
		// workflow missing, the request's own is read with the request, as
		// authorizeTx does, so that no request is committed authorizing
		// without an approval.
		if err := head.scan(tx.QueryRow(ctx, authorizeHeadSQL, req.ID)); err != nil {
			return err
		}
	}
	_, _, denied, err := db.authorizeRead(ctx, tx, req.ID, head, tx)
	if denied {
		req.Status = portal.StatusDenied
	}
	return err
}

// loadTarget reads what evaluation needs about the request's target, and
// the enabled policies for its operation with their workflows (by ID), in
// one round trip.
func loadTarget(ctx context.Context, tx pgx.Tx, v portal.Viewer, n portal.NewRequest) (target, []policyRow, map[string]workflowRow, error) {
	var t target
	var policies []policyRow
	workflows := map[string]workflowRow{}
	var groupName, joinPolicy *string
	var targetErr error
	b := &pgx.Batch{}
	// The person and the group, whichever the request names: a request
	// about a group alone (changing or deleting it) reads the group.
	from := `FROM people p LEFT JOIN groups g ON g.id = $1 WHERE p.id = $2`
	if n.PersonID == "" {
		from = `FROM groups g LEFT JOIN people p ON p.id = $2 WHERE g.id = $1`
	}
	if n.PersonID != "" || n.GroupID != "" {
		b.Queue(`SELECT coalesce(p.display_name, ''), coalesce(p.manager_id::text, ''), g.display_name, g.join_policy,
			coalesce(g.membership_rule, ''),
			EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.person_id = p.id),
			EXISTS (SELECT 1 FROM group_owners o WHERE o.group_id = g.id AND o.person_id = $3),
			EXISTS (SELECT 1 FROM group_owners o WHERE o.group_id = g.id AND o.person_id = p.id),
			array(SELECT person_id::text FROM group_owners o WHERE o.group_id = g.id),
			coalesce(g.name, ''), coalesce((SELECT role FROM role_groups rg WHERE rg.group_id = g.id), ''), coalesce(g.membership_days, 0)
		`+from, nullable(n.GroupID), nullable(n.PersonID), nullable(v.PersonID)).
			QueryRow(func(row pgx.Row) error {
				targetErr = row.Scan(&t.PersonName, &t.PersonManagerID, &groupName, &joinPolicy, &t.GroupRule, &t.IsMember, &t.IsOwner,
					&t.PersonIsOwner, &t.OwnerIDs, &t.GroupAccount, &t.GroupRole, &t.MembershipDays)
				t.Owners = len(t.OwnerIDs)
				return nil
			})
	}
	// Each policy with its workflow, what opening the request's approval
	// needs of it (with target's owners and manager), read here so that
	// the request, its record and its approval go to Postgres in one
	// round trip; in one statement, so that a policy's workflow is the
	// one it names in the same snapshot.
	b.Queue(`SELECT p.id, p.name, p.requestor, coalesce(p.workflow_id::text, ''), coalesce(p.requestor_set_id::text, ''),
			p.target_join_policies, p.attributes, `+workflowColumns+`
		FROM policies p LEFT JOIN approval_workflows w ON w.id = p.workflow_id
		WHERE p.enabled AND p.operation = $1 ORDER BY p.name`, string(n.Operation)).
		Query(func(rows pgx.Rows) error {
			var err error
			policies, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (policyRow, error) {
				var p policyRow
				var w workflowRow
				err := row.Scan(append([]any{&p.ID, &p.Name, &p.Requestor, &p.WorkflowID, &p.RequestorSetID, &p.JoinPolicies, &p.Attributes},
					w.dest()...)...)
				if w.ID != "" {
					workflows[w.ID] = w
				}
				return p, err
			})
			return err
		})
	if n.Operation == portal.OpUpdatePerson || n.Operation == portal.OpCreatePerson {
		// In the same round trip: the limits the connected systems read
		// from their schemas (syncsvc keeps them), checked at submission
		// so that nothing is approved that a system will refuse.
		attrs := make([]string, 0, len(n.Changes))
		for a := range n.Changes {
			attrs = append(attrs, a)
		}
		b.Queue(`SELECT l.attribute, s.name, l.cs_attribute, l.max_len FROM person_attribute_limits l
			JOIN connected_systems s ON s.id = l.system_id
			WHERE l.attribute = ANY ($1::text[]) AND s.enabled ORDER BY l.max_len, s.name`, attrs).
			Query(func(rows pgx.Rows) error {
				var err error
				t.Limits, err = pgx.CollectRows(rows, pgx.RowToStructByPos[systemLimit])
				return err
			})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return t, nil, nil, err
	}
	if isNoRows(targetErr) && n.PersonID == "" {
		return t, nil, nil, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	} else if isNoRows(targetErr) {
		return t, nil, nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	} else if targetErr != nil {
		return t, nil, nil, targetErr
	}
	if n.GroupID != "" {
		if groupName == nil {
			return t, nil, nil, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
		}
		t.GroupName, t.JoinPolicy = *groupName, *joinPolicy
	}
	return t, policies, workflows, nil
}

// needsPerson reports whether a request of operation op names a person.
func needsPerson(op portal.Operation) bool {
	switch op {
	case portal.OpCreatePerson, portal.OpCreateGroup, portal.OpUpdateGroup, portal.OpDeleteGroup:
		return false
	}
	return true
}

// checkTargets checks, against the database, what a request names besides
// its target, and completes the request: a new or renamed group's name is
// free and its owners exist; a role's group stays closed and is not
// deleted; a new person's account name and employee ID are free; a new
// manager exists and is not below the person; a membership of a group with
// a default length ends then; a deleted group's name is kept.
func (db *DB) checkTargets(ctx context.Context, tx pgx.Tx, n *portal.NewRequest, t target, schema *portal.Schema) error {
	switch n.Operation {
	case portal.OpAddMember:
		if n.MemberUntil == nil && t.MembershipDays > 0 {
			until := db.now().AddDate(0, 0, t.MembershipDays)
			n.MemberUntil = &until
		}
	case portal.OpRemoveMember:
		if t.GroupRole == string(portal.RoleAdmin) {
			var members int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM group_members WHERE group_id = $1`, n.GroupID).Scan(&members); err != nil {
				return err
			}
			if members <= 1 {
				return portal.Errorf(portal.ECONFLICT, "%s is the last administrator; grant the role to someone else first.", t.PersonName)
			}
		}
	case portal.OpCreateGroup, portal.OpUpdateGroup:
		g, err := portal.GroupSpecFromChanges(n.Changes)
		if err != nil {
			return err
		}
		if n.Operation == portal.OpUpdateGroup && len(g.Owners) > 0 {
			return portal.Errorf(portal.EINVALID, "A group's owners change by requests to add or remove an owner.")
		}
		if t.GroupRole != "" && g.JoinPolicy != portal.JoinClosed {
			return portal.Errorf(portal.EINVALID, "%s grants a portal role, so it stays closed: only administrators and its owners add members.", t.GroupName)
		}
		owners := slices.Compact(slices.Sorted(slices.Values(g.Owners)))
		var taken bool
		var found int
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM groups WHERE lower(name) = lower($1) AND id IS DISTINCT FROM $2::uuid),
				(SELECT count(*) FROM people WHERE id = ANY ($3::text[]::uuid[]))`, g.Name, nullable(n.GroupID), owners).
			Scan(&taken, &found); err != nil {
			return err
		}
		if taken {
			return portal.Errorf(portal.ECONFLICT, "There is a group called “%s” already; choose another name.", g.Name)
		}
		if found != len(owners) {
			return portal.Errorf(portal.EINVALID, "An owner you named is not a person in Tessera.")
		}
	case portal.OpDeleteGroup:
		if t.GroupRole != "" {
			return portal.Errorf(portal.ECONFLICT, "%s grants a portal role; choose another group for the role first (Administration → Roles).", t.GroupName)
		}
		// The group's row goes; the request keeps what it was.
		n.Changes = map[string]string{"name": t.GroupAccount, "displayName": t.GroupName, "groupId": n.GroupID}
	case portal.OpCreatePerson:
		np, err := portal.NewPersonFromChangesIn(schema, n.Changes, db.now())
		if err != nil {
			return err
		}
		if err := checkReferences(ctx, tx, schema, n.Changes); err != nil {
			return err
		}
		var account, employee bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM people WHERE lower(account_name) = lower($1)),
				EXISTS (SELECT 1 FROM people WHERE employee_id = $2)`, np.Person.AccountName, np.Person.EmployeeID).Scan(&account, &employee); err != nil {
			return err
		}
		if account {
			return portal.Errorf(portal.ECONFLICT, "Someone has the account name “%s” already.", np.Person.AccountName)
		}
		if employee {
			return portal.Errorf(portal.ECONFLICT, "Someone has the employee ID “%s” already.", np.Person.EmployeeID)
		}
		if np.Person.ManagerID != "" {
			return checkManager(ctx, tx, "", np.Person.ManagerID)
		}
	case portal.OpUpdatePerson:
		if m := n.Changes["managerId"]; m != "" {
			if err := checkManager(ctx, tx, n.PersonID, m); err != nil {
				return err
			}
		}
		return checkReferences(ctx, tx, schema, n.Changes)
	}
	return nil
}

// checkReferences checks that each extra reference attribute changes
// gives names a person who exists.
func checkReferences(ctx context.Context, tx pgx.Tx, schema *portal.Schema, changes map[string]string) error {
	for name, id := range changes {
		if a, ok := schema.Lookup(name); ok && !a.Core() && a.Type == portal.TypeReference && id != "" {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM people WHERE id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return portal.Errorf(portal.EINVALID, "%s names no one in Tessera.", portal.LabelOf(a.Label))
			}
		}
	}
	return nil
}

// checkManager checks that managerID is a person, and neither personID
// ("" for a new person) nor someone below them: the org chart stays a
// tree.
func checkManager(ctx context.Context, tx pgx.Tx, personID, managerID string) error {
	var exists, below bool
	err := tx.QueryRow(ctx, `WITH RECURSIVE up AS (SELECT id, manager_id FROM people WHERE id = $1
			UNION SELECT p.id, p.manager_id FROM people p JOIN up ON p.id = up.manager_id)
		SELECT EXISTS (SELECT 1 FROM people WHERE id = $1), EXISTS (SELECT 1 FROM up WHERE id = $2::uuid)`,
		managerID, nullable(personID)).Scan(&exists, &below)
	switch {
	case err != nil:
		return err
	case !exists:
		return portal.Errorf(portal.EINVALID, "The manager you named is not a person in Tessera.")
	case below:
		return portal.Errorf(portal.EINVALID, "A person cannot be managed by themselves or by someone who reports to them.")
	}
	return nil
}

// checkRequestShape refuses requests that make no sense whatever the
// policy: joining a group twice, leaving one you are not in.
func checkRequestShape(v portal.Viewer, n portal.NewRequest, t target, schema *portal.Schema) error {
	self := n.PersonID == v.PersonID
	switch n.Operation {
	case portal.OpCreatePerson:
		return checkLimits(n.Changes, t.Limits, schema)
	case portal.OpCreateGroup, portal.OpUpdateGroup, portal.OpDeleteGroup:
		return nil // checkTargets reads what they need
	case portal.OpAddOwner:
		if t.PersonIsOwner {
			return portal.Errorf(portal.ECONFLICT, "%s is already an owner of %s.", t.PersonName, t.GroupName)
		}
		return nil
	case portal.OpRemoveOwner:
		if !t.PersonIsOwner {
			return portal.Errorf(portal.ECONFLICT, "%s is not an owner of %s.", t.PersonName, t.GroupName)
		}
		if t.Owners <= 1 {
			return portal.Errorf(portal.ECONFLICT, "%s is the only owner of %s; make someone else an owner first.", t.PersonName, t.GroupName)
		}
		return nil
	}
	if t.GroupRule != "" {
		return portal.Errorf(portal.EINVALID, "The members of %s are computed from a rule, so they cannot be added or removed by hand.", t.GroupName)
	}
	switch n.Operation {
	case portal.OpAddMember:
		if t.IsMember {
			if self {
				return portal.Errorf(portal.ECONFLICT, "You are already a member of %s.", t.GroupName)
			}
			return portal.Errorf(portal.ECONFLICT, "%s is already a member of %s.", t.PersonName, t.GroupName)
		}
		// Administrators add anyone, themselves too, under their policy.
		if self && t.JoinPolicy == string(portal.JoinClosed) && !t.IsOwner && !v.Has(portal.RoleAdmin) {
			return portal.Errorf(portal.EFORBIDDEN, "%s is closed: only its owners add members. Ask an owner.", t.GroupName)
		}
	case portal.OpRemoveMember:
		if !t.IsMember {
			if self {
				return portal.Errorf(portal.ECONFLICT, "You are not a member of %s.", t.GroupName)
			}
			return portal.Errorf(portal.ECONFLICT, "%s is not a member of %s.", t.PersonName, t.GroupName)
		}
	case portal.OpUpdatePerson:
		if err := checkLimits(n.Changes, t.Limits, schema); err != nil {
			return err
		}
		for attr := range n.Changes {
			if a, ok := schema.Lookup(attr); !ok || !a.Requestable() {
				return portal.Errorf(portal.EINVALID, "%q is not an attribute that can be changed.", attr)
			}
		}
	}
	return nil
}

// checkLimits refuses a value of changes that a connected system would
// refuse (limits, as loadTarget read them for those attributes).
func checkLimits(changes map[string]string, limits []systemLimit, schema *portal.Schema) error {
	for _, l := range limits {
		// A system's limit bounds each value of a multi-valued one.
		vals := []string{changes[l.Attribute]}
		if a, ok := schema.Lookup(l.Attribute); ok && a.Type == portal.TypeStrings {
			vals = portal.SplitValues(vals[0])
		}
		for _, v := range vals {
			if c := utf8.RuneCountInString(v); c > l.MaxLen {
				return portal.Errorf(portal.EINVALID, "The new %s is too long for %s (%d characters): its attribute %s takes at most %d.",
					portal.LowerLabel(schema.Label(l.Attribute)), l.System, c, l.CSAttribute, l.MaxLen)
			}
		}
	}
	return nil
}

// hasExtraChange reports whether changes name an attribute that is not a
// core one: one an administrator added.
func hasExtraChange(changes map[string]string) bool {
	for attr := range changes {
		if _, core := portal.CoreSchema().Lookup(attr); !core && attr != portal.EndDateKey {
			return true
		}
	}
	return false
}

// normalizeChanges returns changes with each extra attribute's value as it
// is stored (a number or date in canonical form, several values one a
// line), so that the confirmation of an export compares like with like.
// The values were checked.
func normalizeChanges(schema *portal.Schema, changes map[string]string) map[string]string {
	if !hasExtraChange(changes) {
		return changes
	}
	out := make(map[string]string, len(changes))
	for attr, val := range changes {
		if a, ok := schema.Lookup(attr); ok && !a.Core() {
			val, _ = a.CheckValue(val)
		}
		out[attr] = val
	}
	return out
}

// evaluatePolicy finds the enabled policies that grant this request. One
// that needs no approval grants it at once (so a group owner joining their
// own owner-approval group is not sent to themselves); otherwise the first
// by name decides which approval workflow runs.
func (db *DB) evaluatePolicy(ctx context.Context, v portal.Viewer, n portal.NewRequest, t target, policies []policyRow) (policyRow, error) {
	var granted []policyRow // in name order
	for _, p := range policies {
		switch p.Requestor {
		case "self":
			if n.PersonID != v.PersonID {
				continue
			}
		case "manager":
			if t.PersonManagerID == "" || t.PersonManagerID != v.PersonID {
				continue
			}
		case "owners":
			if !t.IsOwner {
				continue
			}
		case "anyone":
		case "admins":
			if !v.Has(portal.RoleAdmin) {
				continue
			}
		case "helpdesk":
			if !v.Has(portal.RoleHelpdesk) {
				continue
			}
		case "set":
			if v.PersonID == "" || p.RequestorSetID == "" {
				continue
			}
			in, err := db.SetContains(ctx, p.RequestorSetID, v.PersonID)
			if err != nil && portal.ErrorCode(err) != portal.ENOTFOUND {
				return policyRow{}, err
			}
			if !in {
				continue
			}
		default:
			continue
		}
		if n.GroupID != "" && len(p.JoinPolicies) > 0 && !slices.Contains(p.JoinPolicies, t.JoinPolicy) {
			continue
		}
		if n.Operation == portal.OpUpdatePerson {
			covered := true
			for attr := range n.Changes {
				covered = covered && slices.Contains(p.Attributes, attr)
			}
			if !covered {
				continue
			}
		}
		granted = append(granted, p)
	}
	if len(granted) == 0 {
		return policyRow{}, deniedMessage(v, n, t)
	}
	for _, p := range granted {
		if p.WorkflowID == "" {
			return p, nil
		}
	}
	return granted[0], nil
}

// deniedMessage is the refusal of n when no policy grants it, in words
// the catalogue translates.
func deniedMessage(v portal.Viewer, n portal.NewRequest, t target) *portal.Error {
	self := n.PersonID == v.PersonID
	switch n.Operation {
	case portal.OpAddMember:
		if self {
			return portal.Errorf(portal.EFORBIDDEN, "No policy lets you join %s (a group whose joining is “%s”).", t.GroupName, portal.LabelOf(portal.JoinPolicy(t.JoinPolicy).Label()))
		}
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you add members to %s: only its owners can.", t.GroupName)
	case portal.OpRemoveMember:
		if self {
			return portal.Errorf(portal.EFORBIDDEN, "No policy lets you leave %s; ask one of its owners.", t.GroupName)
		}
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you remove members from %s: only its owners can.", t.GroupName)
	case portal.OpAddOwner, portal.OpRemoveOwner:
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you change the owners of %s: only its owners can.", t.GroupName)
	case portal.OpCreateGroup:
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you create groups; ask an administrator.")
	case portal.OpUpdateGroup:
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you change %s: only its owners and administrators can.", t.GroupName)
	case portal.OpDeleteGroup:
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you delete %s; ask an administrator.", t.GroupName)
	case portal.OpCreatePerson:
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you create people; ask an administrator.")
	}
	var labels []string
	for a := range n.Changes {
		labels = append(labels, portal.CoreSchema().Label(a))
	}
	slices.Sort(labels)
	attrs := make([]portal.Text, len(labels))
	for i, l := range labels {
		// Each label in the reader's words: lower case in English, as
		// German writes its nouns.
		attrs[i] = portal.Textf("%s", portal.LowerLabel(l))
	}
	list := portal.JoinTexts(attrs, ", ")
	if self {
		return portal.Errorf(portal.EFORBIDDEN, "No policy lets you change your %s.", list)
	}
	return portal.Errorf(portal.EFORBIDDEN, "No policy lets you change %s's %s.", t.PersonName, list)
}

// apply makes a granted request's change, in tx: it completes it when no
// connected system is to be told, and otherwise enqueues the sync hand-off
// that completes it once they confirm. Its last statement records the
// timeline (earlier events first) and the audit entry, with the COMMIT.
func (db *DB) apply(ctx context.Context, tx *finalTx, requestID, actorID string, earlier ...event) error {
	heads, syncing, err := lockForApply(ctx, tx, []string{requestID})
	if err != nil {
		return err
	}
	if len(heads) == 0 {
		return pgx.ErrNoRows
	}
	var a applying
	if err := db.applyLocked(ctx, tx, &a, heads[0], actorID, syncing, earlier...); err != nil {
		return err
	}
	return a.flush(ctx, tx, db, syncing)
}

// lockForApply locks requests (in ID order, so that two callers cannot
// deadlock) and, in the same round trip, says whether any connected system
// is to be told of their changes. Requests that do not exist are left out.
func lockForApply(ctx context.Context, tx pgx.Tx, requestIDs []string) ([]requestHead, bool, error) {
	var heads []requestHead
	var syncing bool
	b := &pgx.Batch{}
	b.Queue(genericPlans.SQL)
	b.Queue(`SELECT r.id::text, `+requestHeadColumns+`, `+syncingColumn+` FROM (SELECT DISTINCT unnest($1::text[]::uuid[]) ORDER BY 1) AS k(id), `+
		lockedByKey+` ORDER BY r.id`, requestIDs).Query(func(rows pgx.Rows) error {
		var err error
		heads, syncing, err = scanHeads(rows)
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, err
	}
	return heads, syncing, nil
}

// lockedByKey locks the request of each key k.id, in the order of the
// keys (callers sort them: see lockRequestOf), through its primary key. As
// "id = ANY ($1)", the generic plan (genericPlans), which assumes ten IDs,
// read every request instead while the table looked small to the planner
// (under ten pages, as a table never analyzed does), and kept doing so
// once cached as the table grew: a decision's lock then cost a sequential
// scan of requests (in BenchmarkRequestPipelineOneByOne, up to 2 ms, most
// of the decision). The lateral subquery, kept apart by its LIMIT, can only
// be an index look-up per key.
const lockedByKey = `LATERAL (SELECT * FROM requests WHERE id = k.id LIMIT 1 FOR UPDATE) AS r`

// syncingColumn says whether any connected system is to be told of the
// changes requests make: a column of the requests' heads (scanHeads),
// which Postgres works out once for them all, in their statement.
const syncingColumn = `EXISTS (SELECT 1 FROM connected_systems s WHERE s.enabled AND NOT s.staging
		AND EXISTS (SELECT 1 FROM sync_rules r WHERE r.system_id = s.id))`

// scanHeads reads rows of the request's ID, requestHeadColumns and
// syncingColumn. Without rows, there is nothing to tell (syncing false).
func scanHeads(rows pgx.Rows) (heads []requestHead, syncing bool, err error) {
	for rows.Next() {
		var h requestHead
		if err := rows.Scan(append(append([]any{&h.ID}, h.dest()...), &syncing)...); err != nil {
			return nil, false, err
		}
		heads = append(heads, h)
	}
	return heads, syncing, rows.Err()
}

// applying collects the statements, records and jobs of the requests one
// transaction applies, so that they go to Postgres in one round trip.
type applying struct {
	stmts []stmt
	recs  []recording
	jobs  []river.InsertManyParams
	// exports are the requests whose changes go to the connected systems:
	// one sync_export job carries them all, so that the requests of a
	// bulk decision share one sync and one export of each object.
	exports []string
}

// addMembersSQL adds members, or sets the end of memberships that exist.
const addMembersSQL = `INSERT INTO group_members (group_id, person_id, expires_at)
	SELECT g::uuid, p::uuid, u FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(g, p, u)
	ON CONFLICT (group_id, person_id) DO UPDATE SET expires_at = excluded.expires_at`

// removeMemberSQL removes a membership.
const removeMemberSQL = "DELETE FROM group_members WHERE group_id = $1 AND person_id = $2"

// addMember adds a membership to a's statements: to the statement of the
// memberships added just before it, so that a bulk decision's joins are one
// statement (and one firing of group_members' statement trigger), not one
// each.
func (a *applying) addMember(groupID, personID string, until *time.Time) {
	if n := len(a.stmts); n > 0 && a.stmts[n-1].SQL == addMembersSQL {
		st := &a.stmts[n-1]
		st.Args = []any{append(st.Args[0].([]string), groupID), append(st.Args[1].([]string), personID),
			append(st.Args[2].([]*time.Time), until)}
		return
	}
	a.stmts = append(a.stmts, stmt{addMembersSQL, []any{[]string{groupID}, []string{personID}, []*time.Time{until}}})
}

// notify queues a notification job with a's jobs (see DB.notify).
func (a *applying) notify(db *DB, event, requestID, recipientID string) {
	if recipientID != "" && db.Email {
		a.jobs = append(a.jobs, river.InsertManyParams{Args: workflow.NotifyArgs{Event: event, RequestID: requestID, RecipientID: recipientID}})
	}
}

// flush runs what a collected and ends the transaction: the jobs, the
// changes in order, and the records with the COMMIT, those of before (what
// the transaction decided before it applied the requests) first.
func (a *applying) flush(ctx context.Context, tx *finalTx, db *DB, syncing bool, before ...recording) error {
	if len(a.exports) > 0 {
		a.jobs = append(a.jobs, river.InsertManyParams{Args: workflow.SyncExportArgs{RequestIDs: a.exports}})
	}
	if len(a.jobs) > 0 {
		if err := db.insertJobs(ctx, tx, a.jobs...); err != nil {
			return err
		}
	}
	stmts := a.stmts
	if len(a.recs) > 0 || len(before) > 0 {
		status := portal.StatusCompleted
		if syncing {
			status = portal.StatusCommitted
		}
		rec := recordAfterStmt(before, status, a.recs...)
		if len(stmts) == 1 && (stmts[0].SQL == addMembersSQL || stmts[0].SQL == removeMemberSQL) {
			// The memberships' change and the records are one
			// statement. Not so for several changes, which may touch
			// the same membership in turn, nor for other statements
			// (a SELECT as a CTE that nothing reads is not run).
			stmts = []stmt{rec.with("c", stmts[0], "")}
		} else {
			stmts = append(stmts, rec)
		}
	}
	*a = applying{}
	return tx.finish(ctx, stmts...)
}

// applyLocked applies a request that lockForApply locked (syncing is what
// it said), collecting its statements in a; changes that need an answer
// from Postgres first run at once, after what a holds so far.
func (db *DB) applyLocked(ctx context.Context, tx pgx.Tx, a *applying, h requestHead, actorID string, syncing bool, earlier ...event) error {
	requestID, op, groupID, personID, changes, until := h.ID, h.Operation, h.GroupID, h.PersonID, h.Changes, h.MemberUntil
	// With connected systems to export to, the request completes when
	// they confirm the change; the sync hand-off is enqueued with it.
	rec := recording{requestID, "request_committed", map[string]any{"operation": op},
		append(earlier, event{portal.KindCommitted, actorID, portal.Text{}}, event{portal.KindCompleted, "", portal.Textf("No connected systems to export to.")})}
	if syncing {
		a.exports = append(a.exports, requestID)
		rec.Events = rec.Events[:len(rec.Events)-1]
	}
	a.recs = append(a.recs, rec)
	switch portal.Operation(op) {
	case portal.OpAddMember:
		if until != nil {
			a.jobs = append(a.jobs, river.InsertManyParams{Args: workflow.ExpireMembershipArgs{GroupID: groupID, PersonID: personID, Until: *until},
				InsertOpts: &river.InsertOpts{ScheduledAt: *until}})
		}
		a.addMember(groupID, personID, until)
		return nil
	case portal.OpRemoveMember:
		a.stmts = append(a.stmts, stmt{removeMemberSQL, []any{groupID, personID}})
		return nil
	}
	if len(a.stmts) > 0 {
		if err := execBatch(ctx, tx, a.stmts...); err != nil {
			return err
		}
		a.stmts = nil
	}
	switch portal.Operation(op) {
	case portal.OpCreateGroup, portal.OpUpdateGroup, portal.OpDeleteGroup, portal.OpCreatePerson:
		return db.applyAdministration(ctx, tx, a, rec, h)
	case portal.OpAddOwner:
		if _, err := tx.Exec(ctx, "INSERT INTO group_owners (group_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", groupID, personID); err != nil {
			return err
		}
	case portal.OpRemoveOwner:
		// Never the last owner, even when two removals race: the group's
		// row lock orders them.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM groups WHERE id = $1 FOR UPDATE", groupID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM group_owners WHERE group_id = $1 AND person_id = $2
			AND (SELECT count(*) FROM group_owners WHERE group_id = $1) > 1`, groupID, personID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return portal.Errorf(portal.ECONFLICT, "A group needs at least one owner; make someone else an owner first.")
		}
	case portal.OpUpdatePerson:
		var sets, olds []string
		args := []any{personID}
		schema := portal.CoreSchema()
		if hasExtraChange(changes) {
			extra, err := readExtraAttributes(ctx, tx)
			if err != nil {
				return err
			}
			schema = portal.NewSchema(extra)
		}
		// Extra attributes are set in people.extra, one object merged in;
		// an empty value removes the attribute.
		extras := map[string]any{}
		for attr, val := range changes {
			// Only the table's column names reach the SQL text.
			a, ok := schema.Lookup(attr)
			if !ok || !a.Requestable() {
				return portal.Errorf(portal.EINVALID, "%q cannot be changed.", attr)
			}
			if !a.Core() {
				extras[attr] = nullable(val)
				args = append(args, attr)
				olds = append(olds, fmt.Sprintf("coalesce(o.extra ->> $%d::text, '') AS %s", len(args), pgx.Identifier{attr}.Sanitize()))
				continue
			}
			args = append(args, val)
			sets = append(sets, fmt.Sprintf("%s = %s", pgx.Identifier{a.Column}.Sanitize(), columnValue(a, len(args))))
			olds = append(olds, fmt.Sprintf("coalesce(o.%s::text, '') AS %s", pgx.Identifier{a.Column}.Sanitize(), pgx.Identifier{attr}.Sanitize()))
		}
		if len(extras) > 0 {
			args = append(args, extras)
			sets = append(sets, fmt.Sprintf("extra = jsonb_strip_nulls(o.extra || $%d::jsonb)", len(args)))
		}
		slices.Sort(sets)
		// The audit entry records each value before and after: the CTE
		// locks the row first, so "before" is what this change replaced.
		// FOR NO KEY UPDATE, the UPDATE's own lock (no request changes an
		// identifier), since this transaction and a sync's hold the row's
		// key-share lock already (through the request's and the attribute
		// sources' references to the person): FOR UPDATE waited for the
		// other's, and two such upgrades deadlocked.
		rows, err := tx.Query(ctx, "WITH o AS (SELECT * FROM people WHERE id = $1 FOR NO KEY UPDATE) UPDATE people SET "+
			strings.Join(sets, ", ")+", updated_at = now() FROM o WHERE people.id = o.id RETURNING "+strings.Join(olds, ", "), args...)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, pgx.RowToMap)
		if err != nil {
			return err
		}
		recorded := make(map[string]portal.AttributeChange, len(changes))
		for attr, val := range changes {
			old, _ := before[attr].(string)
			recorded[attr] = portal.AttributeChange{Old: old, New: val}
		}
		rec.Details["changes"] = recorded
		// The person's dynamic groups follow the change in the same
		// transaction.
		if _, _, err := db.RecomputePersonTx(ctx, tx, personID); err != nil {
			return err
		}
	}
	return nil
}

// FindRequest returns a request and its timeline. Requesters, the people
// it concerns, its approvers and administrators may read it.
func (db *DB) FindRequest(ctx context.Context, v portal.Viewer, id string) (*portal.Request, []portal.RequestEvent, error) {
	d, err := db.FindRequestDetail(ctx, v, id)
	if err != nil {
		return nil, nil, err
	}
	return &d.Request, d.Events, nil
}

// FindRequestDetail returns a request with its timeline, its approval and
// the connected systems it waits for, in one round trip. The same people
// as FindRequest's may read it.
func (db *DB) FindRequestDetail(ctx context.Context, v portal.Viewer, id string) (*portal.RequestDetail, error) {
	notFound := portal.Errorf(portal.ENOTFOUND, "There is no such request.")
	if !validID(id) {
		return nil, notFound
	}
	d := &portal.RequestDetail{}
	r := &d.Request
	var allowed bool
	batch := &pgx.Batch{}
	batch.Queue(requestSelect+` WHERE r.id = $1`, id).QueryRow(func(row pgx.Row) error {
		err := scanRequest(row, r)
		if isNoRows(err) {
			return notFound
		}
		return err
	})
	batch.Queue(`SELECT EXISTS (SELECT 1 FROM requests WHERE id = $1 AND (requester_id = $2 OR person_id = $2))
		OR EXISTS (SELECT 1 FROM approvals a JOIN approvers ap ON ap.approval_id = a.id WHERE a.request_id = $1 AND ap.person_id = $2)
		OR $3`, id, v.PersonID, v.SeesPrivileged()).QueryRow(func(row pgx.Row) error { return row.Scan(&allowed) })
	batch.Queue(`SELECT e.at, e.kind, coalesce(p.display_name, ''), e.detail, e.detail_text FROM request_events e
		LEFT JOIN people p ON p.id = e.actor_id WHERE e.request_id = $1 ORDER BY e.id`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			d.Events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.RequestEvent, error) {
				var e portal.RequestEvent
				var english string
				var stored []byte
				if err := row.Scan(&e.At, &e.Kind, &e.ActorName, &english, &stored); err != nil {
					return e, err
				}
				var err error
				e.Detail, err = portal.ReadStored(stored, english, portal.EventText)
				return e, err
			})
			return err
		})
	batch.Queue(`SELECT a.id, a.status, a.needed, a.deadline, a.created_at FROM approvals a WHERE a.request_id = $1`, id).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				a := &portal.ApprovalState{}
				if err := rows.Scan(&a.ID, &a.Status, &a.Needed, &a.Deadline, &a.CreatedAt); err != nil {
					return err
				}
				d.Approval = a
			}
			return rows.Err()
		})
	batch.Queue(`SELECT ap.person_id, p.display_name, coalesce(ap.on_behalf_of::text, ''), ap.escalation, coalesce(ap.decision, ''), ap.decided_at
		FROM approvals a JOIN approvers ap ON ap.approval_id = a.id JOIN people p ON p.id = ap.person_id
		WHERE a.request_id = $1 ORDER BY ap.escalation, ap.decided_at NULLS LAST, p.display_name`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			approvers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Approver, error) {
				var ap portal.Approver
				return ap, row.Scan(&ap.PersonID, &ap.Name, &ap.OnBehalfOf, &ap.Escalation, &ap.Decision, &ap.DecidedAt)
			})
			if d.Approval != nil {
				d.Approval.Approvers = approvers
			}
			return err
		})
	// One line per system: sent once every object's change was sent, and
	// the refusal of any object that was refused.
	batch.Queue(`SELECT s.name, bool_and(x.sent_at IS NOT NULL),
			coalesce((array_agg(c.export_error ORDER BY c.id) FILTER (WHERE c.export_status = 'error'))[1], ''),
			(array_agg(c.export_error_text ORDER BY c.id) FILTER (WHERE c.export_status = 'error'))[1]
		FROM export_requests x JOIN connected_systems s ON s.id = x.system_id JOIN cs_objects c ON c.id = x.cs_id
		WHERE x.request_id = $1 GROUP BY s.name ORDER BY s.name`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			d.Exports, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.ExportState, error) {
				var x portal.ExportState
				var english string
				var stored []byte
				if err := row.Scan(&x.System, &x.Sent, &english, &stored); err != nil {
					return x, err
				}
				var err error
				x.Error, err = portal.ReadStored(stored, english, nil)
				return x, err
			})
			return err
		})
	// What a committed update replaced, from its audit entry
	// (migrations/0070_request_replaced_values.sql).
	batch.Queue(`SELECT c.key, coalesce(c.value ->> 'old', '') FROM audit_log l,
			jsonb_each(CASE WHEN jsonb_typeof(l.details -> 'changes') = 'object' THEN l.details -> 'changes' END) c
		WHERE l.target_type = 'request' AND l.action = 'request_committed' AND l.target_id = $1`, id).
		Query(func(rows pgx.Rows) error {
			var attr, old string
			_, err := pgx.ForEachRow(rows, []any{&attr, &old}, func() error {
				if d.Replaced == nil {
					d.Replaced = map[string]string{}
				}
				d.Replaced[attr] = old
				return nil
			})
			return err
		})
	if err := db.Pool.SendBatch(ctx, batch).Close(); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: find request: %w", err)
	}
	if !allowed {
		return nil, notFound
	}
	return d, nil
}

// requestColumns read a request r as scanRequest scans it, and
// requestSelect selects them from requests. The names come from one index
// probe each: planning a lookup costs next to nothing, where four joins
// cost more to plan than a page of results costs to read, and a page
// reads them only for the rows it returns. A query that filters on names
// joins them itself.
const (
	requestColumns = `r.id, coalesce(r.requester_id::text, ''),
	coalesce((SELECT display_name FROM people WHERE id = r.requester_id), 'Tessera'), r.operation,
	coalesce(r.group_id::text, ''), coalesce((SELECT display_name FROM groups WHERE id = r.group_id), ''), coalesce(r.person_id::text, ''),
	coalesce((SELECT display_name FROM people WHERE id = r.person_id), ''), r.changes,
	r.member_until, r.justification, r.status, coalesce((SELECT name FROM policies WHERE id = r.policy_id), ''),
	r.created_at, r.updated_at, coalesce(r.policy_id::text, '')`
	requestSelect = `SELECT ` + requestColumns + ` FROM requests r`
)

func scanRequest(row pgx.Row, r *portal.Request, extra ...any) error {
	return row.Scan(append([]any{&r.ID, &r.RequesterID, &r.RequesterName, &r.Operation, &r.GroupID, &r.GroupName,
		&r.PersonID, &r.PersonName, &r.Changes, &r.MemberUntil, &r.Justification, &r.Status, &r.PolicyName,
		&r.CreatedAt, &r.UpdatedAt, &r.PolicyID}, extra...)...)
}

// MyRequests lists the viewer's requests, newest first.
func (db *DB) MyRequests(ctx context.Context, v portal.Viewer, offset int) (portal.Page[portal.Request], error) {
	f := portal.GroupFilter{Offset: offset}
	if err := f.Normalize(); err != nil {
		return portal.Page[portal.Request]{}, err
	}
	page := portal.Page[portal.Request]{Offset: f.Offset, Limit: f.Limit}
	rows, err := db.Pool.Query(ctx, requestSelect+` WHERE r.requester_id = $1 ORDER BY r.created_at DESC, r.id LIMIT $2 OFFSET $3`,
		v.PersonID, f.Limit+1, f.Offset)
	if err != nil {
		return page, fmt.Errorf("postgres: my requests: %w", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Request, error) {
		var r portal.Request
		return r, scanRequest(row, &r)
	})
	if err != nil {
		return page, fmt.Errorf("postgres: my requests: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items, page.More = page.Items[:f.Limit], true
	}
	return page, nil
}

// Cancel withdraws the viewer's own request while it waits for approval.
func (db *DB) Cancel(ctx context.Context, v portal.Viewer, id string) error {
	if !validID(id) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such request.")
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var status, requester string
		err := tx.QueryRow(ctx, "SELECT status, coalesce(requester_id::text, '') FROM requests WHERE id = $1 FOR UPDATE", id).Scan(&status, &requester)
		if isNoRows(err) || (err == nil && requester != v.PersonID) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such request of yours.")
		} else if err != nil {
			return err
		}
		if portal.RequestStatus(status) != portal.StatusAuthorizing {
			return portal.Errorf(portal.ECONFLICT, "This request can no longer be canceled: it is %s.", portal.LowerLabel(portal.RequestStatus(status).Label()))
		}
		if _, err := tx.Exec(ctx, "UPDATE requests SET status = 'canceled', updated_at = now() WHERE id = $1", id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE approvals SET status = 'canceled' WHERE request_id = $1 AND status = 'pending'", id); err != nil {
			return err
		}
		return record(ctx, tx, id, "request_canceled", nil, event{portal.KindCanceled, v.PersonID, portal.Text{}})
	})
	return storeError("cancel request", err)
}
