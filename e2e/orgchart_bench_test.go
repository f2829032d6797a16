package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/web"
)

// BenchmarkOrgChartPage measures server time of GET /org/{id} through the
// real handler, router, session check and templates for a manager with 200
// direct reports (and their teams below) in an organisation of 100,000.
func BenchmarkOrgChartPage(b *testing.B) {
	ctx := context.Background()
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, benchPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(benchPeople)
	require.NoError(b, err)
	// A manager in the middle of the tree (with a team of teams below)
	// takes on 200 more people from the bottom of the organisation.
	manager := org.People[len(org.People)/100]
	var moved []string
	for i := len(org.People) - 10; len(moved) < 200; i-- {
		if org.People[i].ManagerID != manager.ID {
			moved = append(moved, org.People[i].ID)
		}
	}
	_, err = pool.Exec(ctx, "UPDATE people SET manager_id = $1 WHERE id = ANY($2)", manager.ID, moved)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "VACUUM ANALYZE people")
	require.NoError(b, err)
	var reports int
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE manager_id = $1", manager.ID).Scan(&reports))
	require.GreaterOrEqual(b, reports, 200)

	srv := (&web.Server{Config: web.Config{BaseURL: "http://tessera.test"}, People: db, Groups: db, Auth: db, Flows: db}).Handler()
	token, err := db.CreateSession(ctx, org.Accounts[0].PersonID, "local", "")
	require.NoError(b, err)
	do := func() time.Duration {
		req := httptest.NewRequest("GET", "/org/"+manager.ID, nil)
		req.AddCookie(&http.Cookie{Name: "tessera_session", Value: token})
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("org chart: status %d", rec.Code)
		}
		if n := strings.Count(rec.Body.String(), `class="org-box"`); n < reports {
			b.Fatalf("org chart: %d boxes for %d reports", n, reports)
		}
		return d
	}
	for range 20 { // warm the caches and statement cache
		do()
	}
	var times []time.Duration
	var p95s []float64
	settle(b, pool)
	b.ResetTimer()
	for range benchRuns {
		from := len(times)
		for range 200 {
			times = append(times, do())
		}
		p95s = append(p95s, ms(percentile(times[from:], 95)))
	}
	b.StopTimer()
	p50, p95 := percentile(times, 50), percentile(times, 95)
	b.ReportMetric(ms(p95), "p95-ms")
	b.Logf("org chart of a manager with %d reports among %d people, %d requests: p50 %.2f ms, p95 %.2f ms",
		reports, benchPeople, len(times), ms(p50), ms(p95))
	figure("org_chart_page_p95", p95s, "ms", "<= 30")
}
