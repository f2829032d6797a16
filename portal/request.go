package portal

import (
	"context"
	"slices"
	"time"
	"unicode/utf8"
)

// Operation is what a request asks to change.
type Operation string

// Operations a request can carry.
const (
	OpAddMember    Operation = "add_member"
	OpRemoveMember Operation = "remove_member"
	OpAddOwner     Operation = "add_owner"
	OpRemoveOwner  Operation = "remove_owner"
	OpUpdatePerson Operation = "update_person"
	// OpCreatePerson creates a person by hand (a contractor); Changes hold
	// their attributes and, under EndDateKey, their last day.
	OpCreatePerson Operation = "create_person"
	// OpCreateGroup, OpUpdateGroup and OpDeleteGroup create, change and
	// delete a group; Changes hold its fields (GroupSpec.Changes).
	OpCreateGroup Operation = "create_group"
	OpUpdateGroup Operation = "update_group"
	OpDeleteGroup Operation = "delete_group"
)

// RequestStatus is where a request is in its life.
type RequestStatus string

// Request statuses, as in MIM: a request is authorizing until its approval
// ends, then denied, expired or canceled, or committed and completed.
const (
	StatusAuthorizing RequestStatus = "authorizing"
	StatusDenied      RequestStatus = "denied"
	StatusExpired     RequestStatus = "expired"
	StatusCanceled    RequestStatus = "canceled"
	StatusCommitted   RequestStatus = "committed"
	StatusCompleted   RequestStatus = "completed"
	StatusFailed      RequestStatus = "failed"
	// StatusSuperseded: applied in the portal, but a later request changed
	// the same attributes or membership before a connected system
	// confirmed this one's values; its timeline names that request.
	StatusSuperseded RequestStatus = "superseded"
)

// Label is the status as people read it.
func (s RequestStatus) Label() string {
	switch s {
	case StatusAuthorizing:
		return Mark("Waiting for approval")
	case StatusDenied:
		return Mark("Rejected")
	case StatusExpired:
		return Mark("Expired")
	case StatusCanceled:
		return Mark("Canceled")
	case StatusCommitted:
		return Mark("Approved, being applied")
	case StatusCompleted:
		return Mark("Done")
	case StatusFailed:
		return Mark("Failed")
	case StatusSuperseded:
		return Mark("Superseded by a later change")
	}
	return string(s)
}

// EventKind is the kind of a step on a request's timeline.
type EventKind string

// The kinds of timeline steps. Only portal/postgres writes them; the sync
// engine records its own through it.
const (
	KindSubmitted         EventKind = "submitted"
	KindApprovalRequested EventKind = "approval_requested"
	KindApproved          EventKind = "approved"
	KindRejected          EventKind = "rejected"
	KindReminded          EventKind = "reminded"
	KindEscalated         EventKind = "escalated"
	KindCommitted         EventKind = "committed"
	KindCompleted         EventKind = "completed"
	KindDenied            EventKind = "denied"
	KindExpired           EventKind = "expired"
	KindCanceled          EventKind = "canceled"
	KindFailed            EventKind = "failed"
	// KindExported: a connected system confirmed the request's values.
	KindExported EventKind = "exported"
	// KindExportFailed: a connected system refused the change.
	KindExportFailed EventKind = "export_failed"
	// KindExportSkipped: the object was gone from the system before the
	// change was confirmed.
	KindExportSkipped EventKind = "export_skipped"
	// KindSuperseded: a later request changed the same values first.
	KindSuperseded EventKind = "superseded"
	// KindRetried: an administrator sent a failed request's change again.
	KindRetried EventKind = "retried"
)

