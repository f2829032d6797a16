package portal

import (
	"slices"
	"strings"
	"time"
)

// Final reports whether a request has ended: nothing more happens to it
// on its own (an administrator may still retry a failed export).
func (s RequestStatus) Final() bool {
	switch s {
	case StatusAuthorizing, StatusCommitted:
		return false
	}
	return true
}

// RequestDetail is a request with its timeline and where it is on its way:
// its approval and the connected systems it still waits for.
type RequestDetail struct {
	Request Request
	Events  []RequestEvent
	// Approval is nil when no approval was asked (yet).
	Approval *ApprovalState
	// Exports are the connected systems the change waits for, one each.
	Exports []ExportState
	// Replaced are the values a committed update replaced, by attribute,
	// as they were stored (several values one a line); nil before the
	// commit.
	Replaced map[string]string
}

// ApprovalState is a request's approval as its steps show it.
type ApprovalState struct {
	ID        string
	Status    string // pending, approved, rejected, expired, canceled
	Needed    int
	Deadline  *time.Time
	CreatedAt time.Time
	Approvers []Approver
}

// Approver is one person asked to decide, and their decision so far.
type Approver struct {
	PersonID   string
	Name       string
	OnBehalfOf string // the approver a deputy stands in for
	Escalation bool
	Decision   string // "", approved, rejected
	DecidedAt  *time.Time
}

// ExportState is a connected system the request's change waits for: not
// yet sent, or sent and waiting for the system to confirm it.
type ExportState struct {
	System string
	Sent   bool
	// Error is the system's refusal when the last attempt failed.
	Error Text
}

// Approved counts the approvers who approved, each deputy counted as the
// approver they stand in for.
func (a *ApprovalState) Approved() int {
	seen := map[string]bool{}
	for _, ap := range a.Approvers {
		if ap.Decision == "approved" {
			seen[ap.principal()] = true
		}
	}
	return len(seen)
}

// Waiting names the approvers who have not decided, deputies as the
// approver they stand in for.
func (a *ApprovalState) Waiting() []string {
	decided := map[string]bool{}
	for _, ap := range a.Approvers {
		if ap.Decision != "" {
			decided[ap.principal()] = true
		}
	}
	var names []string
	for _, ap := range a.Approvers {
		if !decided[ap.principal()] && ap.OnBehalfOf == "" && !slices.Contains(names, ap.Name) {
			names = append(names, ap.Name)
		}
	}
	return names
}

func (ap *Approver) principal() string {
	if ap.OnBehalfOf != "" {
		return ap.OnBehalfOf
	}
	return ap.PersonID
}

// StepState is how far a progress step is.
type StepState string

// Progress step states.
const (
	StepDone    StepState = "done"
	StepCurrent StepState = "current"
	StepWaiting StepState = "waiting"
	StepFailed  StepState = "failed"
)

// ProgressStep is one step of a request's way: requested, approval,
// applied, exported to each system, done. Detail is a sentence whose names
// are isolated (Isolate); both are written in the reader's language.
type ProgressStep struct {
	Label  Text
	Detail Text
	State  StepState
}

