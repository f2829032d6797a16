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

	// Whole numbers and dates by ranges too, over the attribute's own
	// index, alone or with values and words; an end may be left out.
	set(p2.ID, `{"vetted": "2025-12-31"}`)
	set(p3.ID, `{"clearance": "-3", "vetted": "2026-03-02"}`)
	for _, c := range []struct {
		v    portal.Viewer
		f    portal.AttributeFilter
		want []string
	}{
		{helpdesk, f("clearance", "2..4"), ids(p1.ID, p2.ID)},
		{helpdesk, f("clearance", "3.."), ids(p1.ID)},
		{helpdesk, f("clearance", "..2"), ids(p2.ID, p3.ID)},
		{helpdesk, f("clearance", ">2"), ids(p1.ID)},
		{helpdesk, f("clearance", "<2"), ids(p3.ID)},
		{helpdesk, f("clearance", ">=-3"), ids(p1.ID, p2.ID, p3.ID)},
		{helpdesk, f("clearance", " 100 .. 200 "), nil},
		{admin, f("vetted", "2026-01-01.."), ids(p1.ID, p3.ID)},
		{admin, f("vetted", "<=2026-03-01"), ids(p1.ID, p2.ID)},
		{admin, f("vetted", ">2026-03-01"), ids(p3.ID)},
		{admin, f("vetted", "2026-03-01"), ids(p1.ID)},
	} {
		got, err := search(c.v, "", c.f)
		require.NoError(t, err, "%v", c.f)
		require.Equal(t, c.want, got, "%v", c.f)
	}
	got, err = search(admin, "", f("clearance", "1.."), f("vetted", "..2026-03-01"), f("remote", "no"))
	require.NoError(t, err)
	require.Equal(t, ids(p2.ID), got, "ranges and values together")
	got, err = search(admin, p3.DisplayName, f("clearance", "..0"))
	require.NoError(t, err)
	require.Equal(t, ids(p3.ID), got, "a range with search words")
	for _, bad := range []string{"4..2", "..", "a..3", ">", "<=x"} {
		_, err = search(helpdesk, "", f("clearance", bad))
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), bad)
	}
	_, err = search(admin, "", f("vetted", "2026-04-01..2026-03-01"))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	_, err = search(user, "", f("clearance", "1.."))
	require.Equal(t, portal.ErrorMessage(unknown), strings.Replace(portal.ErrorMessage(err), "clearance", "nosuch", 1),
		"a range of an attribute one may not see is refused as an unknown one")
	// The index follows the definition: made with it, dropped with it.
	rangeIndex := func(name string) bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname = $1`, "people_range_"+name).Scan(&n))
		return n == 1
	}
	require.True(t, rangeIndex("clearance"))
	require.True(t, rangeIndex("vetted"))
	require.False(t, rangeIndex("skills"))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "deskNumber", Label: "Desk", Type: portal.TypeInt}))
	require.True(t, rangeIndex("deskNumber"))
	require.NoError(t, db.UpdateAttribute(ctx, admin, portal.Attribute{Name: "deskNumber", Label: "Desk", Type: portal.TypeString}))
	require.False(t, rangeIndex("deskNumber"), "retyped to text")
	require.NoError(t, db.UpdateAttribute(ctx, admin, portal.Attribute{Name: "deskNumber", Label: "Desk", Type: portal.TypeDate}))
	require.True(t, rangeIndex("deskNumber"), "retyped to a date")
	require.NoError(t, db.RemoveAttribute(ctx, admin, "deskNumber"))
	require.False(t, rangeIndex("deskNumber"))

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
