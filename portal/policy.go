package portal

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the texts and lists on policies and approval workflows.
const (
	MaxPolicyName        = 100
	MaxPolicyDescription = 1000
	MaxWorkflowName      = 100
	MaxNamedPeople       = 50  // approvers, or escalation approvers, per workflow
	MaxThresholdN        = 100 // as the approval_workflows table allows
)

// Requestor says to whom a policy grants its operation, as MIM's requestor
// set or relative requestor.
type Requestor string

// Requestors a policy can name.
const (
	RequestorSelf    Requestor = "self"    // the person the request is about
	RequestorManager Requestor = "manager" // that person's manager
	RequestorOwners  Requestor = "owners"  // the owners of the group the request is about
	RequestorAnyone  Requestor = "anyone"
	RequestorSet     Requestor = "set" // the people a set selects
	// RequestorAdmins: the administrators (the members of the group that
	// grants the admin role).
	RequestorAdmins Requestor = "admins"
	// RequestorHelpdesk: the helpdesk (the members of the group that
	// grants the helpdesk role); administrators are not helpdesk.
	RequestorHelpdesk Requestor = "helpdesk"
)

// Label is the requestor as administrators read it.
func (r Requestor) Label() string {
	switch r {
	case RequestorSelf:
		return Mark("The person themselves")
	case RequestorManager:
		return Mark("The person's manager")
	case RequestorOwners:
		return Mark("The group's owners")
	case RequestorAnyone:
		return Mark("Anyone")
	case RequestorSet:
		return Mark("The people of a set")
	case RequestorAdmins:
		return Mark("Administrators")
	case RequestorHelpdesk:
		return Mark("Helpdesk")
	}
	return string(r)
}

// Label is the operation as administrators read it.
func (o Operation) Label() string {
	switch o {
	case OpAddMember:
		return Mark("Add a group member")
	case OpRemoveMember:
		return Mark("Remove a group member")
	case OpAddOwner:
		return Mark("Add a group owner")
	case OpRemoveOwner:
		return Mark("Remove a group owner")
	case OpUpdatePerson:
		return Mark("Change a person's attributes")
	case OpCreatePerson:
		return Mark("Create a person")
	case OpCreateGroup:
		return Mark("Create a group")
	case OpUpdateGroup:
		return Mark("Change a group")
	case OpDeleteGroup:
		return Mark("Delete a group")
	}
	return string(o)
}

// IsGroupOperation reports whether the operation acts on a group that
// exists: its members, its owners, or the group itself. Such a group has
// owners and a join policy a policy can target.
func (o Operation) IsGroupOperation() bool {
	switch o {
	case OpAddMember, OpRemoveMember, OpAddOwner, OpRemoveOwner, OpUpdateGroup, OpDeleteGroup:
		return true
	}
	return false
}

// Operations lists the operations a policy can grant, in display order.
func Operations() []Operation {
	return []Operation{OpAddMember, OpRemoveMember, OpAddOwner, OpRemoveOwner, OpUpdatePerson, OpCreatePerson,
		OpCreateGroup, OpUpdateGroup, OpDeleteGroup}
}

// editableIndex is the place of an attribute a policy can cover in the
// table, -1 for any other name.
func (s *Schema) editableIndex(name string) int {
	if a, ok := s.Lookup(name); !ok || !a.Requestable() {
		return -1
	}
	return s.index(name)
}

// Policy is MIM's management policy rule: it grants an operation, on some
// targets and attributes, to a requestor, with or without approval.
type Policy struct {
	ID          string
	Name        string
	Description string
	Enabled     bool
	Operation   Operation
	Requestor   Requestor
	// RequestorSetID names the set when Requestor is RequestorSet.
	RequestorSetID   string
	RequestorSetName string // read only
	// TargetJoinPolicies limits a group operation to groups with these join
	// policies; empty means every group.
	TargetJoinPolicies []JoinPolicy
	// Attributes are those an update_person policy lets the requestor change.
	Attributes []string
	// WorkflowID is the approval workflow; empty grants the request at once.
	WorkflowID   string
	WorkflowName string // read only
	Notify       bool
	CreatedAt    time.Time
}