// Progress is the request's way as a line of steps: requested → approval
// (who, how many of how many) → applied → exported to each system → done.
// A system counts as exported only once it confirmed the change.
func (d *RequestDetail) Progress() []ProgressStep {
	r := &d.Request
	has := func(k EventKind) *RequestEvent {
		for i := range d.Events {
			if d.Events[i].Kind == k {
				return &d.Events[i]
			}
		}
		return nil
	}
	steps := []ProgressStep{{Label: Textf("Requested"), State: StepDone, Detail: Textf("by %s", Isolate(r.RequesterName))}}
	approved := true
	switch a := d.Approval; {
	case a != nil:
		s := ProgressStep{Label: Textf("Approval: %d of %d", a.Approved(), a.Needed)}
		switch a.Status {
		case "approved":
			s.State = StepDone
		case "pending":
			s.State, approved = StepCurrent, false
		default:
			s.State, approved = StepFailed, false
		}
		var by []Text
		for _, ap := range a.Approvers {
			switch ap.Decision {
			case "approved":
				by = append(by, Textf("%s approved", Isolate(ap.Name)))
			case "rejected":
				by = append(by, Textf("%s rejected", Isolate(ap.Name)))
			}
		}
		if w := a.Waiting(); a.Status == "pending" && len(w) > 0 {
			for i := range w {
				w[i] = Isolate(w[i])
			}
			by = append(by, Textf("waiting for %s", strings.Join(w, ", ")))
		}
		s.Detail = JoinTexts(by, "; ")
		steps = append(steps, s)
	case r.Status == StatusAuthorizing:
		steps = append(steps, ProgressStep{Label: Textf("Approval"), State: StepCurrent, Detail: Textf("finding the approvers")})
		approved = false
	case has(KindCommitted) != nil || r.Status == StatusCommitted:
		steps = append(steps, ProgressStep{Label: Textf("Approval"), State: StepDone, Detail: Textf("no approval needed")})
	default:
		approved = false
	}
	committed := has(KindCommitted)
	switch {
	case committed != nil:
		steps = append(steps, ProgressStep{Label: Textf("Applied"), State: StepDone, Detail: Textf("in Tessera")})
	case r.Status == StatusFailed:
		var detail Text
		if e := has(KindFailed); e != nil {
			detail = e.Detail
		}
		return append(steps, ProgressStep{Label: Textf("Applied"), State: StepFailed, Detail: detail})
	case r.Status.Final():
		// Rejected, expired or canceled before anything was applied.
		var detail Text
		for _, k := range []EventKind{KindRejected, KindDenied, KindExpired, KindCanceled} {
			if e := has(k); e != nil && !e.Detail.IsZero() {
				detail = e.Detail
			}
		}
		return append(steps, ProgressStep{Label: Textf(r.Status.Label()), State: StepFailed, Detail: detail})
	case approved:
		steps = append(steps, ProgressStep{Label: Textf("Applied"), State: StepCurrent})
	default:
		steps = append(steps, ProgressStep{Label: Textf("Applied"), State: StepWaiting})
	}
	exported := false
	for _, e := range d.Events {
		switch e.Kind {
		case KindExported:
			steps = append(steps, ProgressStep{Label: e.Detail, State: StepDone})
			exported = true
		case KindExportFailed:
			steps = append(steps, ProgressStep{Label: Textf("Export failed"), State: StepFailed, Detail: e.Detail})
			exported = true
		case KindExportSkipped:
			steps = append(steps, ProgressStep{Label: Textf("Not exported"), State: StepDone, Detail: e.Detail})
			exported = true
		}
	}
	for _, x := range d.Exports {
		s := ProgressStep{Label: Textf("Exporting to %s", Isolate(x.System)), State: StepCurrent, Detail: Textf("waiting to be sent")}
		if x.Sent {
			s.Detail = Textf("sent; waiting for %s to confirm", Isolate(x.System))
		}
		if !x.Error.IsZero() {
			s.State, s.Detail = StepFailed, Textf("refused: %s", x.Error)
		}
		steps = append(steps, s)
		exported = true
	}
	switch {
	case exported:
	case committed != nil && r.Status == StatusCommitted:
		steps = append(steps, ProgressStep{Label: Textf("Exporting to connected systems"), State: StepCurrent})
	case committed != nil:
		steps = append(steps, ProgressStep{Label: Textf("No export needed"), State: StepDone, Detail: Textf("no connected system takes this change")})
	default:
		steps = append(steps, ProgressStep{Label: Textf("Exported"), State: StepWaiting})
	}
	switch r.Status {
	case StatusCompleted:
		steps = append(steps, ProgressStep{Label: Textf("Done"), State: StepDone})
	case StatusFailed:
		steps = append(steps, ProgressStep{Label: Textf("Failed"), State: StepFailed})
	case StatusSuperseded:
		var detail Text
		if e := has(KindSuperseded); e != nil {
			detail = e.Detail
		}
		steps = append(steps, ProgressStep{Label: Textf("Superseded"), State: StepDone, Detail: detail})
	default:
		steps = append(steps, ProgressStep{Label: Textf("Done"), State: StepWaiting})
	}
	return steps
}
