package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestSessionsRunWithoutJIT: Open's sessions run without JIT compilation
// (a statement whose generic plan's estimate passed jit_above_cost was
// compiled at every call, hundreds of milliseconds each), and a URL that
// sets jit keeps its own.
func TestSessionsRunWithoutJIT(t *testing.T) {
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	var jit string
	require.NoError(t, harness.Pool(t, url).QueryRow(ctx, "SHOW jit").Scan(&jit))
	require.Equal(t, "off", jit)

	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool, err := postgres.Open(ctx, url+sep+"jit=on", nil)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, pool.QueryRow(ctx, "SHOW jit").Scan(&jit))
	require.Equal(t, "on", jit)
}
