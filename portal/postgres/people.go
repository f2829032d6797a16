package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var _ portal.PersonService = (*DB)(nil)

// personColumns reads a person's ID and core attributes from people p;
// scanPerson reads them.
var personColumns = "p.id, " + portal.CoreSchema().CoreSelectSQL("p")

func scanPerson(row pgx.Row, p *portal.Person, extra ...any) error {
	dest := make([]any, 1, 16+len(extra))
	dest[0] = &p.ID
	return row.Scan(append(portal.CoreSchema().CoreFields(p, dest), extra...)...)
}

// SearchPeople finds people for whom every word of the query starts a word
// of their name, email, title, department, office or phone, ignoring case,
// diacritics and punctuation. Matches are sorted by name; at most
// portal.MaxMatches of them can be paged. An empty query browses everyone.
func (db *DB) SearchPeople(ctx context.Context, f portal.PersonFilter) (portal.Page[portal.Person], error) {
	if err := f.Normalize(); err != nil {
		return portal.Page[portal.Person]{}, err
	}
	page := portal.Page[portal.Person]{Offset: f.Offset, Limit: f.Limit}
	var err error
	if len(f.Filters) > 0 {
		page, err = db.searchFiltered(ctx, f, page)
	} else {
		page, err = db.searchWords(ctx, f, page)
	}
	if err != nil || len(page.Items) > 0 || f.Offset == 0 {
		return page, err
	}
	// A page past the last match has no rows to carry the count: it is
	// counted again from the first page, so that the page says how many
	// match (and leads back to them) instead of that no one does.
	// Browsing everyone counts no one on its pages; past its end it
	// counts everyone.
	if f.Query == "" && len(f.Filters) == 0 {
		if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM people").Scan(&page.Total); err != nil {
			return page, fmt.Errorf("postgres: search people: %w", err)
		}
		return page, nil
	}
	one := f
	one.Offset, one.Limit = 0, 1
	var first portal.Page[portal.Person]
	if len(f.Filters) > 0 {
		first, err = db.searchFiltered(ctx, one, portal.Page[portal.Person]{Limit: 1})
	} else {
		first, err = db.searchWords(ctx, one, portal.Page[portal.Person]{Limit: 1})
	}
	page.Total, page.Capped = first.Total, first.Capped
	return page, err
}

