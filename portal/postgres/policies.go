package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tessera-idm/tessera/portal"
)

var (
	_ portal.PolicyService = (*DB)(nil)
	_ portal.AuditReader   = (*DB)(nil)
)

var (
	errNoPolicy   = portal.Errorf(portal.ENOTFOUND, "There is no such policy.")
	errNoWorkflow = portal.Errorf(portal.ENOTFOUND, "There is no such approval workflow.")
)

// requireAdmin refuses changes to policy by anyone but an administrator,
// whatever page or command the call came from.
func requireAdmin(v portal.Viewer) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators change policies and approval workflows.")
	}
	return nil
}

const policySelect = `SELECT p.id, p.name, p.description, p.enabled, p.operation, p.requestor,
	coalesce(p.requestor_set_id::text, ''), coalesce(s.name, ''), p.target_join_policies, p.attributes,
	coalesce(p.workflow_id::text, ''), coalesce(w.name, ''), p.notify, p.created_at
	FROM policies p LEFT JOIN approval_workflows w ON w.id = p.workflow_id
	LEFT JOIN sets s ON s.id = p.requestor_set_id`

func scanPolicy(row pgx.Row) (portal.Policy, error) {
	var p portal.Policy
	var joins []string
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Enabled, &p.Operation, &p.Requestor, &p.RequestorSetID,
		&p.RequestorSetName, &joins, &p.Attributes, &p.WorkflowID, &p.WorkflowName, &p.Notify, &p.CreatedAt)
	for _, j := range joins {
		p.TargetJoinPolicies = append(p.TargetJoinPolicies, portal.JoinPolicy(j))
	}
	return p, err
}

// ListPolicies returns every policy by name. A deployment has tens of them.
func (db *DB) ListPolicies(ctx context.Context) ([]portal.Policy, error) {
	rows, err := db.Pool.Query(ctx, policySelect+" ORDER BY p.name, p.id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list policies: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Policy, error) { return scanPolicy(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list policies: %w", err)
	}
	return ps, nil
}

// FindPolicy returns one policy.
func (db *DB) FindPolicy(ctx context.Context, id string) (*portal.Policy, error) {
	p, err := findPolicy(ctx, db.Pool, id)
	return p, storeError("find policy", err)
}

func findPolicy(ctx context.Context, q rowQuerier, id string) (*portal.Policy, error) {
	if !validID(id) {
		return nil, errNoPolicy
	}
	p, err := scanPolicy(q.QueryRow(ctx, policySelect+" WHERE p.id = $1", id))
	if isNoRows(err) {
		return nil, errNoPolicy
	} else if err != nil {
		return nil, err
	}
	return &p, nil
}

// CreatePolicy checks p, that its workflow and requestor set exist and that
// no other policy has its name (in any case), stores it and audits it.
func (db *DB) CreatePolicy(ctx context.Context, v portal.Viewer, p portal.Policy) (*portal.Policy, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	if err := db.checkPolicy(ctx, &p); err != nil {
		return nil, err
	}
	var saved *portal.Policy
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := checkPolicyInTx(ctx, tx, &p); err != nil {
			return err
		}
		var id string
		err := tx.QueryRow(ctx, `INSERT INTO policies (name, description, enabled, operation, requestor, requestor_set_id,
				target_join_policies, attributes, workflow_id, notify)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			p.Name, p.Description, p.Enabled, string(p.Operation), string(p.Requestor), nullable(p.RequestorSetID),
			joinColumn(p.TargetJoinPolicies), textArray(p.Attributes), nullable(p.WorkflowID), p.Notify).Scan(&id)
		if isUniqueViolation(err) {
			return policyNameTaken(p.Name)
		} else if err != nil {
			return err
		}
		if saved, err = findPolicy(ctx, tx, id); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "policy_create", "policy", id, policyDetails(saved))
	})
	if err != nil {
		return nil, storeError("create policy", err)
	}
	return saved, nil
}

// UpdatePolicy replaces every field of policy p.ID (but its creation time)
// and audits what changed.
func (db *DB) UpdatePolicy(ctx context.Context, v portal.Viewer, p portal.Policy) (*portal.Policy, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	if !validID(p.ID) {
		return nil, errNoPolicy
	}
	if err := db.checkPolicy(ctx, &p); err != nil {
		return nil, err
	}
	var saved *portal.Policy
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM policies WHERE id = $1 FOR UPDATE", p.ID); err != nil {
			return err
		}
		before, err := findPolicy(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if err := checkPolicyInTx(ctx, tx, &p); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE policies SET name = $2, description = $3, enabled = $4, operation = $5, requestor = $6,
				requestor_set_id = $7, target_join_policies = $8, attributes = $9, workflow_id = $10, notify = $11
			WHERE id = $1`,
			p.ID, p.Name, p.Description, p.Enabled, string(p.Operation), string(p.Requestor), nullable(p.RequestorSetID),
			joinColumn(p.TargetJoinPolicies), textArray(p.Attributes), nullable(p.WorkflowID), p.Notify)
		if isUniqueViolation(err) {
			return policyNameTaken(p.Name)
		} else if err != nil {
			return err
		}
		if saved, err = findPolicy(ctx, tx, p.ID); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "policy_update", "policy", p.ID, changeDetails(policyDetails(before), policyDetails(saved)))
	})
	if err != nil {
		return nil, storeError("update policy", err)
	}
	return saved, nil
}

