package portal

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// GroupType says whether a group grants access or only distributes mail.
type GroupType string

// Group types.
const (
	GroupSecurity     GroupType = "security"
	GroupDistribution GroupType = "distribution"
)

// JoinPolicy says how a person becomes a member of a group.
type JoinPolicy string

// Join policies.
const (
	JoinOpen          JoinPolicy = "open"
	JoinOwnerApproval JoinPolicy = "owner_approval"
	JoinClosed        JoinPolicy = "closed"
)

// Label is the join policy as people read it.
func (j JoinPolicy) Label() string {
	switch j {
	case JoinOpen:
		return Mark("Open: anyone can join")
	case JoinOwnerApproval:
		return Mark("Owner approval: an owner approves each join request")
	case JoinClosed:
		return Mark("Closed: owners add members")
	}
	return string(j)
}

// Group is a security or distribution group.
type Group struct {
	ID          string
	Name        string
	DisplayName string
	Description string
	Email       string
	Type        GroupType
	JoinPolicy  JoinPolicy
	MemberCount int
	// MembershipRule, when set, makes the group dynamic: its members are
	// the people the rule selects.
	MembershipRule string
	// ExpiresAt, when set, is when the group is deleted.
	ExpiresAt *time.Time
	// MembershipDays, when not 0, ends each new membership that many days
	// after it is added.
	MembershipDays int
	// Role is the portal role its members hold, "" for none.
	Role Role
}

// GroupRef is the short form of a group used in lists.
type GroupRef struct {
	ID          string
	DisplayName string
	Type        GroupType
}

// GroupDetail is a group with its owners and one page of members.
type GroupDetail struct {
	Group   Group
	Owners  []PersonRef
	Members Page[PersonRef]
}

// GroupFilter selects groups by name or description.
type GroupFilter struct {
	Query  string
	Offset int
	Limit  int
}

// Normalize trims the query and checks its length and paging.
func (f *GroupFilter) Normalize() error { return normalizeFilter(&f.Query, &f.Offset, &f.Limit) }

// GroupService reads groups and their members.
type GroupService interface {
	SearchGroups(ctx context.Context, f GroupFilter) (Page[Group], error)
	// FindGroup returns a group, its owners, and the page of members that
	// offset and limit select.
	FindGroup(ctx context.Context, id string, offset, limit int) (*GroupDetail, error)
}

// Limits of a group's fields as Active Directory and Entra ID take them:
// the name becomes the group's sAMAccountName and Entra's mailNickname
// (at most 64 ASCII characters without the ones either refuses), the
// display name its CN (rangeUpper 64).
const (
	MaxGroupName        = 64
	MaxGroupDisplayName = 64
	MaxGroupDescription = 1024
	MaxGroupOwners      = 20 // Entra takes at most 20 relationships when a group is created
	MaxMembershipDays   = 3650
)

// groupNameForbidden are the characters AD refuses in a sAMAccountName
// ("/\[]:;|=,+*?<>) and Graph in a mailNickname (@()\[]";:<>, and space).
const groupNameForbidden = `"/\[]:;|=,+*?<>@() `

// GroupSpec is what a request to create or change a group asks for.
type GroupSpec struct {
	Name        string // sAMAccountName and mailNickname
	DisplayName string
	Description string
	Type        GroupType
	JoinPolicy  JoinPolicy
	// Owners are the IDs of the group's owners (a new group's; changing a
	// group leaves its owners to owner requests).
	Owners []string
	// ExpiresAt, when set, is the group's last day (UTC): it is deleted
	// when that day ends.
	ExpiresAt *Date
	// MembershipDays, when not 0, ends each new membership that many days
	// after it is added.
	MembershipDays int
}

// Keys of a group request's changes.
const (
	groupKeyName, groupKeyDisplay, groupKeyDescription = "name", "displayName", "description"
	groupKeyType, groupKeyJoin, groupKeyOwners         = "type", "joinPolicy", "owners"
	groupKeyExpires, groupKeyDays                      = "expiresAt", "membershipDays"
)

// Changes is the spec as a request's changes.
func (g GroupSpec) Changes() map[string]string {
	c := map[string]string{groupKeyName: g.Name, groupKeyDisplay: g.DisplayName, groupKeyDescription: g.Description,
		groupKeyType: string(g.Type), groupKeyJoin: string(g.JoinPolicy), groupKeyExpires: "", groupKeyDays: ""}
	if len(g.Owners) > 0 {
		c[groupKeyOwners] = strings.Join(g.Owners, ",")
	}
	if g.ExpiresAt != nil {
		c[groupKeyExpires] = g.ExpiresAt.String()
	}
	if g.MembershipDays != 0 {
		c[groupKeyDays] = strconv.Itoa(g.MembershipDays)
	}
	return c
}

