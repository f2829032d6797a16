package e2e_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
	"github.com/tessera-idm/tessera/workflow"
)

// cloudEntra is a simulated tenant configured as a cloud-only Entra ID
// system (no AD anchor) with an engine over it: the engine's Entra tests
// and benchmarks that need no Samba.
type cloudEntra struct {
	sim     *graphsim.Server
	sys     *portal.ConnectedSystem
	systems *postgres.ConnectedSystems
	admin   portal.Viewer
	engine  *syncsvc.Engine
	secret  string
	domain  string
}

// newCloudEntra configures the tenant sim as an Entra ID system named
// name in db, sending at most writeBudget writes per 150 s (0: Graph's
// quota), with the default user rule for the people whose account name
// starts with name.
func newCloudEntra(tb testing.TB, db *postgres.DB, name string, sim graphsim.Config, writeBudget int) *cloudEntra {
	tb.Helper()
	ctx := context.Background()
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(tb, err)
	sealer, err := portal.NewSealer(key)
	require.NoError(tb, err)
	s := &cloudEntra{systems: postgres.NewConnectedSystems(db, sealer), secret: "cloud~" + name, domain: name + ".test"}
	sim.TenantID, sim.ClientID, sim.ClientSecret = e2eTenant, e2eClient, s.secret
	sim.InitialDomain, sim.VerifiedDomains = name+".onmicrosoft.com", []string{s.domain}
	s.sim = graphsim.New(sim)
	srv := httptest.NewServer(s.sim.Handler())
	tb.Cleanup(srv.Close)
	var adminID string
	require.NoError(tb, db.Pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name) VALUES ($1, 'Entra Admin') RETURNING id`,
		"admin-"+name).Scan(&adminID))
	_, err = db.Pool.Exec(ctx, "INSERT INTO person_roles (person_id, role) VALUES ($1, 'admin')", adminID)
	require.NoError(tb, err)
	s.admin = portal.Viewer{PersonID: adminID, DisplayName: "Entra Admin", Roles: []portal.Role{portal.RoleAdmin}}
	s.sys, err = s.systems.CreateConnectedSystem(ctx, s.admin, portal.ConnectedSystem{Name: "Entra " + name, Type: portal.SystemEntra,
		BindPassword: s.secret, Enabled: true, Entra: portal.EntraSettings{TenantID: e2eTenant, ClientID: e2eClient,
			AuthorityURL: srv.URL, GraphURL: srv.URL + "/v1.0", WriteBudget: writeBudget}})
	require.NoError(tb, err)
	s.engine = &syncsvc.Engine{Pool: db.Pool, Systems: s.systems, Requests: db,
		Open:          syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{portal.SystemEntra: entra.Opener(s.systems, entra.NewLedger(db.Pool))}),
		TargetSchemas: map[portal.SystemType]syncsvc.TargetSchema{portal.SystemEntra: entra.TargetSchema}}
	rule := entra.DefaultUserRule(s.sys.ID, s.domain)
	rule.Scope = fmt.Sprintf("person.accountName.startsWith(%q)", name)
	require.NoError(tb, s.engine.SaveSyncRule(ctx, s.admin, rule))
	return s
}

// run runs profiles in order, each to success.
func (s *cloudEntra) run(tb testing.TB, profiles ...syncsvc.RunProfile) *syncsvc.Run {
	tb.Helper()
	var run *syncsvc.Run
	for _, p := range profiles {
		var err error
		run, err = s.engine.Run(context.Background(), s.sys.ID, p, syncsvc.RunOptions{})
		require.NoError(tb, err)
		require.Equal(tb, "succeeded", run.Status, "%s: %s", p, run.Message)
	}
	return run
}

// exportRequest carries a committed request to the systems as the
// sync_export job does, snoozing while a system is busy.
func exportRequest(tb testing.TB, e *syncsvc.Engine, id string) {
	for {
		err := e.ExportRequests(context.Background(), []string{id})
		if err == nil {
			return
		}
		if !portal.Retryable(err) {
			tb.Errorf("export request %s: %v", id, err)
			return
		}
		time.Sleep(100 * time.Millisecond) // River's snooze, shortened
	}
}

// TestEntraEngineThrottled exports new users to a tenant whose write
// budget is far below what the connector is allowed to send, through the
// engine: Graph answers with a storm of 429s, every one honoured, and
// every user arrives exactly once, in JSON batches. In the middle of it a
// person's own change goes ahead of the bulk export and is exported and
// confirmed.
func TestEntraEngineThrottled(t *testing.T) {
	t.Parallel()
	const users = 120
	ctx := context.Background()
	pool := harness.Pool(t, harness.DatabaseURL(t))
	db := postgres.New(pool)
	// Jobs are inserted as the web tier does; this test runs the export
	// itself (exportRequest), as the sync_export job would.
	inserter, err := river.NewClient(riverpgxv5.New(pool), workflow.InsertOnlyConfig(nil))
	require.NoError(t, err)
	db.Jobs = inserter
	name := fmt.Sprintf("storm%d", time.Now().UnixNano()%1e6)

	var mu sync.Mutex
	var bulkAdds, personAt, lastAdd int // arrival order of the requests the simulator saw
	var seen int
	trigger := make(chan struct{})
	waiting := make(chan struct{})
	sim := graphsim.Config{WriteBudget: 40, WriteWindow: time.Second,
		OnRequest: func(method, path string, h http.Header) {
			mu.Lock()
			seen++
			switch {
			case method == http.MethodPatch && strings.EqualFold(h.Get("x-ms-throttle-priority"), "high"):
				if personAt == 0 {
					personAt = seen
				}
			case method == http.MethodPost && path == "/users":
				bulkAdds++
				lastAdd = seen
				if bulkAdds == 40 {
					mu.Unlock()
					// The person's change starts now, and the bulk
					// goes on once it waits for the system.
					close(trigger)
					<-waiting
					return
				}
			}
			mu.Unlock()
		}}
	// The governor would send 466 writes a second; the tenant takes 40.
	s := newCloudEntra(t, db, name, sim, 70_000)
	_, err = pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		VALUES ($1 || '-waiting', 'W1', 'Wanda', 'Waiting', 'Wanda Waiting')`, name)
	require.NoError(t, err)
	s.sim.SetWriteBudget(-1, time.Second) // the person exists before the storm
	s.run(t, syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport)
	s.sim.SetWriteBudget(40, time.Second)
	mu.Lock()
	bulkAdds = 0
	mu.Unlock()
	s.sim.ResetStats()

	_, err = pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		SELECT $1 || n, 'S' || n, 'Storm', 'Number ' || n, 'Storm Number ' || n FROM generate_series(1, $2) n`, name, users)
	require.NoError(t, err)
	s.run(t, syncsvc.FullSync)

	var pid string
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM people WHERE account_name = $1", name+"-waiting").Scan(&pid))
	var person sync.WaitGroup
	person.Add(1)
	var reqID string
	go func() {
		defer person.Done()
		<-trigger
		req, err := db.Submit(ctx, portal.Viewer{PersonID: pid, DisplayName: "Wanda Waiting"}, portal.NewRequest{
			Operation: portal.OpUpdatePerson, PersonID: pid, Changes: map[string]string{"mobile": "+44 7700 900456"}})
		if err != nil {
			t.Errorf("submit: %v", err)
			close(waiting)
			return
		}
		reqID = req.ID
		done := make(chan struct{})
		go func() {
			// The bulk goes on once the change waits for the system.
			defer close(waiting)
			for {
				var marked bool
				err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1
					AND mode = 'ShareLock' AND granted)`, portal.LockClassPersonWaits).Scan(&marked)
				if err != nil || marked {
					return
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		exportRequest(t, s.engine, req.ID)
		close(done)
	}()
	run := s.run(t, syncsvc.Export)
	person.Wait()
	require.Equal(t, users, run.Counts.Adds, run.Message)
	require.Zero(t, run.Counts.Errors)

	st := s.sim.Stats()
	t.Logf("429 storm: %d requests, %d answered 429 (%.0f %%), %d batches, %d writes, %d sent before their Retry-After",
		st.Requests, st.Throttled, 100*float64(st.Throttled)/float64(st.Requests), st.Batches, st.Writes, st.EarlyRetries)
	require.Positive(t, st.Throttled, "the tenant throttled the export")
	require.Zero(t, st.EarlyRetries, "no write was sent before Graph's Retry-After")
	require.Less(t, st.Batches, users/2, "users travel in JSON batches")

	// Every user exactly once: the simulator refuses a second UPN, and
	// a full import lists them all.
	conn, err := entra.OpenSystem(ctx, *s.sys, s.secret)
	require.NoError(t, err)
	upns := map[string]int{}
	require.NoError(t, conn.FullImport(ctx, func(o syncsvc.ImportedObject) error {
		if o.Class == syncsvc.ObjectUser {
			upns[strings.ToLower(o.Attributes["userPrincipalName"][0])]++
		}
		return nil
	}))
	for n := 1; n <= users; n++ {
		require.Equal(t, 1, upns[fmt.Sprintf("%s%d@%s", name, n, s.domain)], "user %d", n)
	}
	var pending int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM cs_objects WHERE system_id = $1 AND export_op IS NOT NULL", s.sys.ID).Scan(&pending))
	require.Zero(t, pending)

	// The person's change went ahead of the bulk export, and was confirmed.
	mu.Lock()
	require.Positive(t, personAt, "the person's change reached the tenant")
	require.Less(t, personAt, lastAdd, "the person's change arrived before the bulk export ended")
	mu.Unlock()
	var status string
	require.NoError(t, pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", reqID).Scan(&status))
	require.Equal(t, "completed", status, debugRequest(t, pool, reqID))
}

