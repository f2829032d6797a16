package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
)

// TestBrowserMoverAndRehireNotices: Ada runs HR in the browser (a new HR
// source, three files uploaded, previewed and applied, the one with a
// leaver confirmed over the threshold). Mo moves from Mateo's team to
// Ada's, and Lea leaves and comes back; both were in an owner-approved
// group. Mateo's home page then tells him which of Mo's groups to review
// and lists Lea's former groups, not restored; Ada, Mo's new manager, is
// told of Mo too; and the group is one click from the notice.
func TestBrowserMoverAndRehireNotices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	pool := harness.Pool(t, dbURL)
	srv := harness.StartTessera(t, dbURL)
	prefix := fmt.Sprintf("tn%d", time.Now().UnixNano()%1e6)

	// The managers are in the file too: HR names a manager by employee ID,
	// which is resolved through HR's own people.
	type person struct{ id, given, surname, department string }
	managers := map[string]person{}
	for _, account := range []string{"mateo", "ada"} {
		var p person
		require.NoError(t, pool.QueryRow(ctx, `SELECT employee_id, given_name, surname, department FROM people WHERE account_name = $1`,
			account).Scan(&p.id, &p.given, &p.surname, &p.department))
		managers[account] = p
	}
	mover, leaver := prefix+"-mo", prefix+"-lea"
	file := func(moverManager, leaverEnd string) string {
		rows := []string{"EmployeeID,FirstName,LastName,Department,ManagerID,EndDate"}
		for _, m := range []string{"mateo", "ada"} {
			p := managers[m]
			rows = append(rows, strings.Join([]string{p.id, p.given, p.surname, p.department, "", ""}, ","))
		}
		rows = append(rows, strings.Join([]string{mover, "Mo", "Mover " + prefix, "Sales", managers[moverManager].id, ""}, ","),
			strings.Join([]string{leaver, "Lea", "Leaver " + prefix, "Sales", managers["mateo"].id, leaverEnd}, ","))
		return strings.Join(rows, "\n") + "\n"
	}

	a := newBrowser(t, srv)
	require.EqualValues(t, 200, a.signIn("ada", demo.DemoPassword))
	require.EqualValues(t, 200, a.open("/admin/hr"))
	a.do(chromedp.SendKeys(chromedp.ID("name"), "HR "+prefix))
	require.EqualValues(t, 200, a.click(`[data-testid=hr-new] button[type=submit]`))
	source := a.location().Path
	require.True(t, strings.HasPrefix(source, "/admin/hr/"), source)
	dir := t.TempDir()
	// upload previews a file on the source's page and applies it,
	// confirming it when it stops at the leaver threshold.
	upload := func(step, content string) {
		t.Helper()
		name := filepath.Join(dir, step+".csv")
		require.NoError(t, os.WriteFile(name, []byte(content), 0o600))
		require.EqualValues(t, 200, a.open(source))
		a.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{name}))
		require.EqualValues(t, 200, a.click(`[data-testid=hr-upload] button[type=submit]`))
		page := a.location().Path
		require.True(t, strings.HasPrefix(page, "/admin/hr/uploads/"), page)
		require.Equal(t, "0", a.text("refused"), "no row refused")
		deadline := time.Now().Add(time.Minute)
		for {
			status := a.attr(testID("hr-status"), "data-status")
			if status == "applied" {
				break
			}
			if status == "failed" {
				t.Fatalf("%s: the upload failed: %s", step, a.text("hr-message"))
			}
			require.True(t, time.Now().Before(deadline), "%s: the upload stayed %s", step, status)
			if a.has(testID("hr-apply")) {
				require.EqualValues(t, 200, a.click(testID("hr-apply")))
			} else {
				time.Sleep(200 * time.Millisecond)
				require.EqualValues(t, 200, a.open(page))
			}
		}
		a.shot("hr-" + step)
	}
	upload("joiners", file("mateo", ""))

	// Both are in an owner-approved group Zoë owns.
	var group, groupName string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, $2, 'security', 'owner_approval') RETURNING id, display_name`, prefix+"-handbook", "Handbook "+prefix).Scan(&group, &groupName))
	_, err := pool.Exec(ctx, `INSERT INTO group_owners (group_id, person_id) SELECT $1, id FROM people WHERE account_name = 'zoe'`, group)
	require.NoError(t, err)
	tag, err := pool.Exec(ctx, `INSERT INTO group_members (group_id, person_id) SELECT $1, id FROM people WHERE employee_id = ANY ($2)`,
		group, []string{mover, leaver})
	require.NoError(t, err)
	require.EqualValues(t, 2, tag.RowsAffected(), "HR's joiners are people")

	// Mo moves to Ada's team; Lea's last day has passed; then she is back.
	upload("mover-leaver", file("ada", time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)))
	upload("rehire", file("ada", ""))

	m := newBrowser(t, srv)
	require.EqualValues(t, 200, m.signIn("mateo", demo.DemoPassword))
	m.reloadUntil("/", `[data-testid=team-notice][data-kind=rehired]`, "Leaver "+prefix)
	rehired := strings.Join(m.texts(`[data-testid=team-notice][data-kind=rehired]`), "\n")
	require.Contains(t, rehired, "were not restored")
	require.Contains(t, rehired, groupName)
	moved := strings.Join(m.texts(`[data-testid=team-notice][data-kind=moved]`), "\n")
	require.Contains(t, moved, "Mover "+prefix, "the old manager is told")
	require.Contains(t, moved, "Review the groups owners approved for them")
	require.Contains(t, moved, groupName)
	m.shot("manager-notices")
	require.EqualValues(t, 200, m.click(`[data-testid=team-notice][data-kind=rehired] a[href="/groups/`+group+`"]`))
	require.Equal(t, "/groups/"+group, m.path())

	a.reloadUntil("/", `[data-testid=team-notice][data-kind=moved]`, "Mover "+prefix)
	moved = strings.Join(a.texts(`[data-testid=team-notice][data-kind=moved]`), "\n")
	require.Contains(t, moved, groupName, "the new manager is told")
	require.NotContains(t, strings.Join(a.texts(`[data-testid=team-notice]`), "\n"), "Leaver "+prefix, "Lea is not Ada's")
	a.shot("new-manager-notice")
}
