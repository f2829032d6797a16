package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// A source of truth that pushes its changes (an HR file, a SCIM bulk
// request) is not polled by a cycle: its import runs when the change
// arrives, with a connector that holds it, and the people it changed go
// to every other system at once, as a request's change does.

// ImportFrom imports into systemID what conn reports (a delta import once
// the system has a watermark, a full import the first time), then runs a
// delta sync of the system, both recorded in run history. It returns the
// import run and the people whose attributes the sync changed or created.
func (e *Engine) ImportFrom(ctx context.Context, systemID string, conn Connector, trigger string) (*Run, []string, error) {
	return e.importThenSync(ctx, systemID, trigger, func(ctx context.Context, sys *portal.ConnectedSystem, full bool, rec *runRecord) error {
		return e.importWith(ctx, sys, conn, full, rec)
	}, e.deltaSyncRun)
}

// importThenSync runs an import of systemID (a full one the first time:
// no watermark yet) and then a sync, each recorded in run history, and
// returns the import run and the people the sync changed or created.
// Both run in the lock's context (importFn gets it), and stop when the
// lock is lost.
func (e *Engine) importThenSync(ctx context.Context, systemID, trigger string,
	importFn func(ctx context.Context, sys *portal.ConnectedSystem, full bool, rec *runRecord) error,
	syncFn func(ctx context.Context, sys *portal.ConnectedSystem, rec *runRecord) error) (*Run, []string, error) {
	sys, err := e.runnable(ctx, systemID, DeltaImport)
	if err != nil {
		return nil, nil, err
	}
	ctx, l, err := e.lock(ctx, sys.ID, 30*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer l.release(sys.ID)
	var hasWatermark bool
	if err := e.Pool.QueryRow(ctx, `SELECT coalesce(length(watermark), 0) > 0 FROM connected_systems WHERE id = $1`, sys.ID).
		Scan(&hasWatermark); err != nil {
		return nil, nil, fmt.Errorf("syncsvc: watermark: %w", err)
	}
	profile := DeltaImport
	if !hasWatermark {
		profile = FullImport
	}
	opts := RunOptions{Trigger: trigger}
	rec, err := e.startRun(ctx, sys.ID, profile, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("syncsvc: start run: %w", err)
	}
	run, err := rec.finish(ctx, lockLost(ctx, importFn(ctx, sys, profile == FullImport, rec)), portal.Text{})
	if err != nil {
		return nil, nil, err
	}
	if run.Status == "failed" {
		return run, nil, portal.Errorf(portal.EINTERNAL, "The import of %s failed: %s", sys.Name, run.Why())
	}
	// The people the sync changes are those stamped from here on.
	var since time.Time
	if err := e.Pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&since); err != nil {
		return run, nil, fmt.Errorf("syncsvc: clock: %w", err)
	}
	srec, err := e.startRun(ctx, sys.ID, DeltaSync, opts)
	if err != nil {
		return run, nil, fmt.Errorf("syncsvc: start run: %w", err)
	}
	srun, err := srec.finish(ctx, lockLost(ctx, syncFn(ctx, sys, srec)), portal.Text{})
	if err != nil {
		return run, nil, err
	}
	if srun.Status == "failed" {
		return run, nil, portal.Errorf(portal.EINTERNAL, "The sync of %s failed: %s", sys.Name, srun.Why())
	}
	rows, err := e.Pool.Query(ctx, "SELECT id::text FROM people WHERE updated_at >= $1", since)
	if err != nil {
		return run, nil, fmt.Errorf("syncsvc: changed people: %w", err)
	}
	people, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return run, nil, fmt.Errorf("syncsvc: changed people: %w", err)
	}
	return run, people, nil
}

// ExportPeople carries people's changes to every enabled system other
// than from (their source) at once: it syncs them, exports what that
// gives, confirms it with a delta import, and does it once more for what
// needed the first export (a manager's DN, once the manager's account
// exists). It returns an error wrapping ErrUnreachable or ErrBusy when
// a system should be tried again. It returns the runs it recorded (the
// exports, and the errors of the syncs before them), also with an error.
func (e *Engine) ExportPeople(ctx context.Context, from string, people []string) ([]Run, error) {
	if len(people) == 0 {
		return nil, nil
	}
	systems, err := e.exportingSystems(ctx)
	if err != nil {
		return nil, err
	}
	var retry error
	var runs []Run
	for i := range systems {
		if systems[i].ID == from {
			continue
		}
		err := e.exportPeopleTo(ctx, &systems[i], people, func(r *Run) { runs = append(runs, *r) })
		if err != nil {
			if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrBusy) {
				retry = err
				continue
			}
			return runs, err
		}
	}
	if retry != nil {
		return runs, fmt.Errorf("%w: %w", portal.ErrTemporary, retry)
	}
	return runs, nil
}

// exportPeopleTo exports people to sys, passing each run it records to
// recorded.
func (e *Engine) exportPeopleTo(ctx context.Context, sys *portal.ConnectedSystem, people []string, recorded func(*Run)) error {
	ctx, l, err := e.lock(ctx, sys.ID, 10*time.Second)
	if err != nil {
		return err
	}
	defer l.release(sys.ID)
	scratch := &runRecord{e: e, flushed: time.Now()}
	var conn Connector
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for pass := 0; pass < 2; pass++ {
		// The sync's errors (an account it cannot name) are kept as a run
		// of their own; the second pass only repeats them.
		synced := &runRecord{e: e, flushed: time.Now()}
		if _, err := e.syncObjects(ctx, sys, syncScope{people: people}, synced); err != nil {
			return err
		}
		if pass == 0 {
			kept, err := e.keepErrors(ctx, sys.ID, "hr", synced)
			if err != nil {
				return err
			}
			if kept != nil {
				recorded(kept)
			}
		}
		var due int
		if err := e.Pool.QueryRow(ctx, `SELECT count(*) FROM cs_objects WHERE system_id = $1 AND export_op IS NOT NULL
			AND person_id = ANY($2::uuid[])`, sys.ID, people).Scan(&due); err != nil {
			return fmt.Errorf("syncsvc: pending exports: %w", err)
		}
		if due == 0 {
			return nil
		}
		if conn == nil {
			if conn, err = e.open(ctx, sys); err != nil {
				e.setReachable(ctx, sys.ID, err)
				return err
			}
		}
		rec, err := e.startRun(ctx, sys.ID, Export, RunOptions{Trigger: "hr"})
		if err != nil {
			return err
		}
		msg, err := e.exportWith(ctx, sys, conn, RunOptions{Trigger: "hr", lock: l}, rec, nil)
		if err == nil {
			err = e.importWith(ctx, sys, conn, false, scratch)
			if err != nil && portal.ErrorCode(err) == portal.ECONFLICT {
				err = nil // no full import yet: the next one confirms
			}
		}
		run, ferr := rec.finish(ctx, err, msg)
		if run != nil {
			recorded(run)
		}
		if err != nil {
			return err
		}
		if ferr != nil {
			return ferr
		}
		if run.Counts.Adds == 0 {
			return nil // nothing new that a reference could name
		}
	}
	return nil
}