// Normalize trims the texts, puts the join policies and attributes in
// their canonical order without repeats, and checks the policy against the
// core attributes.
func (p *Policy) Normalize() error { return p.NormalizeIn(coreSchema) }

// NormalizeIn is Normalize against the person attribute table s, whose
// editable extra attributes a policy may cover too.
func (p *Policy) NormalizeIn(s *Schema) error {
	p.Name = strings.TrimSpace(p.Name)
	p.Description = strings.TrimSpace(p.Description)
	p.RequestorSetID = strings.TrimSpace(p.RequestorSetID)
	joins := []JoinPolicy{JoinOpen, JoinOwnerApproval, JoinClosed}
	p.TargetJoinPolicies = slices.Clone(p.TargetJoinPolicies)
	p.Attributes = slices.Clone(p.Attributes)
	slices.SortStableFunc(p.TargetJoinPolicies, func(a, b JoinPolicy) int {
		return knownFirst(slices.Index(joins, a)) - knownFirst(slices.Index(joins, b))
	})
	p.TargetJoinPolicies = slices.Compact(p.TargetJoinPolicies)
	slices.SortStableFunc(p.Attributes, func(a, b string) int {
		return knownFirst(s.editableIndex(a)) - knownFirst(s.editableIndex(b))
	})
	p.Attributes = slices.Compact(p.Attributes)
	if p.Requestor != RequestorSet {
		p.RequestorSetID = ""
	}
	return p.ValidateIn(s)
}

// knownFirst puts unknown values (index -1) after the known ones, so that
// validation names them.
func knownFirst(i int) int {
	if i < 0 {
		return 1 << 20
	}
	return i
}

// Validate checks the policy's fields against each other: a requestor set
// names its set, and no other requestor names one. Whether its workflow and
// set exist is for the store to check.
func (p *Policy) Validate() error { return p.ValidateIn(coreSchema) }

// ValidateIn is Validate against the person attribute table s.
func (p *Policy) ValidateIn(s *Schema) error {
	if err := checkName(Textf("policy"), p.Name, MaxPolicyName); err != nil {
		return err
	}
	if !utf8.ValidString(p.Description) {
		return Errorf(EINVALID, "The description is not valid text.")
	}
	if n := utf8.RuneCountInString(p.Description); n > MaxPolicyDescription {
		return Errorf(EINVALID, "The description is too long (%d characters); use at most %d.", n, MaxPolicyDescription)
	}
	switch p.Operation {
	case OpAddMember, OpRemoveMember, OpAddOwner, OpRemoveOwner, OpUpdatePerson, OpCreatePerson, OpCreateGroup,
		OpUpdateGroup, OpDeleteGroup:
	case "":
		return Errorf(EINVALID, "Choose the operation the policy grants.")
	default:
		return Errorf(EINVALID, "%q is not an operation a policy can grant.", p.Operation)
	}
	switch p.Requestor {
	case RequestorSelf, RequestorManager, RequestorAnyone, RequestorAdmins, RequestorHelpdesk:
	case RequestorOwners:
		if !p.Operation.IsGroupOperation() {
			return Errorf(EINVALID, "Only group operations have owners to grant them to; choose another requestor.")
		}
	case RequestorSet:
		if p.RequestorSetID == "" {
			return Errorf(EINVALID, "Choose the set whose people may ask.")
		}
	case "":
		return Errorf(EINVALID, "Choose who may ask (the requestor).")
	default:
		return Errorf(EINVALID, "%q is not a requestor a policy can name.", p.Requestor)
	}
	if p.Requestor != RequestorSet && p.RequestorSetID != "" {
		return Errorf(EINVALID, "Only the requestor “%s” names a set; clear the set, or choose that requestor.", RequestorSet.Label())
	}
	for _, j := range p.TargetJoinPolicies {
		switch j {
		case JoinOpen, JoinOwnerApproval, JoinClosed:
		default:
			return Errorf(EINVALID, "%q is not a group join policy.", j)
		}
	}
	if len(p.TargetJoinPolicies) > 0 && !p.Operation.IsGroupOperation() {
		return Errorf(EINVALID, "Target groups apply only to group operations; a change of attributes has no group.")
	}
	for _, a := range p.Attributes {
		if s.editableIndex(a) < 0 {
			return Errorf(EINVALID, "%q is not an attribute a policy can cover.", a)
		}
		// Whether a person may ask to change their own extra attribute is
		// the attribute's own setting (Editable); others' policies cover
		// any.
		if attr, _ := s.Lookup(a); p.Requestor == RequestorSelf && !attr.Core() && !attr.Editable {
			return Errorf(EINVALID, "People may not ask to change their own %s (the attribute is not editable by the person); choose another requestor.", LowerLabel(attr.Label))
		}
	}
	if p.Operation == OpUpdatePerson && len(p.Attributes) == 0 {
		return Errorf(EINVALID, "Choose at least one attribute the policy lets people change.")
	}
	if p.Operation != OpUpdatePerson && len(p.Attributes) > 0 {
		return Errorf(EINVALID, "Attributes apply only to changes of a person's attributes, not to group operations.")
	}
	return nil
}

