package portal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	// Deadlines must not depend on the host having a zoneinfo database,
	// which slim container images may lack.
	_ "time/tzdata"
)

// Limits of a deadline, as approval workflows store them.
const (
	MaxDeadlineHours        = 8760 // a year
	MaxDeadlineBusinessDays = 365
)

// Limits of a calendar's texts, in characters.
const (
	MaxCalendarName = 100
	MaxHolidayName  = 100
)

// Date is a day on the calendar, with no time of day and no time zone: a
// holiday is 25 December wherever the calendar's people are.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads a date written as YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, Errorf(EINVALID, "%q is not a date; write it as YYYY-MM-DD.", s)
	}
	return DateOf(t), nil
}

// End is the instant the day ends in loc: the start of the next day.
func (d Date) End(loc *time.Location) time.Time { return d.AddDays(1).in(loc) }

// String writes the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// CalendarDay is d as a time at midnight UTC, for portal/i18n to write
// it inside a Text in the reader's language (Printer.Date).
func (d Date) CalendarDay() time.Time { return d.in(time.UTC) }

// IsValid reports whether d is a real day (not 30 February) in years 1 to 9999.
func (d Date) IsValid() bool {
	return d.Year >= 1 && d.Year <= 9999 && DateOf(d.in(time.UTC)) == d
}

// Weekday is the day of the week d falls on.
func (d Date) Weekday() time.Weekday { return d.in(time.UTC).Weekday() }

// AddDays returns the date n days after d (before, for negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int { return d.in(time.UTC).Compare(e.in(time.UTC)) }

func (d Date) in(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Holiday is a day on which no business-day deadline counts.
type Holiday struct {
	Date Date
	Name string // e.g. "Christmas Day"; may be empty
}

// Calendar says which days are business days for deadlines given in
// business days, as a service desk counts them: days in one time zone, less
// the weekend and the holidays.
type Calendar struct {
	ID       string
	Name     string
	TimeZone *time.Location // an IANA zone such as Europe/London
	// Weekend lists the days of the week that are never business days;
	// nil means Saturday and Sunday, an empty non-nil slice none.
	Weekend  []time.Weekday
	Holidays []Holiday
}

// CalendarService keeps the holiday calendars.
type CalendarService interface {
	// CreateCalendar stores a new calendar with its holidays and returns it.
	CreateCalendar(ctx context.Context, v Viewer, c Calendar) (*Calendar, error)
	// UpdateCalendar changes the name, time zone and weekend of calendar
	// c.ID; its holidays change only through AddHoliday and RemoveHoliday.
	UpdateCalendar(ctx context.Context, v Viewer, c Calendar) (*Calendar, error)
	// AddHoliday adds a holiday; ECONFLICT if that day is one already.
	AddHoliday(ctx context.Context, v Viewer, calendarID string, h Holiday) error
	// RemoveHoliday removes the holiday on day; ENOTFOUND if there is none.
	RemoveHoliday(ctx context.Context, v Viewer, calendarID string, day Date) error
	// FindCalendar returns a calendar with its holidays in date order.
	FindCalendar(ctx context.Context, id string) (*Calendar, error)
	// ListCalendars returns every calendar, with its holidays, by name.
	ListCalendars(ctx context.Context) ([]Calendar, error)
}

// LoadTimeZone returns the IANA time zone called name, e.g. "Europe/London".
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, Errorf(EINVALID, "Choose a time zone by its IANA name, such as Europe/London.")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, Errorf(EINVALID, "%q is not a time zone; use an IANA name such as Europe/London.", name)
	}
	return loc, nil
}

// Normalize trims the names, fills in the default weekend, sorts the weekend
// and the holidays, and checks the calendar.
func (c *Calendar) Normalize() error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Weekend == nil {
		c.Weekend = []time.Weekday{time.Saturday, time.Sunday}
	}
	c.Weekend = slices.Clone(c.Weekend)
	slices.Sort(c.Weekend)
	c.Holidays = slices.Clone(c.Holidays)
	for i := range c.Holidays {
		c.Holidays[i].Name = strings.TrimSpace(c.Holidays[i].Name)
	}
	slices.SortStableFunc(c.Holidays, func(a, b Holiday) int { return a.Date.Compare(b.Date) })
	return c.Validate()
}

// Validate checks the name, that the time zone is a named IANA zone, that
// the weekend leaves at least one business day, and each holiday.
func (c *Calendar) Validate() error {
	if !utf8.ValidString(c.Name) || c.Name == "" {
		return Errorf(EINVALID, "Give the calendar a name.")
	}
	if n := utf8.RuneCountInString(c.Name); n > MaxCalendarName {
		return Errorf(EINVALID, "The calendar's name is too long (%d characters); use at most %d.", n, MaxCalendarName)
	}
	if c.TimeZone == nil {
		return Errorf(EINVALID, "Choose the calendar's time zone.")
	}
	// The zone is stored by name, so it must load again by that name.
	if _, err := LoadTimeZone(c.TimeZone.String()); err != nil {
		return err
	}
	var seen [7]bool
	for _, d := range c.Weekend {
		if d < time.Sunday || d > time.Saturday {
			return Errorf(EINVALID, "%d is not a day of the week.", d)
		}
		if seen[d] {
			return Errorf(EINVALID, "%s is listed twice in the weekend.", d)
		}
		seen[d] = true
	}
	if len(c.Weekend) == 7 {
		return Errorf(EINVALID, "A weekend of seven days leaves no business days.")
	}
	days := make(map[Date]bool, len(c.Holidays))
	for _, h := range c.Holidays {
		if err := h.Validate(); err != nil {
			return err
		}
		if days[h.Date] {
			return Errorf(EINVALID, "%s is listed twice as a holiday.", h.Date)
		}
		days[h.Date] = true
	}
	return nil
}

