package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// The sync engine carries committed requests to the connected systems and
// learns, inside its own transactions, how each export went. It changes a
// request's status and timeline only through the methods in this file,
// which take its transaction: they are the one owner of a request's life
// after commit. The interface they satisfy, syncsvc.RequestLife, is
// declared by syncsvc, as syncsvc.DynamicGroups is: portal knows nothing of
// pgx, and an interface declared there would have to pass the transaction
// as an `any` to be asserted back here, which hides the same dependency
// instead of naming it.

// ExportsFailedTx marks the committed requests among ids failed because a
// connected system refused their change (detail says why, in words for the
// requester), each with its timeline entry and audit entry. A request that
// failed already is left as it is, so each failure is told once. A failed
// request stays failed unless its values reach the system after all (the
// export is retried): then it completes.
func (db *DB) ExportsFailedTx(ctx context.Context, tx pgx.Tx, ids []string, detail portal.Text) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `WITH f AS (UPDATE requests SET status = 'failed', updated_at = now()
			WHERE id = ANY ($1::text[]::uuid[]) AND status = 'committed' RETURNING id),
		e AS (INSERT INTO request_events (request_id, kind, detail, detail_text) SELECT id, $2, $3, $4::jsonb FROM f)
		SELECT count(audit_append(NULL, 'request_failed', 'request', id::text, jsonb_build_object('detail', $3::text, 'detail_text', $4::jsonb)))
		FROM (SELECT id FROM f ORDER BY id) f`, ids, string(portal.KindExportFailed), detail.String(), storedText(detail))
	if err != nil {
		return fmt.Errorf("postgres: record failed exports: %w", err)
	}
	return nil
}

// ExportsConfirmedTx releases the requests whose changes to the system
// systemID (called systemName) were sent before sentBefore: an import that
// started then has read the system since. A request whose values are still
// the portal's says "exported"; one that a later change overtook says by
// which request, and is superseded once nothing else holds it.
func (db *DB) ExportsConfirmedTx(ctx context.Context, tx pgx.Tx, systemID, systemName string, sentBefore time.Time) error {
	return releaseExports(ctx, tx, "x.system_id = $1 AND x.sent_at IS NOT NULL AND x.sent_at <= $2", 2,
		[]any{systemID, sentBefore, systemName, exportedTo}, portal.KindExported, "format($4::text, $3::text)", "stored_text($4::text, $3::text)", nil)
}

// ExportsDroppedTx releases the requests waiting on the connector space
// objects csIDs of the system called systemName, before they are deleted
// or when nothing is left to send them, for the reason why:
// KindExported, the export deleted them (nothing is left to confirm);
// KindExportSkipped, they are gone from the system (deleted there, or out
// of scope) before the change was confirmed; "" (no timeline entry),
// nothing is left to export to them, and only the requests not yet sent
// are released.
func (db *DB) ExportsDroppedTx(ctx context.Context, tx pgx.Tx, systemName string, csIDs []int64, why portal.EventKind) error {
	if len(csIDs) == 0 {
		return nil
	}
	cond, detail, text := "x.cs_id = ANY ($1::bigint[])", "format($3::text, $2::text)", "stored_text($3::text, $2::text)"
	args := []any{csIDs, systemName}
	switch why {
	case "":
		cond += " AND x.sent_at IS NULL"
		args = args[:1] // every parameter must be used
		detail, text = "''", "NULL"
	case portal.KindExported:
		args = append(args, exportedTo)
	case portal.KindExportSkipped:
		args = append(args, goneThere)
		detail, text = "format($3::text, $2::text, c.dn)", "stored_text($3::text, $2::text, c.dn)"
	default:
		return fmt.Errorf("postgres: release exports: no such reason %q", why)
	}
	return releaseExports(ctx, tx, cond, 1, args, why, detail, text, nil)
}

// PlannedTx records that the sync_export job of the requests ids planned
// their change for every connected system: from now on they complete as
// soon as no export holds them (releaseExports), and not before.
func (db *DB) PlannedTx(ctx context.Context, tx pgx.Tx, ids []string) error {
	if _, err := tx.Exec(ctx, `UPDATE requests SET planned = true WHERE id = ANY ($1::text[]::uuid[]) AND NOT planned`, ids); err != nil {
		return fmt.Errorf("postgres: requests planned: %w", err)
	}
	return nil
}

