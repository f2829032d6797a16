package portal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	join := func(js ...portal.JoinPolicy) []portal.JoinPolicy { return js }
	for _, tc := range []struct {
		name   string
		policy portal.Policy
		want   string // part of the message; "" for valid
	}{
		{"join open groups", portal.Policy{Name: "Join", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf,
			TargetJoinPolicies: join(portal.JoinOpen)}, ""},
		{"owners, every group", portal.Policy{Name: "Owners", Operation: portal.OpRemoveMember, Requestor: portal.RequestorOwners}, ""},
		{"contact details", portal.Policy{Name: "Contact", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf,
			Attributes: []string{"phone", "mobile"}}, ""},
		{"set with its set", portal.Policy{Name: "Set", Operation: portal.OpAddMember, Requestor: portal.RequestorSet,
			RequestorSetID: "0b9a5e5e-0000-4000-8000-000000000000"}, ""},
		{"no name", portal.Policy{Name: "  ", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf}, "Give the policy a name"},
		{"name of 101 characters", portal.Policy{Name: strings.Repeat("é", 101), Operation: portal.OpAddMember, Requestor: portal.RequestorSelf},
			"too long (101 characters)"},
		{"name of 100 characters", portal.Policy{Name: strings.Repeat("é", 100), Operation: portal.OpAddMember, Requestor: portal.RequestorSelf}, ""},
		{"name on two lines", portal.Policy{Name: "a\nb", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf}, "one line"},
		{"description too long", portal.Policy{Name: "x", Description: strings.Repeat("d", 1001), Operation: portal.OpAddMember,
			Requestor: portal.RequestorSelf}, "description is too long"},
		{"no operation", portal.Policy{Name: "x", Requestor: portal.RequestorSelf}, "Choose the operation"},
		{"unknown operation", portal.Policy{Name: "x", Operation: "delete_person", Requestor: portal.RequestorSelf}, `"delete_person" is not an operation`},
		{"no requestor", portal.Policy{Name: "x", Operation: portal.OpAddMember}, "Choose who may ask"},
		{"unknown requestor", portal.Policy{Name: "x", Operation: portal.OpAddMember, Requestor: "boss"}, `"boss" is not a requestor`},
		{"set without a set", portal.Policy{Name: "x", Operation: portal.OpAddMember, Requestor: portal.RequestorSet}, "Choose the set"},
		{"owners of a person", portal.Policy{Name: "x", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorOwners,
			Attributes: []string{"title"}}, "Only group operations have owners"},
		{"unknown join policy", portal.Policy{Name: "x", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf,
			TargetJoinPolicies: join("secret")}, `"secret" is not a group join policy`},
		{"targets on update_person", portal.Policy{Name: "x", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf,
			TargetJoinPolicies: join(portal.JoinOpen), Attributes: []string{"title"}}, "only to group operations"},
		{"update_person without attributes", portal.Policy{Name: "x", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf},
			"at least one attribute"},
		{"unknown attribute", portal.Policy{Name: "x", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf,
			Attributes: []string{"title", "salary"}}, `"salary" is not an attribute`},
		{"attributes on a group operation", portal.Policy{Name: "x", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf,
			Attributes: []string{"title"}}, "Attributes apply only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			err := p.Normalize()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
			require.Contains(t, portal.ErrorMessage(err), tc.want)
		})
	}
}

func TestPolicyNormalize(t *testing.T) {
	t.Parallel()
	in := portal.Policy{Name: "  Contact  ", Description: " d ", Operation: portal.OpAddMember, Requestor: portal.RequestorSelf,
		RequestorSetID: "left over", TargetJoinPolicies: []portal.JoinPolicy{portal.JoinClosed, portal.JoinOpen, portal.JoinClosed}}
	p := in
	require.NoError(t, p.Normalize())
	require.Equal(t, "Contact", p.Name)
	require.Equal(t, "d", p.Description)
	require.Empty(t, p.RequestorSetID, "only a set requestor keeps its set")
	require.Equal(t, []portal.JoinPolicy{portal.JoinOpen, portal.JoinClosed}, p.TargetJoinPolicies)
	require.Equal(t, []portal.JoinPolicy{portal.JoinClosed, portal.JoinOpen, portal.JoinClosed}, in.TargetJoinPolicies,
		"the caller's slice is left alone")

	u := portal.Policy{Name: "u", Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf,
		Attributes: []string{"surname", "phone", "title", "phone"}}
	require.NoError(t, u.Normalize())
	require.Equal(t, []string{"surname", "title", "phone"}, u.Attributes, "in the attribute table's order")

	// Validate alone, without Normalize's clearing, refuses a set that the
	// requestor does not use.
	s := portal.Policy{Name: "s", Operation: portal.OpAddMember, Requestor: portal.RequestorAnyone, RequestorSetID: "0b9a5e5e-0000-4000-8000-000000000000"}
	err := s.Validate()
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "Only the requestor “The people of a set” names a set")
}

