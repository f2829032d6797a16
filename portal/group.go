package portal

import "context"

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
