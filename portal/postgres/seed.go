package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
)

// LoadOrg writes a generated organisation into an empty database in one
// transaction, with COPY, and gives the demo accounts their passwords and
// roles. It refuses a database that already has people.
func (db *DB) LoadOrg(ctx context.Context, org *demo.Org) error {
	var hashes []string
	for _, a := range org.Accounts {
		hashes = append(hashes, portalHash(a.Password))
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM people)").Scan(&exists); err != nil {
			return err
		}
		if exists {
			return errAlreadySeeded
		}
		// The VACUUM after the load marks a page all-visible only once
		// it can set the rows' commit hint bits, which waits for this
		// commit's WAL to be flushed (see below).
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		for _, a := range demo.Attributes {
			if _, err := tx.Exec(ctx, `INSERT INTO attribute_schema (name, label, type, visibility, max_len) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (name) DO NOTHING`, a.Name, a.Label, a.Type, a.Visibility, a.MaxLen); err != nil {
				return fmt.Errorf("attribute schema: %w", err)
			}
			// A date's range filter reads its index, and administrators
			// change it on anyone's page, as for an attribute an
			// administrator adds.
			if err := syncRangeIndex(ctx, tx, a.Name, &a); err != nil {
				return fmt.Errorf("attribute schema: %w", err)
			}
			if _, err := coverInAdminPolicies(ctx, tx, a.Name); err != nil {
				return fmt.Errorf("attribute schema: %w", err)
			}
		}
		// The search words (migrations/0051_search_words.sql) are written
		// after the people, at once, with their indexes built after them.
		if _, err := tx.Exec(ctx, "ALTER TABLE people DISABLE TRIGGER people_words_insert"); err != nil {
			return err
		}
		if err := withGINRebuilt(ctx, tx, func() error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"people"},
				append(append([]string{"id"}, portal.CoreSchema().CoreColumns()...), "extra"),
				pgx.CopyFromSlice(len(org.People), func(i int) ([]any, error) {
					p := &org.People[i]
					row := portal.CoreSchema().CoreValues(p, append(make([]any, 0, 16), p.ID))
					return append(row, p.Extra), nil
				}))
			return err
		}); err != nil {
			return fmt.Errorf("copy people: %w", err)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE people ENABLE TRIGGER people_words_insert"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT tessera_search_words_rebuild()"); err != nil {
			return fmt.Errorf("search words: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"groups"},
			[]string{"id", "name", "display_name", "description", "email", "group_type", "join_policy", "membership_rule"},
			pgx.CopyFromSlice(len(org.Groups), func(i int) ([]any, error) {
				g := &org.Groups[i]
				var rule any
				if g.MembershipRule != "" {
					rule = g.MembershipRule
				}
				return []any{g.ID, g.Name, g.DisplayName, g.Description, g.Email, string(g.Type), string(g.JoinPolicy), rule}, nil
			})); err != nil {
			return fmt.Errorf("copy groups: %w", err)
		}
		for table, ms := range map[string][]demo.Membership{"group_owners": org.Owners, "group_members": org.Members} {
			// Random picks may repeat a pair; COPY into a staging table and
			// keep one of each.
			if _, err := tx.Exec(ctx, "CREATE TEMP TABLE seed_pairs (group_id uuid, person_id uuid) ON COMMIT DROP"); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seed_pairs"}, []string{"group_id", "person_id"},
				pgx.CopyFromSlice(len(ms), func(i int) ([]any, error) { return []any{ms[i].GroupID, ms[i].PersonID}, nil })); err != nil {
				return fmt.Errorf("copy %s: %w", table, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+pgx.Identifier{table}.Sanitize()+
				" (group_id, person_id) SELECT DISTINCT group_id, person_id FROM seed_pairs ON CONFLICT DO NOTHING"); err != nil {
				return fmt.Errorf("fill %s: %w", table, err)
			}
			if _, err := tx.Exec(ctx, "DROP TABLE seed_pairs"); err != nil {
				return err
			}
		}
		for i, a := range org.Accounts {
			if _, err := tx.Exec(ctx, "INSERT INTO local_credentials (person_id, password_hash) VALUES ($1, $2)", a.PersonID, hashes[i]); err != nil {
				return fmt.Errorf("demo account %s: %w", a.AccountName, err)
			}
			for _, r := range a.Roles {
				if _, err := tx.Exec(ctx, "INSERT INTO person_roles (person_id, role) VALUES ($1, $2)", a.PersonID, string(r)); err != nil {
					return fmt.Errorf("demo role %s: %w", a.AccountName, err)
				}
			}
		}
		return Audit(ctx, tx, "", "seed", "organisation", "", map[string]any{"people": len(org.People), "groups": len(org.Groups)})
	})
	if err == errAlreadySeeded {
		return err
	} else if err != nil {
		return fmt.Errorf("postgres: load org: %w", err)
	}
	// The people and their search words are vacuumed before anything
	// else commits (an ANALYZE commits its statistics). A row's commit
	// hint bit, without which VACUUM does not mark its page all-visible,
	// is set only once the WAL is flushed as far as the commit LSN
	// recorded for its transaction's group of transaction IDs, which a
	// later asynchronous commit (under the test and benchmark clusters'
	// synchronous_commit=off) moves past what is flushed. Vacuumed after
	// the recomputes and the people's ANALYZE, at most 1,564 of
	// person_search_words' 12,503 pages (for 100,000 people) were
	// marked, and the white pages' index-only walks read most of their
	// entries' rows from the heap (435 heap fetches to count 'mariana'
	// as far as a thousand and one) for good, since nothing vacuumed
	// again. A production server commits synchronously.
	if _, err := db.Pool.Exec(ctx, "VACUUM people, person_search_words"); err != nil {
		return fmt.Errorf("postgres: vacuum: %w", err)
	}
	for _, g := range org.Groups {
		if g.MembershipRule != "" {
			if _, _, err := db.RecomputeGroup(ctx, g.ID); err != nil {
				return fmt.Errorf("postgres: demo dynamic group: %w", err)
			}
		}
	}
	if _, err := db.Pool.Exec(ctx, "VACUUM ANALYZE groups, group_members, group_owners"); err != nil {
		return fmt.Errorf("postgres: analyze: %w", err)
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE people, person_search_words"); err != nil {
		return fmt.Errorf("postgres: analyze: %w", err)
	}
	return nil
}

