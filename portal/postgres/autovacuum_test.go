package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAutovacuumAnalyzesEveryTable: ANALYZE succeeds on every table under
// the empty search_path autovacuum runs with, so that autoanalyze keeps
// the planner's statistics (of people above all) as the rows change. A
// function in an index expression that names another without its schema
// failed there: every autoanalyze of people ended in an error, the
// people's statistics stayed those of the last manual ANALYZE, and each
// autovacuum round sampled the table again, for nothing.
func TestAutovacuumAnalyzesEveryTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET search_path = ''")
	require.NoError(t, err)
	defer conn.Exec(ctx, "RESET search_path") //nolint:errcheck
	_, err = conn.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
}
