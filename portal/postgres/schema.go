package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var _ portal.SchemaService = (*DB)(nil)

// The person attribute table's extra attributes (Administration → Schema).

// selectSchema reads the extra attributes; scanAttribute reads its rows.
const selectSchema = `SELECT name, label, type, visibility, max_len, min_value, max_value, editable
	FROM attribute_schema ORDER BY name`

func scanAttribute(row pgx.CollectableRow) (portal.Attribute, error) {
	var a portal.Attribute
	err := row.Scan(&a.Name, &a.Label, &a.Type, &a.Visibility, &a.MaxLen, &a.Min, &a.Max, &a.Editable)
	return a, err
}

// readExtraAttributes reads the extra attributes in name order.
func readExtraAttributes(ctx context.Context, q dynQuerier) ([]portal.Attribute, error) {
	rows, err := q.Query(ctx, selectSchema)
	if err != nil {
		return nil, fmt.Errorf("attribute schema: %w", err)
	}
	attrs, err := pgx.CollectRows(rows, scanAttribute)
	if err != nil {
		return nil, fmt.Errorf("attribute schema: %w", err)
	}
	return attrs, nil
}

// Schema returns the live person attribute table.
func (db *DB) Schema(ctx context.Context) (*portal.Schema, error) {
	attrs, err := readExtraAttributes(ctx, db.Pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return portal.NewSchema(attrs), nil
}

// FindAttribute returns the extra attribute called name.
func (db *DB) FindAttribute(ctx context.Context, name string) (*portal.Attribute, error) {
	return findAttribute(ctx, db.Pool, name)
}

func findAttribute(ctx context.Context, q dynQuerier, name string) (*portal.Attribute, error) {
	rows, err := q.Query(ctx, strings.Replace(selectSchema, "ORDER BY name", "WHERE name = $1", 1), name)
	if err != nil {
		return nil, fmt.Errorf("postgres: find attribute: %w", err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAttribute)
	if isNoRows(err) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no attribute called %q.", name)
	} else if err != nil {
		return nil, fmt.Errorf("postgres: find attribute: %w", err)
	}
	return &a, nil
}

// lockSchema orders changes of the attribute table: one at a time, so
// that a name's check against the others and the rules that use an
// attribute are read as they stay until commit. Readers are not blocked.
func lockSchema(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "LOCK TABLE attribute_schema IN SHARE ROW EXCLUSIVE MODE")
	return err
}

// AddAttribute adds the extra attribute a after checking it against the
// live schema.
func (db *DB) AddAttribute(ctx context.Context, v portal.Viewer, a portal.Attribute) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := lockSchema(ctx, tx); err != nil {
			return err
		}
		extra, err := readExtraAttributes(ctx, tx)
		if err != nil {
			return err
		}
		if err := a.ValidateDefinition(portal.NewSchema(extra), true); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO attribute_schema (name, label, type, visibility, max_len, min_value, max_value, editable)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.Name, a.Label, a.Type, a.Visibility, a.MaxLen, a.Min, a.Max, a.Editable)
		if isUniqueViolation(err) {
			return portal.Errorf(portal.ECONFLICT, "There is already an attribute called %q.", a.Name)
		} else if err != nil {
			return err
		}
		if err := syncRangeIndex(ctx, tx, a.Name, &a); err != nil {
			return err
		}
		details := definitionDetails(&a)
		if details["policies"], err = coverInAdminPolicies(ctx, tx, a.Name); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "attribute_added", "attribute", a.Name, details)
	})
	return storeError("add attribute", err)
}