// SubmitDemoRequests puts a few requests in flight for the demo: people
// asking to join the owner-approval groups the demo manager owns, and a
// title change waiting for a manager. They go through the real pipeline.
func (db *DB) SubmitDemoRequests(ctx context.Context, org *demo.Org) error {
	var groupIDs []string
	rows, err := db.Pool.Query(ctx, `SELECT g.id FROM groups g JOIN group_owners o ON o.group_id = g.id
		WHERE o.person_id = $1 AND g.join_policy = 'owner_approval' ORDER BY g.display_name`, org.Accounts[1].PersonID)
	if err != nil {
		return fmt.Errorf("postgres: demo requests: %w", err)
	}
	if groupIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return fmt.Errorf("postgres: demo requests: %w", err)
	}
	reasons := []string{"I start on the platform team next week and need remote access.",
		"Reviewing pull requests for the Ginkgo project.", "On call from Monday; need it for incident response."}
	n := 0
	for k, g := range groupIDs {
		for i := 10 + k*13; i < len(org.People) && n < 3*(k+1); i += 97 {
			p := org.People[i]
			v := portal.Viewer{PersonID: p.ID, DisplayName: p.DisplayName}
			_, err := db.Submit(ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: p.ID,
				Justification: reasons[n%len(reasons)]})
			if err == nil {
				n++
			} else if code := portal.ErrorCode(err); code != portal.ECONFLICT && code != portal.EFORBIDDEN {
				return err
			}
		}
	}
	zoe := org.People[len(org.People)-1]
	_, err = db.Submit(ctx, portal.Viewer{PersonID: zoe.ID, DisplayName: zoe.DisplayName}, portal.NewRequest{
		Operation: portal.OpUpdatePerson, PersonID: zoe.ID, Changes: map[string]string{"title": "Senior " + zoe.Title}})
	return err
}

// withGINRebuilt runs load with the people table's GIN indexes (the search
// stems' and the attribute filters' terms, migrations 0036 and 0039)
// dropped, and builds them afresh after it, in the same transaction, with
// the same definitions. A build sorts every key of every person at once;
// inserting them, even merged from a pending list, was most of a seed's
// time and left the indexes several times their size (84 and 77 MB
// instead of 11 and 10 MB for 100,000 people): a search reads fewer
// pages, and more of them stay in the buffer cache.
func withGINRebuilt(ctx context.Context, tx pgx.Tx, load func() error) error {
	rows, err := tx.Query(ctx, `SELECT c.oid::regclass::text, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'people'::regclass AND a.amname = 'gin' ORDER BY 1`)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (index, error) {
		var ix index
		return ix, row.Scan(&ix.name, &ix.def)
	})
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, "DROP INDEX "+ix.name); err != nil {
			return err
		}
	}
	if err := load(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '128MB'"); err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, ix.def); err != nil {
			return fmt.Errorf("rebuild %s: %w", ix.name, err)
		}
	}
	return nil
}
