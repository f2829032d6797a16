package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
)

// The first administrator of an empty tenant comes from the command line:
// a request by Tessera adds them to the administrators' group.
func TestAdminGrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	pool := harness.Pool(t, url)
	var id string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name, email)
		VALUES ('first', 'First Admin', 'first@example.test') RETURNING id`).Scan(&id))
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Main(ctx, args, env("DATABASE_URL", url), &out)
		return out.String(), err
	}
	_, err := run("admin", "grant")
	require.ErrorContains(t, err, "tessera admin grant ACCOUNT")
	_, err = run("admin", "grant", "nobody")
	require.ErrorContains(t, err, "No one has the account name")

	out, err := run("admin", "grant", "FIRST@example.test")
	require.NoError(t, err)
	require.Contains(t, out, "Administrator: Add First Admin to Tessera administrators")
	out, err = run("admin", "grant", "first", "--role", "helpdesk")
	require.NoError(t, err)
	require.Contains(t, out, "Helpdesk: Add First Admin to Tessera helpdesk")
	var roles []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_agg(role ORDER BY role) FROM person_roles WHERE person_id = $1`, id).Scan(&roles))
	require.Equal(t, []string{"admin", "helpdesk"}, roles)
	var requester *string
	var audited int
	require.NoError(t, pool.QueryRow(ctx, `SELECT requester_id::text, (SELECT count(*) FROM audit_log WHERE target_id = r.id::text)
		FROM requests r WHERE person_id = $1 LIMIT 1`, id).Scan(&requester, &audited))
	require.Nil(t, requester, "Tessera itself asked")
	require.Positive(t, audited)

	_, err = run("admin", "grant", "first")
	require.ErrorContains(t, err, "already a member")
}
