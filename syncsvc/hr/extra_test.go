package hr_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// An attribute an administrator added (Administration → Schema) is
// mapped to an HR column: the HR rule gets its inbound flow, a joiner is
// projected with it, a mover's value changes it (and the dynamic group
// whose rule reads it follows), an empty cell removes it, and a value the
// attribute refuses refuses its row with the line number.
func TestHRExtraAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newHRWorld(t)
	pool, db, engine, svc, admin := w.pool, w.db, w.engine, w.svc, w.admin
	lo, hi := int64(1000), int64(9999)
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "costCenter", Label: "Cost centre", Type: portal.TypeInt,
		Min: &lo, Max: &hi, Visibility: portal.VisibleToEveryone}))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "site", Label: "Site", Type: portal.TypeString,
		MaxLen: 20, Visibility: portal.VisibleToEveryone}))

	cols := hr.DefaultColumns()
	cols["costCenter"], cols["site"] = "CostCentre", "Site"
	cols["nonsense"] = "Nonsense"
	_, err := svc.CreateSource(ctx, admin, "HR extras", hr.Settings{Columns: cols})
	require.Error(t, err, "a column maps only to a field or an attribute an inbound flow can set")
	delete(cols, "nonsense")
	id, err := svc.CreateSource(ctx, admin, "HR extras", hr.Settings{Columns: cols})
	require.NoError(t, err)
	rules, err := engine.SyncRules(ctx, id)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.Contains(t, rules[0].Inbound, syncsvc.InboundFlow{MV: "costCenter", Expr: "cs.costCenter", Precedence: 10})
	require.Contains(t, rules[0].Inbound, syncsvc.InboundFlow{MV: "site", Expr: "cs.site", Precedence: 10})

	// A dynamic group whose rule reads the new attribute, type-checked as
	// a whole number.
	var group string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ('cc4200', 'Cost centre 4200', 'security', 'closed') RETURNING id`).Scan(&group))
	require.Error(t, db.SaveDynamicRule(ctx, admin, group, `person.costCenter == "4200"`), "a whole number is not text")
	require.NoError(t, db.SaveDynamicRule(ctx, admin, group, `person.costCenter == 4200`))

	apply := func(file string) *hr.Upload {
		t.Helper()
		u, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "cli", Content: []byte(file), Apply: true})
		require.NoError(t, err)
		require.Len(t, w.queued, 1, u.Message)
		require.NoError(t, svc.ApplyHRUpload(ctx, w.queued[0]))
		w.queued = nil
		u, err = svc.Upload(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, hr.StatusApplied, u.Status, u.Message)
		return u
	}
	extra := func(emp string) map[string]string {
		t.Helper()
		var m map[string]string
		require.NoError(t, pool.QueryRow(ctx, "SELECT extra FROM people WHERE employee_id = $1", emp).Scan(&m))
		return m
	}
	members := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT p.employee_id FROM group_members m JOIN people p ON p.id = m.person_id
			WHERE m.group_id = $1 ORDER BY 1`, group)
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return ids
	}

	const header = "EmployeeID,FirstName,LastName,CostCentre,Site\n"
	u := apply(header + "X1,Ann,Extra,4200,Lyon\nX2,Bob,Extra,4300,\nX3,Cid,Extra,12,Oslo\nX4,Dee,Extra,forty,Oslo\n")
	require.Equal(t, 2, u.Joiners)
	require.Len(t, u.Refusals, 2)
	require.Equal(t, 4, u.Refusals[0].Line)
	require.Contains(t, u.Refusals[0].Reason, "Cost centre must be")
	require.Equal(t, 5, u.Refusals[1].Line)
	require.Contains(t, u.Refusals[1].Reason, "Cost centre takes a whole number")
	require.Equal(t, map[string]string{"costCenter": "4200", "site": "Lyon"}, extra("X1"))
	require.Equal(t, map[string]string{"costCenter": "4300"}, extra("X2"))
	require.Equal(t, []string{"X1"}, members())

	// Movers: Ann changes cost centre and leaves her site blank; Bob
	// moves into 4200.
	u = apply(header + "X1,Ann,Extra,4300,\nX2,Bob,Extra, 4200 ,Paris\n")
	require.Equal(t, 2, u.Movers)
	require.Equal(t, map[string]string{"costCenter": "4300"}, extra("X1"))
	require.Equal(t, map[string]string{"costCenter": "4200", "site": "Paris"}, extra("X2"))
	require.Equal(t, []string{"X2"}, members())
	var audited int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'sync_inbound'
		AND details->'changes'->'costCenter'->>'new' = '4200' AND details->'changes'->'costCenter'->>'old' = '4300'`).Scan(&audited))
	require.Equal(t, 1, audited, "Bob's change is audited with the value it replaced")

	// Two files received before either is applied: the second is
	// compared again when it is applied, with the space as the first left
	// it, not as its preview saw it.
	receive := func(file string) int64 {
		t.Helper()
		u, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "cli", Content: []byte(file), Apply: true})
		require.NoError(t, err)
		return u.ID
	}
	first := receive(header + "X1,Ann,Extra,4300,Rome\nX2,Bob,Extra,4200,Paris\n")
	second := receive(header + "X1,Ann,Extra,4300,\nX2,Bob,Extra,4200,Paris\n") // Ann's site as it was
	require.Equal(t, []int64{first, second}, w.queued)
	w.queued = nil
	require.NoError(t, svc.ApplyHRUpload(ctx, first))
	require.Equal(t, map[string]string{"costCenter": "4300", "site": "Rome"}, extra("X1"))
	require.NoError(t, svc.ApplyHRUpload(ctx, second))
	u, err = svc.Upload(ctx, second)
	require.NoError(t, err)
	require.Equal(t, hr.StatusApplied, u.Status, u.Message)
	require.Equal(t, 1, u.Movers, "compared again: Ann moved back")
	require.Equal(t, map[string]string{"costCenter": "4300"}, extra("X1"))
}
