package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

// TestBrowserJoinApprovedReachesAD is the whole path against a real AD:
// Zoë asks to join VPN users in the browser, Mateo approves in his, and
// the running Tessera exports the membership to Samba at once; Zoë's
// timeline says "Exported" and AD lists her as a member.
func TestBrowserJoinApprovedReachesAD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dc := harness.Samba(t)
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	pool := harness.Pool(t, dbURL)
	db := postgres.New(pool)
	s := harness.NewADSystem(t, db, dc, fmt.Sprintf("web%d", time.Now().UnixNano()%1e6))
	e := &syncsvc.Engine{Pool: pool, Systems: s.Systems, Open: ad.Opener(s.Systems), Requests: postgres.New(pool)}
	var vpn string
	require.NoError(t, pool.QueryRow(ctx, "SELECT name FROM groups WHERE display_name = 'VPN users'").Scan(&vpn))
	u := syncsvc.DefaultUserRule(s.System.ID, dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU=People," + s.OU
	u.Scope = `person.accountName in ["zoe", "mateo"]`
	g := syncsvc.DefaultGroupRule(s.System.ID, dc.BaseDN)
	g.DNTemplate = "CN={name},OU=Groups," + s.OU
	g.Scope = fmt.Sprintf("group.name == %q", vpn)
	require.NoError(t, e.SaveSyncRule(ctx, s.Admin, u))
	require.NoError(t, e.SaveSyncRule(ctx, s.Admin, g))
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := e.Run(ctx, s.System.ID, p, syncsvc.RunOptions{})
		require.NoError(t, err)
		require.Equal(t, "succeeded", run.Status, "%s: %s", p, run.Message)
	}
	groupDN := "CN=" + vpn + ",OU=Groups," + s.OU
	reader := dc.Dial(t)
	members := func() []string {
		res, err := reader.Search(ldap.NewSearchRequest(groupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=group)", []string{"member"}, nil))
		require.NoError(t, err)
		return res.Entries[0].GetAttributeValues("member")
	}
	before := len(members())

	srv := harness.StartTessera(t, dbURL, "TESSERA_SECRET_KEY="+s.SecretKey)
	z := newBrowser(t, srv)
	require.EqualValues(t, 200, z.signIn("zoe", demo.DemoPassword))
	require.EqualValues(t, 200, z.open("/groups?q=VPN"))
	require.EqualValues(t, 200, z.click(`[data-testid=group-results] a`))
	z.do(chromedp.SendKeys(chromedp.ID("justification"), "On call from Monday."))
	require.EqualValues(t, 200, z.click(testID("request-join")))
	requestPath := z.location().Path

	m := newBrowser(t, srv)
	require.EqualValues(t, 200, m.signIn("mateo", demo.DemoPassword))
	m.reloadUntil("/approvals", testID("approvals"), "Join VPN users")
	require.EqualValues(t, 200, m.click(`[data-testid=approvals] a`))
	require.EqualValues(t, 200, m.click(testID("approve")))

	// Zoë's page follows the request by itself, and says it was exported
	// only once AD confirmed it.
	require.True(t, strings.HasPrefix(requestPath, "/requests/"), requestPath)
	z.waitFor(`document.querySelector('[data-testid=status]').textContent.trim() === 'Done'`, "the request page never reached Done")
	require.Contains(t, strings.Join(z.texts(`[data-testid=progress] li[data-state=done] strong`), "\n"), "Exported to "+s.System.Name)
	timeline := strings.Join(z.texts(`[data-testid=timeline] li`), "\n")
	require.Contains(t, timeline, "Exported")
	require.Contains(t, timeline, s.System.Name)
	z.shot("exported")
	got := members()
	require.Len(t, got, before+1)
	var zoe string
	require.NoError(t, pool.QueryRow(ctx, "SELECT display_name FROM people WHERE account_name = 'zoe'").Scan(&zoe))
	require.Contains(t, got, syncsvc.ChildDN("CN", zoe, "OU=People,"+s.OU))

	// The administrator runs a full sync from the admin pages and follows
	// it to the end; the run page lists its counts.
	a := newBrowser(t, srv)
	require.EqualValues(t, 200, a.signIn("ada", demo.DemoPassword))
	syncPage := "/admin/connected-systems/" + s.System.ID + "/sync"
	require.EqualValues(t, 200, a.open(syncPage))
	require.NotContains(t, strings.ToLower(a.text("state")), "unreachable")
	a.shot("sync-status")
	require.EqualValues(t, 200, a.click(testID("run-full_sync")))
	require.True(t, strings.HasPrefix(a.path(), "/admin/sync/runs/"), a.path())
	a.waitFor(`!['queued', 'running'].includes(document.querySelector('[data-testid=run-detail]').dataset.status)`,
		"the run page follows the run to its end")
	require.Equal(t, "succeeded", a.attr(testID("run-detail"), "data-status"))
	require.NotEmpty(t, a.text("run-counts"))
	a.shot("run")
	// The rules editor shows the saved user rule and saves it again.
	require.EqualValues(t, 200, a.open(syncPage+"/rules/user"))
	require.Contains(t, strings.Join(a.texts("textarea[name=outbound]"), ""), "sAMAccountName")
	require.EqualValues(t, 200, a.click(testID("save-sync-rule")))
	require.True(t, a.has(testID("rule-updated")), "saved: %s", a.path())
	a.shot("rules")
}
