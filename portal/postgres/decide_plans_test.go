package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestDecidePlansReadByKey: a decision's statements are planned once for a
// connection's life (generic plans in pgx's statement cache), and a plan
// made just after approvals and approvers were analyzed small, as an
// autoanalyze of a young database does, read all of both tables for each
// decision, ever dearer as they grew (issue 14: 41 to 135 buffers a
// decision's check instead of 16). Under byKeyPlans they are planned to
// look the approvals and approvers up by key, whatever the statistics say.
func TestDecidePlansReadByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	_, err := db.Pool.Exec(ctx, "ANALYZE approvals, approvers, requests")
	require.NoError(t, err)
	// plans returns the generic plans of decide's statements under
	// settings, one after the other.
	plans := func(settings string) string {
		var out []string
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, settings); err != nil {
				return err
			}
			for i, q := range postgres.DecideSQL {
				if _, err := tx.Exec(ctx, fmt.Sprintf("PREPARE decide%d AS %s", i, q)); err != nil {
					return err
				}
				// No approvals, someone, approving, no reason: as many as
				// the statement takes.
				args := []string{"'{}'", "gen_random_uuid()", "'approved'", "''"}
				for !strings.Contains(q, fmt.Sprintf("$%d", len(args))) {
					args = args[:len(args)-1]
				}
				rows, err := tx.Query(ctx, fmt.Sprintf("EXPLAIN (COSTS OFF) EXECUTE decide%d(%s)", i, strings.Join(args, ", ")))
				if err != nil {
					return err
				}
				plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				out = append(out, plan...)
				if _, err := tx.Exec(ctx, fmt.Sprintf("DEALLOCATE decide%d", i)); err != nil {
					return err
				}
			}
			return nil
		}))
		return strings.Join(out, "\n")
	}
	// What the plans were without byKeyPlans: the case is the one the
	// test is for.
	before := plans("SET LOCAL plan_cache_mode = force_generic_plan")
	require.Regexp(t, `Seq Scan on approv`, before, "the small statistics make sequential scans the cheapest plan")
	after := plans(postgres.ByKeyPlansSQL)
	require.NotContains(t, after, "Seq Scan on approvals", after)
	require.NotContains(t, after, "Seq Scan on approvers", after)
}