func TestWorkflowValidate(t *testing.T) {
	t.Parallel()
	people := func(names ...string) []portal.NamedPerson { return portal.NamedPeople(names) }
	base := func(change func(w *portal.ApprovalWorkflow)) portal.ApprovalWorkflow {
		w := portal.ApprovalWorkflow{Name: "Managers", ApproverSource: portal.ApproversManager, Threshold: portal.ThresholdAny,
			DeadlineBusinessDays: 5, ReminderHours: 24}
		change(&w)
		return w
	}
	for _, tc := range []struct {
		name string
		wf   portal.ApprovalWorkflow
		want string
	}{
		{"manager, five business days", base(func(w *portal.ApprovalWorkflow) {}), ""},
		{"named, two of three, escalation, approve on timeout", base(func(w *portal.ApprovalWorkflow) {
			w.ApproverSource, w.Approvers = portal.ApproversNamed, people("ada", "mateo", "siobhan@tessera.example")
			w.Threshold, w.ThresholdN = portal.ThresholdN, 2
			w.Escalation, w.TimeoutOutcome = people("zoe"), portal.TimeoutApprove
		}), ""},
		{"no deadline at all", base(func(w *portal.ApprovalWorkflow) { w.DeadlineBusinessDays, w.ReminderHours = 0, 0 }), ""},
		{"hours", base(func(w *portal.ApprovalWorkflow) { w.DeadlineBusinessDays, w.DeadlineHours, w.ReminderHours = 0, 48, 47 }), ""},
		{"no name", base(func(w *portal.ApprovalWorkflow) { w.Name = "" }), "Give the workflow a name"},
		{"name too long", base(func(w *portal.ApprovalWorkflow) { w.Name = strings.Repeat("n", 101) }), "too long (101 characters)"},
		{"no source", base(func(w *portal.ApprovalWorkflow) { w.ApproverSource = "" }), "Choose where the approvers come from"},
		{"unknown source", base(func(w *portal.ApprovalWorkflow) { w.ApproverSource = "hr" }), `"hr" is not a source`},
		{"named without names", base(func(w *portal.ApprovalWorkflow) { w.ApproverSource = portal.ApproversNamed }),
			"Name at least one approver"},
		{"names with the manager", base(func(w *portal.ApprovalWorkflow) { w.Approvers = people("ada") }), "clear the named approvers"},
		{"too many named", base(func(w *portal.ApprovalWorkflow) {
			w.ApproverSource = portal.ApproversNamed
			for i := range 51 {
				w.Approvers = append(w.Approvers, portal.NamedPerson{Name: strings.Repeat("a", i+1)})
			}
		}), "at most 50 approvers"},
		{"no threshold", base(func(w *portal.ApprovalWorkflow) { w.Threshold = "" }), "Choose how many"},
		{"N of zero", base(func(w *portal.ApprovalWorkflow) { w.Threshold, w.ThresholdN = portal.ThresholdN, 0 }), "from 1 to 100"},
		{"N above the named", base(func(w *portal.ApprovalWorkflow) {
			w.ApproverSource, w.Approvers = portal.ApproversNamed, people("ada", "ADA", "mateo")
			w.Threshold, w.ThresholdN = portal.ThresholdN, 3
		}), "needs 3 approvals but names only 2"},
		{"hours and days", base(func(w *portal.ApprovalWorkflow) { w.DeadlineHours = 4 }), "not both"},
		{"hours too many", base(func(w *portal.ApprovalWorkflow) {
			w.DeadlineBusinessDays, w.ReminderHours, w.DeadlineHours = 0, 0, 9000
		}),
			"from 1 to 8760 hours"},
		{"days too many", base(func(w *portal.ApprovalWorkflow) { w.DeadlineBusinessDays = 400 }), "from 1 to 365 days"},
		{"reminder without deadline", base(func(w *portal.ApprovalWorkflow) { w.DeadlineBusinessDays = 0 }), "set a deadline to send one"},
		{"reminder as long as the deadline", base(func(w *portal.ApprovalWorkflow) { w.DeadlineBusinessDays, w.DeadlineHours, w.ReminderHours = 0, 24, 24 }),
			"use fewer than 24 hours"},
		{"reminder longer than business days", base(func(w *portal.ApprovalWorkflow) { w.DeadlineBusinessDays, w.ReminderHours = 2, 48 }),
			"use fewer than 48 hours"},
		{"negative reminder", base(func(w *portal.ApprovalWorkflow) { w.ReminderHours = -1 }), "positive number"},
		{"escalation without deadline", base(func(w *portal.ApprovalWorkflow) {
			w.DeadlineBusinessDays, w.ReminderHours, w.Escalation = 0, 0, people("ada")
		}), "set a deadline to escalate"},
		{"approve without deadline", base(func(w *portal.ApprovalWorkflow) {
			w.DeadlineBusinessDays, w.ReminderHours, w.TimeoutOutcome = 0, 0, portal.TimeoutApprove
		}), "Approving on timeout needs a deadline"},
		{"unknown outcome", base(func(w *portal.ApprovalWorkflow) { w.TimeoutOutcome = "shrug" }), `"shrug" is not an outcome`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.wf
			err := w.Normalize()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
			require.Contains(t, portal.ErrorMessage(err), tc.want)
		})
	}
}

