package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// entraSetup is an AD system on Samba and a simulated Entra tenant
// anchored in it, with one engine over both.
type entraSetup struct {
	ad     *harness.ADSystem
	sim    *graphsim.Server
	entra  *portal.ConnectedSystem
	engine *syncsvc.Engine
	secret string
}

const (
	e2eTenant = "4d1c2b3a-0000-4000-8000-000000000001"
	e2eClient = "4d1c2b3a-0000-4000-8000-000000000002"
)

func newEntraSetup(t *testing.T, dc *harness.SambaDC, db *postgres.DB, name string, sim graphsim.Config) *entraSetup {
	t.Helper()
	ctx := context.Background()
	s := &entraSetup{ad: harness.NewADSystem(t, db, dc, name), secret: "e2e~" + name}
	sim.TenantID, sim.ClientID, sim.ClientSecret = e2eTenant, e2eClient, s.secret
	sim.InitialDomain, sim.VerifiedDomains = "e2e.onmicrosoft.com", []string{"tessera.test"}
	s.sim = graphsim.New(sim)
	srv := httptest.NewServer(s.sim.Handler())
	t.Cleanup(srv.Close)
	var err error
	s.entra, err = s.ad.Systems.CreateConnectedSystem(ctx, s.ad.Admin, portal.ConnectedSystem{Name: "Entra " + name,
		Type: portal.SystemEntra, BindPassword: s.secret, Enabled: true, Entra: portal.EntraSettings{TenantID: e2eTenant,
			ClientID: e2eClient, AuthorityURL: srv.URL, GraphURL: srv.URL + "/v1.0", AnchorSystemID: s.ad.System.ID}})
	require.NoError(t, err)
	s.engine = &syncsvc.Engine{Pool: db.Pool, Systems: s.ad.Systems, Requests: db, Open: syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{
		portal.SystemAD: ad.Opener(s.ad.Systems), portal.SystemEntra: entra.Opener(s.ad.Systems, nil)}),
		TargetSchemas: map[portal.SystemType]syncsvc.TargetSchema{portal.SystemEntra: entra.TargetSchema}}
	return s
}

func (s *entraSetup) run(t *testing.T, sys *portal.ConnectedSystem, profiles ...syncsvc.RunProfile) *syncsvc.Run {
	t.Helper()
	var run *syncsvc.Run
	for _, p := range profiles {
		var err error
		run, err = s.engine.Run(context.Background(), sys.ID, p, syncsvc.RunOptions{})
		require.NoError(t, err)
		require.Equal(t, "succeeded", run.Status, "%s of %s: %s", p, sys.Name, run.Message)
	}
	return run
}

// open connects to the simulated tenant as the engine does.
func (s *entraSetup) open(t *testing.T) *entra.Connector {
	t.Helper()
	c, err := entra.OpenSystem(context.Background(), *s.entra, s.secret)
	require.NoError(t, err)
	return c
}

