package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestAdministratorsEditAnyonesAttributes: an administrator changes any
// person's attributes, core and extra (one added later too, not editable
// by the person), at once under the administrators' policy; helpdesk only
// under a policy granting it to helpdesk; a person created by hand is
// given extra attributes, each checked against its type.
func TestAdministratorsEditAnyonesAttributes(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	helpdesk := portal.Viewer{PersonID: g.zoe.PersonID, DisplayName: "zoe", Roles: []portal.Role{portal.RoleHelpdesk}}
	var target string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT id FROM people WHERE id <> ALL ($1::uuid[]) ORDER BY sort_name LIMIT 1`,
		[]string{g.admin.PersonID, g.zoe.PersonID}).Scan(&target))

	require.NoError(t, g.db.AddAttribute(g.ctx, g.admin, portal.Attribute{Name: "costCentre", Label: "Cost centre",
		Type: portal.TypeString, MaxLen: 8, Visibility: portal.VisibleToHelpdesk}))
	require.NoError(t, g.db.AddAttribute(g.ctx, g.admin, portal.Attribute{Name: "mentor", Label: "Mentor", Type: portal.TypeReference}))
	var covered []string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT attributes FROM policies WHERE name = 'Administrators edit people''s attributes'`).
		Scan(&covered))
	require.Subset(t, covered, []string{"title", "department", "costCentre", "mentor"}, "an attribute added later is covered too")
	require.Contains(t, covered, "costCenter", "so is one the demo seeds")
	g.audited("attribute_added", "costCentre")

	req := g.submit(g.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: target,
		Changes: map[string]string{"costCentre": " CC-042 ", "title": "Auditor"}})
	require.Equal(t, "Administrators edit people's attributes", req.PolicyName)
	require.Equal(t, portal.StatusCompleted, req.Status)
	var cc, title string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT extra->>'costCentre', title FROM people WHERE id = $1`, target).Scan(&cc, &title))
	require.Equal(t, "CC-042", cc)
	require.Equal(t, "Auditor", title)
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: target,
		Changes: map[string]string{"costCentre": "CC-0420000"}})

	// Helpdesk, without a policy of its own, is refused; with one, may.
	g.refused(portal.EFORBIDDEN, helpdesk, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: target,
		Changes: map[string]string{"costCentre": "CC-7"}})
	_, err := g.db.CreatePolicy(g.ctx, g.admin, portal.Policy{Name: "Helpdesk sets cost centres", Enabled: true,
		Operation: portal.OpUpdatePerson, Requestor: portal.RequestorHelpdesk, Attributes: []string{"costCentre"}})
	require.NoError(t, err)
	req = g.submit(helpdesk, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: target, Changes: map[string]string{"costCentre": "CC-7"}})
	require.Equal(t, "Helpdesk sets cost centres", req.PolicyName)
	g.refused(portal.EFORBIDDEN, helpdesk, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: target,
		Changes: map[string]string{"title": "Boss"}})
	// The person may not be granted their own cost centre: it is not
	// editable by them.
	_, err = g.db.CreatePolicy(g.ctx, g.admin, portal.Policy{Name: "Own cost centre", Enabled: true,
		Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf, Attributes: []string{"costCentre"}})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", err)

	// Created by hand with extra attributes, each checked.
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpCreatePerson,
		Changes: map[string]string{"accountName": "cont1", "displayName": "Con Tractor", "costCentre": "much too long"}})
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpCreatePerson,
		Changes: map[string]string{"accountName": "cont1", "displayName": "Con Tractor", "mentor": "00000000-0000-4000-8000-000000000000"}})
	g.refused(portal.EINVALID, g.admin, portal.NewRequest{Operation: portal.OpCreatePerson,
		Changes: map[string]string{"accountName": "cont1", "displayName": "Con Tractor", "noSuchThing": "x"}})
	req = g.submit(g.admin, portal.NewRequest{Operation: portal.OpCreatePerson,
		Changes: map[string]string{"accountName": "cont1", "displayName": "Con Tractor", "costCentre": "CC-9", "mentor": target}})
	done, _, err := g.db.FindRequest(g.ctx, g.admin, req.ID)
	require.NoError(t, err)
	var extra map[string]string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT extra FROM people WHERE id = $1`, done.PersonID).Scan(&extra))
	require.Equal(t, map[string]string{"costCentre": "CC-9", "mentor": target}, extra)
}

// TestRemovedAttributeLeavesAdminPolicies: the administrators' policy that
// covers every attribute follows the table: an attribute it covers is
// removed (it is no use that keeps it) and leaves the policy.
func TestRemovedAttributeLeavesAdminPolicies(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	require.NoError(t, g.db.AddAttribute(g.ctx, g.admin, portal.Attribute{Name: "locker", Label: "Locker", Type: portal.TypeString, MaxLen: 8}))
	require.NoError(t, g.db.RemoveAttribute(g.ctx, g.admin, "locker"))
	var covered []string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT attributes FROM policies WHERE name = 'Administrators edit people''s attributes'`).
		Scan(&covered))
	require.NotContains(t, covered, "locker")
	require.Contains(t, covered, "title")
}
