package e2e_test

import (
	"context"
	"fmt"
	"slices"
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
)

// TestBrowserSetReviewReachesAD: an access review of the memberships of
// the people of a set (two contractors, in two groups Mateo owns, both in
// Samba) is started in the browser by Ada, Mateo keeps one membership and
// leaves the others, Ada ends the review, and the memberships its default
// removed leave the groups in AD through their requests; the kept one
// stays.
func TestBrowserSetReviewReachesAD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dc := harness.Samba(t)
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	pool := harness.Pool(t, dbURL)
	db := postgres.New(pool)
	prefix := fmt.Sprintf("rv%d", time.Now().UnixNano()%1e6)
	s := harness.NewADSystem(t, db, dc, prefix)

	// Two contractors of this test's own (the domain is shared), in two
	// groups Mateo owns.
	var mateo string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM people WHERE account_name = 'mateo'`).Scan(&mateo))
	people := map[string]string{}
	for _, n := range []string{"1", "2"} {
		var id string
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, given_name, surname, display_name, department)
			VALUES ($1, 'Contractor', $2, $3, 'Contractors') RETURNING id`, prefix+"c"+n, n+prefix, "Contractor "+n+" "+prefix).Scan(&id))
		people[n] = id
	}
	groups := map[string]string{}
	for _, n := range []string{"a", "b"} {
		var id string
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
			VALUES ($1, $2, 'security', 'owner_approval') RETURNING id`, prefix+"-"+n, "Project "+n+" "+prefix).Scan(&id))
		groups[n] = id
		_, err := pool.Exec(ctx, `INSERT INTO group_owners (group_id, person_id) VALUES ($1, $2)`, id, mateo)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO group_members (group_id, person_id) VALUES ($1, $2), ($1, $3)`, id, people["1"], people["2"])
		require.NoError(t, err)
	}
	set, err := db.CreateSet(ctx, s.Admin, portal.Set{Name: "Contractors " + prefix,
		Rule: fmt.Sprintf(`person.accountName.startsWith(%q)`, prefix)})
	require.NoError(t, err)

	e := &syncsvc.Engine{Pool: pool, Systems: s.Systems, Open: ad.Opener(s.Systems), Requests: db}
	u := syncsvc.DefaultUserRule(s.System.ID, dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU=People," + s.OU
	u.Scope = fmt.Sprintf(`person.accountName.startsWith(%q)`, prefix)
	g := syncsvc.DefaultGroupRule(s.System.ID, dc.BaseDN)
	g.DNTemplate = "CN={name},OU=Groups," + s.OU
	g.Scope = fmt.Sprintf(`group.name.startsWith(%q)`, prefix)
	require.NoError(t, e.SaveSyncRule(ctx, s.Admin, u))
	require.NoError(t, e.SaveSyncRule(ctx, s.Admin, g))
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := e.Run(ctx, s.System.ID, p, syncsvc.RunOptions{})
		require.NoError(t, err)
		require.Equal(t, "succeeded", run.Status, "%s: %s", p, run.Message)
	}
	reader := dc.Dial(t)
	members := func(n string) []string {
		res, err := reader.Search(ldap.NewSearchRequest("CN="+prefix+"-"+n+",OU=Groups,"+s.OU, ldap.ScopeBaseObject,
			ldap.NeverDerefAliases, 0, 0, false, "(objectClass=group)", []string{"member"}, nil))
		require.NoError(t, err)
		return res.Entries[0].GetAttributeValues("member")
	}
	dn := func(n string) string {
		return syncsvc.ChildDN("CN", "Contractor "+n+" "+prefix, "OU=People,"+s.OU)
	}
	for _, n := range []string{"a", "b"} {
		require.ElementsMatch(t, []string{dn("1"), dn("2")}, members(n), "both contractors are in %s in AD", n)
	}

	srv := harness.StartTessera(t, dbURL, "TESSERA_SECRET_KEY="+s.SecretKey)
	a := newBrowser(t, srv)
	require.EqualValues(t, 200, a.signIn("ada", demo.DemoPassword))
	require.EqualValues(t, 200, a.open("/admin/reviews"))
	a.do(chromedp.SendKeys(chromedp.ID("name"), "Contractors' access "+prefix),
		chromedp.SetValue(chromedp.ID("review_set"), set.ID),
		chromedp.Click(`input[name=set_scope][value=members]`))
	require.EqualValues(t, 200, a.click(testID("start-review")))
	review := a.location().Path
	require.True(t, strings.HasPrefix(review, "/reviews/"), review)
	require.Len(t, a.texts(`[data-testid=review-group]`), 2, "a row for each group")
	require.Len(t, a.texts(`[data-testid=review-items] tbody tr`), 4)
	a.shot("set-review-started")

	// Mateo owns both groups: he keeps contractor 1 in project a.
	m := newBrowser(t, srv)
	require.EqualValues(t, 200, m.signIn("mateo", demo.DemoPassword))
	m.reloadUntil("/reviews", testID("reviews"), "Contractors' access "+prefix)
	require.EqualValues(t, 200, m.open(review))
	require.Len(t, m.texts(`[data-testid=review-items] tbody tr`), 4)
	m.do(chromedp.Click(fmt.Sprintf(`input[name=item][value=%q]`, groups["a"]+":"+people["1"])))
	require.EqualValues(t, 200, m.click(testID("keep-selected")))
	require.Contains(t, strings.Join(m.texts(`[data-testid=item-decision]`), " "), "Keep (")

	// Ada ends it: the other three memberships go by the default.
	require.EqualValues(t, 200, a.open(review))
	require.Contains(t, strings.Join(a.texts(`[data-testid=review-group]`), " "), "1 of 2")
	require.EqualValues(t, 200, a.click(testID("complete-review")))
	require.Contains(t, a.text("review-state"), "3 to remove")
	a.shot("set-review-ended")

	// The removals reach AD.
	deadline := time.Now().Add(time.Minute)
	for !(slices.Equal(members("a"), []string{dn("1")}) && len(members("b")) == 0) {
		require.True(t, time.Now().Before(deadline), "AD still lists a: %v, b: %v", members("a"), members("b"))
		time.Sleep(250 * time.Millisecond)
	}
	// And each removal request says it was exported once AD confirmed it.
	a.reloadUntil(review, `[data-testid=item-decision]`, "Removal request")
	var requests []string
	rows, err := pool.Query(ctx, `SELECT request_id::text FROM access_review_items WHERE request_id IS NOT NULL AND review_id =
		(SELECT id FROM access_reviews WHERE name = $1)`, "Contractors' access "+prefix)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		requests = append(requests, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, requests, 3)
	for _, id := range requests {
		a.reloadUntil("/requests/"+id, testID("status"), "Done")
		require.Contains(t, strings.Join(a.texts(`[data-testid=timeline] li`), "\n"), "Exported")
	}
}
