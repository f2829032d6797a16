package syncsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// importBatch is how many imported objects are written per round trip.
const importBatch = 500

// analyzeAfter is how many objects an import writes before the
// connector space's statistics are refreshed.
const analyzeAfter = 5000

// importRun is a full import (paged search) or a delta import (DirSync)
// into the connector space. conn may be nil: the run opens its own.
func (e *Engine) importRun(ctx context.Context, sys *portal.ConnectedSystem, full bool, rec *runRecord) error {
	return e.importWith(ctx, sys, nil, full, rec)
}

func (e *Engine) importWith(ctx context.Context, sys *portal.ConnectedSystem, conn Connector, full bool, rec *runRecord) error {
	// The database's clock, as the exports' sent_at: an export confirmed
	// by this import was sent before it began.
	var started time.Time
	if err := e.Pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&started); err != nil {
		return fmt.Errorf("syncsvc: clock: %w", err)
	}
	if conn == nil {
		var err error
		if conn, err = e.open(ctx, sys); err != nil {
			e.setReachable(ctx, sys.ID, err)
			return err
		}
		defer conn.Close()
	}
	var watermark []byte
	if err := e.Pool.QueryRow(ctx, "SELECT watermark FROM connected_systems WHERE id = $1", sys.ID).Scan(&watermark); err != nil {
		return fmt.Errorf("syncsvc: watermark: %w", err)
	}
	var batch []ImportedObject
	written := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		written += len(batch)
		err := e.writeImported(ctx, sys, batch, full, rec, conn)
		rec.progress(ctx, len(batch))
		batch = batch[:0]
		return err
	}
	collect := func(o ImportedObject) error {
		batch = append(batch, o)
		if len(batch) >= importBatch {
			return flush()
		}
		return nil
	}
	var err error
	if full {
		// The cookie comes first, so that changes made during the paged
		// search are seen again by the next delta import.
		if len(watermark) == 0 {
			watermark, err = conn.DeltaImport(ctx, nil, func(ImportedObject) error { return nil })
		}
		if err == nil {
			err = conn.FullImport(ctx, collect)
		}
	} else {
		if len(watermark) == 0 {
			return portal.Errorf(portal.ECONFLICT, "Run a full import of %s first; a delta import continues from it.", sys.Name)
		}
		watermark, err = conn.DeltaImport(ctx, watermark, collect)
		if errors.Is(err, ErrWatermarkExpired) {
			// The system can no longer say what changed (Graph's delta
			// tokens last seven days): read everything, as a full import,
			// so that what went meanwhile is seen gone too.
			e.logger().Info("delta watermark expired; running a full import", "system", sys.Name, "cause", err)
			batch, full = batch[:0], true
			if watermark, err = conn.DeltaImport(ctx, nil, func(ImportedObject) error { return nil }); err == nil {
				err = conn.FullImport(ctx, collect)
			}
		}
	}
	if err == nil {
		err = flush()
	}
	if err == nil && full {
		// A full import also reads how long the system's attributes may
		// be, for the portal to check requests against.
		err = e.readLimits(ctx, sys.ID, conn)
	}
	e.setReachable(ctx, sys.ID, unreachable(err))
	if err != nil {
		return err
	}
	if written >= analyzeAfter {
		// The sync that follows plans its statements by the statistics of
		// the connector space: planned for the few objects it had before
		// (a first HR file of 100,000 rows), resolving the references
		// scans the whole system once for each.
		if _, err := e.Pool.Exec(ctx, "ANALYZE cs_objects"); err != nil {
			return fmt.Errorf("syncsvc: statistics of the connector space: %w", err)
		}
	}
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		if full {
			// What the full import did not see is gone from the system;
			// the requests waiting on it learn so before it goes.
			rows, err := tx.Query(ctx, `SELECT id, dn FROM cs_objects WHERE system_id = $1 AND anchor IS NOT NULL
				AND seen_run IS DISTINCT FROM $2`, sys.ID, rec.id)
			if err != nil {
				return err
			}
			var ids []int64
			var dns []string
			var id int64
			var dn string
			if _, err := pgx.ForEachRow(rows, []any{&id, &dn}, func() error {
				ids, dns = append(ids, id), append(dns, dn)
				return nil
			}); err != nil {
				return err
			}
			if len(ids) > 0 {
				if err := e.Requests.ExportsDroppedTx(ctx, tx, sys.Name, ids, portal.KindExportSkipped); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "DELETE FROM cs_objects WHERE id = ANY($1)", ids); err != nil {
					return err
				}
			}
			for _, dn := range dns {
				rec.count("delete", dn, portal.Textf("no longer in the connected system"))
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE connected_systems SET watermark = $2 WHERE id = $1", sys.ID, watermark); err != nil {
			return err
		}
		// The exports sent before this import began are confirmed: it
		// read the system after them.
		return e.Requests.ExportsConfirmedTx(ctx, tx, sys.ID, sys.Name, started)
	})
}