// TestEntraNewMemberAfterCreation: through the engine, a new person and
// their membership of a group already in Entra ID reach the tenant in two
// JSON batches: the user's creation, then the member add naming the object
// id Graph gave (directoryObjects/{id}, the only form Graph documents).
func TestEntraNewMemberAfterCreation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Pool(t, harness.DatabaseURL(t))
	db := postgres.New(pool)
	name := fmt.Sprintf("dep%d", time.Now().UnixNano()%1e6)
	s := newCloudEntra(t, db, name, graphsim.Config{}, 0)
	require.NoError(t, s.engine.SaveSyncRule(ctx, s.admin, entra.DefaultGroupRule(s.sys.ID)))
	var gid, pid string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, 'Dependants', 'security', 'closed') RETURNING id`, name+"-g").Scan(&gid))
	s.run(t, syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export)

	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		VALUES ($1, 'D1', 'Dee', 'Pendant', 'Dee Pendant') RETURNING id`, name+"1").Scan(&pid))
	_, err := pool.Exec(ctx, "INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)", gid, pid)
	require.NoError(t, err)
	s.sim.ResetStats()
	run := s.run(t, syncsvc.DeltaSync, syncsvc.Export)
	require.Equal(t, 1, run.Counts.Adds, run.Message)
	require.Equal(t, 1, run.Counts.Updates, run.Message)
	require.Equal(t, 2, s.sim.Stats().Batches, "the user's creation, then the member add")

	conn, err := entra.OpenSystem(ctx, *s.sys, s.secret)
	require.NoError(t, err)
	g, err := conn.Read(ctx, "", entra.GroupDN(name+"-g"))
	require.NoError(t, err)
	require.Equal(t, []string{entra.UserDN(name + "1@" + s.domain)}, g.Attributes["member"])
}

