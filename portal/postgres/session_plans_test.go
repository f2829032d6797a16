package postgres_test

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// TestSessionRolesByRoleGroup: every request reads its session with the
// person's roles, and those are looked for in the groups that grant a
// role (role_groups: one a role), not through every group the person is
// a member of: a person in 300 groups costs what a person in one does.
// (Through the person's memberships, a session's reading grew by some
// two buffers with each group joined: 14.6 to 76.3 buffers a call over
// the 39 slices of BenchmarkRequestPipelineTwoWebTwoWorker, whose 1,000
// people join each slice's group.)
func TestSessionRolesByRoleGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	person := org.Accounts[1].PersonID
	_, err := db.Pool.Exec(ctx, `WITH g AS (INSERT INTO groups (name, display_name, group_type, join_policy)
			SELECT 'many ' || i, 'many ' || i, 'security', 'open' FROM generate_series(1, 300) i RETURNING id)
		INSERT INTO group_members (group_id, person_id) SELECT id, $1 FROM g`, person)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "ANALYZE group_members, role_groups")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "SELECT grant_role($1, 'admin')", person)
	require.NoError(t, err)
	raw, err := db.CreateSession(ctx, person, "local", "")
	require.NoError(t, err)
	for _, badge := range []bool{false, true} {
		sess, err := db.FindSession(ctx, raw, badge)
		require.NoError(t, err)
		require.Equal(t, []portal.Role{portal.RoleAdmin}, sess.Viewer.Roles)
	}
	var token []byte
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT token_hash FROM sessions WHERE person_id = $1", person).Scan(&token))
	for _, q := range []string{postgres.FindSessionSQL, postgres.FindSessionBadgeSQL} {
		for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
			p := preparedPlan(t, db.Pool, mode, "ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF", q, `'\x`+hex.EncodeToString(token)+`'`)
			require.NotContains(t, p, "group_members_person", p)
			require.Regexp(t, `Scan using group_members_pkey on group_members m[^\n]*\n\s+Index Cond: \(\(group_id = rg\.group_id\) AND \(person_id = s\.person_id\)\)`, p)
		}
	}
}
