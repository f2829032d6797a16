package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// A reference attribute (the manager) holds another person's portal ID.
// Connected systems name that person their own way: AD by the DN of their
// account, an HR file by their employee ID (the DN of an HR row). Both are
// the name of an object in the same connector space, so an inbound flow's
// value is resolved there: to the person joined to the object of that
// name. A name that no joined object has yet (a manager hired in a later
// file, or further down this one) waits in mv_references and is resolved
// by the sync that joins or projects that object. Outbound, a flow that
// copies a reference as it is (person.managerId) writes the DN of the
// referenced person's object in the system.

// refChange sets a person's reference attribute from the connector space
// object csID: target names the referenced object in the same system
// (empty: clear the reference).
type refChange struct {
	csID       int64
	attr       string
	target     string
	precedence int
}

// applyReferences records refs as pending, then resolves every pending
// reference of the system whose target has a person now: it sets those
// people's attributes, records the source and audits each change. It
// returns the people whose references changed.
func applyReferences(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, refs []refChange) ([]string, error) {
	if len(refs) > 0 {
		ids, attrs, targets, precs := make([]int64, len(refs)), make([]string, len(refs)), make([]string, len(refs)), make([]int32, len(refs))
		for i, r := range refs {
			ids[i], attrs[i], targets[i], precs[i] = r.csID, r.attr, r.target, int32(r.precedence)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mv_references (cs_id, attribute, target, precedence)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[])
			ON CONFLICT (cs_id, attribute) DO UPDATE SET target = excluded.target, precedence = excluded.precedence`,
			ids, attrs, targets, precs); err != nil {
			return nil, fmt.Errorf("syncsvc: pending references: %w", err)
		}
	}
	// Every pending reference of the system whose object has a person and
	// whose target is resolved (or empty, which clears it). The target is
	// found by its name (cs_objects_dn), never by a walk of the system's
	// joined objects, which a sync that joined 100,000 of them would
	// otherwise make for each reference: the statistics still say none is.
	// Each pending reference finds its object by its key (the fence, OFFSET
	// 0): by those statistics, the planner walked the whole system's
	// objects (cs_objects_person by system, 100,000 after a first HR file,
	// 0.44 s) to probe the few pending references with each.
	rows, err := tx.Query(ctx, `SELECT m.cs_id, m.attribute, m.precedence, src.person_id::text, coalesce(t.person_id::text, '')
		FROM mv_references m JOIN LATERAL (SELECT s.system_id, s.person_id FROM cs_objects s WHERE s.id = m.cs_id OFFSET 0) src ON true
		LEFT JOIN LATERAL (SELECT o.person_id FROM cs_objects o WHERE o.system_id = src.system_id AND lower(o.dn) = lower(m.target)
			ORDER BY o.person_id IS NULL LIMIT 1) t ON true
		WHERE src.system_id = $1 AND src.person_id IS NOT NULL AND (m.target = '' OR t.person_id IS NOT NULL)`, sys.ID)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: resolve references: %w", err)
	}
	type resolved struct {
		CSID       int64
		Attr       string
		Precedence int
		Person     string
		Target     string
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[resolved])
	if err != nil {
		return nil, fmt.Errorf("syncsvc: resolve references: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	byAttr := map[string][]resolved{}
	// Only the references resolved are done: an object's other
	// reference attributes may still wait for their person.
	done, doneAttrs := make([]int64, 0, len(list)), make([]string, 0, len(list))
	for _, r := range list {
		byAttr[r.Attr] = append(byAttr[r.Attr], r)
		done, doneAttrs = append(done, r.CSID), append(doneAttrs, r.Attr)
	}
	var changed []string
	for attr, list := range byAttr {
		a, ok := portal.CoreSchema().Lookup(attr)
		core := ok
		if !ok {
			// An extra reference attribute: the live table says so.
			var isRef bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM attribute_schema WHERE name = $1 AND type = 'reference')", attr).
				Scan(&isRef); err != nil {
				return nil, fmt.Errorf("syncsvc: resolve references: %w", err)
			}
			ok = isRef
			a = &portal.Attribute{Name: attr, Type: portal.TypeReference}
		}
		if !ok || a.Type != portal.TypeReference || !a.InboundTarget() {
			return nil, fmt.Errorf("syncsvc: inbound flow to %q, which is not a reference attribute it can set", attr)
		}
		people, targets, precs := make([]string, len(list)), make([]*string, len(list)), make([]int32, len(list))
		for i, r := range list {
			people[i], precs[i] = r.Person, int32(r.Precedence)
			if r.Target != "" {
				targets[i] = &list[i].Target
			}
		}
		// A core reference is a uuid column; an extra one the person's ID
		// as text in people.extra ($4 names it), removed when cleared, as
		// a request removes it.
		cur, set := "", ""
		if core {
			col := pgx.Identifier{a.Column}.Sanitize()
			cur, set = "p."+col, col+" = o.target"
		} else {
			cur = "CASE WHEN p.extra->>$4 ~ '^[0-9a-fA-F-]{36}$' THEN (p.extra->>$4)::uuid END"
			set = "extra = CASE WHEN o.target IS NULL THEN people.extra - $4::text ELSE people.extra || jsonb_build_object($4::text, o.target::text) END"
		}
		// The CTE locks the rows first, so the audit's "before" is what
		// this sync replaced. A person never refers to themselves. FOR NO
		// KEY UPDATE, as applyInbound's: a reference is no key of people.
		rows, err := tx.Query(ctx, `WITH v AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS v(person, target, precedence)),
			o AS (SELECT p.id, `+cur+` AS old, v.target, v.precedence FROM people p JOIN v ON v.person = p.id
				WHERE (`+cur+`) IS DISTINCT FROM v.target AND p.id IS DISTINCT FROM v.target FOR NO KEY UPDATE OF p),
			u AS (UPDATE people SET `+set+`, updated_at = now() FROM o WHERE people.id = o.id
				RETURNING people.id, coalesce(o.old::text, '') AS old, coalesce(o.target::text, '') AS new, o.precedence),
			s AS (INSERT INTO mv_attribute_sources (person_id, attribute, system_id, precedence)
				SELECT id, $4, $5, precedence FROM u
				ON CONFLICT (person_id, attribute) DO UPDATE SET system_id = excluded.system_id, precedence = excluded.precedence)
			SELECT id::text, old, new FROM u`, people, targets, precs, attr, sys.ID)
		if err != nil {
			return nil, fmt.Errorf("syncsvc: set references: %w", err)
		}
		type update struct{ ID, Old, New string }
		updates, err := pgx.CollectRows(rows, pgx.RowToStructByPos[update])
		if err != nil {
			return nil, fmt.Errorf("syncsvc: set references: %w", err)
		}
		for _, u := range updates {
			details := map[string]any{"system": sys.Name, "changes": map[string]portal.AttributeChange{attr: {Old: u.Old, New: u.New}}}
			if _, err := tx.Exec(ctx, "SELECT audit_append(NULL, 'sync_inbound', 'person', $1, $2)", u.ID, details); err != nil {
				return nil, err
			}
			changed = append(changed, u.ID)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM mv_references m USING unnest($1::bigint[], $2::text[]) AS d(cs_id, attribute)
		WHERE m.cs_id = d.cs_id AND m.attribute = d.attribute`, done, doneAttrs); err != nil {
		return nil, fmt.Errorf("syncsvc: resolved references: %w", err)
	}
	return changed, nil
}

