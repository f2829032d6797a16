package hr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Dates: a joiner whose start date is ahead is imported disabled (a
// pre-hire, at most PrehireDays ahead) and enabled when the start date
// begins in the organisation's time zone; a person is disabled when their
// end date is over (at the end of the last day). A River timer per row
// (Service.Schedule) wakes HRDateDue at those instants.

// activeOn reports whether an HR row (its lower-case attributes) works on
// day today: started, not ended, and not made inactive by its source.
func activeOn(attrs map[string]string, today time.Time) bool {
	start, _ := parseDate(attrs["startdate"])
	end, _ := parseDate(attrs["enddate"])
	return (start.IsZero() || !start.After(today)) && (end.IsZero() || !end.Before(today)) && attrs["inactive"] != "true"
}

// dayOf is the calendar day of now in loc, as parseDate reads dates.
func dayOf(now time.Time, loc *time.Location) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// nextChange is when a row's dates next change whether it works: the
// start of its start date, or the end of its end date (the start of the
// day after), in loc; zero when neither is ahead.
func nextChange(attrs map[string]string, now time.Time, loc *time.Location) time.Time {
	today := dayOf(now, loc)
	at := func(day time.Time) time.Time { return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc) }
	if start, ok := parseDate(attrs["startdate"]); ok && !start.IsZero() && start.After(today) {
		return at(start)
	}
	if end, ok := parseDate(attrs["enddate"]); ok && !end.IsZero() && !end.Before(today) {
		return at(end.AddDate(0, 0, 1))
	}
	return time.Time{}
}

func (s *Service) location(set Settings) *time.Location {
	loc, err := time.LoadLocation(set.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// scheduleDates inserts the timer of each object whose dates change
// whether it works later on.
func (s *Service) scheduleDates(ctx context.Context, set Settings, objs []syncsvc.ImportedObject) error {
	if s.Schedule == nil {
		return nil
	}
	loc := s.location(set)
	now := s.now()
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for _, o := range objs {
			attrs := map[string]string{}
			for k, v := range o.Attributes {
				if len(v) > 0 {
					attrs[k] = v[0]
				}
			}
			if at := nextChange(attrs, now, loc); !at.IsZero() {
				if err := s.Schedule(ctx, tx, set.SystemID, o.Anchor, at); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// HRDateDue reads one HR row's dates again now: when whether the person
// works has changed (a pre-hire's first day began, a last day ended), it
// imports that into the HR connector space and exports the person at
// once; then it sets the row's next timer.
func (s *Service) HRDateDue(ctx context.Context, systemID, anchor string) error {
	set, _, err := s.Settings(ctx, systemID)
	if err != nil {
		return err
	}
	var cur string
	var raw map[string][]string
	err = s.Pool.QueryRow(ctx, `SELECT anchor, attributes FROM cs_objects WHERE system_id = $1 AND anchor IS NOT NULL
		AND lower(anchor) = lower($2) LIMIT 1`, systemID, anchor).Scan(&cur, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // gone since: nothing to wake
	} else if err != nil {
		return fmt.Errorf("hr: dates of %s: %w", anchor, err)
	}
	attrs := map[string]string{}
	for k, v := range raw {
		attrs[k] = ""
		if len(v) > 0 {
			attrs[k] = v[0]
		}
	}
	loc := s.location(set)
	active := strconv.FormatBool(activeOn(attrs, dayOf(s.now(), loc)))
	if active != attrs["active"] {
		attrs["active"] = active
		obj := object(cur, attrs)
		_, people, err := s.Engine.ImportStaged(ctx, systemID, "hr", watermark, func(ctx context.Context, tx pgx.Tx) error {
			// A preview staged before this no longer holds.
			if _, err := tx.Exec(ctx, "UPDATE hr_sources SET space_version = space_version + 1 WHERE system_id = $1", systemID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+syncsvc.ImportObjects+" (anchor, attrs) VALUES ($1, $2)", obj.Anchor, obj.Attributes); err != nil {
				return err
			}
			return teamChanges(ctx, tx, systemID)
		})
		if err != nil {
			if errors.Is(err, syncsvc.ErrBusy) {
				return fmt.Errorf("%w: hr: dates of %s: %w", portal.ErrTemporary, anchor, err)
			}
			return err
		}
		if err := s.deliverNotices(ctx); err != nil {
			return err
		}
		if _, err := s.Engine.ExportPeople(ctx, systemID, people); err != nil {
			return err
		}
	}
	return s.scheduleDates(ctx, set, []syncsvc.ImportedObject{object(cur, attrs)})
}