// Validate checks the holiday's date and name.
func (h Holiday) Validate() error {
	if !h.Date.IsValid() {
		return Errorf(EINVALID, "%s is not a date.", h.Date)
	}
	if !utf8.ValidString(h.Name) {
		return Errorf(EINVALID, "The holiday's name is not valid text.")
	}
	if n := utf8.RuneCountInString(h.Name); n > MaxHolidayName {
		return Errorf(EINVALID, "The holiday's name is too long (%d characters); use at most %d.", n, MaxHolidayName)
	}
	return nil
}

// ValidateBusinessDays checks a deadline given in business days.
func ValidateBusinessDays(n int) error {
	if n < 1 || n > MaxDeadlineBusinessDays {
		return Errorf(EINVALID, "A deadline in business days must be from 1 to %d days.", MaxDeadlineBusinessDays)
	}
	return nil
}

// ValidateDeadlineHours checks a deadline given in hours.
func ValidateDeadlineHours(h int) error {
	if h < 1 || h > MaxDeadlineHours {
		return Errorf(EINVALID, "A deadline in hours must be from 1 to %d hours.", MaxDeadlineHours)
	}
	return nil
}

// IsBusinessDay reports whether t falls, in the calendar's time zone, on a
// day that is neither a weekend day nor a holiday.
func (c *Calendar) IsBusinessDay(t time.Time) bool {
	return c.rules().isBusiness(DateOf(t.In(c.location())))
}

// AddHours returns the deadline h hours after from: elapsed hours, weekends,
// holidays and the night included (so a day with a clock change is 23 or 25
// hours long). h is clamped to 1..MaxDeadlineHours; check it on input with
// ValidateDeadlineHours.
func (c *Calendar) AddHours(from time.Time, h int) time.Time {
	return from.Add(time.Duration(clamp(h, MaxDeadlineHours)) * time.Hour)
}

// AddBusinessDays returns the deadline n business days after from, counted
// in the calendar's time zone:
//
//   - From a business day, the deadline is at the same wall-clock time on
//     the n-th business day after it: Friday 14:30 plus one business day
//     is Monday 14:30, even when the clocks changed on the Sunday.
//   - From a weekend day or holiday, the clock starts at 00:00 on the next
//     business day: Saturday 14:30 plus one business day is Tuesday 00:00
//     (all of Monday to decide).
//   - If that wall-clock time does not exist on the due day (the clocks
//     jumped over it), the deadline is the moment they jumped; if it occurs
//     twice (the clocks went back), the first time.
//
// n is clamped to 1..MaxDeadlineBusinessDays; check it on input with
// ValidateBusinessDays. The deadline is returned in the calendar's zone.
func (c *Calendar) AddBusinessDays(from time.Time, n int) time.Time {
	loc, r := c.location(), c.rules()
	local := from.In(loc)
	day := DateOf(local)
	h, m, s := local.Clock()
	clock := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second +
		time.Duration(local.Nanosecond())
	if !r.isBusiness(day) {
		day, clock = r.next(day), 0
	}
	for range clamp(n, MaxDeadlineBusinessDays) {
		day = r.next(day)
	}
	return wallTime(day, clock, loc)
}

func clamp(n, high int) int { return max(1, min(n, high)) }

// location is the calendar's zone, UTC for a calendar that has none.
func (c *Calendar) location() *time.Location {
	if c.TimeZone == nil {
		return time.UTC
	}
	return c.TimeZone
}

// dayRules is a calendar compiled for counting days.
type dayRules struct {
	weekend  [7]bool
	holidays map[Date]bool
}

func (c *Calendar) rules() dayRules {
	var r dayRules
	weekend := c.Weekend
	if weekend == nil {
		weekend = []time.Weekday{time.Saturday, time.Sunday}
	}
	n := 0
	for _, d := range weekend {
		if d >= time.Sunday && d <= time.Saturday && !r.weekend[d] {
			r.weekend[d] = true
			n++
		}
	}
	// An unchecked calendar whose weekend is the whole week must not make
	// counting loop for ever: it counts as having no weekend.
	if n == 7 {
		r.weekend = [7]bool{}
	}
	r.holidays = make(map[Date]bool, len(c.Holidays))
	for _, h := range c.Holidays {
		r.holidays[h.Date] = true
	}
	return r
}

func (r dayRules) isBusiness(d Date) bool { return !r.weekend[d.Weekday()] && !r.holidays[d] }

// next returns the first business day after d; it ends because the
// holidays are finitely many and the weekend leaves a day free.
func (r dayRules) next(d Date) Date {
	for d = d.AddDays(1); !r.isBusiness(d); d = d.AddDays(1) {
	}
	return d
}

// wallTime returns the first instant at which the clocks in loc read clock
// (time since midnight) on day d or, if they never do, the moment they
// jumped past it.
func wallTime(d Date, clock time.Duration, loc *time.Location) time.Time {
	want := d.in(time.UTC).Add(clock) // the wall-clock reading, in UTC to compare readings
	t := time.Date(want.Year(), want.Month(), want.Day(), want.Hour(), want.Minute(), want.Second(), want.Nanosecond(), loc)
	got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	start, end := t.ZoneBounds()
	switch {
	case got.After(want): // in a gap, and time.Date went past it
		return start
	case got.Before(want): // in a gap, and time.Date stayed before it
		return end
	}
	if start.IsZero() {
		return t
	}
	// When the clocks went back, the same reading occurred first in the
	// zone before this one; time.Date may have picked either.
	_, prevOffset := start.Add(-time.Nanosecond).Zone()
	_, offset := t.Zone()
	if first := t.Add(time.Duration(offset-prevOffset) * time.Second); first.Before(start) {
		return first.In(loc)
	}
	return t
}
