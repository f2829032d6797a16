package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
)

// Entra ID's fixed schema reaches the engine through the wiring, not as a
// side effect of importing its package: the engine tessera builds refuses
// a rule that writes a read-only Graph property when it is saved, and an
// engine built without it leaves the rule to its export.
func TestEngineIsGivenEntrasSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Postgres(t)
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	sealer, err := portal.NewSealer(key)
	require.NoError(t, err)
	db := postgres.New(pool)
	admin := portal.Viewer{Roles: []portal.Role{portal.RoleAdmin}}
	systems := postgres.NewConnectedSystems(db, sealer)
	sys, err := systems.CreateConnectedSystem(ctx, admin, portal.ConnectedSystem{Name: "Entra", Type: portal.SystemEntra,
		BindPassword: "x", Enabled: true, Entra: portal.EntraSettings{TenantID: "11111111-1111-1111-1111-111111111111",
			ClientID: "22222222-2222-2222-2222-222222222222", GraphURL: "http://127.0.0.1:1/v1.0", AuthorityURL: "http://127.0.0.1:1"}})
	require.NoError(t, err)
	rule := entra.DefaultUserRule(sys.ID, "tessera.test")
	rule.Outbound = append(rule.Outbound, syncsvc.OutboundFlow{CS: "proxyAddresses", Expr: "person.email"})

	err = newEngine(pool, systems, slog.New(slog.DiscardHandler)).SaveSyncRule(ctx, admin, rule)
	require.Error(t, err)
	require.Contains(t, err.Error(), "proxyAddresses is read-only in Entra")
	require.NoError(t, (&syncsvc.Engine{Pool: pool, Systems: systems, Requests: db}).SaveSyncRule(ctx, admin, rule),
		"without the wiring nothing registered Entra's schema")
}