// coverInAdminPolicies adds a new attribute to the policies that let
// administrators change every attribute of anyone's (those covering every
// editable core attribute, as "Administrators edit people's attributes"
// of migrations/0054_admin_edits.sql does), so that an attribute an
// administrator adds is one they can set on anyone's page at once; it
// returns their names, for the audit entry.
func coverInAdminPolicies(ctx context.Context, tx pgx.Tx, name string) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE policies SET attributes = array_append(attributes, $1)
		WHERE `+coversEverything+` AND NOT $1 = ANY (attributes)
		RETURNING name`, name, editableCore())
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	slices.Sort(names)
	return names, err
}

// coversEverything selects the policies that let administrators change
// every attribute ($2: editableCore): they follow the attribute table, so
// they are not a use that keeps an attribute from being removed.
const coversEverything = `operation = 'update_person' AND requestor = 'admins' AND attributes @> $2::text[]`

// editableCore names the core attributes a person may ask to change.
func editableCore() []string {
	var core []string
	for _, a := range portal.CoreSchema().Editable() {
		core = append(core, a.Name)
	}
	return core
}

// definitionDetails is what the audit log records of a definition.
func definitionDetails(a *portal.Attribute) map[string]any {
	d := map[string]any{"label": a.Label, "type": a.Type, "visibility": a.Visibility, "editable": a.Editable}
	if a.MaxLen > 0 {
		d["max_len"] = a.MaxLen
	}
	if a.Min != nil {
		d["min"] = *a.Min
	}
	if a.Max != nil {
		d["max"] = *a.Max
	}
	return d
}

// UpdateAttribute changes the definition of the extra attribute a.Name.
// A new type is refused while a rule, policy or sync flow uses the
// attribute; a new type or narrower limits are refused while someone holds
// a value they would not take.
func (db *DB) UpdateAttribute(ctx context.Context, v portal.Viewer, a portal.Attribute) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := lockSchema(ctx, tx); err != nil {
			return err
		}
		old, err := findAttribute(ctx, tx, a.Name)
		if err != nil {
			return err
		}
		extra, err := readExtraAttributes(ctx, tx)
		if err != nil {
			return err
		}
		if err := a.ValidateDefinition(portal.NewSchema(extra), false); err != nil {
			return err
		}
		if a.Type != old.Type {
			uses, err := attributeUses(ctx, tx, extra, a.Name)
			if err != nil {
				return err
			}
			if len(uses) > 0 {
				return &portal.AttributeInUseError{Name: old.Label, Uses: uses}
			}
		}
		if err := checkHeldValues(ctx, tx, &a); err != nil {
			return err
		}
		if !a.Editable && old.Editable {
			if err := refuseInPolicies(ctx, tx, old); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE attribute_schema SET label = $2, type = $3, visibility = $4, max_len = $5,
			min_value = $6, max_value = $7, editable = $8, updated_at = now() WHERE name = $1`,
			a.Name, a.Label, a.Type, a.Visibility, a.MaxLen, a.Min, a.Max, a.Editable); err != nil {
			return err
		}
		if a.Type != old.Type {
			if err := syncRangeIndex(ctx, tx, a.Name, &a); err != nil {
				return err
			}
		}
		details := definitionDetails(&a)
		details["previous"] = definitionDetails(old)
		return Audit(ctx, tx, v.PersonID, "attribute_changed", "attribute", a.Name, details)
	})
	return storeError("update attribute", err)
}

