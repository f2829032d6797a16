package syncsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/rule"
)

// The metaverse is the portal's own people, groups and memberships: these
// read it as the sync rules see it.

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// personSelect reads a person's ID, every core attribute, and the extra
// attributes as JSON.
var personSelect = "SELECT p.id, " + portal.CoreSchema().CoreSelectSQL("p") + ", p.extra::text FROM people p"

func scanMVPerson(row pgx.Row) (*portal.Person, error) {
	p := &portal.Person{Privileged: true}
	var extra string
	dest := portal.CoreSchema().CoreFields(p, append(make([]any, 0, 16), &p.ID))
	if err := row.Scan(append(dest, &extra)...); err != nil {
		return nil, err
	}
	if extra != "{}" {
		var m map[string]any
		if err := json.Unmarshal([]byte(extra), &m); err == nil {
			p.Extra = make(map[string]string, len(m))
			for k, v := range m {
				if s, ok := v.(string); ok {
					p.Extra[k] = s
				} else {
					p.Extra[k] = fmt.Sprint(v)
				}
			}
		}
	}
	return p, nil
}

// mvGroup is a group as group rules read it, with its members.
type mvGroup struct {
	ID      string
	Fields  map[string]string // groupFields
	Members []string          // person IDs
	// PortalOnly: the group grants a portal role (role_groups). It stays
	// in the portal: no connected system provisions, joins or deletes it.
	PortalOnly bool
}

// portalOnlySQL says whether the group g grants a portal role.
const portalOnlySQL = `EXISTS (SELECT 1 FROM role_groups r WHERE r.group_id = g.id)`

const groupSelect = `SELECT g.id, g.name, g.display_name, g.description, g.email, g.group_type, g.join_policy,
	coalesce((SELECT array_agg(m.person_id::text) FROM group_members m WHERE m.group_id = g.id), '{}'), ` + portalOnlySQL + `
	FROM groups g`

func scanMVGroup(row pgx.Row) (*mvGroup, error) {
	var g mvGroup
	var name, display, desc, email, typ, join string
	if err := row.Scan(&g.ID, &name, &display, &desc, &email, &typ, &join, &g.Members, &g.PortalOnly); err != nil {
		return nil, err
	}
	g.Fields = map[string]string{"name": name, "displayName": display, "description": desc, "email": email,
		"type": typ, "join": join}
	return &g, nil
}

// ruleEnv builds the person rule language for the portal's attribute
// table: its core attributes and the extra ones of attribute_schema.
func ruleEnv(ctx context.Context, q querier) (*rule.Env, error) {
	extra, err := extraAttributes(ctx, q)
	if err != nil {
		return nil, err
	}
	return rule.NewEnv(portal.NewSchema(extra))
}

// extraAttributes reads the attributes administrators added to the
// person attribute table.
func extraAttributes(ctx context.Context, q querier) ([]portal.Attribute, error) {
	rows, err := q.Query(ctx, `SELECT name, label, type, visibility, max_len, min_value, max_value, editable
		FROM attribute_schema ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Attribute, error) {
		var a portal.Attribute
		err := row.Scan(&a.Name, &a.Label, &a.Type, &a.Visibility, &a.MaxLen, &a.Min, &a.Max, &a.Editable)
		return a, err
	})
}

// Schema returns the live person attribute table (the core attributes and
// those administrators added), as sync rules are checked against it.
func (e *Engine) Schema(ctx context.Context) (*portal.Schema, error) {
	return SchemaIn(ctx, e.Pool)
}

// SchemaIn is Schema read through q: a transaction that reads it on its
// own connection, rather than waiting for a second one from the pool
// (with every connection held that way, nobody gets one).
func SchemaIn(ctx context.Context, q querier) (*portal.Schema, error) {
	env, err := ruleEnv(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: attribute schema: %w", err)
	}
	return env.Schema(), nil
}

// fold is how the engine compares attribute names and values that AD
// compares without regard to case.
func fold(s string) string { return strings.ToLower(s) }
