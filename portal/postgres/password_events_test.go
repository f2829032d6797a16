package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestPasswordEvents: the helpdesk panel reads a person's password events
// back from the audit log, newest first, with who acted and why, and what
// each system did, a refusal written in the reader's language; through
// the partial index of migrations/0044, whose list of actions is the
// domain's.
func TestPasswordEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	harness.StartWorkers(t, db, nil, "http://tessera.test") // a helpdesk reset queues its notice
	siobhan, zoe := demoViewer(t, org, "siobhan"), demoViewer(t, org, "zoe")
	gone := portal.Errorf(portal.ENOTFOUND, "%s: %s could not be done: the account is not there any more (it may have been deleted there).",
		"Demo Entra", portal.Textf("setting the password"))
	require.NoError(t, db.AuditAccountAction(ctx, siobhan, zoe.PersonID, "helpdesk_unlock", "Locked out, ticket 1",
		[]portal.SystemResult{{System: "Demo AD"}}))
	require.NoError(t, db.AuditAccountAction(ctx, siobhan, zoe.PersonID, "helpdesk_password_reset", "Called in, ticket 2",
		[]portal.SystemResult{{System: "Demo AD"}, {System: "Demo Entra", Err: gone}}))

	events, err := db.PasswordEvents(ctx, zoe.PersonID)
	require.NoError(t, err)
	require.Len(t, events, 2)
	reset := events[0]
	require.Equal(t, "helpdesk_password_reset", reset.Action, "newest first")
	require.Equal(t, "Called in, ticket 2", reset.Reason)
	require.NotEmpty(t, reset.Actor)
	require.Len(t, reset.Systems, 2)
	require.True(t, reset.Systems[0].OK)
	require.False(t, reset.Systems[1].OK)
	require.Equal(t, "Demo Entra: setting the password could not be done: the account is not there any more (it may have been deleted there).",
		reset.Systems[1].Error.String())
	require.Contains(t, i18n.For("de").Text(reset.Systems[1].Error), "Das Konto gibt es dort nicht mehr", "written in the reader's language")

	// The index serves the query: its predicate names the same actions.
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+postgres.PasswordEventsSQL, zoe.PersonID)
		if err != nil {
			return err
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.Contains(t, strings.Join(plan, "\n"), "audit_log_password_events")
		return err
	}))
}