func TestWorkflowNormalize(t *testing.T) {
	t.Parallel()
	w := portal.ApprovalWorkflow{Name: " Named ", ApproverSource: portal.ApproversNamed, Threshold: portal.ThresholdAll, ThresholdN: 7,
		Approvers: portal.NamedPeople([]string{"ada", " Ada ", "mateo"}), DeadlineHours: 8, CalendarID: "left over"}
	require.NoError(t, w.Normalize())
	require.Equal(t, "Named", w.Name)
	require.Equal(t, 1, w.ThresholdN, "N is kept only for the N-of threshold")
	require.Equal(t, []portal.NamedPerson{{Name: "ada"}, {Name: "mateo"}}, w.Approvers)
	require.Empty(t, w.CalendarID, "a calendar only counts business days")
	require.Equal(t, portal.TimeoutDeny, w.TimeoutOutcome, "deny by default")
}

func TestParseNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"ada", "mateo@tessera.example", "zoe", "siobhan"},
		portal.ParseNames(" ada, mateo@tessera.example\r\nzoe;;\n\n siobhan ,"))
	require.Empty(t, portal.ParseNames(" , \n"))
}

func TestAuditFilterNormalize(t *testing.T) {
	t.Parallel()
	f := portal.AuditFilter{Action: " policy_update ", Actor: " ada "}
	require.NoError(t, f.Normalize())
	require.Equal(t, portal.AuditFilter{Action: "policy_update", Actor: "ada"}, f)
	f = portal.AuditFilter{Actor: strings.Repeat("a", 257)}
	require.Equal(t, portal.EINVALID, portal.ErrorCode(f.Normalize()))
}

func TestNewRequestValidatesAttributeValues(t *testing.T) {
	now := time.Now()
	change := func(attr, v string) error {
		n := portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: "p", Changes: map[string]string{attr: v}}
		return n.Validate(now)
	}
	require.NoError(t, change("phone", strings.Repeat("9", 64)))
	err := change("phone", strings.Repeat("9", 65))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Equal(t, "Phone is too long (65 characters); it takes at most 64.", portal.ErrorMessage(err))
	require.NoError(t, change("title", strings.Repeat("é", 256)))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(change("title", strings.Repeat("é", 257))))
	require.Equal(t, "The display name cannot be empty.", portal.ErrorMessage(change("displayName", "  ")))
	require.NoError(t, change("office", ""), "an office may be cleared")
	require.Equal(t, portal.EINVALID, portal.ErrorCode(change("phone", "\xff")))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(change("salary", "1")))
}
