package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
)

// River finds a job whose process died (SIGKILL, a lost machine) only by
// its age: its rescuer retries a job that has run longer than its timeout,
// up to an hour. Tessera's workers tell the living from the dead at once:
// each River client that works jobs holds, for as long as it runs, a
// PostgreSQL advisory lock named by its client ID, on a connection of its
// own. When a process dies, PostgreSQL ends its session and the lock goes
// with it; the leader's rescue job then finds the jobs last attempted by a
// client whose lock is free and makes them available again.

// livenessKey is the first half of the advisory lock key of a River
// client's liveness lock (the second is the hash of its ID).
const livenessKey = portal.LockClassLiveness

// Start holds client's liveness lock and then starts it: a job it fetches
// is never taken for an orphan. The lock is released when ctx ends or
// stop is called, after the client has stopped.
func Start(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx]) (stop func(context.Context) error, err error) {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("workflow: liveness connection: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, hashtext($2))", livenessKey, client.ID()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("workflow: liveness lock: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("river: start: %w", err)
	}
	return func(stopCtx context.Context) error {
		err := client.Stop(stopCtx)
		// The lock is released only once no job of this client can still
		// be running. Unlocked by a statement, it is released when stop
		// returns; a closed session releases it only when the server has
		// seen the close, a moment later (a rescue right after the stop
		// would still find this client alive).
		if err == nil {
			if _, uerr := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1, hashtext($2))", livenessKey, client.ID()); uerr != nil {
				err = fmt.Errorf("workflow: liveness unlock: %w", uerr)
			}
		}
		conn.Close(context.Background())
		return err
	}, nil
}

// RescueOrphansArgs makes the jobs of dead worker processes available
// again.
type RescueOrphansArgs struct{}

// Kind implements river.JobArgs.
func (RescueOrphansArgs) Kind() string { return "rescue_orphans" }

// rescueInterval is how often the leader looks for orphaned jobs.
const rescueInterval = 5 * time.Second

type rescueOrphansWorker struct {
	river.WorkerDefaults[RescueOrphansArgs]
	pool *pgxpool.Pool
}

func (w *rescueOrphansWorker) Work(ctx context.Context, job *river.Job[RescueOrphansArgs]) error {
	if w.pool == nil {
		return nil
	}
	_, err := RescueOrphans(ctx, w.pool)
	return err
}

// RescueOrphans makes every running job whose client holds no liveness
// lock available again (or discarded, when it has no attempt left, as
// River's rescuer does), and returns how many it rescued.
func RescueOrphans(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `SELECT DISTINCT attempted_by[array_length(attempted_by, 1)] FROM river_job
		WHERE state = 'running' AND array_length(attempted_by, 1) > 0`)
	if err != nil {
		return 0, fmt.Errorf("workflow: running jobs: %w", err)
	}
	clients, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("workflow: running jobs: %w", err)
	}
	var rescued int64
	for _, id := range clients {
		// The lock is free only when its holder's session has ended; taken
		// here, it is let go at once.
		var free bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", livenessKey, id).Scan(&free); err != nil {
			return rescued, fmt.Errorf("workflow: liveness of %s: %w", id, err)
		}
		if !free {
			continue
		}
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1, hashtext($2))", livenessKey, id); err != nil {
			return rescued, fmt.Errorf("workflow: liveness of %s: %w", id, err)
		}
		tag, err := conn.Exec(ctx, `UPDATE river_job SET
				state = CASE WHEN attempt < max_attempts THEN 'available' ELSE 'discarded' END::river_job_state,
				finalized_at = CASE WHEN attempt < max_attempts THEN NULL ELSE now() END,
				scheduled_at = now(),
				errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt,
					'error', 'Its worker process ended while it ran (client ' || $1 || ')', 'trace', ''))
			WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, id)
		if err != nil {
			return rescued, fmt.Errorf("workflow: rescue jobs of %s: %w", id, err)
		}
		rescued += tag.RowsAffected()
	}
	return rescued, nil
}
