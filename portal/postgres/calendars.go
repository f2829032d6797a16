package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var _ portal.CalendarService = (*DB)(nil)

var errNoCalendar = portal.Errorf(portal.ENOTFOUND, "There is no such calendar.")

// calendarSelect reads calendars with their holidays in date order; add a
// WHERE, then GROUP BY c.id.
const calendarSelect = `SELECT c.id, c.name, c.time_zone, c.weekend,
	coalesce(array_agg(to_char(h.day, 'YYYY-MM-DD') ORDER BY h.day) FILTER (WHERE h.day IS NOT NULL), '{}'),
	coalesce(array_agg(h.name ORDER BY h.day) FILTER (WHERE h.day IS NOT NULL), '{}')
	FROM holiday_calendars c LEFT JOIN calendar_holidays h ON h.calendar_id = c.id`

// CreateCalendar checks c, stores it with its holidays, and returns it with
// its new ID. A name another calendar has (in any case) is ECONFLICT.
func (db *DB) CreateCalendar(ctx context.Context, v portal.Viewer, c portal.Calendar) (*portal.Calendar, error) {
	if err := c.Normalize(); err != nil {
		return nil, err
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO holiday_calendars (name, time_zone, weekend) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING RETURNING id`, c.Name, c.TimeZone.String(), weekendColumn(c.Weekend)).Scan(&c.ID)
		if isNoRows(err) {
			return portal.Errorf(portal.ECONFLICT, "A calendar named %q already exists.", c.Name)
		} else if err != nil {
			return err
		}
		days, names := make([]string, len(c.Holidays)), make([]string, len(c.Holidays))
		for i, h := range c.Holidays {
			days[i], names[i] = h.Date.String(), h.Name
		}
		if _, err := tx.Exec(ctx, `INSERT INTO calendar_holidays (calendar_id, day, name)
			SELECT $1, d::date, n FROM unnest($2::text[], $3::text[]) AS h (d, n)`, c.ID, days, names); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "calendar_create", "calendar", c.ID, calendarDetails(c))
	})
	if err != nil {
		return nil, storeError("create calendar", err)
	}
	return &c, nil
}

// UpdateCalendar changes the name, time zone and weekend of calendar c.ID
// and returns the calendar as stored. c.Holidays is checked but not saved:
// holidays change one at a time through AddHoliday and RemoveHoliday, so
// that two administrators editing a calendar do not undo each other's days.
func (db *DB) UpdateCalendar(ctx context.Context, v portal.Viewer, c portal.Calendar) (*portal.Calendar, error) {
	if !validID(c.ID) {
		return nil, errNoCalendar
	}
	if err := c.Normalize(); err != nil {
		return nil, err
	}
	var saved *portal.Calendar
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var taken bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM holiday_calendars WHERE lower(name) = lower($1) AND id <> $2)`,
			c.Name, c.ID).Scan(&taken)
		if err != nil {
			return err
		} else if taken {
			return portal.Errorf(portal.ECONFLICT, "A calendar named %q already exists.", c.Name)
		}
		before, err := findCalendar(ctx, tx, c.ID) // for the audit entry's old values
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE holiday_calendars SET name = $2, time_zone = $3, weekend = $4 WHERE id = $1`,
			c.ID, c.Name, c.TimeZone.String(), weekendColumn(c.Weekend))
		if isUniqueViolation(err) {
			// Another administrator took the name since the check above.
			return portal.Errorf(portal.ECONFLICT, "A calendar named %q already exists.", c.Name)
		} else if err != nil {
			return err
		} else if tag.RowsAffected() == 0 {
			return errNoCalendar
		}
		if saved, err = findCalendar(ctx, tx, c.ID); err != nil {
			return err
		}
		details := changeDetails(calendarDetails(*before), calendarDetails(*saved))
		delete(details, "holidays")
		return Audit(ctx, tx, v.PersonID, "calendar_update", "calendar", c.ID, details)
	})
	if err != nil {
		return nil, storeError("update calendar", err)
	}
	return saved, nil
}

// AddHoliday adds a holiday to a calendar; ECONFLICT if the day is one already.
func (db *DB) AddHoliday(ctx context.Context, v portal.Viewer, calendarID string, h portal.Holiday) error {
	if !validID(calendarID) {
		return errNoCalendar
	}
	h.Name = strings.TrimSpace(h.Name)
	if err := h.Validate(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		// The key-share lock keeps the calendar from going away meanwhile.
		err := tx.QueryRow(ctx, "SELECT id FROM holiday_calendars WHERE id = $1 FOR KEY SHARE", calendarID).Scan(new(string))
		if isNoRows(err) {
			return errNoCalendar
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO calendar_holidays (calendar_id, day, name) VALUES ($1, $2::date, $3)
			ON CONFLICT DO NOTHING`, calendarID, h.Date.String(), h.Name)
		if err != nil {
			return err
		} else if tag.RowsAffected() == 0 {
			return portal.Errorf(portal.ECONFLICT, "%s is already a holiday in this calendar.", h.Date)
		}
		return Audit(ctx, tx, v.PersonID, "holiday_add", "calendar", calendarID, map[string]any{"day": h.Date.String(), "name": h.Name})
	})
	return storeError("add holiday", err)
}

