package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// ExportRequest carries one committed request's change to every enabled
// connected system at once: it syncs the person or group the request
// changed, exports just that, and confirms it with a delta import. The
// request completes when every system has confirmed. It returns an error
// wrapping ErrUnreachable or ErrBusy when it should be tried again.
func (e *Engine) ExportRequest(ctx context.Context, requestID string) error {
	var status, op string
	var personID, groupID *string
	err := e.Pool.QueryRow(ctx, `SELECT status, operation, person_id::text, group_id::text FROM requests WHERE id = $1`, requestID).
		Scan(&status, &op, &personID, &groupID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // deleted meanwhile: nothing to carry
	} else if err != nil {
		return fmt.Errorf("syncsvc: read request: %w", err)
	}
	if status != string(portal.StatusCommitted) && status != string(portal.StatusFailed) {
		return nil
	}
	sc := syncScope{requestID: requestID}
	switch portal.Operation(op) {
	case portal.OpAddMember, portal.OpRemoveMember:
		if groupID != nil {
			sc.groups = []string{*groupID}
		}
	case portal.OpUpdatePerson:
		if personID != nil {
			sc.people = []string{*personID}
		}
		// A change made in the portal is the latest word on those
		// attributes: the next change from any connected system may
		// flow in over it, whatever its precedence.
		if _, err := e.Pool.Exec(ctx, `DELETE FROM mv_attribute_sources s USING requests r
			WHERE r.id = $1 AND s.person_id = r.person_id AND r.changes ? s.attribute`, requestID); err != nil {
			return fmt.Errorf("syncsvc: attribute sources: %w", err)
		}
		// The change may have moved the person in or out of dynamic
		// groups, in the same transaction: their members go too.
		rows, err := e.Pool.Query(ctx, `SELECT DISTINCT c.group_id::text FROM group_member_changes c, requests r
			WHERE r.id = $1 AND c.at >= r.updated_at`, requestID)
		if err != nil {
			return fmt.Errorf("syncsvc: dynamic groups of request: %w", err)
		}
		groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("syncsvc: dynamic groups of request: %w", err)
		}
		sc.groups = groups
	}
	systems, err := e.exportingSystems(ctx)
	if err != nil {
		return err
	}
	var retry error
	if len(sc.people)+len(sc.groups) > 0 {
		for i := range systems {
			err := e.exportRequestTo(ctx, &systems[i], sc)
			switch {
			case err == nil:
			case errors.Is(err, ErrUnreachable), errors.Is(err, ErrBusy), ctx.Err() != nil:
				retry = err
			default:
				// This system cannot take the change (a rule that no
				// longer compiles, say): the requester and the
				// administrators see why; the other systems go on.
				if ferr := e.failRequest(ctx, requestID, systems[i].Name, err); ferr != nil {
					return ferr
				}
			}
		}
	}
	if retry != nil {
		return fmt.Errorf("%w: %w", portal.ErrTemporary, retry)
	}
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error { return e.Requests.SettleRequestsTx(ctx, tx, []string{requestID}) })
}

// exportingSystems are the enabled systems, not in staging, with rules.
func (e *Engine) exportingSystems(ctx context.Context) ([]portal.ConnectedSystem, error) {
	all, err := e.Systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := e.Pool.Query(ctx, "SELECT DISTINCT system_id::text FROM sync_rules")
	if err != nil {
		return nil, err
	}
	withRules, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, id := range withRules {
		has[id] = true
	}
	var out []portal.ConnectedSystem
	for _, s := range all {
		if s.Enabled && !s.Staging && has[s.ID] {
			out = append(out, s)
		}
	}
	return out, nil
}