// refDNs finds the DN of a person's object in one system, for outbound
// reference flows: only an object the system has (an anchor), and not
// one on its way out.
type refDNs struct {
	ctx      context.Context
	e        *Engine
	systemID string
	all      bool // byPerson holds every joined object of the system
	byPerson map[string]*CSObject
	cache    map[string]string
}

func newRefDNs(ctx context.Context, e *Engine, systemID string, byPerson map[string]*CSObject, all bool) *refDNs {
	return &refDNs{ctx: ctx, e: e, systemID: systemID, all: all, byPerson: byPerson, cache: map[string]string{}}
}

// dn returns the DN of personID's object, "" when the system has none.
func (d *refDNs) dn(personID string) string {
	if personID == "" {
		return ""
	}
	if o := d.byPerson[personID]; o != nil {
		if o.Anchor == "" || o.Deprovisioned != nil {
			return ""
		}
		return o.DN
	}
	if d.all {
		return ""
	}
	if dn, ok := d.cache[personID]; ok {
		return dn
	}
	var dn string
	err := d.e.Pool.QueryRow(d.ctx, `SELECT dn FROM cs_objects WHERE system_id = $1 AND person_id = $2 AND anchor IS NOT NULL
		AND deprovisioned_at IS NULL`, d.systemID, personID).Scan(&dn)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		// Read as "no object": this sync clears the reference in the
		// system, and the next sync of the person writes it again.
		d.e.logger().Warn("reference not resolved to a DN", "system", d.systemID, "person", personID, "error", err)
	}
	d.cache[personID] = dn
	return dn
}

// columnValue is an inbound value as its column takes it: a flag as a
// boolean (nil, which the column refuses, when it is not one), anything
// else as text.
func columnValue(a *portal.Attribute, v string) any {
	if a.Type != portal.TypeBool {
		return v
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil
	}
	return b
}
