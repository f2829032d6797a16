package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// Requests that create, change and delete groups and create people are
// applied here, as applyLocked applies the others: in the transaction
// that commits them, with their timers inserted in it.

var (
	_ portal.RoleService      = (*DB)(nil)
	_ portal.GovernanceTimers = (*DB)(nil)
)

// columnValue is the SQL that gives a core attribute's column the text of
// parameter n: a flag as a boolean, an empty reference as NULL.
func columnValue(a *portal.Attribute, n int) string {
	p := "$" + strconv.Itoa(n) + "::text"
	switch {
	case a.Type == portal.TypeBool:
		return p + "::boolean"
	case a.Type == portal.TypeReference:
		return "nullif(" + p + ", '')::uuid"
	case a.Nullable:
		return "nullif(" + p + ", '')"
	}
	return p
}

// applyAdministration applies a locked create_group, update_group,
// delete_group or create_person request h, whose record is rec.
func (db *DB) applyAdministration(ctx context.Context, tx pgx.Tx, a *applying, rec recording, h requestHead) error {
	switch portal.Operation(h.Operation) {
	case portal.OpCreateGroup:
		g, err := portal.GroupSpecFromChanges(h.Changes)
		if err != nil {
			return err
		}
		expires := groupExpiry(g)
		var id string
		err = tx.QueryRow(ctx, `INSERT INTO groups (name, display_name, description, group_type, join_policy, expires_at, membership_days)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, g.Name, g.DisplayName, g.Description, string(g.Type), string(g.JoinPolicy),
			expires, nullableInt(g.MembershipDays)).Scan(&id)
		if isUniqueViolation(err) {
			return portal.Errorf(portal.ECONFLICT, "There is a group called “%s” already.", g.Name)
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `WITH o AS (INSERT INTO group_owners (group_id, person_id)
				SELECT $1, unnest($2::text[]::uuid[]) ON CONFLICT DO NOTHING)
			UPDATE requests SET group_id = $1 WHERE id = $3`, id, g.Owners, h.ID); err != nil {
			return err
		}
		rec.Details["group"] = id
		if expires != nil {
			a.jobs = append(a.jobs, expireGroupJob(id, *expires))
		}
	case portal.OpUpdateGroup:
		g, err := portal.GroupSpecFromChanges(h.Changes)
		if err != nil {
			return err
		}
		expires := groupExpiry(g)
		var before map[string]any
		rows, err := tx.Query(ctx, `WITH o AS (SELECT * FROM groups WHERE id = $1 FOR UPDATE)
			UPDATE groups g SET name = $2, display_name = $3, description = $4, group_type = $5, join_policy = $6, expires_at = $7,
				membership_days = $8
			FROM o WHERE g.id = o.id
			RETURNING o.name, o.display_name, o.description, o.group_type, o.join_policy, o.expires_at, o.membership_days,
				o.expires_at IS NOT DISTINCT FROM g.expires_at AS same_expiry`,
			h.GroupID, g.Name, g.DisplayName, g.Description, string(g.Type), string(g.JoinPolicy), expires, nullableInt(g.MembershipDays))
		if err != nil {
			return err
		}
		before, err = pgx.CollectExactlyOneRow(rows, pgx.RowToMap)
		if isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "The group was deleted meanwhile.")
		} else if isUniqueViolation(err) {
			return portal.Errorf(portal.ECONFLICT, "There is a group called “%s” already.", g.Name)
		} else if err != nil {
			return err
		}
		if same, _ := before["same_expiry"].(bool); !same && expires != nil {
			a.jobs = append(a.jobs, expireGroupJob(h.GroupID, *expires))
		}
		delete(before, "same_expiry")
		rec.Details["before"] = before
	case portal.OpDeleteGroup:
		groupDeleted := portal.Textf("The group was deleted.")
		// The group's pending requests end with it; its members, owners
		// and rule go with its row, and the sync that carries this request
		// deprovisions it in the connected systems.
		if _, err := tx.Exec(ctx, `WITH c AS (UPDATE requests SET status = 'canceled', updated_at = now()
				WHERE group_id = $1 AND status = 'authorizing' AND id <> $2 RETURNING id),
			a AS (UPDATE approvals SET status = 'canceled' WHERE request_id IN (SELECT id FROM c) AND status = 'pending')
			INSERT INTO request_events (request_id, kind, detail, detail_text) SELECT id, 'canceled', $3, $4::jsonb FROM c`,
			h.GroupID, h.ID, groupDeleted.String(), storedText(groupDeleted)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM groups WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM role_groups WHERE group_id = $1)`, h.GroupID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return portal.Errorf(portal.ECONFLICT, "The group grants a portal role, or was deleted already.")
		}
		rec.Details["group"] = h.GroupID
		rec.Details["name"] = h.Changes["displayName"]
	case portal.OpCreatePerson:
		// The end date was checked at submission; an approval that took
		// longer than that leaves it as it was asked for.
		schema := portal.CoreSchema()
		if hasExtraChange(h.Changes) {
			extra, err := readExtraAttributes(ctx, tx)
			if err != nil {
				return err
			}
			schema = portal.NewSchema(extra)
		}
		np, err := portal.NewPersonFromChangesIn(schema, h.Changes, time.Time{})
		if err != nil {
			return err
		}
		s := portal.CoreSchema()
		cols := s.CoreColumns()
		vals := s.CoreValues(&np.Person, nil)
		if len(np.Person.Extra) > 0 {
			// Their extra attributes, as a profile edit keeps them.
			cols, vals = append(cols, "extra"), append(vals, np.Person.Extra)
		}
		ph := make([]string, len(vals))
		for i := range vals {
			ph[i] = "$" + strconv.Itoa(i+1)
		}
		var id string
		// The column names come from the schema, never from the request.
		err = tx.QueryRow(ctx, "INSERT INTO people ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(ph, ", ")+") RETURNING id",
			vals...).Scan(&id)
		if isUniqueViolation(err) {
			return portal.Errorf(portal.ECONFLICT, "Someone has that account name or employee ID already.")
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE requests SET person_id = $1 WHERE id = $2`, id, h.ID); err != nil {
			return err
		}
		rec.Details["person"] = id
		if np.EndDate != nil {
			var zone string
			if err := tx.QueryRow(ctx, `INSERT INTO person_end_dates (person_id, ends, time_zone)
				VALUES ($1, $2, coalesce((SELECT time_zone FROM hr_sources ORDER BY system_id LIMIT 1), 'UTC')) RETURNING time_zone`,
				id, np.EndDate.String()).Scan(&zone); err != nil {
				return err
			}
			loc, err := portal.LoadTimeZone(zone)
			if err != nil {
				loc = time.UTC
			}
			at := np.EndDate.End(loc)
			a.jobs = append(a.jobs, river.InsertManyParams{Args: workflow.EndPersonArgs{PersonID: id, At: at},
				InsertOpts: &river.InsertOpts{ScheduledAt: at}})
			rec.Details["end_date"] = np.EndDate.String()
		}
		if _, _, err := db.RecomputePersonTx(ctx, tx, id); err != nil {
			return err
		}
	default:
		return fmt.Errorf("postgres: %s is not an administration request", h.Operation)
	}
	return nil
}

// groupExpiry is when a group the spec describes is deleted: the end of
// its last day in UTC, or nil.
func groupExpiry(g portal.GroupSpec) *time.Time {
	if g.ExpiresAt == nil {
		return nil
	}
	t := g.ExpiresAt.End(time.UTC)
	return &t
}

func expireGroupJob(groupID string, at time.Time) river.InsertManyParams {
	return river.InsertManyParams{Args: workflow.ExpireGroupArgs{GroupID: groupID, Until: at}, InsertOpts: &river.InsertOpts{ScheduledAt: at}}
}

// ExpireGroup deletes a group whose expiry passed, as a request of Tessera
// itself, unless its expiry was changed meanwhile or it grants a role.
func (db *DB) ExpireGroup(ctx context.Context, groupID string, until time.Time) error {
	err := db.inTx(ctx, func(tx *finalTx) error {
		var expires *time.Time
		var name, display string
		var role bool
		err := tx.QueryRow(ctx, `SELECT expires_at, name, display_name, EXISTS (SELECT 1 FROM role_groups WHERE group_id = g.id)
			FROM groups g WHERE id = $1 FOR UPDATE`, groupID).Scan(&expires, &name, &display, &role)
		if isNoRows(err) || (err == nil && (expires == nil || !expires.Equal(until) || role)) {
			return nil
		} else if err != nil {
			return err
		}
		var id string
		// Tessera asks: the timeline says why (see ExpireMembership).
		if err := tx.QueryRow(ctx, `INSERT INTO requests (operation, group_id, changes, status)
			VALUES ('delete_group', $1, $2, 'committed') RETURNING id`, groupID,
			map[string]string{"name": name, "displayName": display, "groupId": groupID}).Scan(&id); err != nil {
			return err
		}
		return db.apply(ctx, tx, id, "", event{portal.KindSubmitted, "", portal.Textf("The group expired on %s.", portal.At(until))})
	})
	if err != nil {
		return fmt.Errorf("postgres: expire group: %w", err)
	}
	return nil
}

// EndPerson disables a person created by hand when their end date has
// ended (at), as a request of Tessera itself, unless the end date was
// changed meanwhile or they are disabled already.
func (db *DB) EndPerson(ctx context.Context, personID string, at time.Time) error {
	err := db.inTx(ctx, func(tx *finalTx) error {
		var ends, zone string
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT e.ends::text, e.time_zone, p.account_enabled FROM person_end_dates e
			JOIN people p ON p.id = e.person_id WHERE e.person_id = $1 FOR UPDATE`, personID).Scan(&ends, &zone, &enabled)
		if isNoRows(err) {
			return nil
		} else if err != nil {
			return err
		}
		d, err := portal.ParseDate(ends)
		if err != nil {
			return err
		}
		loc, err := portal.LoadTimeZone(zone)
		if err != nil {
			loc = time.UTC
		}
		if !d.End(loc).Equal(at) || !enabled {
			return nil
		}
		var id string
		// Tessera asks: the timeline says why (see ExpireMembership).
		if err := tx.QueryRow(ctx, `INSERT INTO requests (operation, person_id, changes, status)
			VALUES ('update_person', $1, '{"enabled": "false"}', 'committed') RETURNING id`, personID).Scan(&id); err != nil {
			return err
		}
		return db.apply(ctx, tx, id, "", event{portal.KindSubmitted, "", portal.Textf("Their last day, %s, ended.", d)})
	})
	if err != nil {
		return fmt.Errorf("postgres: end person: %w", err)
	}
	return nil
}

