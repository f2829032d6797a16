package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/workflow"
)

// hrFile writes the seeded people as an HR file; change edits a row.
func hrFile(b *testing.B, pool *pgxpool.Pool, change func(i int, rec []string)) []byte {
	b.Helper()
	// As an HR export writes it: with the start dates (the demo's people
	// have theirs as an extra attribute, which HR's column maps to).
	rows, err := pool.Query(context.Background(), `SELECT p.employee_id, p.given_name, p.surname, p.display_name, p.title,
		p.department, coalesce(m.employee_id, ''), coalesce(p.extra->>'startDate', ''), '' FROM people p
		LEFT JOIN people m ON m.id = p.manager_id WHERE p.employee_id IS NOT NULL ORDER BY p.employee_id`)
	require.NoError(b, err)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	require.NoError(b, w.Write([]string{"EmployeeID", "FirstName", "LastName", "DisplayName", "JobTitle", "Department", "ManagerID",
		"StartDate", "EndDate"}))
	rec := make([]string, 9)
	ptrs := make([]any, 9)
	for i := range rec {
		ptrs[i] = &rec[i]
	}
	i := 0
	_, err = pgx.ForEachRow(rows, ptrs, func() error {
		if change != nil {
			change(i, rec)
		}
		i++
		return w.Write(rec)
	})
	require.NoError(b, err)
	w.Flush()
	return buf.Bytes()
}

// hrPeople and hrRuns are benchPeople and benchRuns, kept apart to try the
// benchmark on fewer people while working on it.
var hrPeople, hrRuns = benchPeople, benchRuns

// BenchmarkHRImport times, three times over, an HR file of the 100,000
// seeded people into a fresh copy of the seeded database: its preview and
// its full import and sync into the HR connector space, which joins every
// row to its person (hr_import_100k_s); then the same file with 100
// titles changed, which applies only those 100 people
// (hr_delta_100_of_100k_s). No other system is connected, so nothing is
// exported.
func BenchmarkHRImport(b *testing.B) {
	var fulls, deltas []float64
	for n := range hrRuns {
		// A run of its own, so that its copy of the database (about 1 GB)
		// is dropped when it ends, not with the others at the end.
		b.Run(fmt.Sprintf("run%d", n+1), func(b *testing.B) {
			full, delta := hrImportRun(b)
			fulls, deltas = append(fulls, full), append(deltas, delta)
		})
	}
	b.Logf("HR import of 100,000 rows, seconds of each run: %.2f; 100 of them changed: %.2f", fulls, deltas)
	figure("hr_import_100k_s", fulls, "s", "<= 20")
	figure("hr_delta_100_of_100k_s", deltas, "s", "<= 2")
}

// hrImportRun is one run of BenchmarkHRImport: the seconds of the full
// file and of the delta.
func hrImportRun(b *testing.B) (float64, float64) {
	ctx := context.Background()
	b.StopTimer()
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, hrPeople))
	db := postgres.New(pool)
	systems := postgres.NewConnectedSystems(db, nil)
	engine := &syncsvc.Engine{Pool: pool, Systems: systems, Open: hr.Opener(pool), Requests: db, Dynamic: db,
		Logger: slog.New(slog.DiscardHandler)}
	var queued []int64
	svc := &hr.Service{Pool: pool, Engine: engine, Logger: slog.New(slog.DiscardHandler),
		Queue: func(ctx context.Context, tx pgx.Tx, id int64) error { queued = append(queued, id); return nil }}
	admin := portal.Viewer{Roles: []portal.Role{portal.RoleAdmin}}
	id, err := svc.CreateSource(ctx, admin, "bench HR", hr.Settings{Columns: hr.DefaultColumns()})
	require.NoError(b, err)
	apply := func(content []byte) (*hr.Upload, float64) {
		settle(b, pool)
		work, cpu0 := readDBWork(b, pool), cpuByProgram(b)
		b.StartTimer()
		start := time.Now()
		u, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "cli", Filename: "people.csv", Content: content, Apply: true})
		require.NoError(b, err)
		received := time.Since(start)
		require.Len(b, queued, 1, u.Message)
		require.NoError(b, svc.ApplyHRUpload(ctx, queued[0]))
		took := time.Since(start).Seconds()
		b.StopTimer()
		cpu := map[string]usage{}
		addCPU(cpu, cpu0, cpuByProgram(b))
		done := readDBWork(b, pool).since(work, 0)
		b.Logf("HR file of %d rows: received (parsed, checked, compared and staged) in %.2f s, applied (imported and synced) in %.2f s; %s; %s",
			u.Rows, received.Seconds(), took-received.Seconds(), done.per(1), cpuLine(cpu))
		for _, t := range done.top {
			fmt.Println("    " + t) // b.Logf's output of a benchmark is cut short
		}
		queued = nil
		u, err = svc.Upload(ctx, u.ID)
		require.NoError(b, err)
		require.Equal(b, hr.StatusApplied, u.Status, u.Message)
		return u, took
	}
	u, full := apply(hrFile(b, pool, nil))
	require.Equal(b, hrPeople, u.Joiners, "every seeded person is new to HR")
	var joined int
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM cs_objects WHERE system_id = $1 AND person_id IS NOT NULL", id).Scan(&joined))
	require.Equal(b, hrPeople, joined, "every row joins its person")

	var before int64
	require.NoError(b, pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM audit_log").Scan(&before))
	u, delta := apply(hrFile(b, pool, func(i int, rec []string) {
		if i%(hrPeople/100) == 0 {
			rec[4] = fmt.Sprintf("Changed title %d", i)
		}
	}))
	require.Equal(b, 100, u.Movers)
	var changed, audited int
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE title LIKE 'Changed title %'").Scan(&changed))
	require.Equal(b, 100, changed)
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'sync_inbound' AND id > $1", before).Scan(&audited))
	require.Equal(b, 100, audited, "only the 100 changed people are written")
	return full, delta
}

