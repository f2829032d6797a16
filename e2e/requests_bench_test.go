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

// BenchmarkApprovalsPage measures server time of "My approvals" through the
// real handler, router, session check and templates, for an approver with
// 1,000 pending approvals in an organisation of 100,000 people: the first
// page in each order, and filtered by requester, group, kind and due date.
func BenchmarkApprovalsPage(b *testing.B) {
	ctx := context.Background()
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, benchPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(benchPeople)
	require.NoError(b, err)
	approver := org.Accounts[1].PersonID
	// 1,000 join requests to a group the approver owns, each waiting for
	// their decision, asked a minute apart and due a week after.
	_, err = pool.Exec(ctx, `WITH g AS (INSERT INTO groups (name, display_name, description, group_type, join_policy)
			VALUES ('bench-approvals', 'Bench approvals', 'Requests for the approvals benchmark.', 'security', 'owner_approval') RETURNING id),
		o AS (INSERT INTO group_owners (group_id, person_id) SELECT id, $1 FROM g),
		r AS (INSERT INTO requests (requester_id, operation, group_id, person_id, justification, status, policy_id, created_at)
			SELECT p.id, 'add_member', g.id, p.id, 'benchmark ' || p.n, 'authorizing',
				(SELECT id FROM policies WHERE name = 'Request to join owner-approval groups'), now() - p.n * interval '1 minute'
			FROM g, (SELECT id, row_number() OVER (ORDER BY id) AS n FROM people WHERE id <> $1 ORDER BY id LIMIT 1000) p
			RETURNING id, created_at),
		a AS (INSERT INTO approvals (request_id, needed, deadline) SELECT id, 1, created_at + interval '7 days' FROM r RETURNING id)
		INSERT INTO approvers (approval_id, person_id) SELECT id, $1 FROM a`, approver)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "ANALYZE requests; ANALYZE approvals; ANALYZE approvers")
	require.NoError(b, err)
	srv := (&web.Server{Config: web.Config{BaseURL: "http://tessera.test"}, People: db, Groups: db, Auth: db, Flows: db,
		Requests: db}).Handler()
	token, err := db.CreateSession(ctx, approver, "local", "")
	require.NoError(b, err)
	var someone string
	require.NoError(b, pool.QueryRow(ctx, `SELECT p.display_name FROM requests r JOIN people p ON p.id = r.requester_id
		JOIN groups g ON g.id = r.group_id WHERE g.name = 'bench-approvals' ORDER BY r.id LIMIT 1`).Scan(&someone))
	paths := []string{"/approvals", "/approvals?sort=newest", "/approvals?sort=due", "/approvals?sort=requester",
		"/approvals?sort=group", "/approvals?offset=900", "/approvals?group=bench&kind=add_member",
		"/approvals?due=week", "/approvals?requester=" + strings.ReplaceAll(strings.Fields(someone)[0], " ", "+")}
	do := func(path string) time.Duration {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(&http.Cookie{Name: "tessera_session", Value: token})
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: status %d", path, rec.Code)
		}
		if path == "/approvals" && !strings.Contains(rec.Body.String(), "1,000 requests</strong> wait") {
			b.Fatalf("%s does not count 1,000 approvals", path)
		}
		return d
	}
	for _, p := range paths { // warm the caches and statement cache
		do(p)
	}
	var times []time.Duration
	var p95s []float64
	settle(b, pool)
	b.ResetTimer()
	for range benchRuns {
		from := len(times)
		for range 20 {
			for _, p := range paths {
				times = append(times, do(p))
			}
		}
		p95s = append(p95s, ms(percentile(times[from:], 95)))
	}
	b.StopTimer()
	p50, p95 := percentile(times, 50), percentile(times, 95)
	b.ReportMetric(ms(p95), "p95-ms")
	b.Logf("My approvals with 1,000 pending over %d people, %d requests: p50 %.2f ms, p95 %.2f ms", benchPeople, len(times), ms(p50), ms(p95))
	figure("approvals_page_1000_pending_p95", p95s, "ms", "<= 50")
}