// ListRoleGroups returns each portal role with the group that grants it
// and its first members.
func (db *DB) ListRoleGroups(ctx context.Context, v portal.Viewer) ([]portal.RoleGroup, error) {
	if !v.Has(portal.RoleAdmin) {
		return nil, portal.Errorf(portal.EFORBIDDEN, "Only administrators see who holds the portal roles.")
	}
	rows, err := db.Pool.Query(ctx, `SELECT rg.role, g.id, g.display_name,
			(SELECT count(*) FROM group_members m WHERE m.group_id = g.id),
			coalesce((SELECT jsonb_agg(jsonb_build_object('ID', x.id, 'DisplayName', x.display_name, 'Title', x.title,
					'Department', x.department) ORDER BY x.sort_name, x.id)
				FROM (SELECT p.id, p.display_name, p.title, p.department, p.sort_name FROM group_members m JOIN people p ON p.id = m.person_id
					WHERE m.group_id = g.id ORDER BY p.sort_name, p.id LIMIT $1) x), '[]')
		FROM role_groups rg JOIN groups g ON g.id = rg.group_id ORDER BY rg.role = 'admin' DESC, rg.role`, portal.MaxListedRoleMembers)
	if err != nil {
		return nil, fmt.Errorf("postgres: role groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.RoleGroup, error) {
		var r portal.RoleGroup
		return r, row.Scan(&r.Role, &r.GroupID, &r.GroupName, &r.Count, &r.Members)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: role groups: %w", err)
	}
	return out, nil
}

// SetRoleGroup makes the members of a closed group hold role.
func (db *DB) SetRoleGroup(ctx context.Context, v portal.Viewer, role portal.Role, group string) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators choose which group grants a role.")
	}
	if role != portal.RoleAdmin && role != portal.RoleHelpdesk {
		return portal.Errorf(portal.ENOTFOUND, "There is no role called %q.", role)
	}
	group = strings.TrimSpace(group)
	if group == "" || len(group) > 256 {
		return portal.Errorf(portal.EINVALID, "Give the group's name.")
	}
	err := db.inTx(ctx, func(tx *finalTx) error {
		var id, join, name, before string
		var other, holder bool
		err := tx.QueryRow(ctx, `SELECT g.id::text, g.join_policy, g.display_name, coalesce((SELECT group_id::text FROM role_groups WHERE role = $2), ''),
				EXISTS (SELECT 1 FROM role_groups WHERE group_id = g.id AND role <> $2),
				$2 <> 'admin' OR $3::uuid IS NULL OR EXISTS (SELECT 1 FROM group_members WHERE group_id = g.id AND person_id = $3::uuid)
			FROM groups g WHERE lower(g.name) = lower($1) OR lower(g.display_name) = lower($1)
			ORDER BY lower(g.name) = lower($1) DESC, g.id LIMIT 1 FOR UPDATE`, group, string(role), nullable(v.PersonID)).
			Scan(&id, &join, &name, &before, &other, &holder)
		switch {
		case isNoRows(err):
			return portal.Errorf(portal.EINVALID, "There is no group called “%s”.", group)
		case err != nil:
			return err
		case id == before:
			return portal.Errorf(portal.EINVALID, "%s grants the role already.", name)
		case portal.JoinPolicy(join) != portal.JoinClosed:
			return portal.Errorf(portal.EINVALID, "%s is not closed: a group that grants a role must be closed, so that only its owners and administrators add members.", name)
		case other:
			return portal.Errorf(portal.ECONFLICT, "%s grants another role already; a group grants one role.", name)
		case !holder:
			// Choosing a group one is not in would take one's own rights
			// away at the next page.
			return portal.Errorf(portal.EINVALID, "You are not a member of %s: add yourself first, or you would lose the administrator role.", name)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO role_groups (role, group_id) VALUES ($1, $2)
			ON CONFLICT (role) DO UPDATE SET group_id = excluded.group_id`, string(role), id); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "role_group_set", "group", id, map[string]any{"role": string(role), "before": before})
	})
	return storeError("set role group", err)
}

// GrantRole makes the person whose account name or email is account hold
// role, by a request of Tessera's own to add them to the role's group
// (`tessera admin grant`: the first administrator has no one to ask).
func (db *DB) GrantRole(ctx context.Context, account string, role portal.Role) (*portal.Request, error) {
	p, err := db.FindPersonByName(ctx, account)
	if err != nil {
		return nil, err
	}
	var groupID string
	err = db.Pool.QueryRow(ctx, `SELECT group_id::text FROM role_groups WHERE role = $1`, string(role)).Scan(&groupID)
	if isNoRows(err) {
		return nil, portal.Errorf(portal.ENOTFOUND, "No group grants the role %q.", role)
	} else if err != nil {
		return nil, fmt.Errorf("postgres: grant role: %w", err)
	}
	return db.Submit(ctx, portal.TesseraViewer(), portal.NewRequest{Operation: portal.OpAddMember, GroupID: groupID, PersonID: p.ID,
		Justification: "Granted from the command line (tessera admin grant)."})
}
