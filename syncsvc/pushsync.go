package syncsvc

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// A source that pushes whole files (HR) brings 100,000 rows at once, most
// of them as they were. Reading them back object by object, as a
// directory's import does, costs minutes; here the source writes the
// objects it changes into a temporary table, and the import and the sync
// are statements over that table and the connector space: one UPDATE for
// the changed objects, one INSERT for the new ones, one UPDATE per join
// rule, and inbound flows computed by a join with the people. Only the
// values that differ come back to Go, where they are checked and written
// as any sync writes them (applyInbound, applyReferences, projections).

// ImportObjects is the temporary table a pushed import reads: one row per
// object the source changes, with its whole new attributes (lower-case
// name → values), as a connector space keeps them, and the digest of the
// source's row that gives them (NULL: none), which the object keeps
// (cs_objects.source_digest) for the source to skip that row next time.
// A row without attributes changes only the object's digest.
const ImportObjects = "pg_temp.import_objects"

// PrepareImport creates ImportObjects in tx, empty, for the rest of tx,
// and sets tx up for statements over a whole file (BulkTx).
func PrepareImport(ctx context.Context, tx pgx.Tx) error {
	if err := BulkTx(ctx, tx); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS import_objects (anchor text PRIMARY KEY, attrs jsonb, digest bytea)
		ON COMMIT DROP`)
	if err != nil {
		return fmt.Errorf("syncsvc: import table: %w", err)
	}
	_, err = tx.Exec(ctx, "TRUNCATE "+ImportObjects)
	return err
}

// BulkTx sets tx up for statements over 100,000 rows at once. Without
// JIT: their estimated costs are far over jit_above_cost, and compiling
// them with inlining and optimisation took 1.6 s of a first HR file's
// 100,000-row import and sync (0.4 s for the joins, 1.1 s for the inbound
// flows, each run once) to save far less. With memory enough for their
// sorts and hashes of 100,000 rows, which spilled to disk in 4 MB (the
// joins sorted 40 MB of objects by employee ID on disk).
func BulkTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"); err != nil {
		return fmt.Errorf("syncsvc: bulk settings: %w", err)
	}
	return nil
}

// ImportStaged imports into systemID, a source Tessera never writes to,
// the objects fill writes into ImportObjects (fill runs in the import's
// transaction, after PrepareImport), then syncs the system set-based,
// both recorded in run history, and sets watermark as the system's delta
// cookie. It returns the import run and the people whose attributes the
// sync changed or created, as ImportFrom does.
func (e *Engine) ImportStaged(ctx context.Context, systemID, trigger string, watermark []byte,
	fill func(ctx context.Context, tx pgx.Tx) error) (*Run, []string, error) {
	return e.importThenSync(ctx, systemID, trigger, func(ctx context.Context, sys *portal.ConnectedSystem, full bool, rec *runRecord) error {
		return e.importStaged(ctx, sys, watermark, fill, rec)
	}, e.pushSyncRun)
}

// importStaged writes what fill stages into the connector space.
func (e *Engine) importStaged(ctx context.Context, sys *portal.ConnectedSystem, watermark []byte,
	fill func(ctx context.Context, tx pgx.Tx) error, rec *runRecord) error {
	var started time.Time
	if err := e.Pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&started); err != nil {
		return fmt.Errorf("syncsvc: clock: %w", err)
	}
	written := 0
	err := pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		if err := PrepareImport(ctx, tx); err != nil {
			return err
		}
		if err := fill(ctx, tx); err != nil {
			return err
		}
		// Its size and its anchors, for the joins with the connector
		// space below; the attributes' JSON, which the statements below
		// do not filter on, took most of the time of analyzing it.
		if _, err := tx.Exec(ctx, "ANALYZE "+ImportObjects+" (anchor, digest)"); err != nil {
			return err
		}
		// Objects whose row is new but gives what they hold: their digest.
		if _, err := tx.Exec(ctx, `UPDATE cs_objects c SET source_digest = i.digest FROM `+ImportObjects+` i
			WHERE i.attrs IS NULL AND c.system_id = $1 AND c.anchor = i.anchor`, sys.ID); err != nil {
			return err
		}
		// Changed objects: their attributes, and which of them changed
		// (those, and only those, flow in).
		rows, err := tx.Query(ctx, `UPDATE cs_objects c SET attributes = i.attrs, source_digest = i.digest, seen_run = $2, imported_at = now(),
				pending_import = true, changed_attrs = ARRAY(SELECT DISTINCT unnest(c.changed_attrs || ARRAY(
					SELECT e.key FROM jsonb_each(i.attrs) e WHERE c.attributes->e.key IS DISTINCT FROM e.value
					UNION SELECT b.key FROM jsonb_each(c.attributes) b WHERE NOT i.attrs ? b.key)))
			FROM `+ImportObjects+` i WHERE c.system_id = $1 AND c.anchor = i.anchor AND c.attributes <> i.attrs
			RETURNING c.dn`, sys.ID, nullRun(rec.id))
		if err != nil {
			return err
		}
		var dn string
		if _, err := pgx.ForEachRow(rows, []any{&dn}, func() error {
			rec.count("update", dn, portal.Text{})
			written++
			return nil
		}); err != nil {
			return err
		}
		// New objects: every attribute is a change. A row's anchor is its
		// DN, the name by which other rows refer to it.
		rows, err = tx.Query(ctx, `INSERT INTO cs_objects (system_id, anchor, dn, class, attributes, source_digest, seen_run, imported_at,
				pending_import, changed_attrs)
			SELECT $1, i.anchor, i.anchor, 'user', i.attrs, i.digest, $2, now(), true, ARRAY(SELECT jsonb_object_keys(i.attrs))
			FROM `+ImportObjects+` i WHERE i.attrs IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cs_objects c WHERE c.system_id = $1 AND c.anchor = i.anchor)
			ORDER BY i.anchor RETURNING dn`, sys.ID, nullRun(rec.id))
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&dn}, func() error {
			rec.count("add", dn, portal.Text{})
			written++
			return nil
		}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE connected_systems SET watermark = $2 WHERE id = $1", sys.ID, watermark); err != nil {
			return err
		}
		return e.Requests.ExportsConfirmedTx(ctx, tx, sys.ID, sys.Name, started)
	})
	rec.progress(ctx, written)
	if err != nil {
		return fmt.Errorf("syncsvc: import into %s: %w", sys.Name, err)
	}
	if written >= analyzeAfter {
		// The sync plans its joins by the connector space's statistics.
		if _, err := e.Pool.Exec(ctx, "ANALYZE cs_objects"); err != nil {
			return fmt.Errorf("syncsvc: statistics of the connector space: %w", err)
		}
	}
	return nil
}

// simpleFlow is an inbound flow that copies one attribute as it is
// (cs.title): the shape of an HR source's flows, which SQL can compare.
var simpleFlow = regexp.MustCompile(`^\s*cs\.([A-Za-z][A-Za-z0-9_-]*)\s*$`)

// setBased reports whether a system's rules are ones pushSyncRun computes
// in SQL: users only, everyone in scope, nothing provisioned, joined on
// text columns, with flows that copy one attribute each. Other rules
// sync as any delta sync does.
func (rs *rules) setBased() bool {
	if rs.users == nil || rs.group != nil || rs.users.Provision || rs.users.Scope != "" {
		return false
	}
	for _, a := range rs.users.joinAttrs {
		if a == nil || !a.Joinable() {
			return false
		}
	}
	for i, f := range rs.users.Inbound {
		a := rs.users.inboundAttrs[i]
		if !simpleFlow.MatchString(f.Expr) || a.Type == portal.TypeReference && a.Column == "" {
			return false
		}
	}
	return true
}

// currentText is the SQL text of person p's value of a, as a.Text gives it.
func currentText(a *portal.Attribute, arg func(any) string) string {
	if a.Core() {
		return "coalesce(p." + pgx.Identifier{a.Column}.Sanitize() + "::text, '')"
	}
	return "coalesce(p.extra->>" + arg(a.Name) + ", '')"
}

// pushSyncRun is the delta sync of a pushed import: it joins, projects
// and flows in the objects the import changed, with the same rules as
// syncPerson, computed over the whole batch at once.
func (e *Engine) pushSyncRun(ctx context.Context, sys *portal.ConnectedSystem, rec *runRecord) error {
	rs, err := e.loadRules(ctx, e.Pool, sys.ID)
	if err != nil {
		return err
	}
	if !rs.setBased() {
		return e.deltaSyncRun(ctx, sys, rec)
	}
	r := rs.users
	out := &changeSet{}
	tx, err := e.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit: nothing to roll back
	if err := BulkTx(ctx, tx); err != nil {
		return err
	}
	// Joins, rule by rule: an unjoined object whose value names exactly
	// one person not joined in this system yet, and that person no other
	// unjoined object. They are written with the objects' taken-in state
	// below, in one pass over the objects.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS push_joins (cs_id bigint PRIMARY KEY, person_id uuid NOT NULL UNIQUE)
		ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `TRUNCATE push_joins`); err != nil {
		return err
	}
	for i, j := range r.JoinRules {
		col := pgx.Identifier{r.joinAttrs[i].Column}.Sanitize()
		rows, err := tx.Query(ctx, `WITH cand AS (
				SELECT c.id, c.dn, p.id AS pid, p.display_name, count(*) OVER (PARTITION BY c.id) AS per_object,
					count(*) OVER (PARTITION BY p.id) AS per_person
				FROM cs_objects c JOIN people p ON lower(p.`+col+`) = lower(c.attributes->$2->>0)
				WHERE c.system_id = $1 AND c.pending_import AND c.class = 'user' AND c.anchor IS NOT NULL AND c.person_id IS NULL
					AND c.group_id IS NULL AND coalesce(c.attributes->$2->>0, '') <> ''
					AND NOT EXISTS (SELECT 1 FROM cs_objects o WHERE o.system_id = $1 AND o.person_id = p.id)
					AND NOT EXISTS (SELECT 1 FROM push_joins o WHERE o.cs_id = c.id)
					AND NOT EXISTS (SELECT 1 FROM push_joins o WHERE o.person_id = p.id)),
			ins AS (INSERT INTO push_joins (cs_id, person_id) SELECT id, pid FROM cand WHERE per_object = 1 AND per_person = 1)
			SELECT dn, display_name FROM cand WHERE per_object = 1 AND per_person = 1`, sys.ID, fold(j.CS))
		if err != nil {
			return fmt.Errorf("syncsvc: joins: %w", err)
		}
		var dn, name string
		if _, err := pgx.ForEachRow(rows, []any{&dn, &name}, func() error {
			rec.count("join", dn, portal.Textf("%s", name))
			out.joinedInPlace++
			return nil
		}); err != nil {
			return fmt.Errorf("syncsvc: joins: %w", err)
		}
	}
	if r.Projection {
		rows, err := tx.Query(ctx, csSelect+` WHERE system_id = $1 AND pending_import AND class = 'user' AND anchor IS NOT NULL
			AND person_id IS NULL AND group_id IS NULL AND id NOT IN (SELECT cs_id FROM push_joins) ORDER BY id`, sys.ID)
		if err != nil {
			return err
		}
		objs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CSObject, error) { return scanCS(row) })
		if err != nil {
			return err
		}
		for _, cs := range objs {
			project(r, cs, out, rec)
		}
	}
	if err := e.pushInbound(ctx, tx, sys, r, out, rec); err != nil {
		return err
	}
	// The objects taken in, with their joins: their changes flowed (the
	// projected ones', as their people are written below).
	taken, err := tx.Exec(ctx, `UPDATE cs_objects c SET person_id = coalesce(t.person_id, c.person_id),
			join_error = CASE WHEN t.person_id IS NULL THEN c.join_error ELSE '' END, pending_import = false, changed_attrs = '{}'
		FROM (SELECT o.id, j.person_id FROM cs_objects o LEFT JOIN push_joins j ON j.cs_id = o.id
			WHERE o.system_id = $1 AND o.pending_import
			UNION ALL SELECT j.cs_id, j.person_id FROM push_joins j JOIN cs_objects o ON o.id = j.cs_id AND NOT o.pending_import) t
		WHERE c.id = t.id`, sys.ID)
	if err != nil {
		return err
	}
	if err := e.writeChanges(ctx, tx, sys, syncScope{}, out); err != nil {
		return fmt.Errorf("syncsvc: write sync results: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("syncsvc: write sync results: %w", err)
	}
	if taken.RowsAffected() >= analyzeAfter {
		// The import's statistics counted these objects as pending; the
		// next file's few would be planned as if they were all still.
		// Every column, whichever the sync writes now or later: the
		// attributes' JSON, which took most of a whole ANALYZE's time,
		// has no statistics kept (migration 0075).
		if _, err := e.Pool.Exec(ctx, "ANALYZE cs_objects"); err != nil {
			return fmt.Errorf("syncsvc: statistics of the connector space: %w", err)
		}
	}
	_, err = e.Pool.Exec(ctx, `WITH g AS (DELETE FROM group_member_changes WHERE at < now() - interval '1 day')
		DELETE FROM sync_runs WHERE system_id = $1 AND finished_at < now() - make_interval(days => $2)`, sys.ID, RunHistoryDays)
	return err
}

// pushInbound finds, for the joined objects the import changed, each
// inbound flow's value that differs from the person's, where no system
// of higher precedence holds the attribute, and adds it to out as
// syncPerson would: checked (a flag, an extra attribute's type), or as a
// reference to resolve.
func (e *Engine) pushInbound(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, r *compiledRule, out *changeSet, rec *runRecord) error {
	if len(r.Inbound) == 0 {
		return nil
	}
	args := []any{sys.ID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var values, cur, refCur []string
	for i, f := range r.Inbound {
		a := r.inboundAttrs[i]
		key := fold(simpleFlow.FindStringSubmatch(f.Expr)[1])
		values = append(values, fmt.Sprintf("(%d, %s::text, %s::text, %s::int, %t)", i, arg(f.MV), arg(key), arg(f.Precedence),
			a.Type == portal.TypeReference))
		if a.Type == portal.TypeReference {
			refCur = append(refCur, fmt.Sprintf("WHEN %d THEN p.%s", i, pgx.Identifier{a.Column}.Sanitize()))
			continue
		}
		cur = append(cur, fmt.Sprintf("WHEN %d THEN %s", i, currentText(a, arg)))
	}
	curText, refID := "''", "NULL::uuid"
	if len(cur) > 0 {
		curText = "CASE f.i " + strings.Join(cur, " ") + " END"
	}
	if len(refCur) > 0 {
		refID = "CASE f.i " + strings.Join(refCur, " ") + " END"
	}
	// A reference's target is the person joined to the object of that
	// name in this system (joined already, or by this sync); the value
	// differs when it names another person or nobody yet (then it waits
	// in mv_references).
	rows, err := tx.Query(ctx, `WITH f(i, mv, key, prec, ref) AS (VALUES `+strings.Join(values, ", ")+`),
			v AS (SELECT c.id, c.dn, p.id AS person_id, f.i, f.ref, coalesce(c.attributes->f.key->>0, '') AS value, `+curText+` AS cur,
					`+refID+` AS cur_ref
				FROM cs_objects c LEFT JOIN push_joins j ON j.cs_id = c.id JOIN people p ON p.id = coalesce(c.person_id, j.person_id)
					JOIN f ON f.key = ANY(c.changed_attrs)
				WHERE c.system_id = $1 AND c.pending_import
					AND NOT EXISTS (SELECT 1 FROM mv_attribute_sources s WHERE s.person_id = p.id AND s.attribute = f.mv
						AND s.system_id <> $1 AND s.precedence < f.prec))
		SELECT v.id, v.dn, v.person_id::text, v.i, v.value, coalesce(v.cur, '') FROM v
			LEFT JOIN LATERAL (SELECT coalesce(o.person_id, oj.person_id) AS person_id FROM cs_objects o
				LEFT JOIN push_joins oj ON oj.cs_id = o.id WHERE v.ref AND v.value <> '' AND o.system_id = $1 AND lower(o.dn) = lower(v.value)
				ORDER BY coalesce(o.person_id, oj.person_id) IS NULL LIMIT 1) t ON true
		WHERE CASE WHEN v.ref THEN t.person_id IS DISTINCT FROM v.cur_ref OR v.value <> '' AND t.person_id IS NULL
			ELSE v.value <> v.cur END
		ORDER BY v.id, v.i`, args...)
	if err != nil {
		return fmt.Errorf("syncsvc: inbound flows: %w", err)
	}
	var csID int64
	var dn, pid, value, current string
	var i int
	// An object one of whose flows fails takes none of them, as a sync of
	// it alone would.
	failed, failedCS := map[string]bool{}, map[int64]bool{}
	_, err = pgx.ForEachRow(rows, []any{&csID, &dn, &pid, &i, &value, &current}, func() error {
		f, a := r.Inbound[i], r.inboundAttrs[i]
		switch {
		case a.Type == portal.TypeReference:
			out.refs = append(out.refs, refChange{csID: csID, attr: f.MV, target: value, precedence: f.Precedence})
			return nil
		case a.Type == portal.TypeBool:
			b, err := strconv.ParseBool(value)
			if err != nil {
				rec.count("error", dn, portal.Reason(portal.Errorf(portal.EINVALID, "inbound flow to %s gave %q, not true or false", f.MV, value)))
				failed[pid], failedCS[csID] = true, true
				return nil
			}
			value = strconv.FormatBool(b)
		case !a.Core():
			v, err := a.CheckValue(value)
			if err != nil {
				rec.count("error", dn, portal.Reason(portal.Errorf(portal.EINVALID, "inbound flow to %s: %s", f.MV, portal.Reason(err))))
				failed[pid], failedCS[csID] = true, true
				return nil
			}
			value = v
		}
		if value != current {
			out.inbound = append(out.inbound, inboundChange{pid, f.MV, value, f.Precedence, a})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("syncsvc: inbound flows: %w", err)
	}
	if len(failed) > 0 {
		out.inbound = slices.DeleteFunc(out.inbound, func(c inboundChange) bool { return failed[c.PersonID] })
		out.refs = slices.DeleteFunc(out.refs, func(c refChange) bool { return failedCS[c.csID] })
	}
	return nil
}
