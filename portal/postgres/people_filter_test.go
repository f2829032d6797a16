package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestSearchAttributeFilters: the white pages filter people by core and
// extra attributes of every type, with or without search words; a viewer
// filters only by attributes they may see of everyone, and an attribute
// they may not see is refused exactly as one that does not exist.
func TestSearchAttributeFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	admin := demoViewer(t, org, "ada")
	helpdesk := demoViewer(t, org, "siobhan")
	user := demoViewer(t, org, "zoe")

	for _, a := range []portal.Attribute{
		{Name: "skills", Label: "Skills", Type: portal.TypeStrings},
		{Name: "clearance", Label: "Clearance", Type: portal.TypeInt, Visibility: portal.VisibleToHelpdesk},
		{Name: "buddy", Label: "Buddy", Type: portal.TypeReference, Visibility: portal.VisibleToSelf},
		{Name: "vetted", Label: "Vetted on", Type: portal.TypeDate, Visibility: portal.VisibleToAdmins},
		{Name: "remote", Label: "Remote", Type: portal.TypeBool},
	} {
		require.NoError(t, db.AddAttribute(ctx, admin, a))
	}
	p1, p2, p3 := org.People[10], org.People[11], org.People[12]
	set := func(id, extra string) {
		t.Helper()
		_, err := db.Pool.Exec(ctx, `UPDATE people SET extra = extra || $2::jsonb WHERE id = $1`, id, extra)
		require.NoError(t, err)
	}
	set(p1.ID, `{"skills": "Go\nRust", "clearance": "4", "buddy": "`+p3.ID+`", "vetted": "2026-03-01", "remote": "true"}`)
	set(p2.ID, `{"skills": "go", "clearance": "2", "remote": "false"}`)
	set(p3.ID, `{"skills": "Rustacean"}`)

	search := func(v portal.Viewer, q string, fs ...portal.AttributeFilter) ([]string, error) {
		t.Helper()
		res, err := db.SearchPeople(ctx, portal.PersonFilter{Query: q, Filters: fs, Viewer: v, Limit: 100})
		var ids []string
		for _, p := range res.Items {
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		return ids, err
	}
	ids := func(ps ...string) []string { slices.Sort(ps); return ps }
	f := func(name, value string) portal.AttributeFilter {
		return portal.AttributeFilter{Name: name, Value: value}
	}

	// One value of several, without regard to case; and with a second
	// filter or search words.
	got, err := search(user, "", f("skills", "GO"))
	require.NoError(t, err)
	require.Equal(t, ids(p1.ID, p2.ID), got)
	got, err = search(user, "", f("skills", "go"), f("skills", "rust"))
	require.NoError(t, err)
	require.Equal(t, ids(p1.ID), got, "a value is matched whole: Rustacean is not rust")
	got, err = search(user, p2.DisplayName, f("skills", "go"))
	require.NoError(t, err)
	require.Equal(t, ids(p2.ID), got)
	got, err = search(user, "", f("remote", "yes"))
	require.NoError(t, err)
	require.Equal(t, ids(p1.ID), got)

	// Core attributes: department, manager (a person's ID), account status.
	var want []string
	for _, p := range org.People {
		if p.Department == p1.Department && p.ManagerID == p1.ManagerID {
			want = append(want, p.ID)
		}
	}
	got, err = search(user, "", f("department", p1.Department), f("managerId", p1.ManagerID))
	require.NoError(t, err)
	require.Equal(t, ids(want...), got)

	// Each viewer filters only by what they may see of everyone; the
	// refusal reads as for an attribute that does not exist.
	_, unknown := search(user, "", f("nosuch", "1"))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(unknown))
	for _, c := range []struct {
		v       portal.Viewer
		f       portal.AttributeFilter
		allowed bool
	}{
		{user, f("clearance", "4"), false},
		{user, f("buddy", p3.ID), false},
		{user, f("enabled", "true"), false},
		{user, f("employeeId", p1.EmployeeID), false},
		{user, f("vetted", "2026-03-01"), false},
		{helpdesk, f("clearance", "4"), true},
		{helpdesk, f("buddy", p3.ID), true},
		{helpdesk, f("employeeId", p1.EmployeeID), true},
		{helpdesk, f("vetted", "2026-03-01"), false},
		{admin, f("vetted", "2026-03-01"), true},
	} {
		got, err := search(c.v, "", c.f)
		if !c.allowed {
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", c.f)
			require.Equal(t, strings.Replace(portal.ErrorMessage(unknown), "nosuch", c.f.Name, 1), portal.ErrorMessage(err), "%v", c.f)
			continue
		}
		require.NoError(t, err, "%v", c.f)
		require.Equal(t, ids(p1.ID), got, "%v", c.f)
	}

	// Values are checked by type; disabled people are found by status.
	_, err = search(helpdesk, "", f("clearance", "four"))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	_, err = db.Pool.Exec(ctx, `UPDATE people SET account_enabled = false WHERE id = $1`, p2.ID)
	require.NoError(t, err)
	var disabled []string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT array_agg(id::text) FROM people WHERE NOT account_enabled`).Scan(&disabled))
	got, err = search(helpdesk, "", f("enabled", "no"))
	require.NoError(t, err)
	require.Contains(t, got, p2.ID)
	require.Equal(t, ids(disabled...), got)
	res, err := db.SearchPeople(ctx, portal.PersonFilter{Filters: []portal.AttributeFilter{f("skills", "rust")}, Viewer: user})
	require.NoError(t, err)
	require.Equal(t, "Go\nRust", res.Items[0].Extra["skills"], "the values of the attributes filtered by come along")
}
