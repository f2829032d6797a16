package e2e_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// TestBrowserJoinApprovedReachesAD is the whole path against a real AD
// and a simulated Entra ID anchored in it: Zoë asks to join VPN users in
// the browser, Mateo approves in his, and the running Tessera exports the
// membership to Samba and to Graph at once; Zoë's timeline says "Exported"
// to each, AD lists her as a member and so does the Entra group.
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
	// A simulated Entra ID tenant anchored in that AD, with the same
	// people and group in scope.
	sim := graphsim.New(graphsim.Config{TenantID: e2eTenant, ClientID: e2eClient, ClientSecret: "web~entra",
		InitialDomain: "web.onmicrosoft.com", VerifiedDomains: []string{"tessera.test"}})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	ent, err := s.Systems.CreateConnectedSystem(ctx, s.Admin, portal.ConnectedSystem{Name: "Entra " + s.System.Name,
		Type: portal.SystemEntra, BindPassword: "web~entra", Enabled: true, Entra: portal.EntraSettings{TenantID: e2eTenant,
			ClientID: e2eClient, AuthorityURL: simSrv.URL, GraphURL: simSrv.URL + "/v1.0", AnchorSystemID: s.System.ID}})
	require.NoError(t, err)
	e.Open = syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{portal.SystemAD: ad.Opener(s.Systems),
		portal.SystemEntra: entra.Opener(s.Systems, nil)})
	e.TargetSchemas = map[portal.SystemType]syncsvc.TargetSchema{portal.SystemEntra: entra.TargetSchema}
	eu := entra.DefaultUserRule(ent.ID, "tessera.test")
	eu.Scope = u.Scope
	eg := entra.DefaultGroupRule(ent.ID)
	eg.Scope = g.Scope
	require.NoError(t, e.SaveSyncRule(ctx, s.Admin, eu))
	require.NoError(t, e.SaveSyncRule(ctx, s.Admin, eg))
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := e.Run(ctx, ent.ID, p, syncsvc.RunOptions{})
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
	progress := strings.Join(z.texts(`[data-testid=progress] li[data-state=done] strong`), "\n")
	require.Contains(t, progress, "Exported to "+s.System.Name)
	require.Contains(t, progress, "Exported to "+ent.Name)
	timeline := strings.Join(z.texts(`[data-testid=timeline] li`), "\n")
	require.Contains(t, timeline, "Exported")
	require.Contains(t, timeline, s.System.Name)
	require.Contains(t, timeline, ent.Name)
	z.shot("exported")
	got := members()
	require.Len(t, got, before+1)
	var zoe string
	require.NoError(t, pool.QueryRow(ctx, "SELECT display_name FROM people WHERE account_name = 'zoe'").Scan(&zoe))
	require.Contains(t, got, syncsvc.ChildDN("CN", zoe, "OU=People,"+s.OU))
	// And the Entra group lists her Entra user, whose immutable ID is her
	// AD objectGUID.
	conn, err := entra.OpenSystem(ctx, *ent, "web~entra")
	require.NoError(t, err)
	grp, err := conn.Read(ctx, "", entra.GroupDN(vpn))
	require.NoError(t, err)
	require.Contains(t, grp.Attributes["member"], entra.UserDN("zoe@tessera.test"))

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

	// Provision now, from Mateo's sync preview: each step in each system,
	// AD first, none of them an error.
	require.EqualValues(t, 200, a.open("/admin/sync/preview?person=mateo"))
	require.EqualValues(t, 200, a.click(testID("provision-now")))
	require.True(t, a.has(testID("provision-steps")), a.path())
	require.Len(t, a.texts(`[data-testid=provision-step]`), 10, "five steps in each of the two systems")
	require.Len(t, a.texts(`[data-testid=provision-step][data-step=members]`), 2, "the group memberships, in each system")
	require.Empty(t, a.texts(`[data-testid=provision-step][data-result=error]`))
	systems := a.texts(`[data-testid=provision-step] td:first-child`)
	require.Equal(t, s.System.Name, systems[0])
	require.Equal(t, ent.Name, systems[9])
	a.axe(harness.AxeSource(t), "/admin/sync/provision", wideWidth)
	a.shot("provision-now")
}
