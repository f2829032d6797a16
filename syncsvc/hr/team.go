package hr

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// What HR's changes mean for a person's managers. A leaver loses the
// groups people gave them (not those rules compute), which are kept
// (hr_leavers); when HR brings the same person back (a rehire) they are
// listed for the manager, who asks again for those still needed, instead
// of being restored silently. A mover (a new department or manager) keeps
// their groups; the rules recompute the dynamic ones, and the old and the
// new manager are told which groups owners approved for them, to review.
// The notices are written in the import's transaction, so they are never
// lost or written twice, and delivered once the sync has set the new
// manager: on the managers' home pages, and by mail.

var _ portal.TeamNotices = (*Service)(nil)

// teamChanges reads, in tx (the import's, before it writes), what the
// objects staged in syncsvc.ImportObjects do to their people, and records
// it: leavers lose their groups, rehires and movers get a notice.
func teamChanges(ctx context.Context, tx pgx.Tx, systemID string) error {
	rows, err := tx.Query(ctx, `SELECT id, manager_id, kind FROM (SELECT p.id::text AS id, p.manager_id, CASE
			WHEN coalesce(c.attributes->'active'->>0, '') <> 'false' AND i.attrs->'active'->>0 = 'false' THEN 'left'
			WHEN c.attributes->'active'->>0 = 'false' AND i.attrs->'active'->>0 = 'true' THEN 'back'
			WHEN i.attrs->'active'->>0 = 'true' AND (coalesce(c.attributes->'department'->>0, '') <> coalesce(i.attrs->'department'->>0, '')
				OR lower(coalesce(c.attributes->'manager'->>0, '')) <> lower(coalesce(i.attrs->'manager'->>0, ''))) THEN 'moved' END AS kind
			FROM `+syncsvc.ImportObjects+` i JOIN cs_objects c ON c.system_id = $1 AND c.anchor = i.anchor JOIN people p ON p.id = c.person_id
			WHERE i.attrs IS NOT NULL) t
		WHERE kind IS NOT NULL`, systemID)
	if err != nil {
		return fmt.Errorf("hr: team changes: %w", err)
	}
	var left, back, moved []string
	var movedFrom []*string
	var id, kind string
	var manager *string
	if _, err := pgx.ForEachRow(rows, []any{&id, &manager, &kind}, func() error {
		switch kind {
		case "left":
			left = append(left, id)
		case "back":
			back = append(back, id)
		default:
			moved, movedFrom = append(moved, id), append(movedFrom, manager)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("hr: team changes: %w", err)
	}
	if len(left) > 0 {
		// The groups rules compute follow the person's attributes; the
		// others leave with them, kept for a rehire, each in the audit log.
		if _, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM group_members WHERE person_id = ANY($1::uuid[]) AND NOT computed
				RETURNING person_id, group_id),
			kept AS (INSERT INTO hr_leavers (person_id, group_ids)
				SELECT person_id, array_agg(group_id) FROM gone GROUP BY person_id
				ON CONFLICT (person_id) DO UPDATE SET left_at = now(), group_ids = ARRAY(
					SELECT DISTINCT unnest(hr_leavers.group_ids || excluded.group_ids))
				RETURNING person_id, group_ids)
			SELECT count(audit_append(NULL, 'hr_leaver_groups_removed', 'person', person_id::text,
				jsonb_build_object('groups', group_ids))) FROM kept`, left); err != nil {
			return fmt.Errorf("hr: leavers' groups: %w", err)
		}
	}
	if len(back) > 0 {
		if _, err := tx.Exec(ctx, `WITH b AS (DELETE FROM hr_leavers WHERE person_id = ANY($1::uuid[]) RETURNING person_id, group_ids)
			INSERT INTO team_notices (person_id, kind, group_ids) SELECT person_id, 'rehired', group_ids FROM b
			WHERE cardinality(group_ids) > 0`, back); err != nil {
			return fmt.Errorf("hr: rehires: %w", err)
		}
	}
	if len(moved) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO team_notices (person_id, kind, from_manager_id)
			SELECT p, 'moved', m FROM unnest($1::uuid[], $2::uuid[]) AS t(p, m)`, moved, movedFrom); err != nil {
			return fmt.Errorf("hr: movers: %w", err)
		}
	}
	return nil
}