// checkPolicy normalises p against the attribute table (a policy may let
// people change the extra attributes that are editable) and checks the
// form of the IDs it refers to.
func (db *DB) checkPolicy(ctx context.Context, p *portal.Policy) error {
	schema, err := db.Schema(ctx)
	if err != nil {
		return err
	}
	if err := p.NormalizeIn(schema); err != nil {
		return err
	}
	if p.WorkflowID != "" && !validID(p.WorkflowID) {
		return portal.Errorf(portal.EINVALID, "The approval workflow chosen does not exist.")
	}
	if p.RequestorSetID != "" && !validID(p.RequestorSetID) {
		return portal.Errorf(portal.EINVALID, "The set chosen does not exist.")
	}
	return nil
}

// checkPolicyInTx checks what p refers to: a free name, an existing
// requestor set, and an existing workflow that can find approvers for p's
// operation. The workflow and set are key-share locked so that they cannot
// be deleted before tx commits.
func checkPolicyInTx(ctx context.Context, tx pgx.Tx, p *portal.Policy) error {
	var taken bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policies WHERE lower(name) = lower($1) AND id::text <> $2)`,
		p.Name, p.ID).Scan(&taken)
	if err != nil {
		return err
	} else if taken {
		return policyNameTaken(p.Name)
	}
	if p.RequestorSetID != "" {
		// requestor_set_id has no foreign key (sets came after policies);
		// the lock stands in for one until tx commits.
		err := tx.QueryRow(ctx, "SELECT name FROM sets WHERE id = $1 FOR KEY SHARE", p.RequestorSetID).Scan(&p.RequestorSetName)
		if isNoRows(err) {
			return portal.Errorf(portal.EINVALID, "The set chosen no longer exists; choose another.")
		} else if err != nil {
			return err
		}
	}
	if p.WorkflowID == "" {
		return nil
	}
	var name, source string
	err = tx.QueryRow(ctx, "SELECT name, approver_source FROM approval_workflows WHERE id = $1 FOR KEY SHARE", p.WorkflowID).
		Scan(&name, &source)
	if isNoRows(err) {
		return portal.Errorf(portal.EINVALID, "The approval workflow chosen no longer exists; choose another.")
	} else if err != nil {
		return err
	}
	if source == string(portal.ApproversOwners) && !p.Operation.IsGroupOperation() {
		return portal.Errorf(portal.EINVALID, "Workflow “%s” asks the group's owners, but a change of attributes has no group; choose another workflow.", name)
	}
	return nil
}

func policyNameTaken(name string) error {
	return portal.Errorf(portal.ECONFLICT, "A policy named “%s” already exists; choose another name.", name)
}

// SetPolicyEnabled turns a policy on or off and audits it.
func (db *DB) SetPolicyEnabled(ctx context.Context, v portal.Viewer, id string, enabled bool) error {
	if err := requireAdmin(v); err != nil {
		return err
	}
	if !validID(id) {
		return errNoPolicy
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, "UPDATE policies SET enabled = $2 WHERE id = $1 RETURNING name", id, enabled).Scan(&name)
		if isNoRows(err) {
			return errNoPolicy
		} else if err != nil {
			return err
		}
		action := "policy_disable"
		if enabled {
			action = "policy_enable"
		}
		return Audit(ctx, tx, v.PersonID, action, "policy", id, map[string]any{"name": name})
	})
	return storeError("enable policy", err)
}

// DeletePolicy removes a policy. Requests made under it keep their
// timelines; their policy_id becomes NULL (ON DELETE SET NULL), so the audit
// entry records the name and how many requests it had granted.
func (db *DB) DeletePolicy(ctx context.Context, v portal.Viewer, id string) error {
	if err := requireAdmin(v); err != nil {
		return err
	}
	if !validID(id) {
		return errNoPolicy
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		before, err := findPolicy(ctx, tx, id)
		if err != nil {
			return err
		}
		var requests int64
		err = tx.QueryRow(ctx, `WITH gone AS (DELETE FROM policies WHERE id = $1 RETURNING id)
			SELECT count(*) FROM requests WHERE policy_id IN (SELECT id FROM gone)`, id).Scan(&requests)
		if err != nil {
			return err
		}
		details := policyDetails(before)
		details["requests"] = requests
		return Audit(ctx, tx, v.PersonID, "policy_delete", "policy", id, details)
	})
	return storeError("delete policy", err)
}

func policyDetails(p *portal.Policy) map[string]any {
	return map[string]any{
		"name": p.Name, "description": p.Description, "enabled": p.Enabled, "operation": string(p.Operation),
		"requestor": string(p.Requestor), "requestor_set": p.RequestorSetName, "targets": joinColumn(p.TargetJoinPolicies),
		"attributes": textArray(p.Attributes), "workflow": p.WorkflowName, "notify": p.Notify,
	}
}

// changeDetails is the audit record of an update: the values after it, the
// names of the fields it changed, and under "before" their values before.
func changeDetails(before, after map[string]any) map[string]any {
	changed := []string{}
	old := map[string]any{}
	for k, v := range after {
		if !reflect.DeepEqual(before[k], v) {
			changed = append(changed, k)
			old[k] = before[k]
		}
	}
	slices.Sort(changed)
	details := maps.Clone(after)
	details["changed"] = changed
	details["before"] = old
	return details
}

func joinColumn(js []portal.JoinPolicy) []string {
	col := make([]string, len(js))
	for i, j := range js {
		col[i] = string(j)
	}
	return col
}

// textArray stores nil as an empty array, as the NOT NULL columns want.
func textArray(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// workflowSelect reads workflows with their people (in the order named; a
// person since deleted drops out), their calendar's name and how many
// policies use them.
const workflowSelect = `SELECT w.id, w.name, w.approver_source, coalesce(w.approver_set_id::text, ''),
	coalesce((SELECT s.name FROM sets s WHERE s.id = w.approver_set_id), ''), w.threshold, w.threshold_n,
	coalesce(w.deadline_hours, 0), coalesce(w.deadline_business_days, 0),
	coalesce(w.calendar_id::text, ''), coalesce(c.name, ''), coalesce(w.reminder_hours, 0), w.timeout_outcome,
	(SELECT count(*) FROM policies p WHERE p.workflow_id = w.id),
	(SELECT coalesce(json_agg(json_build_object('ID', p.id, 'Name', p.account_name, 'DisplayName', p.display_name)
		ORDER BY a.ord), '[]') FROM unnest(w.approver_ids) WITH ORDINALITY AS a (id, ord) JOIN people p ON p.id = a.id),
	(SELECT coalesce(json_agg(json_build_object('ID', p.id, 'Name', p.account_name, 'DisplayName', p.display_name)
		ORDER BY a.ord), '[]') FROM unnest(w.escalation_ids) WITH ORDINALITY AS a (id, ord) JOIN people p ON p.id = a.id)
	FROM approval_workflows w LEFT JOIN holiday_calendars c ON c.id = w.calendar_id`

func scanWorkflow(row pgx.Row) (portal.ApprovalWorkflow, error) {
	var w portal.ApprovalWorkflow
	err := row.Scan(&w.ID, &w.Name, &w.ApproverSource, &w.ApproverSetID, &w.ApproverSet, &w.Threshold, &w.ThresholdN, &w.DeadlineHours,
		&w.DeadlineBusinessDays, &w.CalendarID, &w.CalendarName, &w.ReminderHours, &w.TimeoutOutcome, &w.Policies,
		&w.Approvers, &w.Escalation)
	return w, err
}

// ListWorkflows returns every approval workflow by name.
func (db *DB) ListWorkflows(ctx context.Context) ([]portal.ApprovalWorkflow, error) {
	rows, err := db.Pool.Query(ctx, workflowSelect+" ORDER BY w.name, w.id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list workflows: %w", err)
	}
	ws, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.ApprovalWorkflow, error) { return scanWorkflow(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list workflows: %w", err)
	}
	return ws, nil
}

// FindWorkflow returns one approval workflow.
func (db *DB) FindWorkflow(ctx context.Context, id string) (*portal.ApprovalWorkflow, error) {
	w, err := findWorkflow(ctx, db.Pool, id)
	return w, storeError("find workflow", err)
}

func findWorkflow(ctx context.Context, q rowQuerier, id string) (*portal.ApprovalWorkflow, error) {
	if !validID(id) {
		return nil, errNoWorkflow
	}
	w, err := scanWorkflow(q.QueryRow(ctx, workflowSelect+" WHERE w.id = $1", id))
	if isNoRows(err) {
		return nil, errNoWorkflow
	} else if err != nil {
		return nil, err
	}
	return &w, nil
}

// CreateWorkflow checks w, resolves its people, stores it and audits it.
func (db *DB) CreateWorkflow(ctx context.Context, v portal.Viewer, w portal.ApprovalWorkflow) (*portal.ApprovalWorkflow, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	if err := w.Normalize(); err != nil {
		return nil, err
	}
	var saved *portal.ApprovalWorkflow
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := checkWorkflowInTx(ctx, tx, &w); err != nil {
			return err
		}
		var id string
		err := tx.QueryRow(ctx, `INSERT INTO approval_workflows (name, approver_source, approver_ids, threshold, threshold_n,
				deadline_hours, deadline_business_days, calendar_id, reminder_hours, escalation_ids, timeout_outcome, approver_set_id)
			VALUES ($1, $2, $3::uuid[], $4, $5, $6, $7, $8, $9, $10::uuid[], $11, $12) RETURNING id`,
			w.Name, string(w.ApproverSource), personIDs(w.Approvers), string(w.Threshold), w.ThresholdN,
			nullableInt(w.DeadlineHours), nullableInt(w.DeadlineBusinessDays), nullable(w.CalendarID),
			nullableInt(w.ReminderHours), personIDs(w.Escalation), string(w.TimeoutOutcome), nullable(w.ApproverSetID)).Scan(&id)
		if isUniqueViolation(err) {
			return workflowNameTaken(w.Name)
		} else if err != nil {
			return err
		}
		if saved, err = findWorkflow(ctx, tx, id); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "workflow_create", "workflow", id, workflowDetails(saved))
	})
	if err != nil {
		return nil, storeError("create workflow", err)
	}
	return saved, nil
}

// UpdateWorkflow replaces every field of workflow w.ID and audits what
// changed. Approvals already under way keep their approvers; their next
// deadline, reminder and escalation follow the new settings.
func (db *DB) UpdateWorkflow(ctx context.Context, v portal.Viewer, w portal.ApprovalWorkflow) (*portal.ApprovalWorkflow, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	if !validID(w.ID) {
		return nil, errNoWorkflow
	}
	if err := w.Normalize(); err != nil {
		return nil, err
	}
	var saved *portal.ApprovalWorkflow
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		// The row lock keeps policies from being pointed at it meanwhile.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM approval_workflows WHERE id = $1 FOR UPDATE", w.ID); err != nil {
			return err
		}
		before, err := findWorkflow(ctx, tx, w.ID)
		if err != nil {
			return err
		}
		if err := checkWorkflowInTx(ctx, tx, &w); err != nil {
			return err
		}
		if w.ApproverSource == portal.ApproversOwners {
			var names []string
			err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM policies
				WHERE workflow_id = $1 AND operation = 'update_person'`, w.ID).Scan(&names)
			if err != nil {
				return err
			} else if len(names) > 0 {
				return portal.Errorf(portal.EINVALID, "Policies for changes of attributes use this workflow (%s), and those changes have no group owners to ask.",
					quoteList(names))
			}
		}
		_, err = tx.Exec(ctx, `UPDATE approval_workflows SET name = $2, approver_source = $3, approver_ids = $4::uuid[],
				threshold = $5, threshold_n = $6, deadline_hours = $7, deadline_business_days = $8, calendar_id = $9,
				reminder_hours = $10, escalation_ids = $11::uuid[], timeout_outcome = $12, approver_set_id = $13
			WHERE id = $1`,
			w.ID, w.Name, string(w.ApproverSource), personIDs(w.Approvers), string(w.Threshold), w.ThresholdN,
			nullableInt(w.DeadlineHours), nullableInt(w.DeadlineBusinessDays), nullable(w.CalendarID),
			nullableInt(w.ReminderHours), personIDs(w.Escalation), string(w.TimeoutOutcome), nullable(w.ApproverSetID))
		if isUniqueViolation(err) {
			return workflowNameTaken(w.Name)
		} else if err != nil {
			return err
		}
		if saved, err = findWorkflow(ctx, tx, w.ID); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "workflow_update", "workflow", w.ID,
			changeDetails(workflowDetails(before), workflowDetails(saved)))
	})
	if err != nil {
		return nil, storeError("update workflow", err)
	}
	return saved, nil
}

