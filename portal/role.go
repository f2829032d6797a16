package portal

import (
	"context"
	"time"
)

// Label is the role as people read it.
func (r Role) Label() string {
	switch r {
	case RoleAdmin:
		return Mark("Administrator")
	case RoleHelpdesk:
		return Mark("Helpdesk")
	}
	return string(r)
}

// Roles lists the portal roles, in display order.
func Roles() []Role { return []Role{RoleAdmin, RoleHelpdesk} }

// RoleGroup is a portal role and the group whose members hold it.
type RoleGroup struct {
	Role      Role
	GroupID   string
	GroupName string
	Members   []PersonRef // the first MaxListedRoleMembers, by name
	Count     int
}

// MaxListedRoleMembers bounds the members the Roles page lists per role.
const MaxListedRoleMembers = 200

// RoleService shows who holds each portal role and which group grants it.
// A role is granted and revoked by requests to add or remove a member of
// its group, under policy, like any membership.
type RoleService interface {
	// ListRoleGroups returns each role with its group and members;
	// administrators only.
	ListRoleGroups(ctx context.Context, v Viewer) ([]RoleGroup, error)
	// SetRoleGroup makes the members of the closed group called group
	// (its name or display name) hold role instead of those of its group
	// until now; administrators only, audited.
	SetRoleGroup(ctx context.Context, v Viewer, role Role, group string) error
}

// GovernanceTimers are the River timers of what administrators create:
// a group's expiry and a person's end date, each applied as a request of
// Tessera's own.
type GovernanceTimers interface {
	// ExpireGroup deletes the group whose expiry, until, has passed,
	// unless its expiry changed meanwhile.
	ExpireGroup(ctx context.Context, groupID string, until time.Time) error
	// EndPerson disables the person whose end date ended at at, unless it
	// changed meanwhile.
	EndPerson(ctx context.Context, personID string, at time.Time) error
}
