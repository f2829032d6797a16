package syncsvc_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

func TestMain(m *testing.M) { harness.Main(m) }

var names atomic.Int64

// fixture is one test's portal database, its own OU in the shared Samba
// AD DC, a connected system scoped to that OU, and the engine.
type fixture struct {
	dc      *harness.SambaDC
	admin   *ldap.Conn // an independent LDAP client, to read what the engine did
	pool    *pgxpool.Pool
	db      *postgres.DB
	systems *postgres.ConnectedSystems
	engine  *syncsvc.Engine
	sys     *portal.ConnectedSystem
	ou      string
	prefix  string
	adminV  portal.Viewer
}

func newFixture(t *testing.T, dc *harness.SambaDC) *fixture {
	t.Helper()
	f := &fixture{dc: dc, admin: dc.Dial(t)}
	f.prefix = fmt.Sprintf("s%04d%03d", mrand.IntN(10000), names.Add(1))
	f.pool = harness.Postgres(t)
	f.db = postgres.New(f.pool)
	ad := harness.NewADSystem(t, f.db, dc, f.prefix)
	f.ou, f.systems, f.sys, f.adminV = ad.OU, ad.Systems, ad.System, ad.Admin
	f.engine = newEngine(f.pool, f.systems)
	return f
}

// person creates a person in the metaverse and returns their ID.
func (f *fixture) person(t *testing.T, account, name, department string) string {
	t.Helper()
	var id string
	given, sur := name, ""
	for i := range name {
		if name[i] == ' ' {
			given, sur = name[:i], name[i+1:]
			break
		}
	}
	require.NoError(t, f.pool.QueryRow(context.Background(), `INSERT INTO people (account_name, employee_id, given_name, surname,
		display_name, email, title, department) VALUES ($1, $2, $3, $4, $5, $6, 'Engineer', $7) RETURNING id`,
		account, "E"+account, given, sur, name, account+"@tessera.test", department).Scan(&id))
	return id
}

