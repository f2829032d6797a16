package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestAdminWorkflowFromASet(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ada := tb.client(t)
	ada.mustSignIn("ada")
	admin := portal.Viewer{PersonID: tb.org.Accounts[3].PersonID, Roles: []portal.Role{portal.RoleAdmin}}
	set, err := tb.db.CreateSet(context.Background(), admin, portal.Set{Name: "IT staff", Rule: `person.department == "IT"`})
	require.NoError(t, err)

	_, body := ada.get("/admin/workflows/new")
	require.Contains(t, body, `data-testid="approver-set"`)
	require.Contains(t, body, ">IT staff</option>")

	resp, body := ada.post("/admin/workflows", ada.form("name", "IT staff approve", "source", "set", "threshold", "any",
		"deadline", "none", "outcome", "deny"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Choose the set whose people approve.")

	resp, _ = ada.post("/admin/workflows", ada.form("name", "IT staff approve", "source", "set", "approver_set", set.ID,
		"threshold", "any", "deadline", "none", "outcome", "deny"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = ada.get("/admin/workflows")
	require.Contains(t, body, "The people of “IT staff”")
}