// checkWorkflowInTx checks that w's name is free and its calendar exists,
// and resolves its named people to IDs.
func checkWorkflowInTx(ctx context.Context, tx pgx.Tx, w *portal.ApprovalWorkflow) error {
	var taken bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM approval_workflows WHERE lower(name) = lower($1) AND id::text <> $2)`,
		w.Name, w.ID).Scan(&taken)
	if err != nil {
		return err
	} else if taken {
		return workflowNameTaken(w.Name)
	}
	if w.CalendarID != "" {
		// calendar_id has no foreign key: the lock keeps the calendar
		// until tx commits, and nothing deletes calendars.
		noCalendar := portal.Errorf(portal.EINVALID, "The holiday calendar chosen no longer exists; choose another.")
		if !validID(w.CalendarID) {
			return noCalendar
		}
		err := tx.QueryRow(ctx, "SELECT name FROM holiday_calendars WHERE id = $1 FOR KEY SHARE", w.CalendarID).Scan(&w.CalendarName)
		if isNoRows(err) {
			return noCalendar
		} else if err != nil {
			return err
		}
	}
	if w.ApproverSetID != "" {
		noSet := portal.Errorf(portal.EINVALID, "The set chosen no longer exists; choose another.")
		if !validID(w.ApproverSetID) {
			return noSet
		}
		err := tx.QueryRow(ctx, "SELECT name FROM sets WHERE id = $1 FOR KEY SHARE", w.ApproverSetID).Scan(&w.ApproverSet)
		if isNoRows(err) {
			return noSet
		} else if err != nil {
			return err
		}
	}
	if w.Approvers, err = resolvePeople(ctx, tx, portal.LabelOf(portal.Mark("Approvers")), w.Approvers); err != nil {
		return err
	}
	if w.Escalation, err = resolvePeople(ctx, tx, portal.LabelOf(portal.Mark("Escalation approvers")), w.Escalation); err != nil {
		return err
	}
	if w.Threshold == portal.ThresholdN && w.ApproverSource == portal.ApproversNamed && w.ThresholdN > len(w.Approvers) {
		// Two names for one person count once.
		return portal.Errorf(portal.EINVALID, "The workflow needs %d approvals but names only %d different approvers.",
			w.ThresholdN, len(w.Approvers))
	}
	return nil
}

// resolvePeople finds each person by ID, or else by account name or email
// (an account name wins over someone else's email), and refuses the whole
// list naming every one not found or whose account is disabled.
func resolvePeople(ctx context.Context, tx pgx.Tx, what portal.Label, people []portal.NamedPerson) ([]portal.NamedPerson, error) {
	if len(people) == 0 {
		return nil, nil
	}
	ids, names := make([]string, len(people)), make([]string, len(people))
	for i, p := range people {
		if p.ID != "" && !validID(p.ID) {
			return nil, portal.Errorf(portal.EINVALID, "%s: %q is not a person's ID.", what, p.ID)
		}
		ids[i], names[i] = p.ID, p.Name
	}
	rows, err := tx.Query(ctx, `SELECT coalesce(p.id::text, ''), coalesce(p.account_name, ''), coalesce(p.display_name, ''),
			coalesce(p.account_enabled, false)
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n (id, name, ord)
		LEFT JOIN LATERAL (
			SELECT id, account_name, display_name, account_enabled FROM people
				WHERE n.id <> '' AND id = nullif(n.id, '')::uuid
			UNION ALL
			(SELECT id, account_name, display_name, account_enabled FROM people
				WHERE n.id = '' AND (lower(account_name) = lower(n.name) OR (email <> '' AND lower(email) = lower(n.name)))
				ORDER BY lower(account_name) = lower(n.name) DESC LIMIT 1)
			LIMIT 1) p ON true
		ORDER BY n.ord`, ids, names)
	if err != nil {
		return nil, err
	}
	type match struct {
		ID, Name, DisplayName string
		Enabled               bool
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (match, error) {
		var f match
		return f, row.Scan(&f.ID, &f.Name, &f.DisplayName, &f.Enabled)
	})
	if err != nil {
		return nil, err
	}
	var out []portal.NamedPerson
	var unknown, disabled []string
	seen := map[string]bool{}
	for i, f := range found {
		switch {
		case f.ID == "":
			unknown = append(unknown, cmp.Or(people[i].Name, people[i].ID))
		case !f.Enabled:
			disabled = append(disabled, people[i].Name+" ("+f.DisplayName+")")
		case !seen[f.ID]:
			seen[f.ID] = true
			out = append(out, portal.NamedPerson{ID: f.ID, Name: f.Name, DisplayName: f.DisplayName})
		}
	}
	switch {
	case len(unknown) == 1:
		return nil, portal.Errorf(portal.EINVALID, "%s: no one has the account name or email “%s”.", what, unknown[0])
	case len(unknown) > 1:
		return nil, portal.Errorf(portal.EINVALID, "%s: no one has these account names or emails: %s.", what, quoteList(unknown))
	case len(disabled) > 0:
		return nil, portal.Errorf(portal.EINVALID, "%s: these accounts are disabled and cannot approve: %s.", what, quoteList(disabled))
	}
	return out, nil
}

func quoteList(ss []string) string { return "“" + strings.Join(ss, "”, “") + "”" }

func personIDs(people []portal.NamedPerson) []string {
	ids := make([]string, len(people))
	for i, p := range people {
		ids[i] = p.ID
	}
	return ids
}

func nullableInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func workflowNameTaken(name string) error {
	return portal.Errorf(portal.ECONFLICT, "An approval workflow named “%s” already exists; choose another name.", name)
}

func workflowDetails(w *portal.ApprovalWorkflow) map[string]any {
	names := func(people []portal.NamedPerson) []string {
		out := make([]string, len(people))
		for i, p := range people {
			out[i] = p.Name
		}
		return out
	}
	return map[string]any{
		"name": w.Name, "approver_source": string(w.ApproverSource), "approvers": names(w.Approvers), "approver_set": w.ApproverSet,
		"threshold": string(w.Threshold), "threshold_n": w.ThresholdN, "deadline_hours": w.DeadlineHours,
		"deadline_business_days": w.DeadlineBusinessDays, "calendar": w.CalendarName, "reminder_hours": w.ReminderHours,
		"escalation": names(w.Escalation), "timeout_outcome": string(w.TimeoutOutcome),
	}
}

// DeleteWorkflow removes a workflow that no policy uses and no request
// still waits on (its deadline and escalation read the workflow).
func (db *DB) DeleteWorkflow(ctx context.Context, v portal.Viewer, id string) error {
	if err := requireAdmin(v); err != nil {
		return err
	}
	if !validID(id) {
		return errNoWorkflow
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM approval_workflows WHERE id = $1 FOR UPDATE", id); err != nil {
			return err
		}
		w, err := findWorkflow(ctx, tx, id)
		if err != nil {
			return err
		}
		var policies []string
		var waiting int
		err = tx.QueryRow(ctx, `SELECT (SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM policies WHERE workflow_id = $1),
			(SELECT count(*) FROM requests WHERE workflow_id = $1 AND status = 'authorizing')`, id).Scan(&policies, &waiting)
		if err != nil {
			return err
		}
		if len(policies) > 0 {
			return portal.Errorf(portal.ECONFLICT, "Workflow “%s” cannot be deleted: policies %s use it. Choose another workflow for them first.",
				w.Name, quoteList(policies))
		}
		if waiting > 0 {
			return portal.Errorf(portal.ECONFLICT, "Workflow “%s” cannot be deleted: %d requests are still waiting for approval under it.",
				w.Name, waiting)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM approval_workflows WHERE id = $1", id); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return portal.Errorf(portal.ECONFLICT, "Workflow “%s” cannot be deleted: a policy uses it.", w.Name)
			}
			return err
		}
		return Audit(ctx, tx, v.PersonID, "workflow_delete", "workflow", id, workflowDetails(w))
	})
	return storeError("delete workflow", err)
}

// ListAudit returns a page of audit entries, newest first, that match f.
// An actor filter naming no one is EINVALID, so that a typo is not
// mistaken for an empty log.
func (db *DB) ListAudit(ctx context.Context, f portal.AuditFilter, offset int) (portal.Page[portal.AuditEntry], error) {
	if err := f.Normalize(); err != nil {
		return portal.Page[portal.AuditEntry]{}, err
	}
	offset, limit := portal.AuditPage(offset)
	page := portal.Page[portal.AuditEntry]{Offset: offset, Limit: limit}
	var where []string
	var args []any
	if f.Action != "" {
		args = append(args, f.Action)
		where = append(where, "a.action = $"+strconv.Itoa(len(args)))
	}
	if f.Actor != "" {
		var actorID string
		err := db.Pool.QueryRow(ctx, `SELECT id FROM people
			WHERE lower(account_name) = lower($1) OR (email <> '' AND lower(email) = lower($1))
			ORDER BY lower(account_name) = lower($1) DESC LIMIT 1`, f.Actor).Scan(&actorID)
		if isNoRows(err) {
			return page, portal.Errorf(portal.EINVALID, "No one has the account name or email “%s”.", f.Actor)
		} else if err != nil {
			return page, fmt.Errorf("postgres: list audit: %w", err)
		}
		args = append(args, actorID)
		where = append(where, "a.actor_id = $"+strconv.Itoa(len(args)))
	}
	q := `SELECT a.id, a.at, coalesce(a.actor_id::text, ''), coalesce(p.display_name, ''), coalesce(p.account_name, ''),
		a.action, a.target_type, a.target_id, a.details::text
		FROM audit_log a LEFT JOIN people p ON p.id = a.actor_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit+1, offset)
	q += fmt.Sprintf(" ORDER BY a.id DESC LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	rows, err := db.Pool.Query(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("postgres: list audit: %w", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.AuditEntry, error) {
		var e portal.AuditEntry
		return e, row.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorName, &e.ActorAccount, &e.Action, &e.TargetType, &e.TargetID, &e.Details)
	})
	if err != nil {
		return page, fmt.Errorf("postgres: list audit: %w", err)
	}
	if len(page.Items) > limit {
		page.Items, page.More = page.Items[:limit], true
	}
	if err := db.nameAuditEntries(ctx, page.Items); err != nil {
		return page, fmt.Errorf("postgres: list audit: %w", err)
	}
	return page, nil
}