// TestEntraTwoEnginesShareBudget: two engines, as two worker processes
// are (each its own pool and write governor), export at once to two
// systems of the same app registration in the same tenant. Graph's write
// quota is the app's and the tenant's, whichever process writes: the
// ledger both count their writes in keeps them within it together, and
// no write is answered 429.
func TestEntraTwoEnginesShareBudget(t *testing.T) {
	t.Parallel()
	const (
		budget = 30
		window = 1500 * time.Millisecond
		users  = 20
	)
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	pool := harness.Pool(t, url)
	db := postgres.New(pool)
	name := fmt.Sprintf("two%d", time.Now().UnixNano()%1e6)
	s := newCloudEntra(t, db, name, graphsim.Config{WriteBudget: budget, WriteWindow: window}, budget)
	second, err := s.systems.CreateConnectedSystem(ctx, s.admin, portal.ConnectedSystem{Name: "Entra " + name + " second",
		Type: portal.SystemEntra, BindPassword: s.secret, Enabled: true, Entra: s.sys.Entra})
	require.NoError(t, err)
	for sys, prefix := range map[string]string{s.sys.ID: name + "a", second.ID: name + "b"} {
		rule := entra.DefaultUserRule(sys, s.domain)
		rule.Scope = fmt.Sprintf("person.accountName.startsWith(%q)", prefix)
		require.NoError(t, s.engine.SaveSyncRule(ctx, s.admin, rule))
	}
	_, err = pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		SELECT $1 || p || n, upper(p) || n, 'Two', 'Engines ' || n, 'Two Engines ' || p || n
		FROM generate_series(1, $2) n, unnest(ARRAY['a', 'b']) p`, name, users)
	require.NoError(t, err)

	// The system's budget and window, scaled like the tenant's.
	open := func(ledger *entra.Ledger) syncsvc.Opener {
		return func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
			secret, err := s.systems.BindPassword(ctx, sys.ID)
			if err != nil {
				return nil, err
			}
			cfg := entra.ConfigOf(sys, secret)
			cfg.Client.WriteWindow, cfg.Client.Ledger = window, ledger
			return entra.Open(ctx, cfg)
		}
	}
	pool2 := harness.Pool(t, url)
	ledgers := []*entra.Ledger{entra.NewLedger(pool), entra.NewLedger(pool2)}
	engines := []*syncsvc.Engine{
		{Pool: pool, Systems: s.systems, Requests: db, Open: open(ledgers[0])},
		{Pool: pool2, Systems: s.systems, Requests: postgres.New(pool2), Open: open(ledgers[1])},
	}
	systems := []string{s.sys.ID, second.ID}
	for i, e := range engines {
		for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync} {
			run, err := e.Run(ctx, systems[i], p, syncsvc.RunOptions{})
			require.NoError(t, err)
			require.Equal(t, "succeeded", run.Status, run.Message)
		}
	}
	s.sim.ResetStats()
	runs := make([]*syncsvc.Run, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], errs[i] = e.Run(ctx, systems[i], syncsvc.Export, syncsvc.RunOptions{})
		}()
	}
	wg.Wait()
	for i := range runs {
		require.NoError(t, errs[i])
		require.Equal(t, "succeeded", runs[i].Status, runs[i].Message)
		require.Equal(t, users, runs[i].Counts.Adds, runs[i].Message)
	}
	st := s.sim.Stats()
	require.Equal(t, 2*users, st.Writes)
	require.Zero(t, st.Throttled, "together within the tenant's budget: no 429")

	// A Retry-After that Graph told one of them holds the other back too.
	conns := make([]syncsvc.Connector, 2)
	for i := range conns {
		conns[i], err = open(ledgers[i])(ctx, *s.sys)
		require.NoError(t, err)
	}
	require.NotSame(t, conns[0].(*entra.Connector).Client().Governor(), conns[1].(*entra.Connector).Client().Governor(),
		"a governor each, as two processes have")
	s.sim.ResetStats()
	start := time.Now()
	conns[0].(*entra.Connector).Client().Governor().Pause(700 * time.Millisecond)
	res := conns[1].Export(ctx, []syncsvc.ExportChange{{Op: syncsvc.ExportAdd, DN: entra.UserDN("after@" + s.domain),
		Class: syncsvc.ObjectUser, Password: "After-Pause-123", Enabled: true}})
	require.NoError(t, res[0].Err)
	require.False(t, s.sim.Stats().FirstWrite.Before(start.Add(700*time.Millisecond)), "the other process waited for it")
}

// TestEntraSafetyAndVisibility: an Entra ID system has AD's safety and
// visibility, from the same engine: its connector space, pending exports
// and export errors in the metrics per system, staging mode (computed,
// never sent), the deletion threshold (stopped before sending anything,
// until the deletions are confirmed), and the preview of one person.
func TestEntraSafetyAndVisibility(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Pool(t, harness.DatabaseURL(t))
	db := postgres.New(pool)
	name := fmt.Sprintf("safe%d", time.Now().UnixNano()%1e6)
	s := newCloudEntra(t, db, name, graphsim.Config{}, 0)
	rule := entra.DefaultUserRule(s.sys.ID, s.domain)
	rule.Scope = fmt.Sprintf("person.accountName.startsWith(%q) && person.department != 'Gone'", name)
	rule.Deprovision = syncsvc.DeprovisionDelete
	require.NoError(t, s.engine.SaveSyncRule(ctx, s.admin, rule))
	rows, err := pool.Query(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		SELECT $1 || n, 'S' || n, 'Sam', 'Safe ' || n, 'Sam Safe ' || n FROM generate_series(1, 3) n RETURNING id::text`, name)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	run := s.run(t, syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export)
	require.Equal(t, 3, run.Counts.Adds, run.Message)

	metric := func(metric string) float64 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(syncsvc.NewCollector(s.engine))
		families, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if f.GetName() == metric && m.GetLabel()[0].GetValue() == s.sys.Name {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no %s for %s", metric, s.sys.Name)
		return 0
	}
	require.Equal(t, 1.0, metric("tessera_sync_system_reachable"))
	require.Equal(t, 3.0, metric("tessera_sync_connector_space_objects"))
	require.Zero(t, metric("tessera_sync_pending_exports"))

	// Staging: a change is computed and shown as pending, never sent.
	sys := *s.sys
	sys.Staging = true
	_, err = s.systems.UpdateConnectedSystem(ctx, s.admin, sys)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE people SET title = 'Safety officer' WHERE id = $1", ids[0])
	require.NoError(t, err)
	s.sim.ResetStats()
	run = s.run(t, syncsvc.FullSync, syncsvc.Export)
	require.Contains(t, run.Message, "Staging")
	require.Zero(t, s.sim.Stats().Writes, "nothing sent in staging mode")
	require.Equal(t, 1.0, metric("tessera_sync_pending_exports"))
	pending, err := s.engine.PendingExports(ctx, s.sys.ID, false, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)

	// Three leave; the threshold is two: stopped before sending anything.
	sys.Staging, sys.DeletionThreshold = false, 2
	_, err = s.systems.UpdateConnectedSystem(ctx, s.admin, sys)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE people SET department = 'Gone' WHERE id = ANY($1)", ids)
	require.NoError(t, err)
	s.run(t, syncsvc.FullSync)
	previews, err := s.engine.PreviewPerson(ctx, ids[1])
	require.NoError(t, err)
	require.NotEmpty(t, previews, "the preview of one person")
	stopped, err := s.engine.Run(ctx, s.sys.ID, syncsvc.Export, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "stopped", stopped.Status)
	require.Contains(t, stopped.Message, "would delete 3 objects")
	require.Zero(t, s.sim.Stats().Writes, "nothing was sent")
	done, err := s.engine.Run(ctx, s.sys.ID, syncsvc.Export, syncsvc.RunOptions{ConfirmDeletes: true})
	require.NoError(t, err)
	require.Equal(t, 3, done.Counts.Deletes, done.Message)
	require.Zero(t, metric("tessera_sync_pending_exports"))
	conn, err := entra.OpenSystem(ctx, *s.sys, s.secret)
	require.NoError(t, err)
	_, err = conn.Read(ctx, "", entra.UserDN(name+"1@"+s.domain))
	require.ErrorIs(t, err, syncsvc.ErrNoSuchObject, "soft-deleted in Entra ID")
}
