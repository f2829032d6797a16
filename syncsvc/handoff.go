package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// ExportRequests carries committed requests' changes to every enabled
// connected system at once: it syncs the people and groups the requests
// changed, exports just that, and confirms it with a delta import. The
// requests of one commit (a bulk decision: hundreds of joins to one
// group) share that one sync, export and confirmation. A request
// completes when every system has confirmed its change. It returns an
// error wrapping ErrUnreachable or ErrBusy when it should be tried again.
func (e *Engine) ExportRequests(ctx context.Context, requestIDs []string) error {
	ids, err := e.handedOff(ctx, requestIDs)
	if err != nil || len(ids) == 0 {
		return err
	}
	// A change made in the portal is the latest word on those attributes:
	// the next change from any connected system may flow in over it,
	// whatever its precedence.
	if _, err := e.Pool.Exec(ctx, `DELETE FROM mv_attribute_sources s USING requests r
		WHERE r.id = ANY ($1::text[]::uuid[]) AND r.operation = 'update_person' AND s.person_id = r.person_id
			AND r.changes ? s.attribute`, ids); err != nil {
		return fmt.Errorf("syncsvc: attribute sources: %w", err)
	}
	sc, err := e.requestScope(ctx, ids)
	if err != nil {
		return err
	}
	var systems []portal.ConnectedSystem
	if len(sc.people)+len(sc.groups) > 0 {
		if systems, err = e.exportingSystems(ctx); err != nil {
			return err
		}
	}
	// People wait for these changes: they go ahead of bulk work, to the
	// anchoring system first (see personFirst).
	ctx, release, err := e.personFirst(ctx, systems)
	if err != nil {
		return err
	}
	defer release()
	var retry error
	// Every system plans its share first, so that no request completes on
	// the first system's confirmation while another has yet to take it.
	for i := range systems {
		if err := e.planRequestsFor(ctx, &systems[i], ids); err != nil {
			if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrBusy) || ctx.Err() != nil {
				return fmt.Errorf("%w: %w", portal.ErrTemporary, err)
			}
			if ferr := e.failRequests(ctx, ids, systems[i].Name, err); ferr != nil {
				return ferr
			}
		}
	}
	// Every system has its share: from now on the requests complete as
	// soon as every export holding them is confirmed. (Before, a system's
	// cycle that carried and confirmed a change would have completed its
	// request before the job linked it to the other systems.)
	if err := pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error { return e.Requests.PlannedTx(ctx, tx, ids) }); err != nil {
		return err
	}
	// Planning synced each system once. A system anchored in another is
	// synced again after that one exported new accounts: the adds it
	// could not plan without their anchors are planned now.
	added := map[string]bool{}
	for i := range systems {
		resync := systems[i].Entra.AnchorSystemID != "" && added[systems[i].Entra.AnchorSystemID]
		adds, err := e.exportRequestsTo(ctx, &systems[i], ids, resync)
		added[systems[i].ID] = adds > 0
		switch {
		case err == nil:
		case errors.Is(err, ErrUnreachable), errors.Is(err, ErrBusy), ctx.Err() != nil:
			retry = err
		default:
			// This system cannot take the changes (a rule that no longer
			// compiles, say): the requesters and the administrators see
			// why; the other systems go on.
			if ferr := e.failRequests(ctx, ids, systems[i].Name, err); ferr != nil {
				return ferr
			}
		}
	}
	if retry != nil {
		return fmt.Errorf("%w: %w", portal.ErrTemporary, retry)
	}
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error { return e.Requests.SettleRequestsTx(ctx, tx, ids) })
}