// group creates an open group and returns its ID.
func (f *fixture) group(t *testing.T, name string, ownerID string, members ...string) string {
	t.Helper()
	var id string
	ctx := context.Background()
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, $1, 'security', 'open') RETURNING id`, name).Scan(&id))
	_, err := f.pool.Exec(ctx, "INSERT INTO group_owners (group_id, person_id) VALUES ($1, $2)", id, ownerID)
	require.NoError(t, err)
	for _, m := range members {
		_, err := f.pool.Exec(ctx, "INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)", id, m)
		require.NoError(t, err)
	}
	return id
}

// rules saves the default rules, provisioning under the test's OU.
func (f *fixture) rules(t *testing.T, edit func(u, g *syncsvc.SyncRule)) {
	t.Helper()
	u := syncsvc.DefaultUserRule(f.sys.ID, f.dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU=People," + f.ou
	g := syncsvc.DefaultGroupRule(f.sys.ID, f.dc.BaseDN)
	g.DNTemplate = "CN={name},OU=Groups," + f.ou
	if edit != nil {
		edit(&u, &g)
	}
	require.NoError(t, f.engine.SaveSyncRule(context.Background(), f.adminV, u))
	require.NoError(t, f.engine.SaveSyncRule(context.Background(), f.adminV, g))
}

func (f *fixture) run(t *testing.T, profile syncsvc.RunProfile) *syncsvc.Run {
	t.Helper()
	r, err := f.engine.Run(context.Background(), f.sys.ID, profile, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.NotEqual(t, "failed", r.Status, "%s failed: %s", profile, r.Message)
	if r.Counts.Errors > 0 {
		objs, err := f.engine.RunObjects(context.Background(), r.ID, "error", 10)
		require.NoError(t, err)
		for _, o := range objs {
			t.Logf("%s error: %s: %s", profile, o.DN, o.Detail)
		}
	}
	return r
}

// entry reads the entry whose sAMAccountName is account, with an
// independent LDAP search; nil when there is none.
func (f *fixture) entry(t require.TestingT, account string, attrs ...string) *ldap.Entry {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	res, err := f.admin.Search(ldap.NewSearchRequest(f.ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(sAMAccountName="+ldap.EscapeFilter(account)+")", append(attrs, "distinguishedName"), nil))
	require.NoError(t, err)
	if len(res.Entries) == 0 {
		return nil
	}
	require.Len(t, res.Entries, 1)
	return res.Entries[0]
}

func TestFullSyncProvisionsUsersAndGroupsThenRequestsFlowAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	alice := f.person(t, "alice"+f.prefix, "Alice Andersen", "Sales")
	bob := f.person(t, "bob"+f.prefix, "Bob Brown", "IT")
	grp := f.group(t, "grp"+f.prefix, alice, alice)
	f.rules(t, nil)

	imp := f.run(t, syncsvc.FullImport)
	require.Equal(t, "succeeded", imp.Status)
	sync := f.run(t, syncsvc.FullSync)
	require.Equal(t, 4, sync.Counts.Adds, "3 people and a group are provisioned") // admin, alice, bob, group

	// Nothing reaches AD before the export run.
	require.Nil(t, f.entry(t, "alice"+f.prefix))
	exp := f.run(t, syncsvc.Export)
	require.Equal(t, "succeeded", exp.Status, exp.Message)
	require.Equal(t, 4, exp.Counts.Adds)

	a := f.entry(t, "alice"+f.prefix, "givenName", "sn", "employeeID", "department", "userPrincipalName")
	require.NotNil(t, a)
	require.Equal(t, "CN=Alice Andersen,OU=People,"+f.ou, a.DN)
	require.Equal(t, "Andersen", a.GetAttributeValue("sn"))
	require.Equal(t, "Ealice"+f.prefix, a.GetAttributeValue("employeeID"))
	g := f.entry(t, "grp"+f.prefix, "member")
	require.NotNil(t, g)
	require.Equal(t, []string{a.DN}, g.GetAttributeValues("member"))

	// The confirming import sees everything as Tessera wrote it: a
	// second sync has nothing to do. The delta sync also removes run
	// history older than RunHistoryDays.
	var old int64
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO sync_runs (system_id, profile, status, started_at, finished_at)
		VALUES ($1, 'full_sync', 'succeeded', now() - make_interval(days => $2 + 1), now() - make_interval(days => $2 + 1))
		RETURNING id`, f.sys.ID, syncsvc.RunHistoryDays).Scan(&old))
	f.run(t, syncsvc.DeltaImport)
	f.run(t, syncsvc.DeltaSync)
	var kept int
	var gone bool
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*), NOT bool_or(id = $2) FROM sync_runs WHERE system_id = $1`,
		f.sys.ID, old).Scan(&kept, &gone))
	require.True(t, gone, "a run older than the history kept")
	require.Equal(t, 5, kept, "the runs of this test stay")
	again := f.run(t, syncsvc.FullSync)
	require.Zero(t, again.Counts.Adds+again.Counts.Updates+again.Counts.Renames+again.Counts.Moves+again.Counts.Deletes,
		"a converged system has nothing to export: %+v", again.Counts)

	// Bob joins the group in the portal: the change is in AD at once,
	// and his request completes with "exported" on its timeline.
	harness.StartWorkers(t, f.db, nil, "http://tessera.test", f.engine)
	bobV := portal.Viewer{PersonID: bob, DisplayName: "Bob Brown"}
	req, err := f.db.Submit(ctx, bobV, portal.NewRequest{Operation: portal.OpAddMember, GroupID: grp, PersonID: bob})
	require.NoError(t, err)
	bobDN := "CN=Bob Brown,OU=People," + f.ou
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		e := f.entry(c, "grp"+f.prefix, "member")
		require.NotNil(c, e)
		assert.Len(c, e.GetAttributeValues("member"), 2)
	}, 15*time.Second, 50*time.Millisecond, "Bob becomes a member in AD")
	require.Contains(t, f.entry(t, "grp"+f.prefix, "member").GetAttributeValues("member"), bobDN)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, events, err := f.db.FindRequest(ctx, bobV, req.ID)
		require.NoError(c, err)
		kinds := make([]string, 0, len(events))
		for _, e := range events {
			kinds = append(kinds, string(e.Kind))
		}
		assert.Equal(c, portal.StatusCompleted, got.Status, "the request completes after export")
		assert.Contains(c, kinds, "exported")
	}, 15*time.Second, 50*time.Millisecond)
}

func newEngine(pool *pgxpool.Pool, systems *postgres.ConnectedSystems) *syncsvc.Engine {
	return &syncsvc.Engine{Pool: pool, Systems: systems, Open: ad.Opener(systems), Dynamic: postgres.New(pool), Requests: postgres.New(pool)}
}

func TestADOutageExportsWaitAndConverge(t *testing.T) {
	t.Parallel()
	dc := harness.FreshSamba(t)
	f := newFixture(t, dc)
	ctx := context.Background()
	owner := f.person(t, "olga"+f.prefix, "Olga Owner", "IT")
	pat := f.person(t, "pat"+f.prefix, "Pat Patel", "IT")
	grp := f.group(t, "out"+f.prefix, owner, owner)
	f.rules(t, nil)
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		f.run(t, p)
	}
	harness.StartWorkers(t, f.db, nil, "http://tessera.test", f.engine)

	restore := dc.Outage(t)
	patV := portal.Viewer{PersonID: pat, DisplayName: "Pat Patel"}
	req, err := f.db.Submit(ctx, patV, portal.NewRequest{Operation: portal.OpAddMember, GroupID: grp, PersonID: pat})
	require.NoError(t, err, "the portal keeps taking requests while AD is down")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := f.engine.Status(ctx)
		require.NoError(c, err)
		require.Len(c, st, 1)
		assert.Equal(c, "unreachable", st[0].State())
		assert.NotEmpty(c, st[0].LastError)
	}, 15*time.Second, 50*time.Millisecond, "the status says AD is unreachable")
	got, _, err := f.db.FindRequest(ctx, patV, req.ID)
	require.NoError(t, err)
	require.Equal(t, portal.StatusCommitted, got.Status, "applied in the portal, waiting for AD")
	require.NoError(t, testutil.CollectAndCompare(syncsvc.NewCollector(f.engine), strings.NewReader(`