// RemoveHoliday removes the holiday on day; ENOTFOUND if there is none.
func (db *DB) RemoveHoliday(ctx context.Context, v portal.Viewer, calendarID string, day portal.Date) error {
	if !validID(calendarID) {
		return errNoCalendar
	}
	if !day.IsValid() {
		return portal.Errorf(portal.EINVALID, "%s is not a date.", day)
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, "DELETE FROM calendar_holidays WHERE calendar_id = $1 AND day = $2::date RETURNING name",
			calendarID, day.String()).Scan(&name)
		if isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "%s is not a holiday in this calendar.", day)
		} else if err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "holiday_remove", "calendar", calendarID, map[string]any{"day": day.String(), "name": name})
	})
	return storeError("remove holiday", err)
}

// FindCalendar returns a calendar with its holidays in date order.
func (db *DB) FindCalendar(ctx context.Context, id string) (*portal.Calendar, error) {
	c, err := findCalendar(ctx, db.Pool, id)
	if err != nil {
		return nil, storeError("find calendar", err)
	}
	return c, nil
}

// ListCalendars returns every calendar with its holidays, by name. A
// deployment has a handful, each with a few holidays a year.
func (db *DB) ListCalendars(ctx context.Context) ([]portal.Calendar, error) {
	rows, err := db.Pool.Query(ctx, calendarSelect+" GROUP BY c.id ORDER BY c.name, c.id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list calendars: %w", err)
	}
	cals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Calendar, error) {
		c, err := scanCalendar(row)
		if err != nil {
			return portal.Calendar{}, err
		}
		return *c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list calendars: %w", err)
	}
	return cals, nil
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// findCalendar reads calendar id through q, so that a transaction can read
// the calendar it is about to count business days in.
func findCalendar(ctx context.Context, q rowQuerier, id string) (*portal.Calendar, error) {
	if !validID(id) {
		return nil, errNoCalendar
	}
	c, err := scanCalendar(q.QueryRow(ctx, calendarSelect+" WHERE c.id = $1 GROUP BY c.id", id))
	if isNoRows(err) {
		return nil, errNoCalendar
	}
	return c, err
}

func scanCalendar(row pgx.Row) (*portal.Calendar, error) {
	var c portal.Calendar
	var zone string
	var weekend []int16
	var days, names []string
	if err := row.Scan(&c.ID, &c.Name, &zone, &weekend, &days, &names); err != nil {
		return nil, err
	}
	loc, err := portal.LoadTimeZone(zone)
	if err != nil {
		return nil, fmt.Errorf("calendar %s has time zone %q, which this build does not know: %w", c.ID, zone, err)
	}
	c.TimeZone = loc
	c.Weekend = make([]time.Weekday, len(weekend)) // non-nil: an empty weekend is none, not the default
	for i, d := range weekend {
		c.Weekend[i] = time.Weekday(d)
	}
	c.Holidays = make([]portal.Holiday, len(days))
	for i := range days {
		d, err := portal.ParseDate(days[i])
		if err != nil {
			return nil, fmt.Errorf("calendar %s: holiday %q: %w", c.ID, days[i], err)
		}
		c.Holidays[i] = portal.Holiday{Date: d, Name: names[i]}
	}
	return &c, nil
}

func weekendColumn(days []time.Weekday) []int16 {
	col := make([]int16, len(days))
	for i, d := range days {
		col[i] = int16(d)
	}
	return col
}

func calendarDetails(c portal.Calendar) map[string]any {
	return map[string]any{"name": c.Name, "time_zone": c.TimeZone.String(),
		"weekend": weekendColumn(c.Weekend), "holidays": len(c.Holidays)}
}