// ApproverSource says where an approval workflow finds its approvers.
type ApproverSource string

// Approver sources.
const (
	ApproversOwners  ApproverSource = "owners"  // the owners of the group a request is about
	ApproversManager ApproverSource = "manager" // the manager of the person a request is about
	ApproversNamed   ApproverSource = "named"   // the people the workflow names
	ApproversSet     ApproverSource = "set"     // the people of a set (the first MaxSetApprovers by name)
)

// MaxSetApprovers bounds how many people of a set receive one approval.
const MaxSetApprovers = 100

// ApproverSources lists the approver sources, in display order.
func ApproverSources() []ApproverSource {
	return []ApproverSource{ApproversOwners, ApproversManager, ApproversNamed, ApproversSet}
}

// Label is the approver source as administrators read it.
func (s ApproverSource) Label() string {
	switch s {
	case ApproversOwners:
		return Mark("The group's owners")
	case ApproversManager:
		return Mark("The person's manager")
	case ApproversNamed:
		return Mark("Named people")
	case ApproversSet:
		return Mark("The people of a set")
	}
	return string(s)
}

// Threshold says how many approvers must approve.
type Threshold string

// Thresholds.
const (
	ThresholdAny Threshold = "any" // any one of them
	ThresholdN   Threshold = "n"   // N of them
	ThresholdAll Threshold = "all"
)

// TimeoutOutcome is what happens to a request no one decided by the final
// deadline.
type TimeoutOutcome string

// Timeout outcomes.
const (
	TimeoutDeny    TimeoutOutcome = "deny"
	TimeoutApprove TimeoutOutcome = "approve"
)

// NamedPerson is a person an administrator names by account name or email.
type NamedPerson struct {
	ID string
	// Name is the account name or email as typed; read back, the account
	// name (the email for a person without one).
	Name        string
	DisplayName string
}

// ApprovalWorkflow says who approves a request, how many of them must, by
// when, who is reminded and escalated to, and what a final timeout does.
type ApprovalWorkflow struct {
	ID             string
	Name           string
	ApproverSource ApproverSource
	Approvers      []NamedPerson // when ApproverSource is ApproversNamed
	ApproverSetID  string        // when ApproverSource is ApproversSet
	ApproverSet    string        // read only: the set's name
	Threshold      Threshold
	ThresholdN     int // when Threshold is ThresholdN
	// At most one of DeadlineHours and DeadlineBusinessDays is set (non-zero);
	// neither means no deadline. Business days count in CalendarID's calendar,
	// or Monday to Friday in UTC when it is empty.
	DeadlineHours        int
	DeadlineBusinessDays int
	CalendarID           string
	CalendarName         string // read only
	// ReminderHours is how long before the deadline the undecided approvers
	// are reminded; 0 for no reminder.
	ReminderHours  int
	Escalation     []NamedPerson // asked once the first deadline passes
	TimeoutOutcome TimeoutOutcome
	Policies       int // read only: how many policies use the workflow
}

// HasDeadline reports whether approvals under the workflow have a deadline.
func (w *ApprovalWorkflow) HasDeadline() bool {
	return w.DeadlineHours != 0 || w.DeadlineBusinessDays != 0
}

