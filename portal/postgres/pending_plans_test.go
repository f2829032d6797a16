package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestPendingApprovalPlansReadByKey: the statements that find the
// approvals waiting for an approver (the badge every page of theirs
// shows, and "My approvals") reach each approval by the key of the
// approver's row, however few pending approvals the statistics counted.
// Analyzed while nothing waited (between two busy spells, as an
// autoanalyze does), they read every pending approval by approvals_pending
// again for each of the approver's undecided rows, the plans cached for
// the connection's life: an approver with hundreds waiting paid hundreds
// times hundreds of index entries a page (the same plan as the pipeline
// benchmarks' look of 6cfb403, 6,900-70,600 buffers a look). The test
// checks that a plain join is still planned so there, to stay meaningful.
func TestPendingApprovalPlansReadByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	approver := org.Accounts[1].PersonID
	_, err := db.Pool.Exec(ctx, `WITH g AS (INSERT INTO groups (name, display_name, group_type, join_policy)
			VALUES ('decided', 'decided', 'security', 'owner_approval') RETURNING id),
		r AS (INSERT INTO requests (operation, group_id, status) SELECT 'add_member', g.id, 'completed'
			FROM g, generate_series(1, 2000) RETURNING id),
		a AS (INSERT INTO approvals (request_id, status, needed) SELECT id, 'approved', 1 FROM r RETURNING id)
		INSERT INTO approvers (approval_id, person_id, decision) SELECT id, $1, 'approved' FROM a`, approver)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "ANALYZE requests, approvals, approvers")
	require.NoError(t, err)
	plan := func(mode, q string, args ...string) string {
		return preparedPlan(t, db.Pool, mode, "COSTS OFF", q, args...)
	}
	plain := `SELECT count(*) FROM approvers ap JOIN approvals a ON a.id = ap.approval_id AND a.status = 'pending'
		WHERE ap.person_id = $1 AND ap.decision IS NULL`
	require.Contains(t, plan("force_generic_plan", plain, "'"+approver+"'"), "Join Filter: (ap.approval_id = a.id)",
		"the statistics plan the plain join as every pending approval for each of the approver's rows")
	// My approvals in every order, and with a due filter (which reads the
	// deadline).
	var filters []portal.ApprovalFilter
	for _, sort := range portal.ApprovalSorts {
		f := portal.ApprovalFilter{Sort: sort.Value}
		if sort.Value == "due" {
			f.Due = "week"
		}
		require.NoError(t, f.Normalize())
		filters = append(filters, f)
	}
	for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
		plans := []string{plan(mode, postgres.FindSessionBadgeSQL, `'\x00'`)}
		for _, f := range filters {
			plans = append(plans, plan(mode, postgres.MyApprovalsSQL(f), "'"+approver+"'", "''", "''", "''", "50", "0"))
		}
		for _, p := range plans {
			require.NotContains(t, p, "approvals_pending", p)
			require.NotContains(t, p, "Join Filter: (ap.approval_id = a.id)", p)
			require.Regexp(t, `Index Scan using approvals_pkey on approvals[^\n]*\n\s+Index Cond: \(id = ap\.approval_id\)`, p)
		}
		// The mail asking an approver for their decision: the request's
		// approval by its key, the approver's row by approvers' key.
		p := plan(mode, postgres.NotificationApprovalSQL, "'"+approver+"'", "'"+approver+"'")
		require.NotContains(t, p, "approvals_pending", p)
		require.Contains(t, p, "approvals_request_id_key", p)
		require.Contains(t, p, "approvers_pkey", p)
	}
}

// preparedPlan is EXPLAIN (options) of q prepared and executed with args
// (SQL literals) under plan_cache_mode mode: force_generic_plan for the
// plan a connection caches for its life, force_custom_plan for one made
// for the arguments.
func preparedPlan(t testing.TB, pool *pgxpool.Pool, mode, options, q string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "PREPARE planned AS "+q); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, fmt.Sprintf("EXPLAIN (%s) EXECUTE planned(%s)", options, strings.Join(args, ", ")))
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DEALLOCATE planned")
		return err
	}))
	return strings.Join(out, "\n")
}