// SettleRequestsTx ends the committed requests among ids that wait for no
// export: completed when their values are still the portal's, superseded
// when a later change overtook them.
func (db *DB) SettleRequestsTx(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return releaseExports(ctx, tx, "false", 0, nil, "", "''", "NULL", ids)
}

// releaseSystem releases every request waiting on the system systemID,
// which is being deleted.
func releaseSystem(ctx context.Context, tx pgx.Tx, systemID, systemName string) error {
	return releaseExports(ctx, tx, "x.system_id = $1", 1, []any{systemID, systemName, systemRemoved}, portal.KindExportSkipped,
		"format($3::text, $2::text)", "stored_text($3::text, $2::text)", nil)
}

// The timeline entries the statements here write, as their English
// formats: the statements write each one's English text (format) and its
// stored text (stored_text), which pages read in the reader's language.
var (
	exportedTo    = portal.Mark("Exported to %s")
	goneThere     = portal.Mark("%s no longer has %s: it was deleted or moved out of scope there before the change was confirmed.")
	systemRemoved = portal.Mark("%s was removed from Tessera before it confirmed the change.")
	// A later request overtook this one, by whom and in what; or a change
	// made elsewhere did.
	supersededByPerson = map[bool]string{
		true:  portal.Mark("Superseded by request %s of %s, a later change to the same attributes, before a connected system confirmed this one."),
		false: portal.Mark("Superseded by request %s of %s, a later change to the same membership, before a connected system confirmed this one."),
	}
	supersededByRequest = map[bool]string{
		true:  portal.Mark("Superseded by request %s, a later change to the same attributes, before a connected system confirmed this one."),
		false: portal.Mark("Superseded by request %s, a later change to the same membership, before a connected system confirmed this one."),
	}
	supersededElsewhere = portal.Mark("Superseded by a later change to the same values (made in a connected system or by an administrator) before a connected system confirmed this one.")
)

