package portal

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// ReviewerSource says who reviews the memberships of an access review.
type ReviewerSource string

// Reviewer sources. A membership nobody of that kind can review (a group
// without owners, a member without a manager) is reviewed by the
// administrators.
const (
	ReviewByOwners   ReviewerSource = "owners"   // the group's owners
	ReviewByManagers ReviewerSource = "managers" // each member's manager
)

// Label is the source as people read it.
func (s ReviewerSource) Label() string {
	if s == ReviewByManagers {
		return Mark("Each member's manager")
	}
	return Mark("The group's owners")
}

// ReviewSetScope says which memberships a review of a set of people
// covers. A set selects people, so the groups of a set are named through
// them, as Entra ID Governance reviews "every group with guest users" and
// MIM sets select groups by their owners.
type ReviewSetScope string

// Set scopes.
const (
	// ReviewSetOwned: every membership of every static group that someone
	// in the set owns (the groups of a department, of a team's leads).
	ReviewSetOwned ReviewSetScope = "owned"
	// ReviewSetMembers: every static membership of the people in the set,
	// in whichever group (the contractors' or the guests' access).
	ReviewSetMembers ReviewSetScope = "members"
)

// Label is the scope as people read it.
func (s ReviewSetScope) Label() string {
	if s == ReviewSetMembers {
		return Mark("Every group membership of the people in the set")
	}
	return Mark("Every group owned by someone in the set")
}

// ReviewDecision is what a reviewer decides for one membership.
type ReviewDecision string

// Review decisions.
const (
	ReviewKeep   ReviewDecision = "keep"
	ReviewRemove ReviewDecision = "remove"
)

// Label is the decision as people read it.
func (d ReviewDecision) Label() string {
	switch d {
	case ReviewKeep:
		return Mark("Keep")
	case ReviewRemove:
		return Mark("Remove")
	}
	return Mark("Not decided")
}

// Limits of an access review.
const (
	MaxReviewName      = 200
	MaxReviewMonths    = 24
	MaxReviewDecisions = 500 // memberships one bulk decision covers
	MaxReviewItems     = 500 // memberships one page of a review lists
)

// NewAccessReview is what an administrator starts: a review of one group
// (Group: its name), of every static group a search selects (Query, as
// the groups page searches; empty: every group), or of the groups of a set
// (Set: its ID, SetScope: which of their memberships), due by Deadline.
// A review of several groups is one review: each group's memberships go
// to that group's reviewers, with one deadline, one default and one
// repeat, and its page shows each group's progress.
type NewAccessReview struct {
	Name      string
	Group     string
	Query     string
	Set       string
	SetScope  ReviewSetScope
	Reviewers ReviewerSource
	Default   ReviewDecision // what undecided memberships become at the deadline
	Deadline  time.Time
	// RepeatMonths, when not 0, starts the review again that many months
	// after it started, with the same length.
	RepeatMonths int
}

// Validate checks the review's fields.
func (n *NewAccessReview) Validate(now time.Time) error {
	n.Name, n.Group = strings.TrimSpace(n.Name), strings.TrimSpace(n.Group)
	q, err := NormalizeQuery(n.Query)
	if err != nil {
		return err
	}
	n.Query = q
	switch {
	case n.Name == "" || !utf8.ValidString(n.Name):
		return Errorf(EINVALID, "Give the review a name.")
	case utf8.RuneCountInString(n.Name) > MaxReviewName:
		return Errorf(EINVALID, "The name is too long; use at most %d characters.", MaxReviewName)
	case n.Group != "" && n.Query != "":
		return Errorf(EINVALID, "Review one group, or the groups a search selects, not both.")
	case n.Set != "" && (n.Group != "" || n.Query != ""):
		return Errorf(EINVALID, "Review one group, the groups a search selects, or the groups of a set: only one of them.")
	case n.Set != "" && n.SetScope != ReviewSetOwned && n.SetScope != ReviewSetMembers:
		return Errorf(EINVALID, "Choose which groups of the set to review: those its people own, or those its people are members of.")
	case n.Reviewers != ReviewByOwners && n.Reviewers != ReviewByManagers:
		return Errorf(EINVALID, "Choose who reviews: the groups' owners or each member's manager.")
	case n.Default != ReviewKeep && n.Default != ReviewRemove:
		return Errorf(EINVALID, "Choose what happens to the memberships nobody reviewed by the deadline.")
	case !n.Deadline.After(now):
		return Errorf(EINVALID, "The deadline must be in the future.")
	case n.Deadline.After(now.AddDate(1, 0, 0)):
		return Errorf(EINVALID, "The deadline must be within a year.")
	case n.RepeatMonths < 0 || n.RepeatMonths > MaxReviewMonths:
		return Errorf(EINVALID, "A review repeats every 1 to %d months.", MaxReviewMonths)
	}
	return nil
}

