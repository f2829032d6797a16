package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// calendarTx returns the holiday calendar a workflow's business days count
// in; without one, weekdays in UTC are business days.
func (db *DB) calendarTx(ctx context.Context, tx pgx.Tx, id *string) (*portal.Calendar, error) {
	if id == nil {
		return &portal.Calendar{Name: "Weekdays", TimeZone: time.UTC, Weekend: []time.Weekday{time.Saturday, time.Sunday}}, nil
	}
	return findCalendar(ctx, tx, *id)
}

// SetDeputy makes deputyID receive the viewer's approvals from starts to
// ends (dates, inclusive), replacing any deputy set for the same start.
func (db *DB) SetDeputy(ctx context.Context, v portal.Viewer, deputyID string, starts, ends time.Time) error {
	if !validID(deputyID) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	if deputyID == v.PersonID {
		return portal.Errorf(portal.EINVALID, "You cannot be your own deputy.")
	}
	if ends.Before(starts) {
		return portal.Errorf(portal.EINVALID, "The last day must not be before the first.")
	}
	if ends.Sub(starts) > 366*24*time.Hour {
		return portal.Errorf(portal.EINVALID, "A deputy can stand in for at most a year at a time.")
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var enabled bool
		err := tx.QueryRow(ctx, "SELECT account_enabled FROM people WHERE id = $1", deputyID).Scan(&enabled)
		if isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
		} else if err != nil {
			return err
		}
		if !enabled {
			return portal.Errorf(portal.EINVALID, "That person's account is disabled; choose someone else.")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deputies (person_id, deputy_id, starts, ends) VALUES ($1, $2, $3, $4)
			ON CONFLICT (person_id, starts) DO UPDATE SET deputy_id = excluded.deputy_id, ends = excluded.ends`,
			v.PersonID, deputyID, starts, ends); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "deputy_set", "person", v.PersonID, map[string]any{
			"deputy": deputyID, "starts": starts.Format(time.DateOnly), "ends": ends.Format(time.DateOnly)})
	})
	return storeError("set deputy", err)
}

// RemoveDeputy removes the viewer's deputy period starting on starts.
func (db *DB) RemoveDeputy(ctx context.Context, v portal.Viewer, starts time.Time) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM deputies WHERE person_id = $1 AND starts = $2", v.PersonID, starts); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "deputy_removed", "person", v.PersonID, map[string]any{"starts": starts.Format(time.DateOnly)})
	})
	if err != nil {
		return fmt.Errorf("postgres: remove deputy: %w", err)
	}
	return nil
}

// MyDeputies lists the viewer's current and future deputy periods.
func (db *DB) MyDeputies(ctx context.Context, v portal.Viewer) ([]portal.Deputy, error) {
	rows, err := db.Pool.Query(ctx, `SELECT d.deputy_id, p.display_name, d.starts, d.ends FROM deputies d
		JOIN people p ON p.id = d.deputy_id WHERE d.person_id = $1 AND d.ends >= current_date ORDER BY d.starts`, v.PersonID)
	if err != nil {
		return nil, fmt.Errorf("postgres: my deputies: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Deputy, error) {
		var d portal.Deputy
		return d, row.Scan(&d.DeputyID, &d.DeputyName, &d.Starts, &d.Ends)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: my deputies: %w", err)
	}
	return ds, nil
}