// personColumnsJSON maps each core attribute to its column, for SQL that
// reads a person's current values by a request's attribute names.
var personColumnsJSON = func() string {
	m := map[string]string{}
	for _, a := range portal.CoreSchema().All() {
		if a.Core() {
			m[a.Name] = a.Column
		}
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}()

// releaseExports is the one statement behind the methods above. It
// deletes the links between requests and connector space objects that
// cond selects (export_requests x joined to its object c; args are its
// parameters, of which cond uses the first nCond), writes a timeline entry of kind (none when empty) with the
// text detail and stored text text (SQL over x, c and args) for each request whose values are
// still the portal's, and then ends the committed requests among the
// released ones and settle that wait for nothing else and that their
// sync_export job planned for every system (PlannedTx): completed, or
// superseded (with the request that overtook them) when their values are
// no longer the portal's. A failed request completes only when its values
// were confirmed after all; otherwise it stays failed, and its timeline
// says which request overtook it.
//
// "Still the portal's" is how the sync engine's confirmation is read: a
// confirming import saw the system after the export, and the export
// carried the portal's current values, so they are the request's exactly
// when the portal still holds what the request asked for.
//
// Another system's sync may link one of these requests to its export
// while this runs (linkRequests in syncsvc/sync.go, which locks the
// requests it links FOR SHARE). So the requests are locked first, by a
// statement of their own, and the release reads the links in a statement
// that starts after it holds them: a lock waited for inside one statement
// hands over the newest row, but the statement's subqueries still read
// the links as they were when it started, and would miss a link that the
// transaction it waited for made, completing the request before that
// system confirmed it. The links this releases do not change meanwhile:
// they are the system's, and the system's run lock is held.
func releaseExports(ctx context.Context, tx pgx.Tx, cond string, nCond int, args []any, kind portal.EventKind, detail, text string, settle []string) error {
	lockArgs := append(append([]any{}, args[:nCond]...), settle)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM requests r WHERE r.id IN (SELECT x.request_id FROM export_requests x JOIN cs_objects c ON c.id = x.cs_id
			WHERE `+cond+`) OR r.id = ANY ($`+strconv.Itoa(nCond+1)+`::text[]::uuid[])
		ORDER BY r.id FOR UPDATE OF r`, lockArgs...); err != nil {
		return fmt.Errorf("postgres: lock requests to release: %w", err)
	}
	p := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	kindP, colsP, settleP := p(string(kind)), p(personColumnsJSON), p(settle)
	attrsByP, memberByP := p(supersededByPerson[true]), p(supersededByPerson[false])
	attrsP, memberP, elsewhereP := p(supersededByRequest[true]), p(supersededByRequest[false]), p(supersededElsewhere)
	sql := `WITH gone AS (DELETE FROM export_requests x USING cs_objects c WHERE c.id = x.cs_id AND ` + cond + `
			RETURNING x.cs_id, x.request_id, (` + detail + `)::text AS detail, (` + text + `)::jsonb AS text),
		cur AS (SELECT r.id, r.status, r.operation, r.changes, r.created_at, r.person_id, r.group_id, r.planned,
				CASE r.operation
				WHEN 'update_person' THEN NOT EXISTS (SELECT 1 FROM jsonb_each_text(r.changes) ch
					WHERE coalesce(CASE WHEN ` + colsP + `::jsonb ? ch.key THEN to_jsonb(p) ->> (` + colsP + `::jsonb ->> ch.key)
						ELSE p.extra ->> ch.key END, '') <> ch.value)
				WHEN 'add_member' THEN EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = r.group_id AND m.person_id = r.person_id)
				WHEN 'remove_member' THEN NOT EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = r.group_id AND m.person_id = r.person_id)
				ELSE true END AS current,
				NOT EXISTS (SELECT 1 FROM export_requests e WHERE e.request_id = r.id
					AND NOT EXISTS (SELECT 1 FROM gone g WHERE g.cs_id = e.cs_id AND g.request_id = e.request_id)) AS settled
			FROM requests r LEFT JOIN people p ON p.id = r.person_id
			WHERE r.id IN (SELECT request_id FROM gone) OR r.id = ANY (` + settleP + `::text[]::uuid[])
			-- Locked in ID order (as lockForApply locks), and read as the
			-- lock finds them: a concurrent release has not completed them.
			ORDER BY r.id FOR UPDATE OF r),
		overtaken AS (SELECT c.id, format(f.format, VARIADIC f.args) AS detail, stored_text(f.format, VARIADIC f.args) AS text,
				l.id AS by_id
			FROM cur c
			LEFT JOIN LATERAL (SELECT l.id, l.requester_id FROM requests l WHERE l.id <> c.id AND l.created_at >= c.created_at
					AND l.person_id = c.person_id AND l.status IN ('committed', 'completed', 'failed', 'superseded')
					AND CASE WHEN c.operation = 'update_person' THEN l.operation = 'update_person' AND l.changes ?| ARRAY(SELECT jsonb_object_keys(c.changes))
						ELSE l.group_id = c.group_id AND l.operation IN ('add_member', 'remove_member') END
				ORDER BY l.created_at DESC, l.id LIMIT 1) l ON true
			LEFT JOIN people lp ON lp.id = l.requester_id
			CROSS JOIN LATERAL (SELECT CASE
					WHEN l.id IS NULL THEN ` + elsewhereP + `
					WHEN lp.display_name IS NOT NULL AND c.operation = 'update_person' THEN ` + attrsByP + `
					WHEN lp.display_name IS NOT NULL THEN ` + memberByP + `
					WHEN c.operation = 'update_person' THEN ` + attrsP + `
					ELSE ` + memberP + ` END::text AS format,
				array_remove(ARRAY[l.id::text, lp.display_name], NULL) AS args) f
			WHERE NOT c.current),
		done AS (UPDATE requests q SET status = CASE WHEN c.current THEN 'completed' ELSE 'superseded' END, updated_at = now()
			FROM cur c WHERE q.id = c.id AND c.settled AND c.planned AND (c.status = 'committed'
				OR c.status = 'failed' AND c.current AND ` + kindP + ` = 'exported' AND c.id IN (SELECT request_id FROM gone))
			RETURNING q.id, q.status),
		noted AS (INSERT INTO request_events (request_id, kind, detail, detail_text)
			SELECT request_id, kind, detail, text FROM (
				SELECT DISTINCT 1 AS o, g.request_id, ` + kindP + `::text AS kind, g.detail, g.text FROM gone g JOIN cur c ON c.id = g.request_id
					WHERE ` + kindP + ` <> '' AND (` + kindP + ` <> 'exported' OR c.current)
				UNION ALL
				SELECT 2, d.id, d.status, coalesce(o.detail, ''), o.text FROM done d LEFT JOIN overtaken o ON o.id = d.id
				UNION ALL
				SELECT 2, c.id, 'superseded', o.detail, o.text FROM cur c JOIN overtaken o ON o.id = c.id WHERE c.status = 'failed'
					AND NOT EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = c.id AND e.kind = 'superseded')
			) t ORDER BY o, request_id)
		SELECT count(audit_append(NULL, 'request_' || d.status, 'request', d.id::text,
			CASE WHEN o.by_id IS NULL THEN '{}' ELSE jsonb_build_object('superseded_by', o.by_id) END))
		FROM (SELECT id, status FROM done ORDER BY id) d LEFT JOIN overtaken o ON o.id = d.id`
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("postgres: release requests from exports: %w", err)
	}
	return nil
}

// lockFailed locks the failed request id for an administrator's action on
// it, and reports whether it was applied (it has something to export).
func lockFailed(ctx context.Context, tx pgx.Tx, v portal.Viewer, id string, action portal.Text) (applied bool, err error) {
	if !v.Has(portal.RoleAdmin) {
		return false, portal.Errorf(portal.EFORBIDDEN, "Only administrators %s requests.", action)
	}
	if !validID(id) {
		return false, portal.Errorf(portal.ENOTFOUND, "There is no such request.")
	}
	var status string
	err = tx.QueryRow(ctx, `SELECT status, EXISTS (SELECT 1 FROM request_events WHERE request_id = r.id AND kind = 'committed')
		FROM requests r WHERE id = $1 FOR UPDATE`, id).Scan(&status, &applied)
	if isNoRows(err) {
		return false, portal.Errorf(portal.ENOTFOUND, "There is no such request.")
	} else if err != nil {
		return false, err
	}
	if portal.RequestStatus(status) != portal.StatusFailed {
		return false, portal.Errorf(portal.ECONFLICT, "Only a failed request can be retried or canceled: this one is %s.",
			portal.LowerLabel(portal.RequestStatus(status).Label()))
	}
	return applied, nil
}

// RetryRequest sends the change of a failed request again: the exports of
// it that a connected system refused are due now, and a sync_export job
// carries it to every system, in the transaction that writes its timeline
// entry and audit entry. The request completes when the systems confirm
// its values (ExportsConfirmedTx), and stays failed otherwise.
func (db *DB) RetryRequest(ctx context.Context, v portal.Viewer, id string) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		applied, err := lockFailed(ctx, tx, v, id, portal.Textf("retry"))
		if err != nil {
			return err
		}
		if !applied {
			return portal.Errorf(portal.ECONFLICT, "This request was never applied in Tessera, so there is nothing to export again; ask for the change anew.")
		}
		if _, err := tx.Exec(ctx, `UPDATE cs_objects SET export_next_at = now(), export_status = 'pending'
			WHERE id IN (SELECT cs_id FROM export_requests WHERE request_id = $1) AND export_status = 'error'`, id); err != nil {
			return err
		}
		// It completes once the job planned it for every system again.
		if _, err := tx.Exec(ctx, `UPDATE requests SET planned = false WHERE id = $1`, id); err != nil {
			return err
		}
		if err := db.insertJob(ctx, tx, workflow.SyncExportArgs{RequestIDs: []string{id}}, nil); err != nil {
			return err
		}
		return record(ctx, tx, id, "request_retried", nil,
			event{portal.KindRetried, v.PersonID, portal.Textf("The change is sent to the connected systems again.")})
	})
	return storeError("retry request", err)
}

// CancelFailedRequest ends a failed request as canceled, for reason: it no
// longer waits for any export, and its timeline and the audit log say who
// canceled it and why. What was applied in Tessera stays; an export that
// still differs stays on the system's Export errors page.
func (db *DB) CancelFailedRequest(ctx context.Context, v portal.Viewer, id, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return portal.Errorf(portal.EINVALID, "Say why the request is canceled; the requester reads it.")
	}
	if n := utf8.RuneCountInString(reason); n > portal.MaxJustification {
		return portal.Errorf(portal.EINVALID, "The reason is too long (%d characters); use at most %d.", n, portal.MaxJustification)
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := lockFailed(ctx, tx, v, id, portal.Textf("cancel")); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM export_requests WHERE request_id = $1`, id); err != nil {
			return err
		}
		return recordStatus(ctx, tx, id, portal.StatusCanceled, "request_canceled", map[string]any{"reason": reason},
			event{portal.KindCanceled, v.PersonID, portal.Textf("Canceled by an administrator: %s", reason)})
	})
	return storeError("cancel request", err)
}