# HELP tessera_sync_system_reachable 1 when the connected system answered the last time Tessera asked, else 0.
# TYPE tessera_sync_system_reachable gauge
tessera_sync_system_reachable{system="`+f.sys.Name+`"} 0
`), "tessera_sync_system_reachable"), "the metrics say it too")

	restore()
	f.admin = dc.Dial(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, _, err := f.db.FindRequest(ctx, patV, req.ID)
		require.NoError(c, err)
		assert.Equal(c, portal.StatusCompleted, got.Status)
	}, 60*time.Second, 100*time.Millisecond, "the export converges once AD is back")
	require.Contains(t, f.entry(t, "out"+f.prefix, "member").GetAttributeValues("member"), "CN=Pat Patel,OU=People,"+f.ou)
	// The run that confirmed the export may still be closing its record.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := f.engine.Status(ctx)
		require.NoError(c, err)
		assert.Equal(c, "ok", st[0].State())
	}, 30*time.Second, 100*time.Millisecond, "the status says AD is fine again")
}

// A profile change that moves a person into a dynamic group reaches the
// group in AD with the request, not at the next cycle.
func TestProfileChangeCarriesDynamicGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	sam := f.person(t, "sam"+f.prefix, "Sam Stone", "IT")
	_, err := f.pool.Exec(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		VALUES ($1, 'Zürich office', 'security', 'closed', 'person.office == "Zürich"')`, "zrh"+f.prefix)
	require.NoError(t, err)
	f.rules(t, nil)
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		f.run(t, p)
	}
	require.Empty(t, f.entry(t, "zrh"+f.prefix, "member").GetAttributeValues("member"))
	harness.StartWorkers(t, f.db, nil, "http://tessera.test", f.engine)
	samV := portal.Viewer{PersonID: sam, DisplayName: "Sam Stone"}
	req, err := f.db.Submit(ctx, samV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: sam,
		Changes: map[string]string{"office": "Zürich"}})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, _, err := f.db.FindRequest(ctx, samV, req.ID)
		require.NoError(c, err)
		assert.Equal(c, portal.StatusCompleted, got.Status)
	}, 15*time.Second, 50*time.Millisecond)
	require.Equal(t, "Zürich", f.entry(t, "sam"+f.prefix, "physicalDeliveryOfficeName").GetAttributeValue("physicalDeliveryOfficeName"))
	require.Equal(t, []string{"CN=Sam Stone,OU=People," + f.ou}, f.entry(t, "zrh"+f.prefix, "member").GetAttributeValues("member"))
}