// Normalize trims the name, drops repeated people, clears what the chosen
// options leave unused, and checks the workflow.
func (w *ApprovalWorkflow) Normalize() error {
	w.Name = strings.TrimSpace(w.Name)
	w.Approvers = uniquePeople(w.Approvers)
	w.Escalation = uniquePeople(w.Escalation)
	if w.Threshold != ThresholdN {
		w.ThresholdN = 1
	}
	if w.DeadlineBusinessDays == 0 {
		w.CalendarID, w.CalendarName = "", ""
	}
	if w.ApproverSource != ApproversSet {
		w.ApproverSetID, w.ApproverSet = "", ""
	}
	if w.TimeoutOutcome == "" {
		w.TimeoutOutcome = TimeoutDeny
	}
	return w.Validate()
}

func uniquePeople(people []NamedPerson) []NamedPerson {
	seen := map[string]bool{}
	var out []NamedPerson
	for _, p := range people {
		p.Name = strings.TrimSpace(p.Name)
		key := p.ID
		if key == "" {
			key = strings.ToLower(p.Name)
		}
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, p)
	}
	return out
}

// Validate checks the workflow's fields against each other. Whether the
// people and the calendar exist is for the store to check.
func (w *ApprovalWorkflow) Validate() error {
	if err := checkName(Textf("workflow"), w.Name, MaxWorkflowName); err != nil {
		return err
	}
	switch w.ApproverSource {
	case ApproversOwners, ApproversManager:
		if len(w.Approvers) > 0 {
			return Errorf(EINVALID, "Approvers come from %s; clear the named approvers, or choose “Named people”.",
				strings.ToLower(w.ApproverSource.Label()))
		}
	case ApproversNamed:
		if len(w.Approvers) == 0 {
			return Errorf(EINVALID, "Name at least one approver, by account name or email.")
		}
	case ApproversSet:
		if len(w.Approvers) > 0 {
			return Errorf(EINVALID, "Approvers come from a set; clear the named approvers, or choose “Named people”.")
		}
		if w.ApproverSetID == "" {
			return Errorf(EINVALID, "Choose the set whose people approve.")
		}
	case "":
		return Errorf(EINVALID, "Choose where the approvers come from.")
	default:
		return Errorf(EINVALID, "%q is not a source of approvers.", w.ApproverSource)
	}
	if w.ApproverSource != ApproversSet && w.ApproverSetID != "" {
		return Errorf(EINVALID, "Only approvers from a set need a set; choose “The people of a set” or no set.")
	}
	if len(w.Approvers) > MaxNamedPeople {
		return Errorf(EINVALID, "Name at most %d approvers; use the group's owners for more.", MaxNamedPeople)
	}
	switch w.Threshold {
	case ThresholdAny, ThresholdAll:
	case ThresholdN:
		if w.ThresholdN < 1 || w.ThresholdN > MaxThresholdN {
			return Errorf(EINVALID, "The number of approvals needed must be from 1 to %d.", MaxThresholdN)
		}
		if w.ApproverSource == ApproversNamed && w.ThresholdN > len(w.Approvers) {
			return Errorf(EINVALID, "The workflow needs %d approvals but names only %d approvers.", w.ThresholdN, len(w.Approvers))
		}
	case "":
		return Errorf(EINVALID, "Choose how many approvers must approve.")
	default:
		return Errorf(EINVALID, "%q is not a threshold.", w.Threshold)
	}
	if w.DeadlineHours != 0 && w.DeadlineBusinessDays != 0 {
		return Errorf(EINVALID, "Give the deadline in hours or in business days, not both.")
	}
	if w.DeadlineHours != 0 {
		if err := ValidateDeadlineHours(w.DeadlineHours); err != nil {
			return err
		}
	}
	if w.DeadlineBusinessDays != 0 {
		if err := ValidateBusinessDays(w.DeadlineBusinessDays); err != nil {
			return err
		}
	}
	if w.CalendarID != "" && w.DeadlineBusinessDays == 0 {
		return Errorf(EINVALID, "A holiday calendar counts business days; choose a deadline in business days to use one.")
	}
	if w.ReminderHours != 0 {
		if !w.HasDeadline() {
			return Errorf(EINVALID, "A reminder comes before the deadline; set a deadline to send one.")
		}
		if w.ReminderHours < 0 {
			return Errorf(EINVALID, "The reminder must be a positive number of hours before the deadline.")
		}
		// A business day lasts at least the 24 hours after its start, so n
		// business days are never shorter than n*24 hours.
		if limit := w.DeadlineHours + 24*w.DeadlineBusinessDays; w.ReminderHours >= limit {
			return Errorf(EINVALID, "The reminder (%d hours before the deadline) must come after the approval starts: use fewer than %d hours.",
				w.ReminderHours, limit)
		}
	}
	if len(w.Escalation) > MaxNamedPeople {
		return Errorf(EINVALID, "Name at most %d escalation approvers.", MaxNamedPeople)
	}
	if len(w.Escalation) > 0 && !w.HasDeadline() {
		return Errorf(EINVALID, "Escalation happens at the deadline; set a deadline to escalate.")
	}
	switch w.TimeoutOutcome {
	case TimeoutDeny:
	case TimeoutApprove:
		if !w.HasDeadline() {
			return Errorf(EINVALID, "Approving on timeout needs a deadline; set one, or deny on timeout.")
		}
	default:
		return Errorf(EINVALID, "%q is not an outcome on timeout.", w.TimeoutOutcome)
	}
	return nil
}

