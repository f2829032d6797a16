package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var _ portal.GroupService = (*DB)(nil)

const groupColumns = `g.id, g.name, g.display_name, g.description, g.email, g.group_type, g.join_policy,
	coalesce(g.membership_rule, '')`

// SearchGroups finds groups whose name, description or email contain every
// word of the query.
func (db *DB) SearchGroups(ctx context.Context, f portal.GroupFilter) (portal.Page[portal.Group], error) {
	if err := f.Normalize(); err != nil {
		return portal.Page[portal.Group]{}, err
	}
	var where []string
	args := []any{}
	for _, w := range queryWords(f.Query) {
		args = append(args, "%"+escapeLike(w)+"%")
		where = append(where, "g.search_text LIKE tessera_fold($"+strconv.Itoa(len(args))+")")
	}
	sql := "SELECT " + groupColumns + `, (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) FROM groups g`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit+1, f.Offset)
	sql += fmt.Sprintf(" ORDER BY g.display_name, g.id LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	rows, err := db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return portal.Page[portal.Group]{}, fmt.Errorf("postgres: search groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Group, error) {
		var g portal.Group
		return g, row.Scan(&g.ID, &g.Name, &g.DisplayName, &g.Description, &g.Email, &g.Type, &g.JoinPolicy, &g.MembershipRule, &g.MemberCount)
	})
	if err != nil {
		return portal.Page[portal.Group]{}, fmt.Errorf("postgres: search groups: %w", err)
	}
	page := portal.Page[portal.Group]{Items: groups, Offset: f.Offset, Limit: f.Limit}
	if len(groups) > f.Limit {
		page.Items, page.More = groups[:f.Limit], true
	}
	return page, nil
}

// FindGroup loads a group, its owners and one page of members.
func (db *DB) FindGroup(ctx context.Context, id string, offset, limit int) (*portal.GroupDetail, error) {
	if !validID(id) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	}
	f := portal.GroupFilter{Offset: offset, Limit: limit}
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	d := &portal.GroupDetail{Members: portal.Page[portal.PersonRef]{Offset: f.Offset, Limit: f.Limit}}
	batch := &pgx.Batch{}
	batch.Queue("SELECT "+groupColumns+`, (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id),
			g.expires_at, coalesce(g.membership_days, 0), coalesce((SELECT role FROM role_groups rg WHERE rg.group_id = g.id), '')
		FROM groups g WHERE g.id = $1`, id).
		QueryRow(func(row pgx.Row) error {
			g := &d.Group
			err := row.Scan(&g.ID, &g.Name, &g.DisplayName, &g.Description, &g.Email, &g.Type, &g.JoinPolicy, &g.MembershipRule, &g.MemberCount,
				&g.ExpiresAt, &g.MembershipDays, &g.Role)
			if isNoRows(err) {
				return portal.Errorf(portal.ENOTFOUND, "There is no such group.")
			}
			return err
		})
	batch.Queue(`SELECT p.id, p.display_name, p.title, p.department FROM group_owners o
		JOIN people p ON p.id = o.person_id WHERE o.group_id = $1 ORDER BY p.sort_name, p.id LIMIT $2`, id, maxListed).
		Query(func(rows pgx.Rows) error {
			var err error
			d.Owners, err = pgx.CollectRows(rows, scanRef)
			return err
		})
	batch.Queue(`SELECT p.id, p.display_name, p.title, p.department FROM group_members m
		JOIN people p ON p.id = m.person_id WHERE m.group_id = $1
		ORDER BY p.sort_name, p.id LIMIT $2 OFFSET $3`, id, f.Limit+1, f.Offset).
		Query(func(rows pgx.Rows) error {
			var err error
			d.Members.Items, err = pgx.CollectRows(rows, scanRef)
			return err
		})
	if err := db.Pool.SendBatch(ctx, batch).Close(); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: find group: %w", err)
	}
	if len(d.Members.Items) > f.Limit {
		d.Members.Items, d.Members.More = d.Members.Items[:f.Limit], true
	}
	return d, nil
}
