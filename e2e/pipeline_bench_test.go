package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// BenchmarkRequestPipeline measures requests through the whole pipeline:
// people submit join requests to an owner-approval group (request row,
// audit entry and Authorize job in one transaction), River authorizes
// them, the owner approves them as they arrive, as "My approvals" does
// with "Select all" and "Approve selected" (at most 100 at a time: one
// transaction and one commit job for each such decision), and
// River commits them. The figure is completed requests per second, end to
// end.
func BenchmarkRequestPipeline(b *testing.B) {
	rate := runPipeline(b, 100)
	singleProcessRate = rate
	figure("request_pipeline_throughput", rate, "requests/s", ">= 500")
}

// singleProcessRate is request_pipeline_throughput when
// BenchmarkRequestPipeline ran in this run, for the target of the figure
// with several processes.
var singleProcessRate float64

// BenchmarkRequestPipelineOneByOne is the same pipeline with the owner
// deciding on each approval on its own (a transaction and a commit job
// each), for comparison; the target is for the pipeline above.
func BenchmarkRequestPipelineOneByOne(b *testing.B) {
	rate := runPipeline(b, 1)
	fmt.Printf("figure: request_pipeline_one_by_one %.1f requests/s (no target: each approval decided on its own)\n", rate)
}

// pipelinePeople is the organisation the pipeline figures are measured on.
const pipelinePeople = 10000

// pipelineSetup makes the owner-approval group of the pipeline figures in
// a fresh copy of the organisation, and returns its owner and the people
// who will ask to join it.
func pipelineSetup(b *testing.B) (*postgres.DB, portal.Viewer, string, []portal.Viewer) {
	ctx := context.Background()
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, pipelinePeople))
	db := postgres.New(pool)
	org, err := demo.Generate(pipelinePeople)
	require.NoError(b, err)
	owner := portal.Viewer{PersonID: org.Accounts[1].PersonID, DisplayName: "Mateo"}
	var groupID string
	require.NoError(b, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ('bench', 'Bench group', 'security', 'owner_approval') RETURNING id`).Scan(&groupID))
	_, err = pool.Exec(ctx, "INSERT INTO group_owners (group_id, person_id) VALUES ($1, $2)", groupID, owner.PersonID)
	require.NoError(b, err)
	var requesters []portal.Viewer
	for _, p := range org.People {
		if p.ID != owner.PersonID && p.Enabled {
			requesters = append(requesters, portal.Viewer{PersonID: p.ID, DisplayName: p.DisplayName})
		}
	}
	return db, owner, groupID, requesters[:min(len(requesters), 6000)]
}

// runPipeline runs 6,000 requests through the pipeline, the owner deciding
// on up to perDecision approvals at once, and returns requests per second.
func runPipeline(b *testing.B, perDecision int) float64 {
	ctx := context.Background()
	db, owner, groupID, requesters := pipelineSetup(b)
	harness.StartWorkers(b, db, nil, "http://tessera.test")
	rate := drivePipeline(b, db.Pool, groupID, len(requesters), perDecision, func(i int) {
		v := requesters[i]
		if _, err := db.Submit(ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: groupID,
			PersonID: v.PersonID, Justification: "benchmark"}); err != nil {
			b.Error(err)
		}
	}, func(_ int, chunk []string) {
		errs, err := db.DecideMany(ctx, owner, chunk, true, "")
		if err == nil {
			err = errors.Join(errs...)
		}
		if err != nil {
			b.Error(err)
		}
	})
	b.Logf("%d requests submitted, approved and committed: %.1f requests/s", len(requesters), rate)
	return rate
}

// drivePipeline is the run both pipeline figures measure: 12 people
// submit the n join requests (submit(i) sends the i-th), and the owner
// approves what waits as it arrives, perDecision at a time, on 8 tabs
// (decide(tab, chunk)), until the group has n members. It returns
// requests per second.
func drivePipeline(b *testing.B, pool *pgxpool.Pool, groupID string, n, perDecision int, submit func(i int),
	decide func(tab int, chunk []string)) float64 {
	ctx := context.Background()
	settle(b, pool)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				submit(i)
			}
		}()
	}
	decided := map[string]bool{}
	chunks := make(chan []string, 1000)
	var dwg sync.WaitGroup
	for tab := range 8 {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			for chunk := range chunks {
				decide(tab, chunk)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// Polling stays cheap (index scans only), so that the benchmark
		// measures the pipeline and not itself.
		var completed int
		require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM group_members WHERE group_id = $1", groupID).Scan(&completed))
		if completed == n {
			break
		}
		require.True(b, time.Now().Before(deadline), "only %d of %d completed", completed, n)
		rows, err := pool.Query(ctx, `SELECT id FROM approvals WHERE status = 'pending'`)
		require.NoError(b, err)
		var waiting []string
		for rows.Next() {
			var id string
			require.NoError(b, rows.Scan(&id))
			if !decided[id] {
				decided[id] = true
				waiting = append(waiting, id)
			}
		}
		require.NoError(b, rows.Err())
		for chunk := range slices.Chunk(waiting, perDecision) {
			chunks <- chunk
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	close(chunks)
	dwg.Wait()
	wg.Wait()
	b.StopTimer()
	rate := float64(n) / elapsed.Seconds()
	b.ReportMetric(rate, "requests/s")
	return rate
}

// BenchmarkRequestPipelineTwoWebTwoWorker is the pipeline of
// BenchmarkRequestPipeline on four `tessera serve` processes, two web and
// two workers, on one database: people submit through both web processes
// over HTTP, the owner approves through both ("Approve selected", 100 at
// a time), and the workers authorize and commit. The target is 0.9 times
// the single-process figure of the same run (measured here when
// BenchmarkRequestPipeline did not run before it).
func BenchmarkRequestPipelineTwoWebTwoWorker(b *testing.B) {
	if singleProcessRate == 0 {
		singleProcessRate = runPipeline(b, 100)
		b.Logf("single process, for the target: %.1f requests/s", singleProcessRate)
	}
	db, owner, groupID, requesters := pipelineSetup(b)
	url := db.Pool.Config().ConnString()
	webs := []*harness.Tessera{
		harness.StartProcess(b, url, harness.ProcessOptions{Role: "web"}),
		harness.StartProcess(b, url, harness.ProcessOptions{Role: "web"}),
	}
	harness.StartProcess(b, url, harness.ProcessOptions{Role: "worker"})
	harness.StartProcess(b, url, harness.ProcessOptions{Role: "worker"})
	clients := make([]*webClient, len(requesters))
	for i, v := range requesters {
		clients[i] = signIn(b, db, v.PersonID)
	}
	approver := signIn(b, db, owner.PersonID)
	rate := drivePipeline(b, db.Pool, groupID, len(requesters), 100, func(i int) {
		clients[i].askToJoin(webs[i%2].URL, groupID)
	}, func(tab int, chunk []string) {
		approver.approve(webs[tab%2].URL, chunk)
	})
	b.Logf("%d requests submitted and approved through 2 web processes and committed by 2 workers: %.1f requests/s",
		len(requesters), rate)
	figure("request_pipeline_two_web_two_worker", rate, "requests/s",
		fmt.Sprintf(">= %.1f: 0.9 × request_pipeline_throughput %.1f of this run", 0.9*singleProcessRate, singleProcessRate))
}
