package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// governance is a seeded store whose jobs are inserted (not run), with
// the demo's administrator and end user.
type governance struct {
	t          *testing.T
	ctx        context.Context
	db         *postgres.DB
	admin, zoe portal.Viewer
}

func newGovernance(t *testing.T) *governance {
	t.Helper()
	db, org := setup(t)
	client, err := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{})
	require.NoError(t, err)
	db.Jobs = client
	g := &governance{t: t, ctx: context.Background(), db: db}
	for _, a := range org.Accounts {
		v := portal.Viewer{PersonID: a.PersonID, DisplayName: a.AccountName, Roles: a.Roles}
		switch a.AccountName {
		case "ada":
			g.admin = v
		case "zoe":
			g.zoe = v
		}
	}
	return g
}

func (g *governance) submit(v portal.Viewer, n portal.NewRequest) *portal.Request {
	g.t.Helper()
	req, err := g.db.Submit(g.ctx, v, n)
	require.NoError(g.t, err)
	return req
}

func (g *governance) refused(code string, v portal.Viewer, n portal.NewRequest) string {
	g.t.Helper()
	_, err := g.db.Submit(g.ctx, v, n)
	require.Error(g.t, err)
	require.Equal(g.t, code, portal.ErrorCode(err), portal.ErrorMessage(err))
	return portal.ErrorMessage(err)
}

func (g *governance) roles(personID string) []portal.Role {
	g.t.Helper()
	roles, err := g.db.PersonRoles(g.ctx, personID)
	require.NoError(g.t, err)
	return roles
}

func (g *governance) audited(action, target string) {
	g.t.Helper()
	var n int
	require.NoError(g.t, g.db.Pool.QueryRow(g.ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2`, action, target).Scan(&n))
	require.Positive(g.t, n, "%s on %s is audited", action, target)
}

func TestRolesThroughGroups(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	roles, err := g.db.ListRoleGroups(g.ctx, g.admin)
	require.NoError(t, err)
	require.Len(t, roles, 2)
	require.Equal(t, portal.RoleAdmin, roles[0].Role)
	require.Equal(t, 1, roles[0].Count, "the demo's administrator holds the role through its group")
	helpdesk := roles[1].GroupID
	_, err = g.db.ListRoleGroups(g.ctx, g.zoe)
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))

	// Granting is a request to add a member, under the administrators' policy.
	req := g.submit(g.admin, portal.NewRequest{Operation: portal.OpAddMember, GroupID: helpdesk, PersonID: g.zoe.PersonID})
	require.Equal(t, "Administrators add members", req.PolicyName)
	require.Equal(t, []portal.Role{portal.RoleHelpdesk}, g.roles(g.zoe.PersonID))
	g.audited("request_committed", req.ID)
	// Zoë cannot grant herself anything, nor join a role's group.
	g.refused(portal.EFORBIDDEN, g.zoe, portal.NewRequest{Operation: portal.OpAddMember, GroupID: roles[0].GroupID, PersonID: g.zoe.PersonID})
	g.submit(g.admin, portal.NewRequest{Operation: portal.OpRemoveMember, GroupID: helpdesk, PersonID: g.zoe.PersonID})
	require.Empty(t, g.roles(g.zoe.PersonID))

	// The last administrator stays.
	msg := g.refused(portal.ECONFLICT, g.admin, portal.NewRequest{Operation: portal.OpRemoveMember, GroupID: roles[0].GroupID, PersonID: g.admin.PersonID})
	require.Contains(t, msg, "last administrator")
	// A role's group stays closed, and is not deleted.
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpUpdateGroup, GroupID: helpdesk,
		Changes: portal.GroupSpec{Name: "tessera-helpdesk", DisplayName: "Tessera helpdesk", Type: portal.GroupSecurity, JoinPolicy: portal.JoinOpen}.Changes()})
	g.refused(portal.ECONFLICT, g.admin, portal.NewRequest{Operation: portal.OpDeleteGroup, GroupID: helpdesk})

	// The command line's first grant: a request by Tessera.
	req, err = g.db.GrantRole(g.ctx, "zoe", portal.RoleAdmin)
	require.NoError(t, err)
	require.Equal(t, "", req.RequesterID)
	require.Equal(t, []portal.Role{portal.RoleAdmin}, g.roles(g.zoe.PersonID))
	_, err = g.db.GrantRole(g.ctx, "nobody-at-all", portal.RoleAdmin)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))

	// Another group may grant a role: a closed one the administrator is in.
	err = g.db.SetRoleGroup(g.ctx, g.admin, portal.RoleHelpdesk, "no such group")
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	req = g.submit(g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: portal.GroupSpec{Name: "service-desk",
		DisplayName: "Service desk", Type: portal.GroupSecurity, JoinPolicy: portal.JoinOpen, Owners: []string{g.admin.PersonID}}.Changes()})
	err = g.db.SetRoleGroup(g.ctx, g.admin, portal.RoleHelpdesk, "service-desk")
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "an open group grants no role")
	g.submit(g.admin, portal.NewRequest{Operation: portal.OpUpdateGroup, GroupID: groupOf(t, g, req.ID),
		Changes: portal.GroupSpec{Name: "service-desk", DisplayName: "Service desk", Type: portal.GroupSecurity, JoinPolicy: portal.JoinClosed}.Changes()})
	require.NoError(t, g.db.SetRoleGroup(g.ctx, g.admin, portal.RoleHelpdesk, "Service desk"))
	g.audited("role_group_set", groupOf(t, g, req.ID))
	require.Empty(t, g.roles(g.zoe.PersonID)[1:], "the old helpdesk group grants nothing now")
}

// groupOf is the group a create_group request created.
func groupOf(t *testing.T, g *governance, requestID string) string {
	t.Helper()
	var id string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT group_id::text FROM requests WHERE id = $1`, requestID).Scan(&id))
	return id
}

