package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/e2e/harness"
)

func TestLoadOrgTiming(t *testing.T) {
	db := postgres.New(harness.Postgres(t))
	ctx := context.Background()
	start := time.Now()
	org, err := demo.Generate(100000)
	require.NoError(t, err)
	t.Logf("generate: %v", time.Since(start))
	require.NoError(t, db.LoadOrg(ctx, org))
	t.Logf("load: %v", time.Since(start))
	page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: "zoe"})
	require.NoError(t, err)
	t.Logf("%d %v", len(page.Items), page.Items[0].DisplayName)
}
