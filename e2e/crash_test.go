package e2e_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// killPoints is how many times TestBulkJoinSurvivesKills kills Tessera:
// TESSERA_KILL_POINTS (`make soak` sets 20), or 5.
func killPoints(t *testing.T) int {
	t.Helper()
	v := os.Getenv("TESSERA_KILL_POINTS")
	if v == "" {
		return 5
	}
	k, err := strconv.Atoi(v)
	require.NoError(t, err, "TESSERA_KILL_POINTS")
	require.Positive(t, k, "TESSERA_KILL_POINTS")
	return k
}

// TestBulkJoinSurvivesKills kills `tessera serve` (all roles in one
// process) with SIGKILL at random moments while 1,000 join requests are
// approved in bulk and exported to Samba AD, and starts it again each
// time: every request ends completed, every membership is in AD exactly
// once, and nothing is left pending.
func TestBulkJoinSurvivesKills(t *testing.T) {
	t.Parallel()
	const n = 1000
	kills := killPoints(t)
	ctx := context.Background()
	started := time.Now()
	p := newJoinPipeline(t, n)
	setup := time.Since(started)
	// The requests are submitted as the web tier would, with their first
	// job inserted in the same transaction (an insert-only River client).
	inserter, err := river.NewClient(riverpgxv5.New(p.pool), workflow.InsertOnlyConfig(nil))
	require.NoError(t, err)
	p.db.Jobs = inserter
	proc := harness.StartProcess(t, p.url, harness.ProcessOptions{Env: []string{"TESSERA_SECRET_KEY=" + p.ad.SecretKey}})
	errs := make(chan error, n)
	inParallel(8, n, func(i int) {
		v := p.requesters[i]
		_, err := p.db.Submit(ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: p.groupID,
			PersonID: v.PersonID, Justification: "Crash test"})
		errs <- err
	})()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// The owner approves in bulk ("Approve selected") in as many slices as
	// there are kills plus one, and each kill falls at a random moment
	// after its slice's decision: while the slice is being committed,
	// exported or confirmed (with what earlier slices left in flight), so
	// that every kill lands in the middle of work. Kill points measured in
	// progress instead fell mostly after the work was done: a bulk
	// decision commits hundreds of requests at once, and one confirming
	// import completes them. Decisions are the web tier's: they are made
	// (and commit their requests) whether Tessera is up or not, and their
	// export jobs wait in River.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	progress := func() int {
		return p.count(t, `SELECT count(*) FILTER (WHERE status IN ('committed', 'completed'))
			+ count(*) FILTER (WHERE status = 'completed') FROM requests WHERE group_id = $1`, p.groupID)
	}
	// Each request's approval is created by its first job: wait for all.
	var pending []string
	require.Eventually(t, func() bool { pending = p.pendingApprovals(t); return len(pending) == n },
		5*time.Minute, 50*time.Millisecond, "every request waits for the owner's approval")
	slice := (n + kills) / (kills + 1)
	run := time.Now()
	// alive says where each request is when the run takes too long.
	alive := func() {
		if time.Since(run) > 10*time.Minute {
			rows, err := p.pool.Query(ctx, `SELECT r.status || coalesce(' ' || a.status, '') || ' jobs: ' || coalesce((SELECT
					string_agg(j.kind || '/' || j.state || '/' || j.attempt, ',') FROM river_job j WHERE j.args->>'request_id' = r.id::text
					OR j.args->'request_ids' ? r.id::text), '') || ' waits: ' || (SELECT count(*) FROM export_requests e WHERE e.request_id = r.id)
				FROM requests r LEFT JOIN approvals a ON a.request_id = r.id WHERE r.group_id = $1 AND r.status <> 'completed' LIMIT 20`, p.groupID)
			require.NoError(t, err)
			stuck, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.FailNow(t, "the requests did not all complete", "progress %d of %d; not completed: %v", progress(), 2*n, stuck)
		}
	}
	var at []int
	inFlight := 0
	for k := 0; len(pending) > 0; k++ {
		part := pending[:min(slice, len(pending))]
		pending = pending[len(part):]
		for chunk := range slices.Chunk(part, portal.MaxBulkDecisions) {
			results, err := p.db.DecideMany(ctx, p.owner, chunk, true, "")
			require.NoError(t, err, "the owner's decisions")
			require.NoError(t, errors.Join(results...), "the owner's decisions")
		}
		if k >= kills {
			continue
		}
		time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond)
		at = append(at, progress())
		if at[len(at)-1] < 2*(n-len(pending)) {
			inFlight++
		}
		proc.Kill()
		proc.Restart()
		t.Logf("%s: killed and restarted at progress %d of %d decided", time.Since(run).Round(time.Millisecond),
			at[len(at)-1], 2*(n-len(pending)))
	}
	for p.completed(t) < n {
		alive()
		time.Sleep(50 * time.Millisecond)
	}
	p.requireExactlyOnce(t)
	t.Logf("%d requests approved in bulk in %d slices and exported to AD through %d kills, %d of them with work in flight (at progress %v of %d): set-up %s, run %s",
		n, kills+1, kills, inFlight, at, 2*n, setup.Round(time.Second), time.Since(run).Round(time.Second))
}