// unreachable returns err when it says the system did not answer.
func unreachable(err error) error {
	if err != nil && errors.Is(err, ErrUnreachable) {
		return err
	}
	return nil
}

// writeImported stores a batch of imported objects in the connector space.
func (e *Engine) writeImported(ctx context.Context, sys *portal.ConnectedSystem, objs []ImportedObject, full bool, rec *runRecord, conn Connector) error {
	systemID := sys.ID
	anchors := make([]string, len(objs))
	for i, o := range objs {
		anchors[i] = o.Anchor
	}
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, csSelect+" WHERE system_id = $1 AND anchor = ANY($2)", systemID, anchors)
		if err != nil {
			return err
		}
		known, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CSObject, error) { return scanCS(row) })
		if err != nil {
			return err
		}
		byAnchor := make(map[string]*CSObject, len(known))
		for _, o := range known {
			byAnchor[o.Anchor] = o
		}
		b := &pgx.Batch{}
		var gone, unchanged []int64
		var adds struct{ anchors, dns, attrs, classes, changed, accounts []string }
		var upd struct {
			ids                 []int64
			dns, attrs, changed []string
		}
		for _, o := range objs {
			cur := byAnchor[o.Anchor]
			if o.Deleted {
				if cur != nil {
					gone = append(gone, cur.ID)
					b.Queue(`DELETE FROM cs_objects WHERE id = $1`, cur.ID)
					rec.count("delete", cur.DN, portal.Textf("deleted or moved out of scope"))
				}
				continue
			}
			if cur == nil && o.Class == "" {
				// A delta for an object never seen: moved into scope, it
				// carries only what changed. Read it whole.
				whole, err := conn.Read(ctx, o.Anchor, "")
				if errors.Is(err, ErrNoSuchObject) || (err == nil && whole.Class == "") {
					continue // gone again, or not a user or group
				} else if err != nil {
					// Skipping it would lose the object for good: the
					// watermark moves past its change.
					return fmt.Errorf("syncsvc: read %s, moved into scope: %w", o.DN, err)
				}
				o = whole
			}
			attrs := foldAttrs(o.Attributes)
			if cur == nil {
				data, err := json.Marshal(attrs)
				if err != nil {
					return err
				}
				changed, _ := json.Marshal(changedAttrs(nil, attrs))
				adds.anchors, adds.dns, adds.attrs = append(adds.anchors, o.Anchor), append(adds.dns, o.DN), append(adds.attrs, string(data))
				adds.classes, adds.changed = append(adds.classes, string(o.Class)), append(adds.changed, string(changed))
				adds.accounts = append(adds.accounts, firstValue(attrs, "samaccountname"))
				rec.count("add", o.DN, portal.Text{})
				continue
			}
			merged := attrs
			if !full {
				// A delta carries only what changed.
				merged = maps.Clone(cur.Attrs)
				if merged == nil {
					merged = map[string][]string{}
				}
				maps.Copy(merged, attrs)
				if len(o.MembersAdded) > 0 || len(o.MembersRemoved) > 0 {
					merged["member"] = applyMembers(merged["member"], o.MembersAdded, o.MembersRemoved)
				}
			}
			kind := "unchanged"
			switch {
			case !SameDN(cur.DN, o.DN):
				_, a := SplitDN(cur.DN)
				_, b := SplitDN(o.DN)
				kind = "move"
				if SameDN(a, b) {
					kind = "rename"
				}
			case len(changedAttrs(cur.Attrs, merged)) > 0:
				kind = "update"
			}
			if kind == "rename" || kind == "move" {
				queueMemberRename(b, systemID, cur.DN, o.DN)
			}
			if kind == "unchanged" {
				unchanged = append(unchanged, cur.ID)
			} else {
				data, err := json.Marshal(merged)
				if err != nil {
					return err
				}
				changed, _ := json.Marshal(changedAttrs(cur.Attrs, merged))
				upd.ids, upd.dns = append(upd.ids, cur.ID), append(upd.dns, o.DN)
				upd.attrs, upd.changed = append(upd.attrs, string(data)), append(upd.changed, string(changed))
			}
			rec.count(kind, o.DN, portal.Text{})
		}
		// The requests waiting on the deleted objects learn so first.
		if err := e.Requests.ExportsDroppedTx(ctx, tx, sys.Name, gone, portal.KindExportSkipped); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		// The objects seen as they were, those changed, and the new ones:
		// a statement each for the whole batch.
		if _, err := tx.Exec(ctx, "UPDATE cs_objects SET seen_run = $2, imported_at = now() WHERE id = ANY($1)",
			unchanged, nullRun(rec.id)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cs_objects c SET dn = u.dn, attributes = u.attrs, seen_run = $5, imported_at = now(),
				pending_import = true, changed_attrs = ARRAY(SELECT DISTINCT unnest(c.changed_attrs ||
					ARRAY(SELECT jsonb_array_elements_text(u.changed))))
			FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::jsonb[]) AS u(id, dn, attrs, changed) WHERE c.id = u.id`,
			upd.ids, upd.dns, upd.attrs, upd.changed, nullRun(rec.id)); err != nil {
			return err
		}
		if len(adds.anchors) == 0 {
			return nil
		}
		// An object Tessera created and lost track of (a crash between the
		// add and its record) is adopted: at its DN, with the account name
		// Tessera gave it, and nothing else.
		_, err = tx.Exec(ctx, `WITH v AS (SELECT * FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::text[], $6::jsonb[], $7::text[])
				WITH ORDINALITY AS v(anchor, dn, attrs, class, changed, account, n)),
			adopted AS (UPDATE cs_objects c SET anchor = v.anchor, attributes = v.attrs, seen_run = $8, imported_at = now(),
					pending_import = true, changed_attrs = ARRAY(SELECT jsonb_array_elements_text(v.changed))
				FROM v WHERE c.id = (SELECT id FROM cs_objects WHERE system_id = $1 AND anchor IS NULL AND lower(dn) = lower(v.dn)
					AND EXISTS (SELECT 1 FROM json_array_elements(export_changes) x
						WHERE lower(x->>'Name') = 'samaccountname' AND lower(x->'Values'->>0) = lower(v.account))
					LIMIT 1)
				RETURNING v.n)
			INSERT INTO cs_objects (system_id, anchor, dn, class, attributes, seen_run, imported_at, pending_import, changed_attrs)
			SELECT $1, v.anchor, v.dn, v.class, v.attrs, $8, now(), true, ARRAY(SELECT jsonb_array_elements_text(v.changed))
			FROM v WHERE v.n NOT IN (SELECT n FROM adopted) ORDER BY v.n`,
			systemID, adds.anchors, adds.dns, adds.attrs, adds.classes, adds.changed, adds.accounts, nullRun(rec.id))
		return err
	})
}

func firstValue(attrs map[string][]string, name string) string {
	if v := attrs[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func nullRun(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// foldAttrs keys attributes by lower-case name and keeps only values
// that are text: Postgres JSON holds no NUL, nor bytes that are not UTF-8
// (binary attributes are not synced).
func foldAttrs(in map[string][]string) map[string][]string {
	out := make(map[string][]string, len(in))
	for k, v := range in {
		clean := v[:0:0]
		for _, s := range v {
			if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
				clean = append(clean, s)
			}
		}
		out[fold(k)] = clean
	}
	return out
}

func applyMembers(cur, added, removed []string) []string {
	drop := map[string]bool{}
	for _, m := range removed {
		drop[fold(m)] = true
	}
	var out []string
	have := map[string]bool{}
	for _, m := range cur {
		if !drop[fold(m)] && !have[fold(m)] {
			out = append(out, m)
			have[fold(m)] = true
		}
	}
	for _, m := range added {
		if !have[fold(m)] {
			out = append(out, m)
			have[fold(m)] = true
		}
	}
	return out
}

var volatile = map[string]bool{"whenchanged": true, "usnchanged": true}

// changedAttrs lists the attributes whose values differ between before
// and after (every one of after when before is nil).
func changedAttrs(before, after map[string][]string) []string {
	out := []string{}
	for k, v := range after {
		if volatile[k] {
			continue
		}
		x, y := slices.Clone(before[k]), slices.Clone(v)
		slices.Sort(x)
		slices.Sort(y)
		if before == nil || !slices.Equal(x, y) {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok && !volatile[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