// AccessReview is a review as the pages list it.
type AccessReview struct {
	ID            string
	Name          string
	GroupID       string // "" for a review of the groups a search or a set selects
	GroupName     string
	Query         string
	SetID         string // the set of a review of a set's groups
	SetName       string
	SetScope      ReviewSetScope
	Reviewers     ReviewerSource
	Default       ReviewDecision
	StartsAt      time.Time
	Deadline      time.Time
	RepeatMonths  int
	NextStartAt   *time.Time
	Completed     bool
	CompletedAt   *time.Time
	CreatedByName string
	Items         int // memberships under review
	Decided       int
	Removed       int // memberships removed (or to be removed) by it
	// Groups is each group's progress, for an administrator's view of one
	// review (FindReview); nil in lists.
	Groups []ReviewGroup
}

// ReviewGroup is one group's share of a review: its memberships, how many
// are decided and removed, and who reviews them.
type ReviewGroup struct {
	GroupID, GroupName string
	Items              int
	Decided            int
	Removed            int
	Owners             int // the group's owners, its reviewers in a review by owners (none: the administrators)
}

// ReviewKey names one membership under review.
type ReviewKey struct{ GroupID, PersonID string }

// ReviewItem is one membership under review, as its reviewer sees it.
type ReviewItem struct {
	GroupID       string
	GroupName     string
	PersonID      string
	PersonName    string
	PersonTitle   string
	Department    string
	Decision      ReviewDecision // "" while undecided
	DecidedByName string         // "" with a decision: the review's default
	DecidedAt     *time.Time
	Reason        string
	RequestID     string // the removal request, once made
}

// ReviewReminder is one email reminding a reviewer of their memberships
// still to review.
type ReviewReminder struct {
	ReviewID, ReviewName string
	ToName, ToEmail      string
	ToTimeZone           string
	ToLanguage           string // "" for none: English
	Pending              int
	Deadline             time.Time
}

// AccessReviewService runs access reviews.
type AccessReviewService interface {
	// StartReview starts a review; administrators only, audited.
	StartReview(ctx context.Context, v Viewer, n NewAccessReview) (*AccessReview, error)
	// ListReviews lists the reviews newest first: every one for an
	// administrator, the open ones with memberships for the viewer to
	// review for anyone else.
	ListReviews(ctx context.Context, v Viewer) ([]AccessReview, error)
	// FindReview returns a review and the memberships the viewer reviews
	// (all of them for an administrator), at most MaxReviewItems.
	FindReview(ctx context.Context, v Viewer, id string) (*AccessReview, []ReviewItem, error)
	// ExportReview returns a review and every membership the viewer
	// reviews (all of them for an administrator), however many, for its
	// download.
	ExportReview(ctx context.Context, v Viewer, id string) (*AccessReview, []ReviewItem, error)
	// DecideReview records one decision on memberships of an open review
	// that the viewer reviews, and returns how many it recorded; audited.
	DecideReview(ctx context.Context, v Viewer, id string, items []ReviewKey, d ReviewDecision, reason string) (int, error)
	// CompleteReview ends an open review now, as its deadline would;
	// administrators only.
	CompleteReview(ctx context.Context, v Viewer, id string) error
}

// ReviewTimers are the access reviews' River jobs.
type ReviewTimers interface {
	// ReviewDeadline ends the review whose deadline passed: undecided
	// memberships follow its default, and each removal is a request.
	ReviewDeadline(ctx context.Context, id string) error
	// StartDueReviews starts the repeats of repeating reviews that are due.
	StartDueReviews(ctx context.Context) (int, error)
	// ReviewReminders returns the reminders to send for an open review.
	ReviewReminders(ctx context.Context, id string) ([]ReviewReminder, error)
}
