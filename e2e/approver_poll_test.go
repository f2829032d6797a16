package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
)

// TestApproverPollReadsApprovalsByRequest pins approverPoll's plan: with
// requests and approvals analyzed while nothing waits (a run's 2,000
// requests completed and approved, as between two runs), its plans reach
// each approval by its request, whatever the statistics say of the
// pending ones; the plain join of the same look, which the test checks to
// stay meaningful, reads the pending approvals again for each waiting
// request.
func TestApproverPollReadsApprovalsByRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Postgres(t)
	_, err := pool.Exec(ctx, `WITH g AS (INSERT INTO groups (name, display_name, group_type, join_policy)
			VALUES ('poll', 'poll', 'security', 'owner_approval') RETURNING id),
		r AS (INSERT INTO requests (operation, group_id, status) SELECT 'add_member', g.id, 'completed'
			FROM g, generate_series(1, 2000) RETURNING id)
		INSERT INTO approvals (request_id, status, needed) SELECT id, 'approved', 1 FROM r`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE requests, approvals")
	require.NoError(t, err)
	plan := func(mode, q string) string {
		var out []string
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "PREPARE poll AS "+q); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) EXECUTE poll(gen_random_uuid())")
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "DEALLOCATE poll")
			return err
		}))
		return strings.Join(out, "\n")
	}
	plain := `SELECT a.id FROM requests r JOIN approvals a ON a.request_id = r.id
		WHERE r.operation = 'add_member' AND r.group_id = $1 AND r.status = 'authorizing' AND a.status = 'pending'`
	require.Contains(t, plan("force_generic_plan", plain), "Join Filter: (r.id = a.request_id)",
		"the plain join reads the pending approvals for each request")
	for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
		p := plan(mode, approverPoll)
		require.Contains(t, p, "Index Scan using approvals_request_id_key on approvals", p)
		require.Contains(t, p, "Index Cond: (request_id = r.id)", p)
		require.NotContains(t, p, "Join Filter", p)
		require.Contains(t, p, "requests_one_pending", p)
	}
}
