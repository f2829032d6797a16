package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// A statement issued after a transaction's final COMMIT fails, instead of
// running on its own in autocommit.
func TestStatementAfterFinishFails(t *testing.T) {
	t.Parallel()
	pool := harness.Postgres(t)
	db := postgres.New(pool)
	ctx := context.Background()
	_, err := pool.Exec(ctx, "CREATE TABLE late (n int)")
	require.NoError(t, err)
	finishErr, afterErr := db.FinishThenExec(ctx, "INSERT INTO late VALUES (1)", "INSERT INTO late VALUES (2)")
	require.NoError(t, finishErr)
	require.Error(t, afterErr, "the late statement is refused")
	var ns []int32
	rows, err := pool.Query(ctx, "SELECT n FROM late ORDER BY n")
	require.NoError(t, err)
	for rows.Next() {
		var n int32
		require.NoError(t, rows.Scan(&n))
		ns = append(ns, n)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int32{1}, ns, "only the transaction's own statement is stored")
}