// TestEntraAnchoredInAD: people created in the portal are exported to AD,
// and only then to Entra ID, where each one's onPremisesImmutableId is the
// base64 of their AD objectGUID; a bulk Entra export killed with SIGKILL
// and run again leaves every user exactly once; an expired delta token is
// answered by a full import that also sees what was deleted meanwhile.
func TestEntraAnchoredInAD(t *testing.T) {
	t.Parallel()
	const people = 30
	ctx := context.Background()
	dc := harness.Samba(t)
	dbURL := harness.DatabaseURL(t)
	pool := harness.Pool(t, dbURL)
	db := postgres.New(pool)
	name := fmt.Sprintf("ent%d", time.Now().UnixNano()%1e6)
	// The simulator stops answering at the 25th new user while the bulk
	// export runs, until the test has killed the exporting process.
	var adds atomic.Int32
	hold, killed := make(chan struct{}), make(chan struct{})
	s := newEntraSetup(t, dc, db, name, graphsim.Config{PageSize: 7, OnRequest: func(method, path string, _ http.Header) {
		if method == http.MethodPost && path == "/users" && adds.Add(1) == 25 {
			close(hold)
			<-killed
		}
	}})
	// The workers run committed requests' exports, as in production.
	harness.StartWorkers(t, db, nil, "http://tessera.test", s.engine)
	_, err := pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		SELECT $1 || n, 'E' || n, 'Eve', 'Number ' || n, 'Eve Number ' || n FROM generate_series(1, $2) n`, name, people)
	require.NoError(t, err)
	syncRules(t, s.engine, s.ad, dc.BaseDN)
	u := entra.DefaultUserRule(s.entra.ID, "tessera.test")
	u.Scope = fmt.Sprintf("person.accountName.startsWith(%q)", name)
	require.NoError(t, s.engine.SaveSyncRule(ctx, s.ad.Admin, u))

	// Before AD has them, their Entra accounts wait: nothing to export.
	s.run(t, s.entra, syncsvc.FullImport, syncsvc.FullSync)
	run := s.run(t, s.entra, syncsvc.Export)
	require.Zero(t, run.Counts.Adds, "no Entra account before the AD anchor exists")

	s.run(t, s.ad.System, syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export)
	s.run(t, s.entra, syncsvc.FullSync)

	// The bulk export to Entra ID is killed (SIGKILL) in the middle of a
	// JSON batch, some of whose users Graph created without the process
	// hearing of it, and run again: every user exactly once, found again
	// by onPremisesImmutableId (hard match), nothing left pending.
	export := func() *exec.Cmd {
		cmd := exec.Command(harness.Binary(t), "sync", "run", s.entra.Name, "export")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "TESSERA_SECRET_KEY="+s.ad.SecretKey)
		return cmd
	}
	cmd := export()
	require.NoError(t, cmd.Start())
	select {
	case <-hold:
	case <-time.After(2 * time.Minute):
		t.Fatal("the export never reached its 25th user")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	close(killed)
	out, err := export().CombinedOutput()
	require.NoError(t, err, "%s", out)
	var pending, failed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE export_op IS NOT NULL), count(*) FILTER (WHERE export_error <> '')
		FROM cs_objects WHERE system_id = $1`, s.entra.ID).Scan(&pending, &failed))
	require.Zero(t, pending, "nothing left to export: %s", out)
	require.Zero(t, failed, "no duplicate UPN error left behind: %s", out)
	s.run(t, s.entra, syncsvc.DeltaImport)
	upns := map[string]int{}
	require.NoError(t, s.open(t).FullImport(ctx, func(o syncsvc.ImportedObject) error {
		if o.Class == syncsvc.ObjectUser {
			upns[strings.ToLower(o.Attributes["userPrincipalName"][0])]++
		}
		return nil
	}))
	require.Len(t, upns, people, "every user reached Entra ID")
	for upn, n := range upns {
		require.Equal(t, 1, n, "%s exists %d times", upn, n)
	}

	reader := dc.Dial(t)
	res, err := reader.Search(ldap.NewSearchRequest(s.ad.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=user)(employeeID=E*))", []string{"sAMAccountName", "objectGUID"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, people)
	conn := s.open(t)
	for _, e := range res.Entries {
		guid, err := ad.GUIDString(e.GetRawAttributeValue("objectGUID"))
		require.NoError(t, err)
		want, err := entra.ImmutableID(guid)
		require.NoError(t, err)
		o, err := conn.Read(ctx, "", entra.UserDN(e.GetAttributeValue("sAMAccountName")+"@tessera.test"))
		require.NoError(t, err)
		require.Equal(t, []string{want}, o.Attributes["onPremisesImmutableId"], "the AD objectGUID, base64 in .NET byte order")
		require.Equal(t, []string{"true"}, o.Attributes["accountEnabled"])
	}

	// A person's own change, approved by policy at once: exported to AD,
	// then to Entra ID, and each system's confirmation on the timeline.
	var pid string
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM people WHERE account_name = $1", name+"2").Scan(&pid))
	req, err := db.Submit(ctx, portal.Viewer{PersonID: pid, DisplayName: "Eve Number 2"}, portal.NewRequest{
		Operation: portal.OpUpdatePerson, PersonID: pid, Changes: map[string]string{"mobile": "+44 7700 900123"}})
	require.NoError(t, err)
	var events []string
	ok := assert.EventuallyWithT(t, func(c *assert.CollectT) {
		rows, err := pool.Query(ctx, "SELECT detail FROM request_events WHERE request_id = $1 AND kind = 'exported' ORDER BY id", req.ID)
		require.NoError(c, err)
		events, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(c, err)
		assert.Len(c, events, 2)
	}, 60*time.Second, 50*time.Millisecond, "the sync_export job carries the change to both systems")
	if !ok {
		t.Fatal(debugRequest(t, pool, req.ID))
	}
	require.Equal(t, []string{"Exported to " + s.ad.System.Name, "Exported to " + s.entra.Name}, events)
	conn.ImportAlso([]string{"mobilePhone"})
	o, err := conn.Read(ctx, "", entra.UserDN(name+"2@tessera.test"))
	require.NoError(t, err)
	require.Equal(t, []string{"+44 7700 900123"}, o.Attributes["mobilePhone"])
	require.Positive(t, s.sim.Stats().HighPriority, "a person's change is sent with x-ms-throttle-priority: high")

	// A change that AD's own cycle carries and confirms while the job that
	// exports it waits for Entra ID (a bulk export holds its run lock) is
	// "Exported to" AD, and completes only once Entra ID confirmed it too,
	// never before, and nothing follows "completed".
	entraLock, err := pgx.Connect(ctx, dbURL) // of its own: the pool's few connections are the workers'
	require.NoError(t, err)
	defer entraLock.Close(ctx)
	_, err = entraLock.Exec(ctx, "SELECT pg_advisory_lock(7261127, hashtext($1))", s.entra.ID) // syncsvc's run lock
	require.NoError(t, err)
	req, err = db.Submit(ctx, portal.Viewer{PersonID: pid, DisplayName: "Eve Number 2"}, portal.NewRequest{
		Operation: portal.OpUpdatePerson, PersonID: pid, Changes: map[string]string{"mobile": "+44 7700 900124"}})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var linked bool
		require.NoError(c, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM export_requests WHERE request_id = $1 AND system_id = $2)",
			req.ID, s.ad.System.ID).Scan(&linked))
		assert.True(c, linked)
	}, time.Minute, 20*time.Millisecond, "the job planned AD's share")
	for _, p := range []syncsvc.RunProfile{syncsvc.Export, syncsvc.DeltaImport} {
		for { // the job may hold AD's run lock for a moment when it tries again
			run, err := s.engine.Run(ctx, s.ad.System.ID, p, syncsvc.RunOptions{})
			if errors.Is(err, syncsvc.ErrBusy) {
				continue
			}
			require.NoError(t, err)
			require.Equal(t, "succeeded", run.Status, "%s: %s", p, run.Message)
			break
		}
	}
	kinds := func() []string {
		rows, err := pool.Query(ctx, "SELECT kind || ' ' || detail FROM request_events WHERE request_id = $1 AND kind <> 'submitted' ORDER BY id", req.ID)
		require.NoError(t, err)
		k, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return k
	}
	require.Equal(t, []string{"committed ", "exported Exported to " + s.ad.System.Name}, kinds(), "AD confirmed it; Entra ID has not had it")
	var status string
	require.NoError(t, pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", req.ID).Scan(&status))
	require.Equal(t, "committed", status, "not completed before Entra ID confirmed it")
	_, err = entraLock.Exec(ctx, "SELECT pg_advisory_unlock(7261127, hashtext($1))", s.entra.ID)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.NoError(c, pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", req.ID).Scan(&status))
		assert.Equal(c, "completed", status)
	}, time.Minute, 50*time.Millisecond, "the job carries it to Entra ID once its run lock is free")
	require.Equal(t, []string{"committed ", "exported Exported to " + s.ad.System.Name, "exported Exported to " + s.entra.Name,
		"completed "}, kinds())

	// Seven days pass without a delta import: the token has expired, and
	// a user deleted meanwhile must not linger in the connector space.
	victim := entra.UserDN(name + "1@tessera.test")
	require.NoError(t, conn.Export(ctx, []syncsvc.ExportChange{{Op: syncsvc.ExportDelete, DN: victim}})[0].Err)
	s.sim.ExpireDeltaTokens()
	s.run(t, s.entra, syncsvc.DeltaImport)
	var left int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM cs_objects WHERE system_id = $1 AND anchor IS NOT NULL", s.entra.ID).Scan(&left))
	require.Equal(t, people-1, left, "the full import that answered the expired token saw the deletion")

	// Provision now, as an administrator presses it on the sync preview:
	// a new person reaches AD and then Entra ID at once, anchored by their
	// new objectGUID, and so does their membership of a group, after
	// their account in each system, each step reported; pressed again,
	// nothing to send.
	g := entra.DefaultGroupRule(s.entra.ID)
	g.Scope = fmt.Sprintf("group.name.startsWith(%q)", name)
	require.NoError(t, s.engine.SaveSyncRule(ctx, s.ad.Admin, g))
	var newID, gid string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		VALUES ($1, 'N1', 'Nia', 'Now', 'Nia Now') RETURNING id`, name+"now").Scan(&newID))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, 'Now group', 'security', 'closed') RETURNING id`, name+"-now").Scan(&gid))
	_, err = pool.Exec(ctx, "INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)", gid, newID)
	require.NoError(t, err)
	type step struct{ system, step, result string }
	// provision runs "Provision now" for Nia and returns its steps, and
	// each as system, step and result.
	provision := func() ([]syncsvc.ProvisionStep, []step) {
		t.Helper()
		steps, err := s.engine.ProvisionPerson(ctx, newID)
		require.NoError(t, err)
		var got []step
		for _, st := range steps {
			got = append(got, step{st.SystemName, string(st.Step), st.Result})
		}
		return steps, got
	}
	steps, got := provision()
	require.Equal(t, []step{
		{s.ad.System.Name, "read", "none"}, {s.ad.System.Name, "match", "add"},
		{s.ad.System.Name, "export", "exported"}, {s.ad.System.Name, "members", "exported"}, {s.ad.System.Name, "confirm", "confirmed"},
		{s.entra.Name, "read", "none"}, {s.entra.Name, "match", "add"},
		{s.entra.Name, "export", "exported"}, {s.entra.Name, "members", "exported"}, {s.entra.Name, "confirm", "confirmed"},
	}, got, "%+v", steps)
	require.Contains(t, steps[3].Details[0], name+"-now", "the group, after the account it names")
	res, err = reader.Search(ldap.NewSearchRequest(s.ad.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=group)(member="+ldap.EscapeFilter(steps[2].DN)+"))", []string{"cn"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1, "Nia is a member of the group in AD")
	grp, err := conn.Read(ctx, "", entra.GroupDN(name+"-now"))
	require.NoError(t, err)
	require.Equal(t, []string{entra.UserDN(name + "now@tessera.test")}, grp.Attributes["member"], "and in Entra ID")
	res, err = reader.Search(ldap.NewSearchRequest(s.ad.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=user)(employeeID=N1))", []string{"objectGUID"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	guid, err := ad.GUIDString(res.Entries[0].GetRawAttributeValue("objectGUID"))
	require.NoError(t, err)
	want, err := entra.ImmutableID(guid)
	require.NoError(t, err)
	o, err = conn.Read(ctx, "", entra.UserDN(name+"now@tessera.test"))
	require.NoError(t, err)
	require.Equal(t, []string{want}, o.Attributes["onPremisesImmutableId"])
	steps, got = provision()
	require.Equal(t, []step{
		{s.ad.System.Name, "read", "found"}, {s.ad.System.Name, "match", "unchanged"},
		{s.ad.System.Name, "export", "nothing"}, {s.ad.System.Name, "members", "nothing"}, {s.ad.System.Name, "confirm", "skipped"},
		{s.entra.Name, "read", "found"}, {s.entra.Name, "match", "unchanged"},
		{s.entra.Name, "export", "nothing"}, {s.entra.Name, "members", "nothing"}, {s.entra.Name, "confirm", "skipped"},
	}, got, "%+v", steps)
}

// debugRequest says what became of a request, for a failure message.
func debugRequest(t *testing.T, pool *pgxpool.Pool, id string) string {
	rows, err := pool.Query(context.Background(), `SELECT kind || ': ' || detail FROM request_events WHERE request_id = $1
		UNION ALL SELECT 'export error: ' || export_error FROM cs_objects WHERE export_error <> ''
		UNION ALL SELECT 'run: ' || profile || ' ' || status || ' ' || message FROM sync_runs WHERE trigger = 'request'`, id)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}
