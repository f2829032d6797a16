package workflow_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// runningJob writes a job as a worker that fetched it leaves it: running,
// attempted by client, in a queue no one serves (so that, once rescued,
// it stays available for the test to see).
func runningJob(t *testing.T, pool *pgxpool.Pool, client string, attempt int) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, queue, state,
		attempt, attempted_at, attempted_by) VALUES ('{}', 'housekeeping', 3, 'nobody', 'running', $2, now(), ARRAY[$1])
		RETURNING id`, client, attempt).Scan(&id))
	return id
}

func jobState(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var state string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT state::text FROM river_job WHERE id = $1", id).Scan(&state))
	return state
}

// A job whose worker process died is available again as soon as the
// rescue job looks, not after River's hour; the jobs of a living worker
// are left alone, however long they run.
func TestRescueOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Postgres(t)
	workers := river.NewWorkers()
	workflow.AddWorkers(workers, workflow.Deps{})
	client, err := river.NewClient(riverpgxv5.New(pool), workflow.RiverConfig(workers, slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	stop, err := workflow.Start(ctx, pool, client)
	require.NoError(t, err)

	living := runningJob(t, pool, client.ID(), 1)
	dead := runningJob(t, pool, "a-process-killed-with-sigkill", 1)
	spent := runningJob(t, pool, "a-process-killed-with-sigkill", 3)
	n, err := workflow.RescueOrphans(ctx, pool)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	require.Equal(t, "running", jobState(t, pool, living), "its worker is alive")
	require.Equal(t, "available", jobState(t, pool, dead))
	require.Equal(t, "discarded", jobState(t, pool, spent), "no attempt left, as River's rescuer decides")

	// The worker stops (or dies): its session, and its lock, end.
	require.NoError(t, stop(ctx))
	n, err = workflow.RescueOrphans(ctx, pool)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, "available", jobState(t, pool, living))
}

// A worker's liveness lock has a key class of its own: another kind of
// lock named like a dead worker (the sync engine's mark that a person's
// change waits for a system shared the liveness locks' class) does not
// keep that worker alive, and the classes are all different.
func TestLivenessLockHasItsOwnKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Postgres(t)
	classes := []int{portal.LockClassDynamic, portal.LockClassSyncRun, portal.LockClassPersonWaits, portal.LockClassLiveness}
	seen := map[int]bool{}
	for _, c := range classes {
		require.False(t, seen[c], "class %d used twice", c)
		seen[c] = true
	}
	const dead = "a-worker-named-like-a-system"
	job := runningJob(t, pool, dead, 1)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, c := range classes {
		if c == portal.LockClassLiveness {
			continue
		}
		_, err := conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1, hashtext($2))", c, dead)
		require.NoError(t, err)
	}
	n, err := workflow.RescueOrphans(ctx, pool)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "only a liveness lock keeps a worker alive")
	require.Equal(t, "available", jobState(t, pool, job))
	_, err = conn.Exec(ctx, "SELECT pg_advisory_unlock_all()")
	require.NoError(t, err)
}