// BenchmarkHRJoinerToAD measures, over 20 joiners each sent alone as a
// SCIM bulk request (as an HR system sends a new hire), the time from the
// request being received to the new account being readable in Samba AD by
// another LDAP client: River's worker applies it and exports the joiner at
// once, without waiting for a cycle.
func BenchmarkHRJoinerToAD(b *testing.B) {
	const joiners = 20
	ctx := context.Background()
	dc := harness.Samba(b)
	pool := harness.Postgres(b)
	db := postgres.New(pool)
	s := harness.NewADSystem(b, db, dc, fmt.Sprintf("hrbench%d", time.Now().UnixNano()%1e6))
	adOpen, hrOpen := ad.Opener(s.Systems), hr.Opener(pool)
	e := &syncsvc.Engine{Pool: pool, Systems: s.Systems, Requests: db, Dynamic: db, Logger: slog.New(slog.DiscardHandler),
		Open: func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
			if sys.Type == portal.SystemHR {
				return hrOpen(ctx, sys)
			}
			return adOpen(ctx, sys)
		}}
	syncRules(b, e, s, dc.BaseDN)
	run, err := e.Run(ctx, s.System.ID, syncsvc.FullImport, syncsvc.RunOptions{})
	require.NoError(b, err)
	require.Equal(b, "succeeded", run.Status, run.Message)
	svc := &hr.Service{Pool: pool, Engine: e, Logger: slog.New(slog.DiscardHandler)}
	svc.Queue = workflow.HRApplyQueue(harness.StartWorkersWith(b, db, workflow.Deps{HR: svc, Sync: e}))
	hrID, err := svc.CreateSource(ctx, s.Admin, "bench HR", hr.Settings{Columns: hr.DefaultColumns()})
	require.NoError(b, err)
	reader := dc.Dial(b)
	readable := func(account string) bool {
		res, err := reader.Search(ldap.NewSearchRequest(s.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(sAMAccountName="+ldap.EscapeFilter(account)+")", []string{"cn"}, nil))
		return err == nil && len(res.Entries) == 1
	}
	var lat []time.Duration
	var p95s []float64
	b.ResetTimer()
	for n := range benchRuns {
		from := len(lat)
		for i := range joiners {
			id := fmt.Sprintf("J%d-%d", n, i)
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST",
				"bulkId":"1","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":%q,
				"active":true,"name":{"givenName":"Jo","familyName":"Iner%d x%d"}}}]}`, id, i, n)
			start := time.Now()
			_, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: hrID, Source: "scim", Content: []byte(body), Apply: true})
			require.NoError(b, err)
			account := fmt.Sprintf("jo.iner%dx%d", i, n)
			for !readable(account) {
				if time.Since(start) > 30*time.Second {
					b.Fatalf("joiner %s never appeared in AD: %s", account, hrStuck(ctx, pool))
				}
				time.Sleep(5 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
		p95s = append(p95s, percentile(lat[from:], 95).Seconds())
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p95 := percentile(lat, 50), percentile(lat, 95)
	b.Logf("HR joiner → account in AD over %d joiners: p50 %.0f ms, p95 %.0f ms", len(lat), ms(p50), ms(p95))
	figure("hr_joiner_to_ad_p95", p95s, "s", "<= 2")
}

// hrStuck says where the last HR upload and its jobs are, for a joiner
// that never arrived.
func hrStuck(ctx context.Context, pool *pgxpool.Pool) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := "(the database did not answer in 5 s)"
	_ = pool.QueryRow(ctx, `SELECT concat_ws(' | ', u.id, u.status, u.message,
			(SELECT string_agg(j.state || ' attempt ' || j.attempt || ': ' || coalesce(j.errors::text, ''), '; ') FROM river_job j
				WHERE j.args->>'upload_id' = u.id::text),
			(SELECT string_agg(r.profile || ' ' || r.status || ' ' || r.message, '; ' ORDER BY r.id) FROM sync_runs r WHERE r.started_at >= u.received_at))
		FROM hr_uploads u ORDER BY u.id DESC LIMIT 1`).Scan(&out)
	return out
}