// deliverNotices addresses the notices not yet delivered to the people's
// managers as the sync has set them (and a mover's former manager), with
// a mover's owner-approved groups as they are now, and queues a mail to
// each manager. A notice with no group to list is nobody's business.
func (s *Service) deliverNotices(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH d AS (UPDATE team_notices n SET delivered_at = now(), to_manager_id = p.manager_id,
				group_ids = CASE WHEN n.kind = 'moved' THEN ARRAY(SELECT m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id
					WHERE m.person_id = n.person_id AND NOT m.computed AND g.join_policy = 'owner_approval') ELSE n.group_ids END
				FROM people p WHERE p.id = n.person_id AND n.delivered_at IS NULL
				RETURNING n.id, n.from_manager_id, n.to_manager_id, n.group_ids)
			SELECT DISTINCT d.id, r.m::text FROM d, unnest(ARRAY[d.from_manager_id, d.to_manager_id]) AS r(m)
			WHERE r.m IS NOT NULL AND cardinality(d.group_ids) > 0`)
		if err != nil {
			return err
		}
		type mail struct {
			id int64
			to string
		}
		var mails []mail
		var m mail
		if _, err := pgx.ForEachRow(rows, []any{&m.id, &m.to}, func() error {
			mails = append(mails, m)
			return nil
		}); err != nil {
			return err
		}
		if s.Notify == nil {
			return nil
		}
		for _, m := range mails {
			if err := s.Notify(ctx, tx, m.id, m.to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hr: team notices: %w", err)
	}
	return nil
}

const noticeSelect = `SELECT n.id, n.kind, n.person_id::text, p.display_name, coalesce(n.delivered_at, n.created_at),
	coalesce((SELECT jsonb_agg(jsonb_build_object('ID', g.id, 'DisplayName', g.display_name, 'Type', g.group_type) ORDER BY g.display_name)
		FROM groups g WHERE g.id = ANY(n.group_ids)), '[]')
	FROM team_notices n JOIN people p ON p.id = n.person_id`

func scanNotice(row pgx.Row) (portal.TeamNotice, error) {
	var n portal.TeamNotice
	err := row.Scan(&n.ID, &n.Kind, &n.PersonID, &n.PersonName, &n.At, &n.Groups)
	return n, err
}

// TeamNotices returns the latest delivered notices for manager (of their
// people, and of those who moved away from them) that still list a
// group, newest first.
func (s *Service) TeamNotices(ctx context.Context, managerID string, limit int) ([]portal.TeamNotice, error) {
	rows, err := s.Pool.Query(ctx, noticeSelect+` WHERE (n.to_manager_id = $1 OR n.from_manager_id = $1) AND n.delivered_at IS NOT NULL
		AND EXISTS (SELECT 1 FROM groups g WHERE g.id = ANY(n.group_ids)) ORDER BY n.id DESC LIMIT $2`, managerID, limit)
	if err != nil {
		return nil, fmt.Errorf("hr: team notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.TeamNotice, error) { return scanNotice(row) })
	if err != nil {
		return nil, fmt.Errorf("hr: team notices: %w", err)
	}
	return out, nil
}

// TeamNoticeFor returns notice id addressed to manager to, with their
// name, email and language, as it is mailed.
func (s *Service) TeamNoticeFor(ctx context.Context, id int64, to string) (*portal.TeamNotice, error) {
	n, err := scanNotice(s.Pool.QueryRow(ctx, noticeSelect+` WHERE n.id = $1 AND $2::uuid IN (n.to_manager_id, n.from_manager_id)`, id, to))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such team notice.")
	} else if err != nil {
		return nil, fmt.Errorf("hr: team notice: %w", err)
	}
	if err := s.Pool.QueryRow(ctx, `SELECT p.display_name, p.email, coalesce(st.language, '') FROM people p
		LEFT JOIN person_settings st ON st.person_id = p.id WHERE p.id = $1`, to).Scan(&n.ToName, &n.ToEmail, &n.ToLanguage); err != nil {
		return nil, fmt.Errorf("hr: team notice: %w", err)
	}
	return &n, nil
}