// handedOff returns those of ids whose change still waits for the
// connected systems: committed, or failed by a refusal and retried.
// Requests that an earlier export carried and a confirmation completed
// (another request's sync took them along) are left out.
func (e *Engine) handedOff(ctx context.Context, ids []string) ([]string, error) {
	rows, err := e.Pool.Query(ctx, `SELECT id::text FROM requests WHERE id = ANY ($1::text[]::uuid[]) AND status IN ('committed', 'failed')
		ORDER BY id`, NonNil(ids))
	if err != nil {
		return nil, fmt.Errorf("syncsvc: read requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("syncsvc: read requests: %w", err)
	}
	return out, nil
}

// requestScope is the scope of the sync that carries the requests ids:
// the groups whose members they change, the people whose attributes they
// change, and the dynamic groups such a change moved the person in or out
// of (in the same transaction). Each request is linked only to the
// pending exports of its own objects.
func (e *Engine) requestScope(ctx context.Context, ids []string) (syncScope, error) {
	// A deleted group's request keeps the group's ID in its changes: the
	// sync deprovisions the object still joined to it.
	rows, err := e.Pool.Query(ctx, `SELECT r.id::text, r.person_id::text, NULL FROM requests r
			WHERE r.id = ANY ($1::text[]::uuid[]) AND r.operation IN ('update_person', 'create_person') AND r.person_id IS NOT NULL
		UNION ALL
		SELECT r.id::text, NULL, coalesce(r.group_id::text, r.changes->>'groupId') FROM requests r
			WHERE r.id = ANY ($1::text[]::uuid[]) AND r.operation IN ('add_member', 'remove_member', 'create_group', 'update_group', 'delete_group')
				AND coalesce(r.group_id::text, r.changes->>'groupId') IS NOT NULL
		UNION ALL
		SELECT DISTINCT r.id::text, NULL, c.group_id::text FROM requests r JOIN group_member_changes c ON c.at >= r.updated_at
			WHERE r.id = ANY ($1::text[]::uuid[]) AND r.operation IN ('update_person', 'create_person')`, ids)
	if err != nil {
		return syncScope{}, fmt.Errorf("syncsvc: scope of requests: %w", err)
	}
	defer rows.Close()
	sc := syncScope{}
	people, groups := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var l requestLink
		var person, group *string
		if err := rows.Scan(&l.request, &person, &group); err != nil {
			return syncScope{}, fmt.Errorf("syncsvc: scope of requests: %w", err)
		}
		if person != nil {
			l.person = *person
			if !people[l.person] {
				people[l.person] = true
				sc.people = append(sc.people, l.person)
			}
		}
		if group != nil {
			l.group = *group
			if !groups[l.group] {
				groups[l.group] = true
				sc.groups = append(sc.groups, l.group)
			}
		}
		sc.requests = append(sc.requests, l)
	}
	if err := rows.Err(); err != nil {
		return syncScope{}, fmt.Errorf("syncsvc: scope of requests: %w", err)
	}
	return sc, nil
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

// planRequestsFor syncs the people and groups of requests into sys's
// pending exports, linked to the requests, without sending them.
func (e *Engine) planRequestsFor(ctx context.Context, sys *portal.ConnectedSystem, ids []string) error {
	ctx, l, err := e.lock(ctx, sys.ID, personLockWait)
	if err != nil {
		return err
	}
	defer l.release(sys.ID)
	if ids, err = e.handedOff(ctx, ids); err != nil || len(ids) == 0 {
		return err
	}
	sc, err := e.requestScope(ctx, ids)
	if err != nil || len(sc.people)+len(sc.groups) == 0 {
		return err
	}
	_, err = e.syncObjects(ctx, sys, sc, &runRecord{e: e, flushed: time.Now()})
	return err
}

// exportRequestsTo carries the requests ids to one system: under the
// system's lock, the sync of every object they change when resync asks
// for one (planRequestsFor synced them already), one export of what waits
// for them, and the confirming import. It returns how many objects the
// export added.
func (e *Engine) exportRequestsTo(ctx context.Context, sys *portal.ConnectedSystem, ids []string, resync bool) (int, error) {
	ctx, l, err := e.lock(ctx, sys.ID, personLockWait)
	if err != nil {
		return 0, err
	}
	defer l.release(sys.ID)
	// Read again under the lock: an export that ran meanwhile may have
	// carried and confirmed some of them already.
	if ids, err = e.handedOff(ctx, ids); err != nil || len(ids) == 0 {
		return 0, err
	}
	// The sync's own counts stay out of the export run's record.
	scratch := &runRecord{e: e, flushed: time.Now()}
	if resync {
		sc, err := e.requestScope(ctx, ids)
		if err != nil || len(sc.people)+len(sc.groups) == 0 {
			return 0, err
		}
		if _, err := e.syncObjects(ctx, sys, sc, scratch); err != nil {
			return 0, err
		}
	}
	// Nothing of these requests waits for this system: their change went
	// out with an earlier export and was confirmed, or needs none. No
	// connection, no export run, no confirming import.
	var waiting bool
	if err := e.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM export_requests WHERE request_id = ANY ($1::text[]::uuid[]) AND system_id = $2)",
		ids, sys.ID).Scan(&waiting); err != nil {
		return 0, fmt.Errorf("syncsvc: exports of requests: %w", err)
	}
	if !waiting {
		return 0, nil
	}
	// While the system is down, retries leave no run behind: its status
	// says it is unreachable, and the pending export waits.
	conn, err := e.openForRequests(ctx, sys)
	if err != nil {
		e.setReachable(ctx, sys.ID, err)
		return 0, err
	}
	kept := false
	defer func() { e.keepForRequests(sys, conn, kept) }()
	rec, err := e.startRun(ctx, sys.ID, Export, RunOptions{Trigger: "request"})
	if err != nil {
		return 0, err
	}
	msg, err := e.exportWith(ctx, sys, conn, RunOptions{Trigger: "request"}, rec, ids)
	if err == nil {
		// The confirming import: a delta import right after the export.
		err = e.importWith(ctx, sys, conn, false, scratch)
		if err != nil && portal.ErrorCode(err) == portal.ECONFLICT {
			err = nil // no full import yet: the next one confirms
		}
	}
	rec.mu.Lock()
	adds := rec.counts.Adds
	rec.mu.Unlock()
	_, ferr := rec.finish(ctx, err, msg)
	if err != nil {
		return adds, err
	}
	// The connection did all that was asked of it: the next export of
	// requests takes it as it is.
	kept = ferr == nil && ctx.Err() == nil
	return adds, ferr
}

// personLockWait is how long a person's change waits for a system's run
// lock: a bulk export hands it over at its next chunk; an import or a
// sync holds it to its end, and the change is tried again later.
const personLockWait = 5 * time.Second

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
	ctx, l, err := e.lock(ctx, sys.ID, 0)
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
	opts := RunOptions{Trigger: "schedule", lock: l}
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

// failRequests marks the committed requests among ids failed with the
// reason one system gave.
func (e *Engine) failRequests(ctx context.Context, ids []string, systemName string, cause error) error {
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		return e.Requests.ExportsFailedTx(ctx, tx, ids,
			portal.Textf("%s could not take the change: %s", systemName, portal.ReasonOr(cause)))
	})
}
