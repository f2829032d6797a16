package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

// HR files through the engine to AD (Samba), and what the pages show of
// them: an upload's page lists the runs that carried its people to AD;
// their manager's home page tells of a mover's groups to review and of a
// rehire's former groups, each linking the group.
func TestHRNoticesAndExportsOnPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dc := harness.Samba(t)
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, testPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(testPeople)
	require.NoError(t, err)
	prefix := fmt.Sprintf("w%04d", rand.IntN(10000))
	adSys := harness.NewADSystem(t, db, dc, prefix)
	engine := &syncsvc.Engine{Pool: pool, Systems: adSys.Systems, Dynamic: db, Requests: db, Logger: slog.New(slog.DiscardHandler),
		Open: syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{portal.SystemAD: ad.Opener(adSys.Systems), portal.SystemHR: hr.Opener(pool)})}
	// AD takes only this test's department (the seeded people's account
	// names are those of other tests in the shared domain), in the test's
	// OU; the manager stays the portal's.
	dept := "Dept " + prefix
	u := syncsvc.DefaultUserRule(adSys.System.ID, dc.BaseDN)
	u.Scope = `person.department.startsWith("` + dept + `")`
	u.DNTemplate = "CN={displayName}," + adSys.OU
	u.InitialPassword, u.EnableOnCreate, u.Inbound = "random", true, nil
	u.Outbound = slicesDelete(u.Outbound, "manager")
	require.NoError(t, engine.SaveSyncRule(ctx, adSys.Admin, u))
	run, err := engine.Run(ctx, adSys.System.ID, syncsvc.FullImport, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "succeeded", run.Status, run.Message)

	svc := &hr.Service{Pool: pool, Engine: engine, Logger: slog.New(slog.DiscardHandler)}
	svc.Queue = workflow.HRApplyQueue(harness.StartWorkersWith(t, db, workflow.Deps{HR: svc, Sync: engine}))
	s := &web.Server{Config: web.Config{BaseURL: "http://tessera.test"}, People: db, Groups: db, Auth: db, Flows: db,
		Requests: db, Admin: db, Systems: adSys.Systems, Logger: slog.New(slog.DiscardHandler), Sync: engine, HR: svc}
	h := s.Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tb := &testBundle{srv: srv, handler: h, db: db, org: org}

	source, err := svc.CreateSource(ctx, adSys.Admin, "HR "+prefix, hr.Settings{LeaverThreshold: 100, Columns: map[string]string{
		hr.FieldEmployeeID: "EmployeeID", hr.FieldAccountName: "Account", hr.FieldGivenName: "FirstName", hr.FieldSurname: "LastName",
		hr.FieldDepartment: "Department", hr.FieldEndDate: "EndDate"}})
	require.NoError(t, err)
	ada, mateo := tb.client(t), tb.client(t)
	ada.mustSignIn("ada")
	mateo.mustSignIn("mateo")
	// receive applies a file as the watched folder does, and waits for its
	// page to say it was applied.
	receive := func(rows ...string) int64 {
		t.Helper()
		up, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: source, Source: "cli", Filename: "people.csv", Apply: true,
			Content: []byte("EmployeeID,Account,FirstName,LastName,Department,EndDate\n" + strings.Join(rows, "\n") + "\n")})
		require.NoError(t, err)
		ada.waitFor("/admin/hr/uploads/"+strconv.FormatInt(up.ID, 10), `data-testid="hr-status" data-status="applied"`)
		return up.ID
	}
	mover, leaver := prefix+"-1", prefix+"-2"
	row := func(id, name, department, end string) string {
		return strings.Join([]string{id, strings.ReplaceAll(id, "-", "m"), name, "Test", department, end}, ",")
	}
	first := receive(row(mover, "Mo", dept+" Sales", ""), row(leaver, "Lea", dept+" Sales", ""))

	// The upload's page names the run that took its joiners to AD.
	page := ada.waitFor("/admin/hr/uploads/"+strconv.FormatInt(first, 10), adSys.System.Name)
	require.Regexp(t, `data-testid="hr-exports"[\s\S]*`+adSys.System.Name+`[\s\S]*href="/admin/sync/runs/\d+"`, page)

	// Both report to Mateo and are in an owner-approved group people gave
	// them.
	var mateoID, group, groupName string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM people WHERE account_name = 'mateo'`).Scan(&mateoID))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, $2, 'security', 'owner_approval') RETURNING id, display_name`, "grp-"+prefix, "Handbook "+prefix).Scan(&group, &groupName))
	_, err = pool.Exec(ctx, `UPDATE people SET manager_id = $1 WHERE employee_id = ANY ($2)`, mateoID, []string{mover, leaver})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO group_members (group_id, person_id) SELECT $1, id FROM people WHERE employee_id = ANY ($2)`,
		group, []string{mover, leaver})
	require.NoError(t, err)

	// One moves to another department, the other leaves; then she is back.
	yesterday := time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02")
	receive(row(mover, "Mo", dept+" Support", ""), row(leaver, "Lea", dept+" Sales", yesterday))
	receive(row(mover, "Mo", dept+" Support", ""), row(leaver, "Lea", dept+" Sales", ""))

	home := mateo.waitFor("/", `data-kind="rehired"`)
	require.Contains(t, home, `data-testid="team-notices"`)
	require.Regexp(t, `data-kind="moved"[\s\S]*Mo Test[\s\S]*href="/groups/`+group+`"[^>]*>`+groupName, home)
	require.Regexp(t, `data-kind="rehired"[\s\S]*Lea Test[\s\S]*href="/groups/`+group+`"[^>]*>`+groupName, home)
	require.Contains(t, home, "Review the groups owners approved for them")
	require.Contains(t, home, "were not restored")
}

// slicesDelete returns flows without the one that writes cs.
func slicesDelete(flows []syncsvc.OutboundFlow, cs string) []syncsvc.OutboundFlow {
	out := flows[:0:0]
	for _, f := range flows {
		if f.CS != cs {
			out = append(out, f)
		}
	}
	return out
}