func (e *Engine) exportRequestTo(ctx context.Context, sys *portal.ConnectedSystem, sc syncScope) error {
	l, err := e.lock(ctx, sys.ID, 2*time.Second)
	if err != nil {
		return err
	}
	defer l.release(sys.ID)
	// The sync's own counts stay out of the export run's record.
	scratch := &runRecord{e: e, flushed: time.Now()}
	if _, err := e.syncObjects(ctx, sys, sc, scratch); err != nil {
		return err
	}
	// Nothing of this request waits for this system: its change went out
	// with an earlier export (one bulk decision commits hundreds of joins
	// to one group, and the first of their jobs exports them all), or it
	// needs none. No connection, no export run, no confirming import.
	var waiting bool
	if err := e.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM export_requests WHERE request_id = $1 AND system_id = $2)",
		sc.requestID, sys.ID).Scan(&waiting); err != nil {
		return fmt.Errorf("syncsvc: exports of request: %w", err)
	}
	if !waiting {
		return nil
	}
	// While the system is down, retries leave no run behind: its status
	// says it is unreachable, and the pending export waits.
	conn, err := e.open(ctx, sys)
	if err != nil {
		e.setReachable(ctx, sys.ID, err)
		return err
	}
	defer conn.Close()
	rec, err := e.startRun(ctx, sys.ID, Export, RunOptions{Trigger: "request"})
	if err != nil {
		return err
	}
	msg, err := e.exportWith(ctx, sys, conn, RunOptions{Trigger: "request"}, rec, sc.requestID)
	if err == nil {
		// The confirming import: a delta import right after the export.
		err = e.importWith(ctx, sys, conn, false, scratch)
		if err != nil && portal.ErrorCode(err) == portal.ECONFLICT {
			err = nil // no full import yet: the next one confirms
		}
	}
	_, ferr := rec.finish(ctx, err, msg)
	if err != nil {
		return err
	}
	return ferr
}

// Cycle is a scheduled delta cycle of one system: delta import, delta
// sync, export (unless staging), and the export's confirming import.
func (e *Engine) Cycle(ctx context.Context, systemID string) error {
	sys, err := e.Systems.FindConnectedSystem(ctx, systemID)
	if err != nil {
		return err
	}
	if !sys.Enabled {
		return nil
	}
	l, err := e.lock(ctx, sys.ID, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", portal.ErrTemporary, err)
	}
	defer l.release(sys.ID)
	// One statement stamps the cycle and reads the watermark: if it fails,
	// the cycle stops here, rather than taking a missing watermark for
	// none and running a full import instead of a delta one.
	var hasWatermark bool
	if err := e.Pool.QueryRow(ctx, `UPDATE connected_systems SET last_cycle_at = now() WHERE id = $1
		RETURNING coalesce(length(watermark), 0) > 0`, sys.ID).Scan(&hasWatermark); err != nil {
		return fmt.Errorf("%w: syncsvc: start the cycle of %s: %w", portal.ErrTemporary, sys.Name, err)
	}
	opts := RunOptions{Trigger: "schedule"}
	first := DeltaImport
	if !hasWatermark {
		first = FullImport
	}
	for _, p := range []RunProfile{first, DeltaSync, Export} {
		run, err := e.runLocked(ctx, sys, p, opts)
		if err != nil {
			return err
		}
		if run.Status == "failed" {
			// Run history shows why; the next cycle tries again.
			return fmt.Errorf("%w: %s of %s failed: %s", portal.ErrTemporary, p.Label(), sys.Name, run.Message)
		}
		if p == Export && run.Counts.Adds+run.Counts.Updates+run.Counts.Renames+run.Counts.Moves+run.Counts.Deletes > 0 {
			if _, err := e.runLocked(ctx, sys, DeltaImport, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// DueCycles returns the systems whose scheduled delta cycle is due.
func (e *Engine) DueCycles(ctx context.Context) ([]string, error) {
	rows, err := e.Pool.Query(ctx, `SELECT s.id::text FROM connected_systems s WHERE s.enabled AND s.delta_interval > 0
		AND EXISTS (SELECT 1 FROM sync_rules r WHERE r.system_id = s.id)
		AND (s.last_cycle_at IS NULL OR s.last_cycle_at <= now() - make_interval(secs => s.delta_interval))`)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: due cycles: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// failRequest marks a request failed with the reason one system gave.
func (e *Engine) failRequest(ctx context.Context, requestID, systemName string, cause error) error {
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		return e.Requests.ExportsFailedTx(ctx, tx, []string{requestID},
			fmt.Sprintf("%s could not take the change: %s", systemName, portal.ErrorMessageOr(cause)))
	})
}
