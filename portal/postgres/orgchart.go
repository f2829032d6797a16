package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// FindOrgTree loads the org chart around a person in one round trip: the
// chain of managers above them, their manager's reports (their peers), and
// the people below them breadth first, up to portal.OrgChartMaxBelow boxes
// and portal.OrgChartMaxDepth levels. Each box carries its number of direct
// reports, counted through the people_manager index.
func (db *DB) FindOrgTree(ctx context.Context, id string) (*portal.OrgTree, error) {
	if !validID(id) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	tree := &portal.OrgTree{}
	var focus portal.OrgNode
	var managerID *string
	batch := &pgx.Batch{}
	batch.Queue(`SELECT p.id, p.display_name, p.title, p.department, p.manager_id,
			(SELECT count(*) FROM people c WHERE c.manager_id = p.id)
		FROM people p WHERE p.id = $1`, id).
		QueryRow(func(row pgx.Row) error {
			err := row.Scan(&focus.ID, &focus.DisplayName, &focus.Title, &focus.Department, &managerID, &focus.ReportCount)
			if isNoRows(err) {
				return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
			}
			return err
		})
	batch.Queue(`WITH RECURSIVE chain AS (
			SELECT m.id, m.display_name, m.title, m.department, m.manager_id, 1 AS depth
			FROM people p JOIN people m ON m.id = p.manager_id WHERE p.id = $1
			UNION ALL
			SELECT m.id, m.display_name, m.title, m.department, m.manager_id, c.depth + 1
			FROM chain c JOIN people m ON m.id = c.manager_id WHERE c.depth < 20
		) SELECT id, display_name, title, department FROM chain ORDER BY depth DESC`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			tree.Chain, err = pgx.CollectRows(rows, scanRef)
			return err
		})
	// The peers: the manager's reports, or the person alone at the top.
	batch.Queue(`SELECT s.id, s.display_name, s.title, s.department,
			(SELECT count(*) FROM people c WHERE c.manager_id = s.id), count(*) OVER ()
		FROM people p JOIN people s ON s.manager_id = p.manager_id
		WHERE p.id = $1 ORDER BY s.sort_name, s.id LIMIT $2`, id, portal.OrgChartMaxPeers).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				n := &portal.OrgNode{}
				if err := rows.Scan(&n.ID, &n.DisplayName, &n.Title, &n.Department, &n.ReportCount, &tree.PeerCount); err != nil {
					return err
				}
				tree.Peers = append(tree.Peers, n)
			}
			return rows.Err()
		})
	// Below: a recursive walk yields each level before the next, so the
	// LIMIT keeps the levels nearest the person and stops the walk early
	// under someone at the top of a large organisation.
	var below []belowRow
	batch.Queue(`WITH RECURSIVE below AS (
			SELECT id, manager_id, 1 AS depth FROM people WHERE manager_id = $1
			UNION ALL
			SELECT p.id, p.manager_id, b.depth + 1
			FROM below b JOIN people p ON p.manager_id = b.id WHERE b.depth < $2
		), picked AS (SELECT id, manager_id, depth FROM below LIMIT $3)
		SELECT p.id, p.display_name, p.title, p.department, k.manager_id, k.depth,
			(SELECT count(*) FROM people c WHERE c.manager_id = p.id)
		FROM picked k JOIN people p ON p.id = k.id
		ORDER BY k.depth, p.sort_name, p.id`, id, portal.OrgChartMaxDepth, portal.OrgChartMaxBelow).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var b belowRow
				if err := rows.Scan(&b.node.ID, &b.node.DisplayName, &b.node.Title, &b.node.Department,
					&b.managerID, &b.depth, &b.node.ReportCount); err != nil {
					return err
				}
				below = append(below, b)
			}
			return rows.Err()
		})
	if err := db.Pool.SendBatch(ctx, batch).Close(); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: find org tree: %w", err)
	}
	tree.Focus = &focus
	if managerID == nil || len(tree.Peers) == 0 {
		tree.Peers, tree.PeerCount = []*portal.OrgNode{&focus}, 1
	} else {
		found := false
		for i, p := range tree.Peers {
			if p.ID == focus.ID {
				tree.Peers[i], found = &focus, true
			}
		}
		if !found {
			// Past OrgChartMaxPeers in name order: the person is still shown.
			tree.Peers = append(tree.Peers, &focus)
		}
	}
	attachBelow(&focus, below)
	return tree, nil
}

type belowRow struct {
	node      portal.OrgNode
	managerID string
	depth     int
}

// attachBelow hangs the rows under their managers. A manager keeps its
// reports only when all of them were loaded (the walk's limit may cut a
// level short), so that a box never shows part of a team as if it were all.
func attachBelow(focus *portal.OrgNode, rows []belowRow) {
	nodes := map[string]*portal.OrgNode{focus.ID: focus}
	for i := range rows {
		n := &rows[i].node
		nodes[n.ID] = n
		if m := nodes[rows[i].managerID]; m != nil {
			m.Reports = append(m.Reports, n)
		}
	}
	for _, n := range nodes {
		if len(n.Reports) != n.ReportCount {
			n.Reports = nil
		}
	}
}
