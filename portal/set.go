package portal

import (
	"context"
	"time"
)

// Set is a named rule that selects people: MIM's set, which policies name
// as their requestors. Membership is evaluated when asked, not stored. The
// rule is a CEL condition over person attributes (package portal/rule).
type Set struct {
	ID          string
	Name        string
	Description string
	Rule        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SetService keeps the sets and checks and previews membership rules. A
// rule that does not compile against the attribute schema is EINVALID, with
// a message that gives the line and column of each mistake. The methods that
// change something take the acting viewer, whom the caller has checked is
// an administrator, and record the change in the audit log.
type SetService interface {
	// ListSets returns every set by name.
	ListSets(ctx context.Context) ([]Set, error)
	FindSet(ctx context.Context, id string) (Set, error)
	// CreateSet checks s (name, description, rule) and stores it; a name in
	// use, in any case, is ECONFLICT.
	CreateSet(ctx context.Context, v Viewer, s Set) (Set, error)
	// UpdateSet replaces the name, description and rule of set s.ID.
	UpdateSet(ctx context.Context, v Viewer, s Set) (Set, error)
	// SetContains reports whether the set's rule selects the person; a rule
	// that fails for the person gives false and the EINVALID error.
	SetContains(ctx context.Context, setID, personID string) (bool, error)

	// PreviewRule evaluates a rule for everyone without storing it: how
	// many people match, and the first limit of them by name.
	PreviewRule(ctx context.Context, src string, limit int) (count int, sample []PersonRef, err error)
	// RuleAttributes lists the attributes a rule may read, core attributes
	// first, each with its type (string, int, bool or date); the extra
	// attributes of the schema also have their label.
	RuleAttributes(ctx context.Context) ([]Attribute, error)
}

// DynamicGroupService makes groups dynamic: a group with a membership rule
// has as members exactly the people the rule selects.
type DynamicGroupService interface {
	// SaveDynamicRule gives the group the rule src (making it dynamic, or
	// changing its rule) and recomputes its members at once; a rule that
	// does not compile is EINVALID and nothing is stored.
	SaveDynamicRule(ctx context.Context, v Viewer, groupID, src string) error
	// ClearDynamicRule makes the group static again; its members stay, as
	// ordinary members.
	ClearDynamicRule(ctx context.Context, v Viewer, groupID string) error
	// RecomputeGroup recomputes a dynamic group's members over everyone.
	RecomputeGroup(ctx context.Context, groupID string) (added, removed int, err error)
}
