package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// demoViewer returns the demo account's person as a viewer, with its roles.
func demoViewer(t *testing.T, org *demo.Org, account string) portal.Viewer {
	t.Helper()
	for _, a := range org.Accounts {
		if a.AccountName == account {
			for _, p := range org.People {
				if p.ID == a.PersonID {
					return portal.Viewer{PersonID: p.ID, DisplayName: p.DisplayName, Roles: a.Roles}
				}
			}
		}
	}
	t.Fatalf("no demo account %s", account)
	return portal.Viewer{}
}

func findWorkflowByName(t *testing.T, db *postgres.DB, name string) portal.ApprovalWorkflow {
	t.Helper()
	ws, err := db.ListWorkflows(context.Background())
	require.NoError(t, err)
	for _, w := range ws {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no workflow %s", name)
	return portal.ApprovalWorkflow{}
}

func requireCode(t *testing.T, code string, err error, msg string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, portal.ErrorCode(err), portal.ErrorMessageOr(err))
	require.Contains(t, portal.ErrorMessage(err), msg)
}

func TestPolicyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ada, zoe := demoViewer(t, org, "ada"), demoViewer(t, org, "zoe")
	manager := findWorkflowByName(t, db, "Manager approves")
	owners := findWorkflowByName(t, db, "Group owners approve")

	ps, err := db.ListPolicies(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, ps, "the default policies")
	require.Equal(t, "Administrators add members", ps[0].Name, "by name")
	require.True(t, slices.IsSortedFunc(ps, func(a, b portal.Policy) int { return strings.Compare(a.Name, b.Name) }), "by name")

	p, err := db.CreatePolicy(ctx, ada, portal.Policy{Name: " Department changes ", Description: "HR decides.", Enabled: true,
		Operation: portal.OpUpdatePerson, Requestor: portal.RequestorManager, Attributes: []string{"title", "department", "title"},
		WorkflowID: manager.ID, Notify: true})
	require.NoError(t, err)
	require.NotEmpty(t, p.ID)
	require.Equal(t, "Department changes", p.Name)
	require.Equal(t, []string{"title", "department"}, p.Attributes)
	require.Equal(t, "Manager approves", p.WorkflowName)
	require.False(t, p.CreatedAt.IsZero())
	found, err := db.FindPolicy(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, found)

	t.Run("refusals", func(t *testing.T) {
		_, err := db.CreatePolicy(ctx, zoe, portal.Policy{Name: "Mine", Operation: portal.OpAddMember, Requestor: portal.RequestorAnyone})
		requireCode(t, portal.EFORBIDDEN, err, "Only administrators")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "department CHANGES", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf})
		requireCode(t, portal.ECONFLICT, err, "A policy named “department CHANGES” already exists")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "No attributes", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf})
		requireCode(t, portal.EINVALID, err, "at least one attribute")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "Owners for titles", Operation: portal.OpUpdatePerson,
			Requestor: portal.RequestorSelf, Attributes: []string{"title"}, WorkflowID: owners.ID})
		requireCode(t, portal.EINVALID, err, "asks the group's owners")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "Gone", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf,
			WorkflowID: noSuchID})
		requireCode(t, portal.EINVALID, err, "no longer exists")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "Bad ID", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf,
			WorkflowID: "not-an-id"})
		requireCode(t, portal.EINVALID, err, "does not exist")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "Set", Operation: portal.OpAddMember, Requestor: portal.RequestorSet,
			RequestorSetID: noSuchID})
		requireCode(t, portal.EINVALID, err, "The set chosen no longer exists")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "Set", Operation: portal.OpAddMember, Requestor: portal.RequestorSet,
			RequestorSetID: "not-an-id"})
		requireCode(t, portal.EINVALID, err, "The set chosen does not exist")
		_, err = db.CreatePolicy(ctx, ada, portal.Policy{Name: "Set", Operation: portal.OpAddMember, Requestor: portal.RequestorSet})
		requireCode(t, portal.EINVALID, err, "Choose the set")
		_, err = db.FindPolicy(ctx, noSuchID)
		requireCode(t, portal.ENOTFOUND, err, "no such policy")
		_, err = db.FindPolicy(ctx, "nope")
		requireCode(t, portal.ENOTFOUND, err, "no such policy")
		_, err = db.UpdatePolicy(ctx, ada, portal.Policy{ID: noSuchID, Name: "x", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf})
		requireCode(t, portal.ENOTFOUND, err, "no such policy")
		requireCode(t, portal.EFORBIDDEN, db.SetPolicyEnabled(ctx, zoe, p.ID, false), "Only administrators")
		requireCode(t, portal.EFORBIDDEN, db.DeletePolicy(ctx, zoe, p.ID), "Only administrators")
	})

	t.Run("update, keeping its own name", func(t *testing.T) {
		upd := *found
		upd.Name, upd.Attributes, upd.WorkflowID = "department changes", []string{"department"}, ""
		saved, err := db.UpdatePolicy(ctx, ada, upd)
		require.NoError(t, err)
		require.Equal(t, "department changes", saved.Name)
		require.Equal(t, []string{"department"}, saved.Attributes)
		require.Empty(t, saved.WorkflowName)
		require.Equal(t, found.CreatedAt, saved.CreatedAt)
		// Another policy's name, in another case, is taken.
		upd.Name = "JOIN OPEN GROUPS"
		_, err = db.UpdatePolicy(ctx, ada, upd)
		requireCode(t, portal.ECONFLICT, err, "already exists")
	})

	t.Run("disable, enable, delete", func(t *testing.T) {
		require.NoError(t, db.SetPolicyEnabled(ctx, ada, p.ID, false))
		got, err := db.FindPolicy(ctx, p.ID)
		require.NoError(t, err)
		require.False(t, got.Enabled)
		require.NoError(t, db.SetPolicyEnabled(ctx, ada, p.ID, true))
		require.NoError(t, db.DeletePolicy(ctx, ada, p.ID))
		_, err = db.FindPolicy(ctx, p.ID)
		requireCode(t, portal.ENOTFOUND, err, "no such policy")
		requireCode(t, portal.ENOTFOUND, db.DeletePolicy(ctx, ada, p.ID), "no such policy")
	})

	t.Run("every change is audited with its actor", func(t *testing.T) {
		page, err := db.ListAudit(ctx, portal.AuditFilter{Actor: "ADA"}, 0)
		require.NoError(t, err)
		var actions []string
		for _, e := range page.Items {
			if e.TargetID == p.ID {
				actions = append(actions, e.Action)
				require.Equal(t, ada.PersonID, e.ActorID)
				require.Equal(t, "ada", e.ActorAccount)
			}
		}
		require.Equal(t, []string{"policy_delete", "policy_enable", "policy_disable", "policy_update", "policy_create"}, actions)
		page, err = db.ListAudit(ctx, portal.AuditFilter{Action: "policy_update"}, 0)
		require.NoError(t, err)
		require.Len(t, page.Items, 1)
		require.Contains(t, page.Items[0].Details, `"changed": ["attributes", "name", "workflow"]`)
		report, err := db.VerifyAudit(ctx)
		require.NoError(t, err)
		require.True(t, report.Intact(), report.String())
	})

	t.Run("requestor set", func(t *testing.T) {
		finance, err := db.CreateSet(ctx, ada, portal.Set{Name: "Finance staff", Rule: `person.department == "Finance"`})
		require.NoError(t, err)
		sp, err := db.CreatePolicy(ctx, ada, portal.Policy{Name: "Finance joins", Enabled: true, Operation: portal.OpAddMember,
			Requestor: portal.RequestorSet, RequestorSetID: finance.ID, TargetJoinPolicies: []portal.JoinPolicy{portal.JoinClosed}})
		require.NoError(t, err)
		require.Equal(t, finance.ID, sp.RequestorSetID)
		require.Equal(t, "Finance staff", sp.RequestorSetName)
		var stored string
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT requestor_set_id::text FROM policies WHERE id = $1", sp.ID).Scan(&stored))
		require.Equal(t, finance.ID, stored)

		// Another requestor drops the set.
		upd := *sp
		upd.Requestor = portal.RequestorSelf
		saved, err := db.UpdatePolicy(ctx, ada, upd)
		require.NoError(t, err)
		require.Empty(t, saved.RequestorSetID)
		require.Empty(t, saved.RequestorSetName)
		var null bool
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT requestor_set_id IS NULL FROM policies WHERE id = $1", sp.ID).Scan(&null))
		require.True(t, null)
		require.NoError(t, db.DeletePolicy(ctx, ada, sp.ID))
	})
}

func TestWorkflowStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ada := demoViewer(t, org, "ada")
	cal := MustCreateCalendar(t, db)
	var disabled portal.Person
	for _, p := range org.People {
		if !p.Enabled {
			disabled = p
			break
		}
	}
	require.NotEmpty(t, disabled.ID, "the demo has a disabled account")

	w, err := db.CreateWorkflow(ctx, ada, portal.ApprovalWorkflow{Name: "Security office", ApproverSource: portal.ApproversNamed,
		Approvers: portal.NamedPeople([]string{"MATEO", "siobhan@tessera.example", "mateo@tessera.example"}),
		Threshold: portal.ThresholdN, ThresholdN: 2, DeadlineBusinessDays: 3, CalendarID: cal.ID, ReminderHours: 8,
		Escalation: portal.NamedPeople([]string{"ada"}), TimeoutOutcome: portal.TimeoutApprove})
	require.NoError(t, err)
	require.Equal(t, []string{"mateo", "siobhan"}, names(w.Approvers), "account names, each person once, in the order given")
	require.Equal(t, []string{"ada"}, names(w.Escalation))
	require.Equal(t, "England and Wales", w.CalendarName)
	require.Equal(t, 0, w.Policies)
	found, err := db.FindWorkflow(ctx, w.ID)
	require.NoError(t, err)
	require.Equal(t, w, found)

	t.Run("refusals", func(t *testing.T) {
		named := func(names ...string) portal.ApprovalWorkflow {
			return portal.ApprovalWorkflow{Name: "Named", ApproverSource: portal.ApproversNamed, Approvers: portal.NamedPeople(names),
				Threshold: portal.ThresholdAny}
		}
		_, err := db.CreateWorkflow(ctx, ada, named("ada", "nobody-here", "ghost@example.com"))
		requireCode(t, portal.EINVALID, err, "Approvers: no one has these account names or emails: “nobody-here”, “ghost@example.com”.")
		_, err = db.CreateWorkflow(ctx, ada, named("nobody-here"))
		requireCode(t, portal.EINVALID, err, "Approvers: no one has the account name or email “nobody-here”.")
		_, err = db.CreateWorkflow(ctx, ada, named(disabled.AccountName))
		requireCode(t, portal.EINVALID, err, "disabled and cannot approve")
		wf := named("ada")
		wf.DeadlineHours, wf.Escalation = 4, portal.NamedPeople([]string{"nobody-here"})
		_, err = db.CreateWorkflow(ctx, ada, wf)
		requireCode(t, portal.EINVALID, err, "Escalation approvers: no one has")
		wf = named("ada", "ADA@tessera.example")
		wf.Threshold, wf.ThresholdN = portal.ThresholdN, 2
		_, err = db.CreateWorkflow(ctx, ada, wf)
		requireCode(t, portal.EINVALID, err, "needs 2 approvals but names only 1 different approvers")
		_, err = db.CreateWorkflow(ctx, ada, portal.ApprovalWorkflow{Name: "security OFFICE", ApproverSource: portal.ApproversManager,
			Threshold: portal.ThresholdAny})
		requireCode(t, portal.ECONFLICT, err, "already exists")
		_, err = db.CreateWorkflow(ctx, ada, portal.ApprovalWorkflow{Name: "Cal", ApproverSource: portal.ApproversManager,
			Threshold: portal.ThresholdAny, DeadlineBusinessDays: 2, CalendarID: noSuchID})
		requireCode(t, portal.EINVALID, err, "calendar chosen no longer exists")
		_, err = db.CreateWorkflow(ctx, demoViewer(t, org, "siobhan"), named("ada"))
		requireCode(t, portal.EFORBIDDEN, err, "Only administrators")
	})

	t.Run("update", func(t *testing.T) {
		upd := *found
		upd.ApproverSource, upd.Approvers, upd.Threshold = portal.ApproversManager, nil, portal.ThresholdAny
		upd.DeadlineBusinessDays, upd.CalendarID, upd.DeadlineHours, upd.ReminderHours = 0, cal.ID, 48, 0
		saved, err := db.UpdateWorkflow(ctx, ada, upd)
		require.NoError(t, err)
		require.Equal(t, portal.ApproversManager, saved.ApproverSource)
		require.Empty(t, saved.Approvers)
		require.Equal(t, 48, saved.DeadlineHours)
		require.Empty(t, saved.CalendarID, "no calendar without business days")
		require.Equal(t, 1, saved.ThresholdN)

		// The default title policy asks the manager; owners cannot decide
		// on a change of attributes.
		mgr := findWorkflowByName(t, db, "Manager approves")
		mgr.ApproverSource = portal.ApproversOwners
		_, err = db.UpdateWorkflow(ctx, ada, mgr)
		requireCode(t, portal.EINVALID, err, "“Title changes need the manager”")
		_, err = db.UpdateWorkflow(ctx, ada, portal.ApprovalWorkflow{ID: noSuchID, Name: "x", ApproverSource: portal.ApproversManager,
			Threshold: portal.ThresholdAny})
		requireCode(t, portal.ENOTFOUND, err, "no such approval workflow")
	})

	t.Run("delete", func(t *testing.T) {
		owners := findWorkflowByName(t, db, "Group owners approve")
		require.Equal(t, 1, owners.Policies)
		requireCode(t, portal.ECONFLICT, db.DeleteWorkflow(ctx, ada, owners.ID),
			"policies “Request to join owner-approval groups” use it")

		// A request still waiting on a workflow keeps it.
		_, err := db.Pool.Exec(ctx, `INSERT INTO requests (requester_id, operation, person_id, changes, status, workflow_id)
			VALUES ($1, 'update_person', $1, '{"title": "Boss"}', 'authorizing', $2)`, ada.PersonID, w.ID)
		require.NoError(t, err)
		requireCode(t, portal.ECONFLICT, db.DeleteWorkflow(ctx, ada, w.ID), "1 requests are still waiting")
		_, err = db.Pool.Exec(ctx, "UPDATE requests SET status = 'canceled' WHERE workflow_id = $1", w.ID)
		require.NoError(t, err)

		require.NoError(t, db.DeleteWorkflow(ctx, ada, w.ID))
		_, err = db.FindWorkflow(ctx, w.ID)
		requireCode(t, portal.ENOTFOUND, err, "no such approval workflow")
		var left int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM requests WHERE workflow_id IS NULL AND requester_id = $1",
			ada.PersonID).Scan(&left))
		require.Equal(t, 1, left, "the request keeps its history")

		page, err := db.ListAudit(ctx, portal.AuditFilter{Actor: "ada"}, 0)
		require.NoError(t, err)
		var actions []string
		for _, e := range page.Items {
			if e.TargetID == w.ID {
				actions = append(actions, e.Action)
			}
		}
		require.Equal(t, []string{"workflow_delete", "workflow_update", "workflow_create"}, actions)
	})
}