func checkName(what Text, name string, max int) error {
	if !utf8.ValidString(name) {
		return Errorf(EINVALID, "The %s's name is not valid text.", what)
	}
	if name == "" {
		return Errorf(EINVALID, "Give the %s a name.", what)
	}
	if n := utf8.RuneCountInString(name); n > max {
		return Errorf(EINVALID, "The %s's name is too long (%d characters); use at most %d.", what, n, max)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return Errorf(EINVALID, "The %s's name must be one line of text.", what)
	}
	return nil
}

// ParseNames splits a list of account names or emails typed one a line or
// separated by commas or semicolons.
func ParseNames(s string) []string {
	var names []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			names = append(names, f)
		}
	}
	return names
}

// NamedPeople turns typed names into people still to be resolved by the store.
func NamedPeople(names []string) []NamedPerson {
	people := make([]NamedPerson, len(names))
	for i, n := range names {
		people[i] = NamedPerson{Name: n}
	}
	return people
}

// PolicyService keeps the policies and approval workflows. The methods that
// change something take the acting viewer, who must be an administrator,
// and record the change in the audit log.
type PolicyService interface {
	// ListPolicies returns every policy by name, with the names of its
	// workflow and requestor set.
	ListPolicies(ctx context.Context) ([]Policy, error)
	FindPolicy(ctx context.Context, id string) (*Policy, error)
	// CreatePolicy checks and stores p; a name in use is ECONFLICT, a
	// workflow or requestor set that does not exist EINVALID.
	CreatePolicy(ctx context.Context, v Viewer, p Policy) (*Policy, error)
	// UpdatePolicy replaces every field of policy p.ID.
	UpdatePolicy(ctx context.Context, v Viewer, p Policy) (*Policy, error)
	// SetPolicyEnabled turns a policy on or off, leaving the rest as it is.
	SetPolicyEnabled(ctx context.Context, v Viewer, id string, enabled bool) error
	// DeletePolicy removes a policy; requests made under it keep their history.
	DeletePolicy(ctx context.Context, v Viewer, id string) error

	// ListWorkflows returns every workflow by name, with how many policies use it.
	ListWorkflows(ctx context.Context) ([]ApprovalWorkflow, error)
	FindWorkflow(ctx context.Context, id string) (*ApprovalWorkflow, error)
	// CreateWorkflow checks w, resolves its named people by account name or
	// email, and stores it; unknown people are EINVALID, naming each.
	CreateWorkflow(ctx context.Context, v Viewer, w ApprovalWorkflow) (*ApprovalWorkflow, error)
	UpdateWorkflow(ctx context.Context, v Viewer, w ApprovalWorkflow) (*ApprovalWorkflow, error)
	// DeleteWorkflow removes a workflow no policy uses and no request waits
	// on; otherwise ECONFLICT.
	DeleteWorkflow(ctx context.Context, v Viewer, id string) error
}
