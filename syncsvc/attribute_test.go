package syncsvc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/rule"
)

// Join rules, inbound flows and DN templates accept the person attributes
// the attribute table says they may: join on a text column, flow into a
// text column that does not identify the person.
func TestSyncRulesReadAttributeTable(t *testing.T) {
	t.Parallel()
	schema := portal.NewSchema(demo.Attributes)
	env, err := rule.NewEnv(schema)
	require.NoError(t, err)
	var joinable, inbound, placeholders []string
	for _, a := range schema.All() {
		r := SyncRule{Class: ObjectUser, JoinRules: []JoinRule{{CS: "employeeID", MV: a.Name}}}
		if _, err := r.compile(env); err == nil {
			joinable = append(joinable, a.Name)
		}
		r = SyncRule{Class: ObjectUser, Inbound: []InboundFlow{{MV: a.Name, Expr: "cs.title", Precedence: 1}}}
		if _, err := r.compile(env); err == nil {
			inbound = append(inbound, a.Name)
		}
		r = SyncRule{Class: ObjectUser, DNTemplate: fmt.Sprintf("CN={%s},OU=People,DC=x", a.Name)}
		if _, err := r.compile(env); err == nil {
			placeholders = append(placeholders, a.Name)
		}
	}
	require.Equal(t, []string{"accountName", "employeeId", "givenName", "surname", "displayName", "email", "title",
		"department", "office", "phone", "mobile"}, joinable)
	// A reference (resolved through the connector space), the account
	// status (an HR source enables and disables people) and the extra
	// attributes administrators added flow in too.
	require.Equal(t, []string{"givenName", "surname", "displayName", "email", "title", "department", "office", "phone",
		"mobile", "managerId", "enabled", "pronouns", "startDate", "costCenter"}, inbound)
	require.Equal(t, []string{"accountName", "employeeId", "givenName", "surname", "displayName", "email", "title",
		"department", "office", "phone", "mobile", "managerId", "pronouns", "costCenter"}, placeholders)
}

// The engine reads every core attribute from its column, and the columns
// its flows and joins write and search are the people table's.
func TestMetaverseReadsAttributeColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Postgres(t)
	for _, a := range portal.CoreSchema().All() {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'people' AND column_name = $1`, a.Column).Scan(&n))
		require.Equal(t, 1, n, "%s: people.%s", a.Name, a.Column)
	}
	var manager string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name) VALUES ('boss', 'Boss') RETURNING id`).Scan(&manager))
	want := portal.Person{Privileged: true, ManagerID: manager, Enabled: false, Extra: map[string]string{"pronouns": "she/her"}}
	cols, args := []string{"extra"}, []any{`{"pronouns": "she/her"}`}
	for _, a := range portal.CoreSchema().All() {
		switch a.Type {
		case portal.TypeString:
			a.SetText(&want, "v-"+a.Name)
		case portal.TypeBool:
		default:
			continue
		}
		cols, args = append(cols, pgx.Identifier{a.Column}.Sanitize()), append(args, a.Field(&want))
	}
	cols, args = append(cols, "manager_id"), append(args, manager)
	ph := ""
	for i := range args {
		ph += fmt.Sprintf(", $%d", i+1)
	}
	require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf("INSERT INTO people (%s) VALUES (%s) RETURNING id",
		strings.Join(cols, ", "), ph[2:]), args...).Scan(&want.ID))
	got, err := scanMVPerson(pool.QueryRow(ctx, personSelect+" WHERE p.id = $1", want.ID))
	require.NoError(t, err)
	require.Equal(t, want, *got)
}
