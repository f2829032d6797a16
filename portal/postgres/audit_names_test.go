package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestListAuditShowsNames: the audit list names the people, groups,
// systems, policies and requests its entries point at, in the target and
// in the details, instead of their IDs; what Tessera did on its own has no
// actor ("Tessera" on the page).
func TestListAuditShowsNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ada := demoViewer(t, org, "ada")
	harness.StartWorkers(t, db, nil, "http://tessera.test")
	require.NoError(t, db.SubmitDemoRequests(ctx, org))

	var policyID, policyName string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT id, name FROM policies ORDER BY name LIMIT 1").Scan(&policyID, &policyName))
	require.NoError(t, db.SetPolicyEnabled(ctx, ada, policyID, false))
	systems := postgres.NewConnectedSystems(db, newSealer(t))
	sys, err := systems.CreateConnectedSystem(ctx, portal.TesseraViewer(), portal.ConnectedSystem{Name: "Corp <AD> \"main\"",
		Type: portal.SystemAD, Hosts: []string{"127.0.0.1"}, Port: 1, TLSMode: portal.TLSLDAPS, BindUser: "svc@corp.example",
		BindPassword: "x", BaseDN: "DC=corp,DC=example", Enabled: true})
	require.NoError(t, err)
	gone := "0b8e7c52-6a0f-4c84-9d7e-6f3c2f0d9a11"
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return postgres.Audit(ctx, tx, "", "group_recomputed", "group", gone, map[string]any{"system": sys.ID})
	}))

	page, err := db.ListAudit(ctx, portal.AuditFilter{}, 0)
	require.NoError(t, err)
	byAction := map[string]portal.AuditEntry{}
	for _, e := range page.Items {
		if _, ok := byAction[e.Action]; !ok {
			byAction[e.Action] = e
		}
	}

	zoe := org.People[len(org.People)-1]
	submitted := byAction["request_submitted"]
	require.Equal(t, "“Change "+zoe.DisplayName+"'s profile”", submitted.TargetName, "a request is named by what it asks")
	require.Contains(t, submitted.Details, `"person": "`+zoe.DisplayName+`"`)
	require.NotContains(t, submitted.Details, zoe.ID)

	disabled := byAction["policy_disable"]
	require.Equal(t, policyName, disabled.TargetName)
	require.Equal(t, ada.PersonID, disabled.ActorID)

	created := byAction["connected_system_create"]
	require.Equal(t, "Corp <AD> \"main\"", created.TargetName)
	require.Empty(t, created.ActorID, "Tessera acted, not a person")

	recomputed := byAction["group_recomputed"]
	require.Empty(t, recomputed.TargetName, "a group since deleted has no name left")
	require.Equal(t, gone, recomputed.TargetID)
	require.Equal(t, `{"system": "Corp <AD> \"main\""}`, recomputed.Details, "names are escaped as JSON strings")

	// Requests for people to join groups name both.
	var join portal.AuditEntry
	for _, e := range page.Items {
		if e.Action == "request_submitted" && strings.Contains(e.Details, "add_member") {
			join = e
		}
	}
	require.NotEmpty(t, join.ID)
	require.NotRegexp(t, `[0-9a-f]{8}-[0-9a-f]{4}-`, join.Details)
	require.True(t, strings.HasPrefix(join.TargetName, "“Join "), join.TargetName)
}
