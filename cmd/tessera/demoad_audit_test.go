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
	require.NoError(t, configureDemoAD(ctx, cfg, pool, slog.New(slog.DiscardHandler), dc, &out), out.String())

	page, err := postgres.New(pool).ListAudit(ctx, portal.AuditFilter{}, 0)
	require.NoError(t, err)
	var setup []string
	for _, e := range page.Items {
		if e.Action == "connected_system_create" || e.Action == "sync_rule_save" {
			setup = append(setup, e.Action)
			require.Empty(t, e.ActorID, "%s is Tessera's", e.Action)
			require.Equal(t, demoADName, e.TargetName)
		}
	}
	require.Equal(t, []string{"sync_rule_save", "sync_rule_save", "connected_system_create"}, setup)
}
