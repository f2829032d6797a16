package portal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := portal.LoadTimeZone(name)
	require.NoError(t, err)
	return loc
}

func date(s string) portal.Date {
	d, err := portal.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// englandAndWales is the bank holidays of England and Wales around
// Christmas 2026: Boxing Day falls on a Saturday, so Monday 28 December is
// the substitute day.
func englandAndWales(t *testing.T) *portal.Calendar {
	return &portal.Calendar{Name: "England and Wales", TimeZone: mustZone(t, "Europe/London"), Holidays: []portal.Holiday{
		{Date: date("2026-12-25"), Name: "Christmas Day"},
		{Date: date("2026-12-26"), Name: "Boxing Day"},
		{Date: date("2026-12-28"), Name: "Boxing Day (substitute day)"},
		{Date: date("2027-01-01"), Name: "New Year's Day"},
	}}
}

func TestCalendarAddBusinessDays(t *testing.T) {
	t.Parallel()
	london := mustZone(t, "Europe/London")
	uk := englandAndWales(t)
	// Boxing Day on a Saturday, and no substitute day: it moves nothing.
	weekendHoliday := &portal.Calendar{Name: "Boxing Day only", TimeZone: london,
		Holidays: []portal.Holiday{{Date: date("2026-12-26")}}}
	// Sunday is a business day here, so the clock changes fall on one.
	sundays := &portal.Calendar{Name: "Sunday to Thursday in London", TimeZone: london,
		Weekend: []time.Weekday{time.Friday, time.Saturday}}
	riyadh := mustZone(t, "Asia/Riyadh")
	saudi := &portal.Calendar{Name: "Riyadh", TimeZone: riyadh, Weekend: []time.Weekday{time.Friday, time.Saturday}}
	auckland := mustZone(t, "Pacific/Auckland")
	nz := &portal.Calendar{Name: "Auckland", TimeZone: auckland}

	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		require.NoError(t, err)
		return tm
	}
	for _, tc := range []struct {
		name string
		cal  *portal.Calendar
		from time.Time
		n    int
		want time.Time
	}{
		{"Friday plus one is Monday", uk, at(london, "2026-11-27 14:30"), 1, at(london, "2026-11-30 14:30")},
		{"Monday plus five is next Monday", uk, at(london, "2026-11-23 09:00"), 5, at(london, "2026-11-30 09:00")},
		{"across a weekend and two holidays", uk, at(london, "2026-12-24 10:00"), 2, at(london, "2026-12-30 10:00")},
		{"Christmas Eve plus one", uk, at(london, "2026-12-24 10:00"), 1, at(london, "2026-12-29 10:00")},
		{"into the new year past New Year's Day", uk, at(london, "2026-12-31 17:00"), 1, at(london, "2027-01-04 17:00")},
		{"holiday on a weekend moves nothing", weekendHoliday, at(london, "2026-12-25 10:00"), 1, at(london, "2026-12-28 10:00")},
		{"from a Saturday: Monday counts from its start", uk, at(london, "2026-11-28 14:30"), 1, at(london, "2026-12-01 00:00")},
		{"from late on a Sunday", uk, at(london, "2026-11-29 23:59"), 2, at(london, "2026-12-02 00:00")},
		{"from a holiday", uk, at(london, "2026-12-25 10:00"), 1, at(london, "2026-12-30 00:00")},
		{"clocks go forward over the weekend", uk, at(london, "2026-03-27 09:00"), 1, at(london, "2026-03-30 09:00")},
		{"clocks go back over the weekend", uk, at(london, "2026-10-23 09:00"), 1, at(london, "2026-10-26 09:00")},
		{"due in the hour the clocks skip", sundays, at(london, "2026-03-26 01:30"), 1, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"due in the hour the clocks repeat", sundays, at(london, "2026-10-22 01:30"), 1, time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)},
		{"Friday and Saturday weekend", saudi, at(riyadh, "2026-11-26 10:00"), 1, at(riyadh, "2026-11-29 10:00")},
		{"counted in the calendar's zone: Friday in UTC is Saturday in Auckland", nz,
			time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC), 1, at(auckland, "2026-12-01 00:00")},
		{"no time zone counts in UTC", &portal.Calendar{}, time.Date(2026, 11, 27, 23, 0, 0, 0, london), 1,
			time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)},
		{"n below 1 counts one day", uk, at(london, "2026-11-27 14:30"), 0, at(london, "2026-11-30 14:30")},
		{"n above 365 counts 365 days", uk, at(london, "2026-11-27 14:30"), 1000,
			uk.AddBusinessDays(at(london, "2026-11-27 14:30"), 365)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cal.AddBusinessDays(tc.from, tc.n)
			require.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got)
		})
	}

	// The same wall-clock time, so the elapsed time is 71 and 73 hours.
	from := at(london, "2026-03-27 09:00")
	require.Equal(t, 71*time.Hour, uk.AddBusinessDays(from, 1).Sub(from))
	from = at(london, "2026-10-23 09:00")
	require.Equal(t, 73*time.Hour, uk.AddBusinessDays(from, 1).Sub(from))
	require.Equal(t, london, uk.AddBusinessDays(from, 1).Location(), "deadlines are shown in the calendar's zone")
}

