package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
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

	// What make run promises: Zoë asks to join VPN users, Mateo approves,
	// and her request's timeline says "Exported to Demo AD (Samba)" and
	// "Exported to Demo Entra (simulated)", through the workers as
	// `tessera dev` runs them.
	db := postgres.New(pool)
	engine := newEngine(pool, postgres.NewConnectedSystems(db, cfg.Sealer), slog.New(slog.DiscardHandler))
	harness.StartWorkers(t, db, nil, "http://tessera.test", engine)
	var zoe, mateo, vpn string
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM people WHERE account_name = 'zoe'").Scan(&zoe))
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM people WHERE account_name = 'mateo'").Scan(&mateo))
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM groups WHERE display_name = 'VPN users'").Scan(&vpn))
	req, err := db.Submit(ctx, portal.Viewer{PersonID: zoe}, portal.NewRequest{Operation: portal.OpAddMember, GroupID: vpn,
		PersonID: zoe, Justification: "Working from home"})
	require.NoError(t, err)
	mateoV := portal.Viewer{PersonID: mateo}
	var approvalID string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		page, err := db.MyApprovals(ctx, mateoV, portal.ApprovalFilter{Limit: 10})
		require.NoError(c, err)
		for _, it := range page.Items {
			if it.Request.ID == req.ID {
				approvalID = it.ApprovalID
				return
			}
		}
		c.Errorf("Mateo has no approval for Zoë's request yet")
	}, 60*time.Second, 20*time.Millisecond)
	require.NoError(t, db.Decide(ctx, mateoV, approvalID, true, "Approved"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		rows, err := pool.Query(ctx, "SELECT detail FROM request_events WHERE request_id = $1 AND kind = 'exported' ORDER BY id", req.ID)
		require.NoError(c, err)
		events, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(c, err)
		assert.ElementsMatch(c, []string{"Exported to " + demoADName, "Exported to " + demoEntraName}, events)
	}, 2*time.Minute, 50*time.Millisecond, "the approved membership reaches the demo AD and the simulated Entra")

	// And the password pages' promise: Zoë's reset, as the reset flow
	// makes it through the demo's systems, sets her password in the demo
	// AD, where she then binds with it, and in the simulated Entra tenant;
	// the demo's service account has the rights a reset, an unlock and the
	// helpdesk's live state need.
	accounts := &syncsvc.Accounts{Engine: engine}
	t.Cleanup(accounts.Close)
	const chosen = "Demo harbour lantern 58 orchid"
	results, err := accounts.ResetPassword(ctx, zoe, chosen, portal.ResetOptions{Unlock: true})
	require.NoError(t, err)
	var names []string
	for _, r := range results {
		require.NoError(t, r.Err, r.System)
		names = append(names, r.System)
	}
	require.ElementsMatch(t, []string{demoADName, demoEntraName}, names)
	var dn string
	require.NoError(t, pool.QueryRow(ctx, "SELECT dn FROM cs_objects WHERE person_id = $1 AND system_id = $2 AND class = 'user'",
		zoe, adSys.ID).Scan(&dn))
	conn, err := ldap.DialURL(dc.LDAPSURL, ldap.DialWithTLSConfig(dc.TLSConfig()))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Bind(dn, chosen), "Zoë binds to the demo AD with her new password")
	unlocked, err := accounts.Unlock(ctx, zoe)
	require.NoError(t, err)
	for _, r := range unlocked {
		require.NoError(t, r.Err, r.System)
	}
	states, err := accounts.AccountStates(ctx, zoe)
	require.NoError(t, err)
	require.Len(t, states, 2)
	for _, st := range states {
		require.NoError(t, st.Err, st.System)
		require.True(t, st.Enabled, st.System)
		require.False(t, st.Locked, st.System)
	}

	// Within one request's reading (syncsvc.ReadAccountsOnce, as a reset
	// checks the new password and then sets it), Zoë's accounts are read
	// from the database once: those her check read, even when they change
	// meanwhile; outside it, as they are now.
	once := syncsvc.ReadAccountsOnce(ctx)
	_, err = accounts.PasswordRules(once, zoe)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE cs_objects SET deprovisioned_at = now() WHERE person_id = $1 AND class = 'user'", zoe)
	require.NoError(t, err)
	states, err = accounts.AccountStates(once, zoe)
	require.NoError(t, err)
	require.Len(t, states, 2, "the accounts read once")
	states, err = accounts.AccountStates(ctx, zoe)
	require.NoError(t, err)
	require.Empty(t, states, "read again")
	_, err = pool.Exec(ctx, "UPDATE cs_objects SET deprovisioned_at = NULL WHERE person_id = $1 AND class = 'user'", zoe)
	require.NoError(t, err)
}
