package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestDemoADIsSetUpByTessera: the demo AD's connected system and sync
// rules are created by Tessera, so the audit log says "Tessera", not the
// first administrator it happened to find.
func TestDemoADIsSetUpByTessera(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dc := harness.FreshSamba(t)
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, 40))
	cfg, err := LoadConfig(env(portal.SecretKeyEnv, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, portal.SecretKeySize))))
	require.NoError(t, err)
	var out bytes.Buffer
	adSys, err := configureDemoAD(ctx, cfg, pool, slog.New(slog.DiscardHandler), dc, &out)
	require.NoError(t, err, out.String())
	// The simulated Entra tenant beside it, anchored in the demo AD:
	// every person exported to AD is exported to it too.
	stop, entraSys, err := configureDemoEntra(ctx, cfg, pool, slog.New(slog.DiscardHandler), &out, adSys.ID)
	require.NoError(t, err, out.String())
	t.Cleanup(stop)
	var inAD, inEntra, anchored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE system_id = $1), count(*) FILTER (WHERE system_id = $2),
		count(*) FILTER (WHERE system_id = $2 AND attributes ? 'sourceanchor')
		FROM cs_objects WHERE class = 'user' AND anchor IS NOT NULL AND export_op IS NULL`, adSys.ID, entraSys.ID).Scan(&inAD, &inEntra, &anchored))
	require.Positive(t, inAD)
	require.Equal(t, inAD, inEntra, "%s", out.String())
	require.Equal(t, inEntra, anchored, "each Entra user was created with its AD anchor")

	page, err := postgres.New(pool).ListAudit(ctx, portal.AuditFilter{}, 0)
	require.NoError(t, err)
	var setup []string
	for _, e := range page.Items {
		if e.Action == "connected_system_create" || e.Action == "sync_rule_save" {
			setup = append(setup, e.Action)
			require.Empty(t, e.ActorID, "%s is Tessera's", e.Action)
			require.Contains(t, []string{demoADName, demoEntraName}, e.TargetName)
		}
	}
	require.Equal(t, []string{"sync_rule_save", "sync_rule_save", "connected_system_create", "sync_rule_save", "sync_rule_save",
		"connected_system_create"}, setup)
}
