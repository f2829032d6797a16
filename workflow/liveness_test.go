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
