package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

const noSuchID = "0b9a5e5e-0000-4000-8000-000000000000"

func mustDate(t *testing.T, s string) portal.Date {
	t.Helper()
	d, err := portal.ParseDate(s)
	require.NoError(t, err)
	return d
}

// MustCreateCalendar stores the bank holidays of England and Wales around
// Christmas 2026 (Boxing Day is a Saturday; Monday 28th is its substitute).
func MustCreateCalendar(tb testing.TB, db *postgres.DB) *portal.Calendar {
	tb.Helper()
	london, err := portal.LoadTimeZone("Europe/London")
	require.NoError(tb, err)
	day := func(s string) portal.Date {
		d, err := portal.ParseDate(s)
		require.NoError(tb, err)
		return d
	}
	c, err := db.CreateCalendar(context.Background(), portal.Viewer{}, portal.Calendar{
		Name: "England and Wales", TimeZone: london,
		Holidays: []portal.Holiday{
			{Date: day("2027-01-01"), Name: "New Year's Day"},
			{Date: day("2026-12-28"), Name: "Boxing Day (substitute day)"},
			{Date: day("2026-12-25"), Name: "Christmas Day"},
			{Date: day("2026-12-26"), Name: "Boxing Day"},
		},
	})
	require.NoError(tb, err)
	return c
}

func TestCalendarStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Postgres(t))

	created := MustCreateCalendar(t, db)
	require.NotEmpty(t, created.ID)
	found, err := db.FindCalendar(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, created.ID, found.ID)
	require.Equal(t, "England and Wales", found.Name)
	require.Equal(t, "Europe/London", found.TimeZone.String())
	require.Equal(t, []time.Weekday{time.Sunday, time.Saturday}, found.Weekend)
	require.Equal(t, []portal.Holiday{
		{Date: mustDate(t, "2026-12-25"), Name: "Christmas Day"},
		{Date: mustDate(t, "2026-12-26"), Name: "Boxing Day"},
		{Date: mustDate(t, "2026-12-28"), Name: "Boxing Day (substitute day)"},
		{Date: mustDate(t, "2027-01-01"), Name: "New Year's Day"},
	}, found.Holidays, "holidays come back in date order")
	require.Equal(t, created.Holidays, found.Holidays)

	// The business-day deadline across a weekend and two holidays, counted
	// with the calendar as stored.
	from := time.Date(2026, 12, 24, 10, 0, 0, 0, found.TimeZone)
	require.Equal(t, time.Date(2026, 12, 30, 10, 0, 0, 0, found.TimeZone), found.AddBusinessDays(from, 2))

	// Names are unique in any case.
	_, err = db.CreateCalendar(ctx, portal.Viewer{}, portal.Calendar{Name: "ENGLAND AND WALES", TimeZone: time.UTC})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	_, err = db.CreateCalendar(ctx, portal.Viewer{}, portal.Calendar{Name: "No zone"})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))

	// A calendar with no weekend keeps it empty rather than getting the default.
	riyadh, err := portal.LoadTimeZone("Asia/Riyadh")
	require.NoError(t, err)
	ops, err := db.CreateCalendar(ctx, portal.Viewer{}, portal.Calendar{Name: "Operations", TimeZone: riyadh, Weekend: []time.Weekday{}})
	require.NoError(t, err)
	found, err = db.FindCalendar(ctx, ops.ID)
	require.NoError(t, err)
	require.NotNil(t, found.Weekend)
	require.Empty(t, found.Weekend)
	require.Empty(t, found.Holidays)
	require.True(t, found.IsBusinessDay(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)), "Saturday is a business day")

	// Update changes the settings and leaves the holidays alone.
	update := *ops
	update.Name, update.Weekend, update.Holidays = "Operations (Gulf)", []time.Weekday{time.Saturday, time.Friday}, nil
	updated, err := db.UpdateCalendar(ctx, portal.Viewer{}, update)
	require.NoError(t, err)
	require.Equal(t, "Operations (Gulf)", updated.Name)
	require.Equal(t, []time.Weekday{time.Friday, time.Saturday}, updated.Weekend)
	update = *created
	update.TimeZone, update.Holidays = time.UTC, nil
	updated, err = db.UpdateCalendar(ctx, portal.Viewer{}, update)
	require.NoError(t, err)
	require.Equal(t, "UTC", updated.TimeZone.String())
	require.Len(t, updated.Holidays, 4)

	update.Name = "operations (gulf)"
	_, err = db.UpdateCalendar(ctx, portal.Viewer{}, update)
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "the name is taken")
	update.Name = "England and Wales"
	_, err = db.UpdateCalendar(ctx, portal.Viewer{}, update)
	require.NoError(t, err, "keeping its own name is no conflict")
	update.Weekend = []time.Weekday{0, 1, 2, 3, 4, 5, 6}
	_, err = db.UpdateCalendar(ctx, portal.Viewer{}, update)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	for _, id := range []string{noSuchID, "not-a-uuid", ""} {
		_, err = db.UpdateCalendar(ctx, portal.Viewer{}, portal.Calendar{ID: id, Name: "X", TimeZone: time.UTC})
		require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err), id)
		_, err = db.FindCalendar(ctx, id)
		require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err), id)
	}

	list, err := db.ListCalendars(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "England and Wales", list[0].Name)
	require.Len(t, list[0].Holidays, 4)
	require.Equal(t, "Operations (Gulf)", list[1].Name)
	require.Empty(t, list[1].Holidays)
}

func TestCalendarHolidays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Postgres(t))
	c := MustCreateCalendar(t, db)

	easter := portal.Holiday{Date: mustDate(t, "2027-03-26"), Name: " Good Friday "}
	require.NoError(t, db.AddHoliday(ctx, portal.Viewer{}, c.ID, easter))
	err := db.AddHoliday(ctx, portal.Viewer{}, c.ID, portal.Holiday{Date: easter.Date, Name: "again"})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	err = db.AddHoliday(ctx, portal.Viewer{}, c.ID, portal.Holiday{Date: portal.Date{Year: 2027, Month: 2, Day: 29}})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	err = db.AddHoliday(ctx, portal.Viewer{}, noSuchID, easter)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))

	found, err := db.FindCalendar(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, found.Holidays, 5)
	require.Equal(t, portal.Holiday{Date: easter.Date, Name: "Good Friday"}, found.Holidays[4])
	// Thursday before Good Friday plus one business day is Easter Monday.
	from := time.Date(2027, 3, 25, 16, 0, 0, 0, found.TimeZone)
	require.Equal(t, time.Date(2027, 3, 29, 16, 0, 0, 0, found.TimeZone), found.AddBusinessDays(from, 1))

	require.NoError(t, db.RemoveHoliday(ctx, portal.Viewer{}, c.ID, mustDate(t, "2026-12-28")))
	err = db.RemoveHoliday(ctx, portal.Viewer{}, c.ID, mustDate(t, "2026-12-28"))
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	err = db.RemoveHoliday(ctx, portal.Viewer{}, "not-a-uuid", easter.Date)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	found, err = db.FindCalendar(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, found.Holidays, 4)
	from = time.Date(2026, 12, 24, 10, 0, 0, 0, found.TimeZone)
	require.Equal(t, time.Date(2026, 12, 29, 10, 0, 0, 0, found.TimeZone), found.AddBusinessDays(from, 2),
		"without the substitute day, Monday counts")

	// Every change is in the audit log, and the log verifies.
	var actions []string
	rows, err := db.Pool.Query(ctx, "SELECT action FROM audit_log WHERE target_type = 'calendar' ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"calendar_create", "holiday_add", "holiday_remove"}, actions)
	r, err := db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
}