// checkHeldValues refuses a definition that some people's values of the
// attribute do not fit, saying how many and giving one example.
func checkHeldValues(ctx context.Context, tx pgx.Tx, a *portal.Attribute) error {
	rows, err := tx.Query(ctx, "SELECT display_name, extra->>$1 FROM people WHERE extra ? $1 ORDER BY sort_name, id", a.Name)
	if err != nil {
		return err
	}
	var name, val, first string
	var firstErr error
	misfits := 0
	_, err = pgx.ForEachRow(rows, []any{&name, &val}, func() error {
		if _, err := a.CheckValue(val); err != nil {
			if misfits == 0 {
				first, firstErr = name, err
			}
			misfits++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if misfits > 0 {
		return portal.Errorf(portal.ECONFLICT, "%d people hold a value that the new definition does not take, %s among them (%s) Change their values first.",
			misfits, first, portal.ErrorMessage(firstErr))
	}
	return nil
}

// refuseInPolicies refuses to make an attribute that policies let people
// change of their own no longer editable (others' policies cover any).
func refuseInPolicies(ctx context.Context, tx pgx.Tx, a *portal.Attribute) error {
	uses, err := policyUses(ctx, tx, a.Name, portal.RequestorSelf)
	if err != nil {
		return err
	}
	if len(uses) > 0 {
		return &portal.AttributeInUseError{Name: a.Label, Uses: uses}
	}
	return nil
}

// RemoveAttribute removes the extra attribute called name and everyone's
// value of it, unless a rule, policy or sync flow uses it.
func (db *DB) RemoveAttribute(ctx context.Context, v portal.Viewer, name string) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := lockSchema(ctx, tx); err != nil {
			return err
		}
		old, err := findAttribute(ctx, tx, name)
		if err != nil {
			return err
		}
		extra, err := readExtraAttributes(ctx, tx)
		if err != nil {
			return err
		}
		uses, err := attributeUses(ctx, tx, extra, name)
		if err != nil {
			return err
		}
		if len(uses) > 0 {
			return &portal.AttributeInUseError{Name: old.Label, Uses: uses}
		}
		tag, err := tx.Exec(ctx, "UPDATE people SET extra = extra - $1::text, updated_at = now() WHERE extra ? $1", name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE policies SET attributes = array_remove(attributes, $1) WHERE `+coversEverything,
			name, editableCore()); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM mv_attribute_sources WHERE attribute = $1",
			"DELETE FROM person_attribute_limits WHERE attribute = $1",
			"DELETE FROM attribute_schema WHERE name = $1",
		} {
			if _, err := tx.Exec(ctx, q, name); err != nil {
				return err
			}
		}
		if err := syncRangeIndex(ctx, tx, name, nil); err != nil {
			return err
		}
		details := definitionDetails(old)
		details["values_removed"] = tag.RowsAffected()
		return Audit(ctx, tx, v.PersonID, "attribute_removed", "attribute", name, details)
	})
	return storeError("remove attribute", err)
}

// AttributeUses lists what uses the attribute called name.
func (db *DB) AttributeUses(ctx context.Context, name string) ([]portal.AttributeUse, error) {
	var uses []portal.AttributeUse
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		extra, err := readExtraAttributes(ctx, tx)
		if err != nil {
			return err
		}
		uses, err = attributeUses(ctx, tx, extra, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: attribute uses: %w", err)
	}
	return uses, nil
}

// attributeUses finds what uses the attribute called name: the rules of
// sets and dynamic groups, policies that let people change it, and the
// sync rules of people (scope, joins, flows in and out, the DN template).
// A rule is compiled against the schema extra to read exactly which
// attributes it uses; one that no longer compiles is searched for
// person.name as text, so that it is never missed.
func attributeUses(ctx context.Context, tx pgx.Tx, extra []portal.Attribute, name string) ([]portal.AttributeUse, error) {
	env, err := compiledRules.env(newRuleSchema(extra))
	if err != nil {
		return nil, err
	}
	mentions := regexp.MustCompile(`\bperson\s*\.\s*` + regexp.QuoteMeta(name) + `\b`)
	reads := func(src string, value bool) bool {
		if strings.TrimSpace(src) == "" {
			return false
		}
		compile := env.Compile
		if value {
			compile = env.CompileFlow
		}
		if r, err := compile(src); err == nil {
			return slices.Contains(r.Attributes(), name)
		}
		return mentions.MatchString(src)
	}
	var uses []portal.AttributeUse
	var id, label, src string
	rows, err := tx.Query(ctx, `SELECT id::text, name, rule FROM sets ORDER BY lower(name)`)
	if err != nil {
		return nil, err
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &label, &src}, func() error {
		if reads(src, false) {
			uses = append(uses, portal.AttributeUse{Kind: portal.UseSet, ID: id, Name: label})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `SELECT id::text, display_name, membership_rule FROM groups
		WHERE membership_rule IS NOT NULL ORDER BY display_name, id`)
	if err != nil {
		return nil, err
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &label, &src}, func() error {
		if reads(src, false) {
			uses = append(uses, portal.AttributeUse{Kind: portal.UseDynamicGroup, ID: id, Name: label})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	policies, err := policyUses(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	uses = append(uses, policies...)

	var scope, dnTemplate string
	var joins, inbound, outbound []byte
	rows, err = tx.Query(ctx, `SELECT r.system_id::text, s.name, r.scope, r.join_rules, r.inbound, r.outbound, r.dn_template
		FROM sync_rules r JOIN connected_systems s ON s.id = r.system_id WHERE r.class = 'user' ORDER BY s.name`)
	if err != nil {
		return nil, err
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &label, &scope, &joins, &inbound, &outbound, &dnTemplate}, func() error {
		use := func(where portal.Text) {
			uses = append(uses, portal.AttributeUse{Kind: portal.UseSyncRule, ID: id, Name: label, Where: where})
		}
		if reads(scope, false) {
			use(portal.Textf("scope"))
		}
		var js []struct{ CS, MV string }
		var in []struct{ MV string }
		var out []struct{ CS, Expr string }
		for _, f := range []struct {
			raw []byte
			to  any
		}{{joins, &js}, {inbound, &in}, {outbound, &out}} {
			if err := json.Unmarshal(f.raw, f.to); err != nil {
				return fmt.Errorf("sync rule of %s: %w", label, err)
			}
		}
		for _, j := range js {
			if j.MV == name {
				use(portal.Textf("join on %s", j.CS))
			}
		}
		for _, f := range in {
			if f.MV == name {
				use(portal.Textf("inbound flow"))
			}
		}
		for _, f := range out {
			if reads(f.Expr, true) {
				use(portal.Textf("outbound flow to %s", f.CS))
			}
		}
		if strings.Contains(dnTemplate, "{"+name+"}") {
			use(portal.Textf("DN template"))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return uses, nil
}

// policyUses lists the policies that let people change the attribute.
// With requestors, only the policies granting it to them.
func policyUses(ctx context.Context, tx pgx.Tx, name string, requestors ...portal.Requestor) ([]portal.AttributeUse, error) {
	only := make([]string, len(requestors))
	for i, r := range requestors {
		only[i] = string(r)
	}
	rows, err := tx.Query(ctx, `SELECT id::text, name FROM policies WHERE $1 = ANY (attributes)
		AND (cardinality($3::text[]) = 0 OR requestor = ANY ($3::text[])) AND NOT (`+coversEverything+`) ORDER BY name`,
		name, editableCore(), only)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.AttributeUse, error) {
		u := portal.AttributeUse{Kind: portal.UsePolicy}
		return u, row.Scan(&u.ID, &u.Name)
	})
}

// Whole numbers and dates are filtered by ranges (the white pages'
// FROM..TO), which the filter index of value terms cannot answer: each such
// attribute has a B-tree index of its own over people, partial to the
// people who hold it, made and dropped with its definition in the same
// transaction. A name is one that ValidateDefinition accepted (letters and
// digits), so it is written into the SQL as it is; attrNameSQL checks it
// again all the same.

var attrNameSQL = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// rangeExpr is the indexed SQL expression of the attribute's value in
// people.extra (rel is the alias of people, or "" in the index): a whole
// number as numeric (tessera_extra_int, NULL for anything else), a date as
// its text YYYY-MM-DD in byte order, which is the order of days.
func rangeExpr(a *portal.Attribute, rel string) (string, error) {
	if !attrNameSQL.MatchString(a.Name) {
		return "", fmt.Errorf("postgres: %q is not an attribute name", a.Name)
	}
	v := rel + "extra->>'" + a.Name + "'"
	switch a.Type {
	case portal.TypeInt:
		return "tessera_extra_int(" + v + ")", nil
	case portal.TypeDate:
		return "(" + v + `) COLLATE "C"`, nil
	}
	return "", fmt.Errorf("postgres: %s is neither a whole number nor a date", a.Name)
}

// rangeIndexName names the range index of the attribute called name.
func rangeIndexName(name string) string { return `"people_range_` + name + `"` }

// syncRangeIndex makes the range index of a whole number or date attribute
// a and drops that of an attribute of another type (or removed: a nil a
// with its name).
func syncRangeIndex(ctx context.Context, tx pgx.Tx, name string, a *portal.Attribute) error {
	if !attrNameSQL.MatchString(name) {
		return fmt.Errorf("postgres: %q is not an attribute name", name)
	}
	if _, err := tx.Exec(ctx, "DROP INDEX IF EXISTS "+rangeIndexName(name)); err != nil {
		return err
	}
	if a == nil || a.Type != portal.TypeInt && a.Type != portal.TypeDate {
		return nil
	}
	expr, err := rangeExpr(a, "")
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "CREATE INDEX "+rangeIndexName(name)+" ON people (("+expr+")) WHERE extra ? '"+name+"'")
	return err
}

// rangeCondition is the SQL condition of the range filter f of attribute
// a, its bounds appended to args.
func rangeCondition(a *portal.Attribute, f portal.AttributeFilter, args *[]any) (string, error) {
	expr, err := rangeExpr(a, "p.")
	if err != nil {
		return "", err
	}
	// The same predicate as the partial index's, so that it serves.
	c := "p.extra ? '" + a.Name + "'"
	cast := `::text COLLATE "C"`
	if a.Type == portal.TypeInt {
		cast = "::numeric"
	}
	for _, b := range []struct{ v, op string }{{f.From, ">="}, {f.To, "<="}} {
		if b.v != "" {
			*args = append(*args, b.v)
			c += " AND " + expr + " " + b.op + " $" + strconv.Itoa(len(*args)) + cast
		}
	}
	return c, nil
}
