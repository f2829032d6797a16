package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// A brownfield domain's groups come into the portal as its people do: a
// group rule with projection on creates a portal group for each group in
// scope that joins none, so that people can ask to join it at once. Its
// owner is the person AD's managedBy names, and its members the people
// its member values name, each resolved through the connector space (the
// DN of an object joined to a person).

// groupProjection is a portal group to create from an unjoined group
// object.
type groupProjection struct {
	cs                               *CSObject
	name, display, description, mail string
	security                         bool
	owner                            string   // managedBy: a DN, or ""
	members                          []string // member: DNs
}

// projectGroup plans the projection of cs, a group object that joined no
// portal group: its name is sAMAccountName, its display name displayName
// (or its RDN), its type from groupType.
func projectGroup(cs *CSObject, out *changeSet, rec *runRecord) {
	name := cs.first("sAMAccountName")
	display := cs.first("displayName")
	if display == "" {
		display, _ = RDNValue(cs.DN)
	}
	description, mail := cs.first("description"), cs.first("mail")
	switch {
	case name == "" || utf8.RuneCountInString(name) > 64:
		rec.count("error", cs.DN, portal.Textf("cannot project it into the portal: it has no usable sAMAccountName"))
		return
	case display == "" || utf8.RuneCountInString(display) > 256:
		rec.count("error", cs.DN, portal.Textf("cannot project it into the portal: its display name is empty or longer than 256 characters"))
		return
	case utf8.RuneCountInString(description) > 1024 || utf8.RuneCountInString(mail) > 256:
		rec.count("error", cs.DN, portal.Textf("cannot project it into the portal: its description or mail is longer than the portal takes"))
		return
	}
	// AD's groupType has its top bit set for a security group.
	t, _ := strconv.ParseInt(cs.first("groupType"), 10, 64)
	cs.GroupID = "projected"
	out.projectedGroups = append(out.projectedGroups, groupProjection{cs: cs, name: name, display: display, description: description,
		mail: mail, security: t < 0 || cs.first("groupType") == "", owner: cs.first("managedBy"), members: cs.Attrs["member"]})
	rec.count("add", cs.DN, portal.Textf("projected into the portal as the group %s", display))
}

// writeGroupProjections creates the projected groups, joins them, and
// gives each its owner and members from the people joined to the objects
// their DNs name. A group whose name a portal group has already is left
// unjoined with the reason. Groups without an owner are closed: nobody
// would approve a request to join them.
func writeGroupProjections(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, list []groupProjection) error {
	for _, g := range list {
		typ := "distribution"
		if g.security {
			typ = "security"
		}
		var id string
		err := tx.QueryRow(ctx, `INSERT INTO groups (name, display_name, description, email, group_type, join_policy)
			SELECT $1, $2, $3, $4, $5, CASE WHEN EXISTS (SELECT 1 FROM cs_objects o WHERE o.system_id = $6 AND $7 <> ''
				AND lower(o.dn) = lower($7) AND o.person_id IS NOT NULL) THEN 'owner_approval' ELSE 'closed' END
			ON CONFLICT DO NOTHING RETURNING id::text`, g.name, g.display, g.description, g.mail, typ, sys.ID, g.owner).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := tx.Exec(ctx, "UPDATE cs_objects SET join_error = $2 WHERE id = $1", g.cs.ID,
				fmt.Sprintf("cannot project it into the portal: a group is called %q already", g.name)); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return fmt.Errorf("syncsvc: project group %s: %w", g.cs.DN, err)
		}
		g.cs.GroupID = id
		if _, err := tx.Exec(ctx, "UPDATE cs_objects SET group_id = $2, join_error = '' WHERE id = $1", g.cs.ID, id); err != nil {
			return err
		}
		dns := make([]string, 0, len(g.members)+1)
		for _, m := range g.members {
			dns = append(dns, strings.ToLower(m))
		}
		// The people the DNs name: cs_objects_dn finds each by its name.
		var owners, members []string
		rows, err := tx.Query(ctx, `SELECT DISTINCT o.person_id::text, lower(o.dn) = lower($3) FROM cs_objects o
			WHERE o.system_id = $1 AND o.person_id IS NOT NULL AND (lower(o.dn) = ANY($2) OR lower(o.dn) = lower($3))`,
			sys.ID, dns, g.owner)
		if err != nil {
			return fmt.Errorf("syncsvc: project group %s: %w", g.cs.DN, err)
		}
		var pid string
		var isOwner bool
		if _, err := pgx.ForEachRow(rows, []any{&pid, &isOwner}, func() error {
			if isOwner {
				owners = append(owners, pid)
			}
			if !isOwner || memberDN(g.members, g.owner) {
				members = append(members, pid)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("syncsvc: project group %s: %w", g.cs.DN, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO group_owners (group_id, person_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING`,
			id, owners); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, person_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING`,
			id, members); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT audit_append(NULL, 'sync_group_projection', 'group', $1, $2)", id,
			map[string]any{"system": sys.Name, "dn": g.cs.DN, "name": g.name, "owners": owners, "members": len(members)}); err != nil {
			return err
		}
	}
	return nil
}

// memberDN reports whether dn is among members, compared as AD compares
// DNs.
func memberDN(members []string, dn string) bool {
	for _, m := range members {
		if SameDN(m, dn) {
			return true
		}
	}
	return false
}