func TestCalendarIsBusinessDay(t *testing.T) {
	t.Parallel()
	uk := englandAndWales(t)
	nz := &portal.Calendar{Name: "Auckland", TimeZone: mustZone(t, "Pacific/Auckland")}
	for _, tc := range []struct {
		cal  *portal.Calendar
		at   time.Time
		want bool
	}{
		{uk, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), true},   // Friday
		{uk, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), false},  // Saturday
		{uk, time.Date(2026, 12, 25, 12, 0, 0, 0, time.UTC), false},  // Christmas Day
		{uk, time.Date(2026, 12, 26, 12, 0, 0, 0, time.UTC), false},  // Boxing Day, a Saturday
		{uk, time.Date(2026, 12, 28, 12, 0, 0, 0, time.UTC), false},  // substitute day
		{uk, time.Date(2026, 12, 29, 12, 0, 0, 0, time.UTC), true},   // Tuesday
		{uk, time.Date(2026, 7, 31, 23, 30, 0, 0, time.UTC), false},  // Friday in UTC, Saturday 00:30 BST
		{nz, time.Date(2026, 11, 27, 10, 59, 0, 0, time.UTC), true},  // Friday 23:59 NZDT
		{nz, time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC), false},  // Saturday 00:00 NZDT
		{nz, time.Date(2026, 11, 29, 10, 59, 0, 0, time.UTC), false}, // Sunday 23:59 NZDT
	} {
		require.Equal(t, tc.want, tc.cal.IsBusinessDay(tc.at), "%s in %s", tc.at, tc.cal.Name)
	}
}

func TestCalendarAddHours(t *testing.T) {
	t.Parallel()
	uk := englandAndWales(t)
	london := uk.TimeZone
	// Hours are elapsed hours: the weekend counts, and the clock change
	// shows 24 hours after Saturday noon as 13:00 on Sunday.
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, london)
	require.Equal(t, time.Date(2026, 3, 29, 13, 0, 0, 0, london), uk.AddHours(from, 24))
	require.Equal(t, from.Add(time.Hour), uk.AddHours(from, 0), "clamped to 1 hour")
	require.Equal(t, from.Add(8760*time.Hour), uk.AddHours(from, 9000), "clamped to a year")
	var none *portal.Calendar
	require.Equal(t, from.Add(2*time.Hour), none.AddHours(from, 2), "no calendar is needed for hours")
}