// GroupSpecFromChanges reads a spec back from a request's changes.
func GroupSpecFromChanges(c map[string]string) (GroupSpec, error) {
	for k := range c {
		switch k {
		case groupKeyName, groupKeyDisplay, groupKeyDescription, groupKeyType, groupKeyJoin, groupKeyOwners, groupKeyExpires, groupKeyDays:
		default:
			return GroupSpec{}, Errorf(EINVALID, "A group has no field %q.", k)
		}
	}
	g := GroupSpec{Name: c[groupKeyName], DisplayName: c[groupKeyDisplay], Description: c[groupKeyDescription],
		Type: GroupType(c[groupKeyType]), JoinPolicy: JoinPolicy(c[groupKeyJoin])}
	if o := c[groupKeyOwners]; o != "" {
		g.Owners = strings.Split(o, ",")
	}
	if e := c[groupKeyExpires]; e != "" {
		d, err := ParseDate(e)
		if err != nil {
			return g, err
		}
		g.ExpiresAt = &d
	}
	if d := c[groupKeyDays]; d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			return g, Errorf(EINVALID, "The membership length must be a whole number of days, not “%s”.", d)
		}
		g.MembershipDays = n
	}
	return g, nil
}

// Validate checks the spec against what AD and Entra ID take.
func (g *GroupSpec) Validate(now time.Time) error {
	g.Name, g.DisplayName, g.Description = strings.TrimSpace(g.Name), strings.TrimSpace(g.DisplayName), strings.TrimSpace(g.Description)
	if err := CheckGroupName(g.Name); err != nil {
		return err
	}
	switch {
	case g.DisplayName == "":
		return Errorf(EINVALID, "Give the group a display name.")
	case !utf8.ValidString(g.DisplayName) || !utf8.ValidString(g.Description):
		return Errorf(EINVALID, "The display name or description is not valid text.")
	case utf8.RuneCountInString(g.DisplayName) > MaxGroupDisplayName:
		return Errorf(EINVALID, "The display name is too long (%d characters): Active Directory's CN takes at most %d.",
			utf8.RuneCountInString(g.DisplayName), MaxGroupDisplayName)
	case utf8.RuneCountInString(g.Description) > MaxGroupDescription:
		return Errorf(EINVALID, "The description is too long; use at most %d characters.", MaxGroupDescription)
	}
	for _, r := range g.DisplayName + g.Description {
		if unicode.IsControl(r) && r != '\n' {
			return Errorf(EINVALID, "The display name or description holds a control character.")
		}
	}
	if strings.ContainsRune(g.DisplayName, '\n') {
		return Errorf(EINVALID, "The display name must be one line.")
	}
	switch g.Type {
	case GroupSecurity, GroupDistribution:
	default:
		return Errorf(EINVALID, "Choose whether the group is a security or a distribution group.")
	}
	switch g.JoinPolicy {
	case JoinOpen, JoinOwnerApproval, JoinClosed:
	default:
		return Errorf(EINVALID, "Choose how people join the group: open, owner approval or closed.")
	}
	if len(g.Owners) > MaxGroupOwners {
		return Errorf(EINVALID, "Name at most %d owners; add more once the group exists.", MaxGroupOwners)
	}
	for _, o := range g.Owners {
		if !validUUID(o) {
			return Errorf(EINVALID, "An owner must be a person.")
		}
	}
	if g.ExpiresAt != nil && g.ExpiresAt.Compare(DateOf(now.UTC())) <= 0 {
		return Errorf(EINVALID, "The group's expiry must be a day in the future.")
	}
	if g.MembershipDays < 0 || g.MembershipDays > MaxMembershipDays {
		return Errorf(EINVALID, "Memberships may last between 1 and %d days.", MaxMembershipDays)
	}
	return nil
}

// CheckGroupName checks a group's name as AD's sAMAccountName and Entra's
// mailNickname take it.
func CheckGroupName(name string) error {
	switch {
	case name == "":
		return Errorf(EINVALID, "Give the group a name (its account name in Active Directory).")
	case len(name) > MaxGroupName:
		return Errorf(EINVALID, "The name is too long (%d characters); use at most %d.", len(name), MaxGroupName)
	case strings.HasSuffix(name, "."):
		return Errorf(EINVALID, "Active Directory refuses a name that ends with a full stop.")
	}
	for _, r := range name {
		if r < 0x21 || r > 0x7e {
			return Errorf(EINVALID, "The name may hold only letters, digits and punctuation of ASCII, without spaces (Entra ID's mailNickname).")
		}
		if strings.ContainsRune(groupNameForbidden, r) {
			return Errorf(EINVALID, "The name may not contain “%c”: Active Directory or Entra ID refuses it.", r)
		}
	}
	return nil
}
