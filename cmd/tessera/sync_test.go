package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
)

// The sync commands against a connected system whose DC does not answer:
// status says so, a run fails with the reason, preview shows the plan.
func TestSyncCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	pool := harness.Pool(t, url)
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	sealer, err := portal.NewSealer(key)
	require.NoError(t, err)
	db := postgres.New(pool)
	var adminID, zoeID string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name) VALUES ('ada', 'Ada Admin') RETURNING id`).Scan(&adminID))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name, department)
		VALUES ('zoe', 'Zoë Example', 'Sales') RETURNING id`).Scan(&zoeID))
	admin := portal.Viewer{PersonID: adminID, Roles: []portal.Role{portal.RoleAdmin}}
	systems := postgres.NewConnectedSystems(db, sealer)
	sys, err := systems.CreateConnectedSystem(ctx, admin, portal.ConnectedSystem{Name: "Corp AD", Hosts: []string{"127.0.0.1"},
		Port: 1, TLSMode: portal.TLSLDAPS, BindUser: "svc@corp.example", BindPassword: "x", BaseDN: "DC=corp,DC=example",
		Enabled: true})
	require.NoError(t, err)
	e := &syncsvc.Engine{Pool: pool, Systems: systems, Requests: postgres.New(pool)}
	require.NoError(t, e.SaveSyncRule(ctx, admin, syncsvc.DefaultUserRule(sys.ID, "DC=corp,DC=example")))
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Main(ctx, args, env("DATABASE_URL", url, portal.SecretKeyEnv, base64.StdEncoding.EncodeToString(key)), &out)
		return out.String(), err
	}

	out, err := run("sync", "status")
	require.NoError(t, err)
	require.Contains(t, out, "Corp AD")
	require.Contains(t, out, "never")

	out, err = run("sync", "run", "corp ad", "full_import")
	require.ErrorContains(t, err, "Full import failed")
	require.Contains(t, out, "Full import of Corp AD: failed")
	require.Contains(t, out, "127.0.0.1:1")
	out, err = run("sync", "status")
	require.NoError(t, err)
	require.Contains(t, out, "unreachable")

	out, err = run("sync", "preview", "zoe")
	require.NoError(t, err)
	require.Contains(t, out, "Corp AD: add CN=Zoë Example,OU=People,DC=corp,DC=example")
	require.Contains(t, out, "export   sAMAccountName = zoe")

	_, err = run("sync", "run", "Nowhere", "export")
	require.ErrorContains(t, err, `There is no connected system "Nowhere".`)
	_, err = run("sync", "run", "Corp AD", "everything")
	require.ErrorContains(t, err, "There is no run profile")
	_, err = run("sync", "preview", "nobody")
	require.ErrorContains(t, err, `there is no person "nobody"`)
	_, err = run("sync")
	require.ErrorContains(t, err, "tessera sync run SYSTEM PROFILE")
}
