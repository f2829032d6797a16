package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// requestAges are the conditions of RequestFilter.Age.
var requestAges = map[string]string{
	"1h":  "r.created_at < now() - interval '1 hour'",
	"1d":  "r.created_at < now() - interval '1 day'",
	"7d":  "r.created_at < now() - interval '7 days'",
	"30d": "r.created_at < now() - interval '30 days'",
}

// SearchRequests lists the requests f selects, newest first, for
// administrators.
func (db *DB) SearchRequests(ctx context.Context, v portal.Viewer, f portal.RequestFilter) (portal.Page[portal.Request], error) {
	if !v.Has(portal.RoleAdmin) {
		return portal.Page[portal.Request]{}, portal.Errorf(portal.EFORBIDDEN, "Only administrators list every request.")
	}
	if err := f.Normalize(); err != nil {
		return portal.Page[portal.Request]{}, err
	}
	page := portal.Page[portal.Request]{Offset: f.Offset, Limit: f.Limit}
	var where []string
	var args []any
	p := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Status != "" {
		where = append(where, "r.status = "+p(string(f.Status)))
	}
	if f.Kind != "" {
		where = append(where, "r.operation = "+p(string(f.Kind)))
	}
	if f.Requester != "" {
		q := p(f.Requester)
		where = append(where, "(strpos(lower(coalesce(rq.display_name, 'Tessera')), lower("+q+")) > 0 OR lower(rq.account_name) = lower("+q+"))")
	}
	if f.Target != "" {
		q := p(f.Target)
		where = append(where, "(strpos(lower(g.display_name), lower("+q+")) > 0 OR strpos(lower(p.display_name), lower("+q+")) > 0)")
	}
	if f.PolicyID != "" {
		if !validID(f.PolicyID) {
			return page, portal.Errorf(portal.EINVALID, "There is no such policy.")
		}
		where = append(where, "r.policy_id = "+p(f.PolicyID))
	}
	if f.Age != "" {
		where = append(where, requestAges[f.Age])
	}
	// The name filters join the names they read; the page's names are
	// looked up for its rows alone (requestColumns).
	sql := requestSelect
	if f.Requester != "" {
		sql += " LEFT JOIN people rq ON rq.id = r.requester_id"
	}
	if f.Target != "" {
		sql += " LEFT JOIN groups g ON g.id = r.group_id LEFT JOIN people p ON p.id = r.person_id"
	}
	for i, w := range where {
		if i == 0 {
			sql += " WHERE " + w
		} else {
			sql += " AND " + w
		}
	}
	// Only fixed SQL reaches the statement; what was typed goes as
	// parameters. One row more than the page says whether another follows.
	sql += " ORDER BY r.created_at DESC, r.id LIMIT " + p(f.Limit+1) + " OFFSET " + p(f.Offset)
	rows, err := db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return page, fmt.Errorf("postgres: search requests: %w", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Request, error) {
		var r portal.Request
		return r, scanRequest(row, &r)
	})
	if err != nil {
		return page, fmt.Errorf("postgres: search requests: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items, page.More = page.Items[:f.Limit], true
	}
	return page, nil
}
