package hr_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// A pre-hire is created disabled and enabled when their start date
// begins in the organisation's time zone; an end date disables at the end
// of the last day; a rehire brings the same person back. The clock is
// injected; the timers River would run are run by the test.
func TestHRDatesPreHireEndDateRehire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newHRWorld(t)
	pool, svc, admin := w.pool, w.svc, w.admin
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, paris)
	type timer struct {
		anchor string
		at     time.Time
	}
	var mu sync.Mutex
	var timers []timer
	svc.Now = func() time.Time { return now }
	svc.Schedule = func(ctx context.Context, tx pgx.Tx, systemID, anchor string, at time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		timers = append(timers, timer{anchor, at})
		return nil
	}
	type mail struct {
		id int64
		to string
	}
	var mails []mail
	svc.Notify = func(ctx context.Context, tx pgx.Tx, id int64, to string) error {
		mails = append(mails, mail{id, to})
		return nil
	}
	id, err := svc.CreateSource(ctx, admin, "HR dates", hr.Settings{Columns: hr.DefaultColumns(), TimeZone: "Europe/Paris", PrehireDays: 7})
	require.NoError(t, err)
	apply := func(file string) *hr.Upload {
		t.Helper()
		u, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "cli", Content: []byte(file), Apply: true})
		require.NoError(t, err)
		require.Len(t, w.queued, 1, u.Message)
		require.NoError(t, svc.ApplyHRUpload(ctx, w.queued[0]))
		w.queued = nil
		return u
	}
	enabled := func(emp string) (string, bool) {
		t.Helper()
		var pid string
		var on bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT id, account_enabled FROM people WHERE employee_id = $1", emp).Scan(&pid, &on))
		return pid, on
	}
	// runTimers runs the timers that are due at now, as River would.
	runTimers := func() {
		t.Helper()
		mu.Lock()
		due, later := []timer{}, []timer{}
		for _, tm := range timers {
			if !tm.at.After(now) {
				due = append(due, tm)
			} else {
				later = append(later, tm)
			}
		}
		timers = later
		mu.Unlock()
		for _, tm := range due {
			require.NoError(t, svc.HRDateDue(ctx, id, tm.anchor))
		}
	}
	const header = "EmployeeID,FirstName,LastName,StartDate,EndDate\n"
	apply(header + "P1,Pia,Prehire,2026-03-12,\nP2,Lou,Leaving,2020-01-01,2026-03-10\nP3,Sam,Staying,,\nP4,Far,Future,2026-05-01,\n")
	_, on := enabled("P1")
	require.False(t, on, "a pre-hire is created disabled")
	p2, on := enabled("P2")
	require.True(t, on, "the last day is a working day")
	var p4 int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id = 'P4'").Scan(&p4))
	require.Zero(t, p4, "a joiner further ahead than the pre-hire days waits")
	require.ElementsMatch(t, []timer{
		{"P1", time.Date(2026, 3, 12, 0, 0, 0, 0, paris)},
		{"P2", time.Date(2026, 3, 11, 0, 0, 0, 0, paris)},
	}, timers)
	// Lou is in a group people gave her; Sam manages her.
	p3, _ := enabled("P3")
	var handbook string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ('handbook', 'Handbook editors', 'security', 'owner_approval') RETURNING id`).Scan(&handbook))
	_, err = pool.Exec(ctx, `INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)`, handbook, p2)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE people SET manager_id = $1 WHERE id = $2", p3, p2)
	require.NoError(t, err)
	groupsOf := func(pid string) (names []string) {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.person_id = $1
			ORDER BY g.name`, pid)
		require.NoError(t, err)
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return names
	}

	now = time.Date(2026, 3, 10, 23, 59, 59, 0, paris)
	runTimers()
	_, on = enabled("P2")
	require.True(t, on, "still the last day in Paris")
	now = time.Date(2026, 3, 11, 0, 0, 0, 0, paris)
	runTimers()
	_, on = enabled("P2")
	require.False(t, on, "disabled at the end of the last day")
	require.Empty(t, groupsOf(p2), "a leaver loses the groups people gave her")
	_, on = enabled("P1")
	require.False(t, on)
	now = time.Date(2026, 3, 12, 0, 0, 0, 0, paris)
	runTimers()
	_, on = enabled("P1")
	require.True(t, on, "enabled when the start date begins")

	// Rehired: the same employee ID comes back without an end date.
	now = time.Date(2026, 4, 1, 9, 0, 0, 0, paris)
	u := apply(header + "P1,Pia,Prehire,2026-03-12,\nP2,Lou,Leaving,2026-04-01,\nP3,Sam,Staying,,\n")
	require.Equal(t, 1, u.Joiners, "a rehire joins again")
	again, on := enabled("P2")
	require.True(t, on)
	require.Equal(t, p2, again, "the same person, not a new one")
	// Her former groups are listed for her manager, not restored.
	require.Empty(t, groupsOf(p2))
	notices, err := svc.TeamNotices(ctx, p3, 10)
	require.NoError(t, err)
	require.Len(t, notices, 1)
	require.Equal(t, portal.TeamNoticeRehired, notices[0].Kind)
	require.Equal(t, p2, notices[0].PersonID)
	require.Len(t, notices[0].Groups, 1)
	require.Equal(t, "Handbook editors", notices[0].Groups[0].DisplayName)
	require.Len(t, mails, 1, "one mail, to her manager")
	require.Equal(t, p3, mails[0].to)
	n, err := svc.TeamNoticeFor(ctx, mails[0].id, p3)
	require.NoError(t, err)
	require.Equal(t, notices[0].ID, n.ID)
	// A pre-hire's first day is not a rehire.
	none, err := svc.TeamNotices(ctx, p2, 10)
	require.NoError(t, err)
	require.Empty(t, none)
	var people int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id LIKE 'P%'").Scan(&people))
	require.Equal(t, 3, people, fmt.Sprint("no duplicate"))
}