func TestGroupRequests(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	spec := portal.GroupSpec{Name: "project-falcon", DisplayName: "Project Falcon", Description: "The falcon team.",
		Type: portal.GroupSecurity, JoinPolicy: portal.JoinOpen, Owners: []string{g.zoe.PersonID}, MembershipDays: 30}
	expiry := portal.DateOf(time.Now().UTC().AddDate(0, 2, 0))
	spec.ExpiresAt = &expiry

	// Only a policy lets someone create a group: Zoë has none.
	require.Contains(t, g.refused(portal.EFORBIDDEN, g.zoe, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: spec.Changes()}),
		"create groups")
	// A policy that lets everyone create groups: Zoë creates her own, at once.
	_, err := g.db.CreatePolicy(g.ctx, g.admin, portal.Policy{Name: "Everyone creates groups", Enabled: true,
		Operation: portal.OpCreateGroup, Requestor: portal.RequestorAnyone})
	require.NoError(t, err)
	own := portal.GroupSpec{Name: "zoes-book-club", DisplayName: "Zoë's book club", Type: portal.GroupDistribution,
		JoinPolicy: portal.JoinOpen, Owners: []string{g.zoe.PersonID}}
	req := g.submit(g.zoe, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: own.Changes()})
	require.Equal(t, portal.StatusCompleted, req.Status)
	require.Equal(t, "Everyone creates groups", req.PolicyName)
	d, err := g.db.FindGroup(g.ctx, groupOf(t, g, req.ID), 0, 10)
	require.NoError(t, err)
	require.Equal(t, g.zoe.PersonID, d.Owners[0].ID, "she owns what she created")
	for _, bad := range []struct{ name, display string }{{"has space", "x"}, {"semi;colon", "x"}, {"ends.", "x"},
		{"ok-name", "A display name that is far too long for the CN of Active Directory, which takes 64"}} {
		s := spec
		s.Name, s.DisplayName = bad.name, bad.display
		g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: s.Changes()})
	}
	noOwner := spec
	noOwner.Owners = nil
	require.Contains(t, g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: noOwner.Changes()}), "owner")

	req = g.submit(g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: spec.Changes(), Justification: "New project."})
	require.Equal(t, portal.StatusCompleted, req.Status)
	require.Equal(t, "Create the group "+portal.Isolate("Project Falcon"), req.Summary())
	id := groupOf(t, g, req.ID)
	d, err = g.db.FindGroup(g.ctx, id, 0, 10)
	require.NoError(t, err)
	require.Equal(t, "project-falcon", d.Group.Name)
	require.Len(t, d.Owners, 1)
	require.Equal(t, g.zoe.PersonID, d.Owners[0].ID)
	var expires time.Time
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT expires_at FROM groups WHERE id = $1`, id).Scan(&expires))
	require.True(t, expiry.End(time.UTC).Equal(expires))
	var jobs int
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT count(*) FROM river_job WHERE kind = 'expire_group' AND args->>'group_id' = $1`, id).Scan(&jobs))
	require.Equal(t, 1, jobs, "the group's expiry is a timer")
	g.audited("request_committed", req.ID)
	// The name is taken now.
	require.Contains(t, g.refused(portal.ECONFLICT, g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: spec.Changes()}), "already")

	// A membership of the group ends 30 days after it begins.
	join := g.submit(g.admin, portal.NewRequest{Operation: portal.OpAddMember, GroupID: id, PersonID: g.admin.PersonID})
	require.NotNil(t, join.MemberUntil)
	require.WithinDuration(t, time.Now().AddDate(0, 0, 30), *join.MemberUntil, time.Hour)

	// Its owner changes it; Zoë as owner, not as administrator.
	changed := spec
	changed.Owners, changed.Description, changed.JoinPolicy = nil, "The falcon team, renamed.", portal.JoinOwnerApproval
	req = g.submit(g.zoe, portal.NewRequest{Operation: portal.OpUpdateGroup, GroupID: id, Changes: changed.Changes()})
	require.Equal(t, "Owners edit their groups", req.PolicyName)
	d, err = g.db.FindGroup(g.ctx, id, 0, 10)
	require.NoError(t, err)
	require.Equal(t, portal.JoinOwnerApproval, d.Group.JoinPolicy)
	var before string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT details->'before'->>'description' FROM audit_log
		WHERE action = 'request_committed' AND target_id = $1`, req.ID).Scan(&before))
	require.Equal(t, "The falcon team.", before, "the audit entry records what the change replaced")

	// Deleting is an administrator's request; the requests keep the name.
	g.refused(portal.EFORBIDDEN, g.zoe, portal.NewRequest{Operation: portal.OpDeleteGroup, GroupID: id})
	del := g.submit(g.admin, portal.NewRequest{Operation: portal.OpDeleteGroup, GroupID: id})
	_, err = g.db.FindGroup(g.ctx, id, 0, 10)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	got, _, err := g.db.FindRequest(g.ctx, g.admin, del.ID)
	require.NoError(t, err)
	require.Equal(t, "Delete the group "+portal.Isolate("Project Falcon"), got.Summary())
	require.Equal(t, portal.StatusCompleted, got.Status)
	_, _, err = g.db.FindRequest(g.ctx, g.admin, join.ID)
	require.NoError(t, err, "the group's older requests stay")
}

func TestPersonRequests(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	last := portal.DateOf(time.Now().UTC().AddDate(0, 0, 10))
	contractor := map[string]string{"accountName": "kcontract", "givenName": "Kit", "surname": "Contract", "displayName": "Kit Contract",
		"title": "Contractor", "department": "IT", "managerId": g.zoe.PersonID, portal.EndDateKey: last.String()}

	g.refused(portal.EFORBIDDEN, g.zoe, portal.NewRequest{Operation: portal.OpCreatePerson, Changes: contractor})
	bad := map[string]string{"accountName": "far-too-long-an-account", "displayName": "X"}
	require.Contains(t, g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpCreatePerson, Changes: bad}), "Active Directory")
	taken := map[string]string{"accountName": "ZOE", "displayName": "Another Zoë"}
	require.Contains(t, g.refused(portal.ECONFLICT, g.admin, portal.NewRequest{Operation: portal.OpCreatePerson, Changes: taken}), "ZOE")

	req := g.submit(g.admin, portal.NewRequest{Operation: portal.OpCreatePerson, Changes: contractor, Justification: "Three-month contract."})
	var id, manager, ends string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT p.id::text, p.manager_id::text, e.ends::text FROM requests r
		JOIN people p ON p.id = r.person_id JOIN person_end_dates e ON e.person_id = p.id WHERE r.id = $1`, req.ID).Scan(&id, &manager, &ends))
	require.Equal(t, g.zoe.PersonID, manager)
	require.Equal(t, last.String(), ends)
	var at time.Time
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT scheduled_at FROM river_job WHERE kind = 'end_person' AND args->>'person_id' = $1`, id).Scan(&at))
	require.True(t, last.End(time.UTC).Equal(at), "disabled when the last day ends: %s", at)

	// The manager: never themselves nor someone below them.
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: g.zoe.PersonID,
		Changes: map[string]string{"managerId": id}})
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id,
		Changes: map[string]string{"managerId": "not-an-id"}})
	g.submit(g.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id, Changes: map[string]string{"managerId": g.admin.PersonID}})
	// Zoë may not disable anyone, nor set her own manager.
	g.refused(portal.EFORBIDDEN, g.zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id, Changes: map[string]string{"enabled": "false"}})
	g.refused(portal.EFORBIDDEN, g.zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: g.zoe.PersonID,
		Changes: map[string]string{"managerId": ""}})

	// The end date's timer disables them, as a request by Tessera.
	require.NoError(t, g.db.EndPerson(g.ctx, id, at.Add(time.Hour)), "a timer of an older end date does nothing")
	require.True(t, enabled(t, g, id))
	require.NoError(t, g.db.EndPerson(g.ctx, id, at))
	require.False(t, enabled(t, g, id))
	// An administrator enables them again.
	g.submit(g.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id, Changes: map[string]string{"enabled": "true"}})
	require.True(t, enabled(t, g, id))
}

func enabled(t *testing.T, g *governance, id string) bool {
	t.Helper()
	var on bool
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT account_enabled FROM people WHERE id = $1`, id).Scan(&on))
	return on
}