// Request is one change a person asked for.
type Request struct {
	ID            string
	RequesterID   string
	RequesterName string
	Operation     Operation
	GroupID       string
	GroupName     string
	PersonID      string // the member added or removed, or the person updated
	PersonName    string
	Changes       map[string]string // attribute -> new value (update_person)
	MemberUntil   *time.Time
	Justification string
	Status        RequestStatus
	PolicyName    string
	PolicyID      string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Summary says in one line what the request asks for. Names are isolated
// (Isolate), so that none can turn the sentence around.
func (r *Request) Summary() string { return r.SummaryText().String() }

// SummaryText is Summary for people, who read it in their language.
func (r *Request) SummaryText() Text {
	person, group := Isolate(r.PersonName), Isolate(r.GroupName)
	switch r.Operation {
	case OpAddMember:
		if r.PersonID == r.RequesterID {
			return Textf("Join %s", group)
		}
		return Textf("Add %s to %s", person, group)
	case OpRemoveMember:
		if r.PersonID == r.RequesterID {
			return Textf("Leave %s", group)
		}
		return Textf("Remove %s from %s", person, group)
	case OpAddOwner:
		return Textf("Make %s an owner of %s", person, group)
	case OpRemoveOwner:
		return Textf("Remove %s as an owner of %s", person, group)
	case OpUpdatePerson:
		return Textf("Change %s's profile", person)
	case OpCreatePerson:
		return Textf("Create the person %s", Isolate(r.Changes["displayName"]))
	case OpCreateGroup:
		return Textf("Create the group %s", Isolate(r.Changes["displayName"]))
	case OpUpdateGroup:
		return Textf("Change the group %s", group)
	case OpDeleteGroup:
		if r.GroupName == "" {
			// Deleted: the request kept its name.
			group = Isolate(r.Changes["displayName"])
		}
		return Textf("Delete the group %s", group)
	}
	return Textf("%s", string(r.Operation))
}

// RequestEvent is one step on a request's timeline.
type RequestEvent struct {
	At        time.Time
	Kind      EventKind
	ActorName string
	// Detail says more (a reason, the system exported to), in the reader's
	// language; zero when there is nothing more to say.
	Detail Text
}

// NewRequest is what a person submits.
type NewRequest struct {
	Operation     Operation
	GroupID       string
	PersonID      string            // member to add or remove; person to update
	Changes       map[string]string // for update_person
	MemberUntil   *time.Time        // for add_member: membership ends then
	Justification string
}

// MaxJustification is the longest justification accepted, in characters.
const MaxJustification = 2000

// MaxBulkDecisions is how many approvals one bulk decision may cover.
const MaxBulkDecisions = 500

// Validate checks the shape of a new request before any policy is read,
// against the core attributes.
func (n *NewRequest) Validate(now time.Time) error { return n.ValidateIn(coreSchema, now) }

// ValidateIn is Validate against the person attribute table s: an extra
// attribute that s makes editable may be changed too, to a value its type
// and limits take.
func (n *NewRequest) ValidateIn(s *Schema, now time.Time) error {
	if !utf8.ValidString(n.Justification) {
		return Errorf(EINVALID, "The justification is not valid text.")
	}
	if c := utf8.RuneCountInString(n.Justification); c > MaxJustification {
		return Errorf(EINVALID, "The justification is too long (%d characters); use at most %d.", c, MaxJustification)
	}
	switch n.Operation {
	case OpAddMember, OpRemoveMember, OpAddOwner, OpRemoveOwner:
		if n.GroupID == "" || n.PersonID == "" {
			return Errorf(EINVALID, "Say which group and which person.")
		}
		if n.MemberUntil != nil && (n.Operation != OpAddMember || !n.MemberUntil.After(now)) {
			return Errorf(EINVALID, "A membership end date must be in the future.")
		}
	case OpUpdatePerson:
		if n.PersonID == "" || len(n.Changes) == 0 {
			return Errorf(EINVALID, "Nothing to change.")
		}
		for attr, v := range n.Changes {
			a, ok := s.Lookup(attr)
			if !ok || !a.Requestable() {
				return Errorf(EINVALID, "%q cannot be changed.", attr)
			}
			if !utf8.ValidString(v) {
				return Errorf(EINVALID, "The new %s is not valid text.", LowerLabel(a.Label))
			}
			if err := a.checkRequested(v); err != nil {
				return err
			}
		}
	case OpCreatePerson:
		if n.GroupID != "" || n.PersonID != "" {
			return Errorf(EINVALID, "A new person has no ID yet.")
		}
		if _, err := NewPersonFromChangesIn(s, n.Changes, now); err != nil {
			return err
		}
	case OpCreateGroup:
		if n.GroupID != "" || n.PersonID != "" {
			return Errorf(EINVALID, "A new group has no ID yet.")
		}
		g, err := GroupSpecFromChanges(n.Changes)
		if err != nil {
			return err
		}
		if err := g.Validate(now); err != nil {
			return err
		}
		if len(g.Owners) == 0 {
			return Errorf(EINVALID, "Name at least one owner of the group.")
		}
	case OpUpdateGroup:
		if n.GroupID == "" || n.PersonID != "" {
			return Errorf(EINVALID, "Say which group to change.")
		}
		g, err := GroupSpecFromChanges(n.Changes)
		if err != nil {
			return err
		}
		if err := g.Validate(now); err != nil {
			return err
		}
	case OpDeleteGroup:
		if n.GroupID == "" || n.PersonID != "" {
			return Errorf(EINVALID, "Say which group to delete.")
		}
	default:
		return Errorf(EINVALID, "Unknown operation %q.", n.Operation)
	}
	return nil
}

// ApprovalItem is one request waiting for the viewer's decision.
type ApprovalItem struct {
	ApprovalID string
	Request    Request
	OnBehalfOf string // name of the approver the viewer stands in for
	Deadline   *time.Time
}

// ApprovalFilter selects and orders the approvals of "My approvals".
type ApprovalFilter struct {
	Requester string    // text in the requester's name
	Group     string    // text in the group's name
	Kind      Operation // "" for every kind
	Due       string    // "", or one of ApprovalDues
	Sort      string    // "" (oldest first), or one of ApprovalSorts
	Offset    int
	Limit     int
}

// Filtered reports whether the filter leaves some approvals out.
func (f *ApprovalFilter) Filtered() bool {
	return f.Requester != "" || f.Group != "" || f.Kind != "" || f.Due != ""
}

// ApprovalDues are the due-date filters of My approvals, with their labels.
var ApprovalDues = []Choice{{"overdue", Mark("Overdue")}, {"3d", Mark("Due within 3 days")}, {"week", Mark("Due within a week")}, {"none", Mark("No due date")}}

// ApprovalSorts are the orders of My approvals, with their labels.
var ApprovalSorts = []Choice{{"", Mark("Asked, oldest first")}, {"newest", Mark("Asked, newest first")}, {"due", Mark("Due date")},
	{"requester", Mark("Requester")}, {"group", Mark("Group")}}

// Choice is one value a list filter offers, with its label.
type Choice struct{ Value, Label string }

// ApprovalPageSize is how many approvals a page of My approvals lists.
const ApprovalPageSize = 100

// Normalize trims the texts and refuses values the page never offers.
func (f *ApprovalFilter) Normalize() error {
	for _, q := range []*string{&f.Requester, &f.Group} {
		var err error
		if *q, err = NormalizeQuery(*q); err != nil {
			return err
		}
	}
	if f.Kind != "" && !slices.Contains(Operations(), f.Kind) {
		return Errorf(EINVALID, "There is no kind of request called %q.", f.Kind)
	}
	if f.Due != "" && !slices.ContainsFunc(ApprovalDues, func(c Choice) bool { return c.Value == f.Due }) {
		return Errorf(EINVALID, "There is no due-date filter called %q.", f.Due)
	}
	if !slices.ContainsFunc(ApprovalSorts, func(c Choice) bool { return c.Value == f.Sort }) {
		return Errorf(EINVALID, "There is no order called %q.", f.Sort)
	}
	f.Offset = max(0, min(f.Offset, MaxMatches))
	if f.Limit <= 0 || f.Limit > MaxBulkDecisions {
		f.Limit = ApprovalPageSize
	}
	return nil
}

// RequestFilter selects requests for Administration → Requests.
type RequestFilter struct {
	Status    RequestStatus // "" for every status
	Kind      Operation     // "" for every kind
	Requester string        // text in the requester's name or account name
	Target    string        // text in the name of the group or person it changes
	PolicyID  string        // "" for every policy
	Age       string        // "", or one of RequestAges: asked longer ago than
	Offset    int
	Limit     int
}

// RequestAges are the age filters of Administration → Requests.
var RequestAges = []Choice{{"1h", Mark("Asked over an hour ago")}, {"1d", Mark("Asked over a day ago")},
	{"7d", Mark("Asked over a week ago")}, {"30d", Mark("Asked over 30 days ago")}}

// RequestStatuses are the statuses a request can have, in the order lists
// offer them.
func RequestStatuses() []RequestStatus {
	return []RequestStatus{StatusAuthorizing, StatusCommitted, StatusFailed, StatusCompleted, StatusSuperseded, StatusDenied,
		StatusExpired, StatusCanceled}
}

// Normalize trims the texts and refuses values the page never offers.
func (f *RequestFilter) Normalize() error {
	for _, q := range []*string{&f.Requester, &f.Target, &f.PolicyID} {
		var err error
		if *q, err = NormalizeQuery(*q); err != nil {
			return err
		}
	}
	if f.Status != "" && !slices.Contains(RequestStatuses(), f.Status) {
		return Errorf(EINVALID, "There is no request status called %q.", f.Status)
	}
	if f.Kind != "" && !slices.Contains(Operations(), f.Kind) {
		return Errorf(EINVALID, "There is no kind of request called %q.", f.Kind)
	}
	if f.Age != "" && !slices.ContainsFunc(RequestAges, func(c Choice) bool { return c.Value == f.Age }) {
		return Errorf(EINVALID, "There is no age filter called %q.", f.Age)
	}
	f.Offset, f.Limit = normalizePage(f.Offset, f.Limit)
	return nil
}

// GroupAccess is what the viewer may do on a group's page.
type GroupAccess struct {
	IsMember       bool
	IsOwner        bool
	PendingRequest string // ID of the viewer's pending request on this group
	CanJoin        bool   // open group: join at once
	CanRequest     bool   // owner-approval group: request with a justification
	CanLeave       bool
	Dynamic        bool // members are computed from a rule
}

// RequestService is the request pipeline as people use it.
type RequestService interface {
	// Submit validates a request, evaluates policy and either commits it at
	// once or starts its approval, all in one transaction.
	Submit(ctx context.Context, v Viewer, n NewRequest) (*Request, error)
	FindRequest(ctx context.Context, v Viewer, id string) (*Request, []RequestEvent, error)
	// FindRequestDetail is FindRequest with the request's approval and the
	// connected systems it waits for.
	FindRequestDetail(ctx context.Context, v Viewer, id string) (*RequestDetail, error)
	MyRequests(ctx context.Context, v Viewer, offset int) (Page[Request], error)
	Cancel(ctx context.Context, v Viewer, id string) error
	// MyApprovals lists the approvals waiting for the viewer's decision
	// that f selects, in f's order; Total counts all that f selects.
	MyApprovals(ctx context.Context, v Viewer, f ApprovalFilter) (Page[ApprovalItem], error)
	CountMyApprovals(ctx context.Context, v Viewer) (int, error)
	// FindApproval returns an approval's request ID, deadline and the
	// approver the viewer stands in for, and whether it waits for the
	// viewer's decision; only its approvers and administrators find it.
	FindApproval(ctx context.Context, v Viewer, approvalID string) (item *ApprovalItem, open bool, err error)
	// Decide records the viewer's decision on an approval.
	Decide(ctx context.Context, v Viewer, approvalID string, approve bool, reason string) error
	// DecideMany records one decision on several approvals at once (at
	// most MaxBulkDecisions), and says for each ID why it could not be
	// decided (nil: decided); err is for a failure of the whole call.
	DecideMany(ctx context.Context, v Viewer, approvalIDs []string, approve bool, reason string) ([]error, error)
	GroupAccess(ctx context.Context, v Viewer, groupID string) (GroupAccess, error)
	// SearchRequests lists every request that f selects, newest first;
	// administrators only.
	SearchRequests(ctx context.Context, v Viewer, f RequestFilter) (Page[Request], error)
	// RetryRequest sends the change of a request that failed to export to
	// the connected systems again; administrators only, audited.
	RetryRequest(ctx context.Context, v Viewer, id string) error
	// CancelFailedRequest ends a failed request as canceled, for reason:
	// it no longer waits for any export; administrators only, audited.
	CancelFailedRequest(ctx context.Context, v Viewer, id, reason string) error
	SetDeputy(ctx context.Context, v Viewer, deputyID string, starts, ends time.Time) error
	RemoveDeputy(ctx context.Context, v Viewer, starts time.Time) error
	MyDeputies(ctx context.Context, v Viewer) ([]Deputy, error)
}

// Notification events: what an email is about.
const (
	EventApprovalRequested = "approval_requested"
	EventReminder          = "reminder"
	EventEscalated         = "escalated"
	EventCompleted         = "completed"
	EventDenied            = "denied"
	EventExpired           = "expired"
	EventFailed            = "failed"
)

// Notification is one email to send: who to, and the request it is about.
type Notification struct {
	Event   string
	ToName  string
	ToEmail string
	Request Request
	// Path is the portal page the email links to (an approval or a request).
	Path   string
	Detail Text // e.g. the rejection reason
	// ToTimeZone is the recipient's IANA zone ("" for none: UTC), in which
	// the email writes its times and which it names.
	ToTimeZone string
	// ToLanguage is the recipient's chosen language ("" for none: English).
	ToLanguage string
	// Deadline is when an approval asked for is due, if it has a deadline.
	Deadline *time.Time
}

// RequestProcessor is the pipeline's background work, called by River
// workers; each call is one transaction that also enqueues what follows.
type RequestProcessor interface {
	// Authorize starts a request's approval and returns when its first
	// timer (reminder or deadline) is due, zero for none; called again
	// then, it fires that timer.
	Authorize(ctx context.Context, requestID string) (time.Time, error)
	// Commit applies approved requests, as many as one commit job names
	// (a decision applies the requests it settles itself, and leaves them
	// to a commit job only when one of them cannot be applied).
	Commit(ctx context.Context, requestIDs []string) error
	// FireTimers fires the first timers (reminder or deadline) of the
	// approvals whose timer is due, and says how many it fired.
	FireTimers(ctx context.Context) (int, error)
	Remind(ctx context.Context, approvalID string, round int) error
	Deadline(ctx context.Context, approvalID string, round int) error
	ExpireMembership(ctx context.Context, groupID, personID string, until time.Time) error
	// Notification returns the email for event, or nil when there is
	// nothing to send any more (e.g. the approval was decided meanwhile).
	Notification(ctx context.Context, event, requestID, recipientID string) (*Notification, error)
}

// Deputy is someone who also receives a person's approvals while they are
// away, from Starts to Ends (dates, inclusive).
type Deputy struct {
	DeputyID   string
	DeputyName string
	Starts     time.Time
	Ends       time.Time
}
