package hr_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// A file previewed, then applied after the schema narrowed and a joiner's
// account name was taken by hand: its application does not take the
// preview's staging as it is. The row the schema now refuses is refused
// with its line and reason and reaches neither the connector space nor
// the people; the joiner whose name was taken gets the next free one; the
// person made by hand keeps theirs. A file applied with nothing changed in
// between still applies as it was previewed.
func TestHRPreviewRecheckedOnApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newHRWorld(t)
	pool, db, svc, admin := w.pool, w.db, w.svc, w.admin
	site := portal.Attribute{Name: "site", Label: "Site", Type: portal.TypeString, MaxLen: 20, Visibility: portal.VisibleToEveryone}
	require.NoError(t, db.AddAttribute(ctx, admin, site))
	cols := hr.DefaultColumns()
	cols["site"] = "Site"
	id, err := svc.CreateSource(ctx, admin, "HR recheck", hr.Settings{Columns: cols})
	require.NoError(t, err)
	const header = "EmployeeID,FirstName,LastName,Site\n"
	preview := func(file string) *hr.Upload {
		t.Helper()
		u, err := svc.Receive(ctx, admin, hr.Incoming{SystemID: id, Source: "upload", Content: []byte(file)})
		require.NoError(t, err)
		require.Equal(t, hr.StatusPreviewed, u.Status, u.Message)
		return u
	}
	apply := func(u *hr.Upload) *hr.Upload {
		t.Helper()
		require.NoError(t, svc.Confirm(ctx, admin, u.ID))
		require.Equal(t, []int64{u.ID}, w.queued)
		w.queued = nil
		require.NoError(t, svc.ApplyHRUpload(ctx, u.ID))
		u, err := svc.Upload(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, hr.StatusApplied, u.Status, u.Message)
		return u
	}
	account := func(emp string) string {
		t.Helper()
		var name string
		require.NoError(t, pool.QueryRow(ctx, "SELECT account_name FROM people WHERE employee_id = $1", emp).Scan(&name))
		return name
	}

	u := apply(preview(header + "R1,Rita,Early,Lyon\n"))
	require.Equal(t, 1, u.Joiners)
	require.Equal(t, "rita.early", account("R1"))

	u = preview(header + "R1,Rita,Early,Lyon\nR2,Sam,Long,Villeurbanne Centre\nR3,Jo,Taken,Oslo\n")
	require.Equal(t, 2, u.Joiners)
	require.Empty(t, u.Refusals)
	// Meanwhile: Site takes 10 characters now, and someone makes
	// jo.taken by hand.
	site.MaxLen = 10
	require.NoError(t, db.UpdateAttribute(ctx, admin, site))
	var byHand string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name) VALUES ('jo.taken', 'Jo By Hand')
		RETURNING id`).Scan(&byHand))

	u = apply(u)
	require.Equal(t, 1, u.Joiners, "checked again: Sam's row is refused")
	require.Len(t, u.Refusals, 1)
	require.Equal(t, 3, u.Refusals[0].Line)
	require.Contains(t, u.Refusals[0].Reason, "Site")
	var objects, people int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM cs_objects WHERE system_id = $1 AND anchor = 'R2'", id).Scan(&objects))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id = 'R2'").Scan(&people))
	require.Zero(t, objects, "Sam's refused row is not imported")
	require.Zero(t, people)
	require.Equal(t, "jo.taken2", account("R3"), "the name taken meanwhile is not given twice")
	var joinError string
	require.NoError(t, pool.QueryRow(ctx, "SELECT join_error FROM cs_objects WHERE system_id = $1 AND anchor = 'R3'", id).Scan(&joinError))
	require.Empty(t, joinError)
	var handName string
	require.NoError(t, pool.QueryRow(ctx, "SELECT account_name FROM people WHERE id = $1", byHand).Scan(&handName))
	require.Equal(t, "jo.taken", handName)

	// Only a name taken meanwhile, the schema as it was.
	u = preview(header + "R1,Rita,Early,Lyon\nR3,Jo,Taken,Oslo\nR5,Al,Free,Oslo\n")
	_, err = pool.Exec(ctx, "INSERT INTO people (account_name, display_name) VALUES ('al.free', 'Al By Hand')")
	require.NoError(t, err)
	u = apply(u)
	require.Equal(t, 1, u.Joiners)
	require.Equal(t, "al.free2", account("R5"))

	// Nothing changed between preview and application: it applies as it
	// was previewed.
	u = preview(header + "R1,Rita,Early,Lyon 3e\nR3,Jo,Taken,Oslo\nR4,Ina,Late,Bergen\nR5,Al,Free,Oslo\n")
	u = apply(u)
	require.Equal(t, 1, u.Joiners)
	require.Equal(t, 1, u.Movers)
	require.Empty(t, u.Refusals)
	require.Equal(t, "ina.late", account("R4"))
}