func TestCalendarValidate(t *testing.T) {
	t.Parallel()
	london := mustZone(t, "Europe/London")
	valid := func() portal.Calendar { return *englandAndWales(t) }
	for _, tc := range []struct {
		name   string
		change func(*portal.Calendar)
		msg    string // part of the message; "" for a valid calendar
	}{
		{"valid", func(*portal.Calendar) {}, ""},
		{"no weekend at all", func(c *portal.Calendar) { c.Weekend = []time.Weekday{} }, ""},
		{"UTC", func(c *portal.Calendar) { c.TimeZone = time.UTC }, ""},
		{"blank name", func(c *portal.Calendar) { c.Name = "  " }, "name"},
		{"long name", func(c *portal.Calendar) { c.Name = strings.Repeat("é", 101) }, "too long"},
		{"no time zone", func(c *portal.Calendar) { c.TimeZone = nil }, "time zone"},
		{"the host's zone", func(c *portal.Calendar) { c.TimeZone = time.Local }, "IANA"},
		{"a zone with no IANA name", func(c *portal.Calendar) { c.TimeZone = time.FixedZone("CET-ish", 3600) }, "not a time zone"},
		{"weekend day twice", func(c *portal.Calendar) { c.Weekend = []time.Weekday{time.Sunday, time.Sunday} }, "twice"},
		{"not a weekday", func(c *portal.Calendar) { c.Weekend = []time.Weekday{9} }, "not a day"},
		{"all week off", func(c *portal.Calendar) {
			c.Weekend = []time.Weekday{0, 1, 2, 3, 4, 5, 6}
		}, "no business days"},
		{"holiday twice", func(c *portal.Calendar) {
			c.Holidays = append(c.Holidays, portal.Holiday{Date: date("2026-12-25"), Name: "Christmas again"})
		}, "2026-12-25 is listed twice"},
		{"no such date", func(c *portal.Calendar) {
			c.Holidays = append(c.Holidays, portal.Holiday{Date: portal.Date{Year: 2026, Month: 2, Day: 30}})
		}, "2026-02-30 is not a date"},
		{"long holiday name", func(c *portal.Calendar) {
			c.Holidays = append(c.Holidays, portal.Holiday{Date: date("2027-04-02"), Name: strings.Repeat("x", 101)})
		}, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Normalize()
			if tc.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
			require.Contains(t, portal.ErrorMessage(err), tc.msg)
		})
	}

	// Normalize fills in the weekend and sorts the holidays.
	c := portal.Calendar{Name: " Sample ", TimeZone: london, Holidays: []portal.Holiday{
		{Date: date("2027-01-01"), Name: " New Year's Day "}, {Date: date("2026-12-25")}}}
	require.NoError(t, c.Normalize())
	require.Equal(t, "Sample", c.Name)
	require.Equal(t, []time.Weekday{time.Sunday, time.Saturday}, c.Weekend)
	require.Equal(t, []portal.Holiday{{Date: date("2026-12-25")}, {Date: date("2027-01-01"), Name: "New Year's Day"}}, c.Holidays)
}

func TestCalendarDeadlineInputs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n     int
		valid bool
	}{{0, false}, {1, true}, {365, true}, {366, false}, {-1, false}} {
		require.Equal(t, tc.valid, portal.ValidateBusinessDays(tc.n) == nil, "%d business days", tc.n)
	}
	for _, tc := range []struct {
		h     int
		valid bool
	}{{0, false}, {1, true}, {8760, true}, {8761, false}} {
		require.Equal(t, tc.valid, portal.ValidateDeadlineHours(tc.h) == nil, "%d hours", tc.h)
	}
	for _, tc := range []struct {
		in    string
		valid bool
	}{{"Europe/London", true}, {"UTC", true}, {"America/Argentina/Buenos_Aires", true},
		{"", false}, {"Local", false}, {"Mars/Olympus_Mons", false}, {"../../etc/passwd", false}} {
		_, err := portal.LoadTimeZone(tc.in)
		require.Equal(t, tc.valid, err == nil, "%q", tc.in)
		if err != nil {
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
		}
	}
	for _, tc := range []struct {
		in    string
		valid bool
	}{{"2026-12-25", true}, {"2024-02-29", true}, {"2026-02-29", false}, {"25/12/2026", false}, {"", false}} {
		d, err := portal.ParseDate(tc.in)
		require.Equal(t, tc.valid, err == nil, "%q", tc.in)
		if tc.valid {
			require.Equal(t, tc.in, d.String())
			require.True(t, d.IsValid())
		}
	}
	require.Equal(t, date("2027-01-01"), date("2026-12-31").AddDays(1))
	require.Equal(t, time.Saturday, date("2026-12-26").Weekday())
	require.Equal(t, -1, date("2026-12-25").Compare(date("2026-12-26")))
}