// searchWords is SearchPeople without attribute filters.
func (db *DB) searchWords(ctx context.Context, f portal.PersonFilter, page portal.Page[portal.Person]) (portal.Page[portal.Person], error) {
	var rows pgx.Rows
	var err error
	if f.Query == "" {
		rows, err = db.Pool.Query(ctx, "SELECT "+personColumns+", 0 FROM people p ORDER BY p.sort_name, p.id LIMIT $1 OFFSET $2",
			f.Limit+1, f.Offset)
	} else {
		if f.Offset >= portal.MaxMatches {
			return page, portal.Errorf(portal.EINVALID, "Only the first %d matches can be shown; add a word to narrow the search.", portal.MaxMatches)
		}
		// tessera_search_people (migrations/0043_search_keys.sql,
		// 0051_search_words.sql, 0085_search_count_and_pair_walk.sql)
		// finds the page's IDs in name order, and
		// how many match as far as one past portal.MaxMatches, from the
		// search words' B-trees (and the stem index for several words);
		// only the page's rows are read in full.
		rows, err = db.Pool.Query(ctx, `SELECT `+personColumns+`, s.total
			FROM tessera_search_people($1, $2, $3, $4) s JOIN people p ON p.id = s.person_id
			ORDER BY s.sort_name COLLATE "C", s.person_id`,
			strings.Join(queryWords(f.Query), " "), portal.MaxMatches, f.Limit+1, f.Offset)
	}
	if err != nil {
		return page, fmt.Errorf("postgres: search people: %w", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Person, error) {
		var p portal.Person
		return p, scanPerson(row, &p, &page.Total)
	})
	if err != nil {
		return page, fmt.Errorf("postgres: search people: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items, page.More = page.Items[:f.Limit], true
	}
	if page.Total > portal.MaxMatches {
		page.Total, page.Capped = portal.MaxMatches, true
		page.More = page.More && f.Offset+f.Limit < portal.MaxMatches
	}
	return page, nil
}

// personTerms is the filter index's expression (people_terms,
// migrations/0039_attribute_filters.sql), written exactly as the index
// has it so that the planner uses it.
const personTerms = `tessera_person_terms(p.account_name, p.employee_id, p.title, p.department, p.office,
	p.manager_id, p.account_enabled, p.extra)`

// searchFiltered is SearchPeople with attribute filters: the people whose
// terms hold every filter's (and, with search words, whom the words find
// too), gathered through the filter index, capped like a search, sorted
// by name. Each person comes with their extra attributes, which the page
// shows for the attributes filtered by.
func (db *DB) searchFiltered(ctx context.Context, f portal.PersonFilter, page portal.Page[portal.Person]) (portal.Page[portal.Person], error) {
	if f.Offset >= portal.MaxMatches {
		return page, portal.Errorf(portal.EINVALID, "Only the first %d matches can be shown; add a word to narrow the search.", portal.MaxMatches)
	}
	schema, err := db.Schema(ctx)
	if err != nil {
		return page, err
	}
	filters, err := schema.CheckFilters(f.Viewer, f.Filters)
	if err != nil {
		return page, err
	}
	// Values are looked up as terms of the filter index; ranges read the
	// attribute's own index (rangeIndex), after the words and the terms.
	var names, values []string
	var conds []string
	args := []any{"", portal.MaxMatches + 1, f.Limit + 1, f.Offset}
	for _, fl := range filters {
		if !fl.Range {
			names, values = append(names, fl.Name), append(values, fl.Value)
		}
	}
	if len(names) > 0 {
		args = append(args, names, values)
		conds = append(conds, personTerms+` @> (SELECT terms FROM t)`)
	}
	for _, fl := range filters {
		if fl.Range {
			a, _ := schema.Lookup(fl.Name)
			c, err := rangeCondition(a, fl, &args)
			if err != nil {
				return page, err
			}
			conds = append(conds, c)
		}
	}
	// The queries are computed once (q, t: a function of a parameter in
	// the WHERE clause would run again for every row of a generic plan)
	// and the matches gathered as IDs and sort keys, as far as one past
	// portal.MaxMatches, before the page's rows are read. When they are
	// all the matches they are sorted; when there are more, the page is
	// sorted out of all of them (the indexes gather them in no particular
	// order). With words, both conditions are written plainly so that the
	// planner may intersect the stem and filter indexes.
	if f.Query != "" {
		args[0] = strings.Join(queryWords(f.Query), " ")
		conds = append(conds, `tessera_search_stems(p.search_doc) @@ (SELECT stems FROM q)
			AND ((SELECT words FROM q) IS NULL OR p.search_doc @@ (SELECT words FROM q))`)
	}
	terms := "SELECT NULL::text[] AS terms"
	if len(names) > 0 {
		terms = "SELECT array_agg(tessera_person_term(n, v)) AS terms FROM unnest($5::text[], $6::text[]) f(n, v)"
	}
	rows, err := db.Pool.Query(ctx, `WITH q AS MATERIALIZED (SELECT * FROM tessera_search_query($1)),
			t AS MATERIALIZED (`+terms+`),
			m AS MATERIALIZED (
				SELECT p.id, p.sort_name FROM people p
				WHERE `+strings.Join(conds, " AND ")+`
				LIMIT $2),
			n AS MATERIALIZED (SELECT count(*) AS total FROM m),
			pg AS ((SELECT id, sort_name FROM m WHERE (SELECT total FROM n) < $2 ORDER BY sort_name, id LIMIT $3 OFFSET $4)
				UNION ALL
				(SELECT p.id, p.sort_name FROM people p
				WHERE (SELECT total FROM n) = $2 AND `+strings.Join(conds, " AND ")+`
				ORDER BY p.sort_name, p.id LIMIT $3 OFFSET $4))
			SELECT `+personColumns+`, p.extra, (SELECT total FROM n)
			FROM pg JOIN people p ON p.id = pg.id ORDER BY pg.sort_name, pg.id`,
		args...)
	if err != nil {
		return page, fmt.Errorf("postgres: search people: %w", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Person, error) {
		var p portal.Person
		return p, scanPerson(row, &p, &p.Extra, &page.Total)
	})
	if err != nil {
		return page, fmt.Errorf("postgres: search people: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items, page.More = page.Items[:f.Limit], true
	}
	if page.Total > portal.MaxMatches {
		page.Total, page.Capped = portal.MaxMatches, true
		page.More = page.More && f.Offset+f.Limit < portal.MaxMatches
	}
	return page, nil
}

const maxListed = 100

// FindProfile loads a person, their manager chain, reports and groups in
// one round trip.
func (db *DB) FindProfile(ctx context.Context, id string) (*portal.Profile, error) {
	if !validID(id) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	prof := &portal.Profile{}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT `+personColumns+`, coalesce(m.display_name, '')
		FROM people p LEFT JOIN people m ON m.id = p.manager_id WHERE p.id = $1`, id).
		QueryRow(func(row pgx.Row) error {
			if err := scanPerson(row, &prof.Person, &prof.Person.ManagerName); isNoRows(err) {
				return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
			} else if err != nil {
				return err
			}
			return nil
		})
	batch.Queue(`WITH RECURSIVE chain AS (
			SELECT m.id, m.display_name, m.title, m.department, m.manager_id, 1 AS depth
			FROM people p JOIN people m ON m.id = p.manager_id WHERE p.id = $1
			UNION ALL
			SELECT m.id, m.display_name, m.title, m.department, m.manager_id, c.depth + 1
			FROM chain c JOIN people m ON m.id = c.manager_id WHERE c.depth < 20
		) SELECT id, display_name, title, department FROM chain ORDER BY depth`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			prof.ManagerChain, err = pgx.CollectRows(rows, scanRef)
			return err
		})
	batch.Queue(`SELECT id, display_name, title, department, count(*) OVER ()
		FROM people WHERE manager_id = $1 ORDER BY sort_name, id LIMIT $2`, id, maxListed).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var r portal.PersonRef
				if err := rows.Scan(&r.ID, &r.DisplayName, &r.Title, &r.Department, &prof.ReportCount); err != nil {
					return err
				}
				prof.Reports = append(prof.Reports, r)
			}
			return rows.Err()
		})
	// A reference attribute's person is read with it, by ID; a value that
	// is no ID (or names someone since removed) reads as no one.
	batch.Queue(`SELECT s.name, s.label, s.type, s.visibility, s.max_len, s.min_value, s.max_value, s.editable,
			p.extra->>s.name, coalesce(r.display_name, '')
		FROM people p JOIN attribute_schema s ON p.extra ? s.name
		LEFT JOIN people r ON s.type = 'reference' AND r.id = CASE
			WHEN p.extra->>s.name ~ '^[0-9a-fA-F-]{36}$' THEN (p.extra->>s.name)::uuid END
		WHERE p.id = $1 ORDER BY s.label, s.name`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			prof.Attributes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.AttributeValue, error) {
				var a portal.AttributeValue
				err := row.Scan(&a.Name, &a.Label, &a.Type, &a.Visibility, &a.MaxLen, &a.Min, &a.Max, &a.Editable,
					&a.Value, &a.RefName)
				return a, err
			})
			return err
		})
	batch.Queue(`SELECT g.id, g.display_name, g.group_type, count(*) OVER ()
		FROM group_members gm JOIN groups g ON g.id = gm.group_id
		WHERE gm.person_id = $1 ORDER BY g.display_name, g.id LIMIT $2`, id, maxListed).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var g portal.GroupRef
				if err := rows.Scan(&g.ID, &g.DisplayName, &g.Type, &prof.GroupCount); err != nil {
					return err
				}
				prof.Groups = append(prof.Groups, g)
			}
			return rows.Err()
		})
	if err := db.Pool.SendBatch(ctx, batch).Close(); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: find profile: %w", err)
	}
	return prof, nil
}

func scanRef(row pgx.CollectableRow) (portal.PersonRef, error) {
	var r portal.PersonRef
	return r, row.Scan(&r.ID, &r.DisplayName, &r.Title, &r.Department)
}

// FindPersonByName returns the person whose account name or email is name.
func (db *DB) FindPersonByName(ctx context.Context, name string) (portal.PersonRef, error) {
	var r portal.PersonRef
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 256 {
		return r, portal.Errorf(portal.EINVALID, "Give an account name or an email address.")
	}
	err := db.Pool.QueryRow(ctx, `SELECT id, display_name, title, department FROM people
		WHERE lower(account_name) = lower($1) OR (email <> '' AND lower(email) = lower($1))
		ORDER BY lower(account_name) = lower($1) DESC LIMIT 1`, name).Scan(&r.ID, &r.DisplayName, &r.Title, &r.Department)
	if isNoRows(err) {
		return r, portal.Errorf(portal.ENOTFOUND, "No one has the account name or email “%s”.", name)
	} else if err != nil {
		return r, fmt.Errorf("postgres: find person by name: %w", err)
	}
	return r, nil
}