func names(people []portal.NamedPerson) []string {
	out := make([]string, len(people))
	for i, p := range people {
		out[i] = p.Name
	}
	return out
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ada := demoViewer(t, org, "ada")
	for i := range 60 {
		_, err := db.CreateWorkflow(ctx, ada, portal.ApprovalWorkflow{Name: "W" + strings.Repeat("x", i),
			ApproverSource: portal.ApproversManager, Threshold: portal.ThresholdAny})
		require.NoError(t, err)
	}
	first, err := db.ListAudit(ctx, portal.AuditFilter{Action: "workflow_create"}, 0)
	require.NoError(t, err)
	require.Len(t, first.Items, 50)
	require.True(t, first.More)
	require.Contains(t, first.Items[0].Details, strings.Repeat("x", 59), "newest first")
	second, err := db.ListAudit(ctx, portal.AuditFilter{Action: "workflow_create"}, 50)
	require.NoError(t, err)
	require.Len(t, second.Items, 10)
	require.False(t, second.More)
	require.Greater(t, first.Items[49].ID, second.Items[0].ID)

	all, err := db.ListAudit(ctx, portal.AuditFilter{}, 0)
	require.NoError(t, err)
	require.Len(t, all.Items, 50)

	none, err := db.ListAudit(ctx, portal.AuditFilter{Action: "workflow_create", Actor: "zoe"}, 0)
	require.NoError(t, err)
	require.Empty(t, none.Items)

	_, err = db.ListAudit(ctx, portal.AuditFilter{Actor: "nobody-here"}, 0)
	requireCode(t, portal.EINVALID, err, "No one has the account name or email “nobody-here”.")
}
