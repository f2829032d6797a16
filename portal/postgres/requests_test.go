package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/workflow"
)

// pipeline is a seeded store with River workers running and email going
// to the harness's SMTP server.
type pipeline struct {
	t    *testing.T
	db   *postgres.DB
	org  *demo.Org
	ctx  context.Context
	mail *harness.MailSink
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	db, org := setup(t)
	sink := harness.SMTP(t)
	mailer, err := workflow.NewSMTPMailer(workflow.SMTPConfig{Host: sink.Host(), Port: sink.Port(), TLS: workflow.SMTPStartTLS,
		CAFile: sink.CAFile(), Username: harness.SMTPUsername, Password: harness.SMTPPassword, From: "Tessera <tessera@tessera.example>"})
	require.NoError(t, err)
	harness.StartWorkers(t, db, mailer, "http://tessera.test")
	return &pipeline{t: t, db: db, org: org, ctx: context.Background(), mail: sink}
}

// email waits for the email to the person with personID whose subject
// contains subject and whose text mentions id (a request or an approval,
// unique to this test).
func (p *pipeline) email(personID, subject, id string) harness.Mail {
	p.t.Helper()
	var to string
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, "SELECT email FROM people WHERE id = $1", personID).Scan(&to))
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, m := range p.mail.Messages() {
			if strings.Contains(m.Subject, subject) && strings.Contains(m.Text, id) && slices.ContainsFunc(m.To, func(a string) bool {
				return strings.Contains(strings.ToLower(a), strings.ToLower(to))
			}) {
				return m
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no email to %s with %q about %s", to, subject, id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pipeline) viewer(i int) portal.Viewer {
	person := p.org.People[i]
	return portal.Viewer{PersonID: person.ID, DisplayName: person.DisplayName}
}

func (p *pipeline) account(label string) portal.Viewer {
	for _, a := range p.org.Accounts {
		if a.Label == label {
			for _, person := range p.org.People {
				if person.ID == a.PersonID {
					return portal.Viewer{PersonID: person.ID, DisplayName: person.DisplayName, Roles: a.Roles}
				}
			}
		}
	}
	p.t.Fatalf("no demo account %s", label)
	return portal.Viewer{}
}

// group returns the ID of the demo group with that display name.
func (p *pipeline) group(name string) string {
	for _, g := range p.org.Groups {
		if g.DisplayName == name {
			return g.ID
		}
	}
	p.t.Fatalf("no group %s", name)
	return ""
}

func (p *pipeline) exec(sql string, args ...any) {
	p.t.Helper()
	_, err := p.db.Pool.Exec(p.ctx, sql, args...)
	require.NoError(p.t, err, sql)
}

// outsider returns a person who is neither member nor owner of group.
func (p *pipeline) outsider(groupID string, skip int) portal.Viewer {
	p.t.Helper()
	var id, name string
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, `SELECT id, display_name FROM people p WHERE account_enabled
		AND NOT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND person_id = p.id)
		AND NOT EXISTS (SELECT 1 FROM group_owners WHERE group_id = $1 AND person_id = p.id)
		ORDER BY id OFFSET $2 LIMIT 1`, groupID, skip).Scan(&id, &name))
	return portal.Viewer{PersonID: id, DisplayName: name}
}

func (p *pipeline) join(v portal.Viewer, groupID, why string) *portal.Request {
	p.t.Helper()
	r, err := p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: groupID, PersonID: v.PersonID, Justification: why})
	require.NoError(p.t, err)
	return r
}

// waitStatus waits for River to move a request to status.
func (p *pipeline) waitStatus(v portal.Viewer, id string, status portal.RequestStatus) (*portal.Request, []portal.RequestEvent) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, events, err := p.db.FindRequest(p.ctx, v, id)
		require.NoError(p.t, err)
		if r.Status == status {
			return r, events
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("request %s is %s, want %s; timeline %+v", id, r.Status, status, events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// approvalFor waits for the Authorize job and returns the approval ID that
// approver sees for the request.
func (p *pipeline) approvalFor(approver portal.Viewer, requestID string) string {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		page, err := p.db.MyApprovals(p.ctx, approver, portal.ApprovalFilter{Limit: portal.MaxBulkDecisions})
		require.NoError(p.t, err)
		for _, it := range page.Items {
			if it.Request.ID == requestID {
				return it.ApprovalID
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s has no approval for request %s", approver.DisplayName, requestID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *pipeline) isMember(groupID, personID string) bool {
	var ok bool
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND person_id = $2)",
		groupID, personID).Scan(&ok))
	return ok
}

// count says how often s occurs in list.
func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func kinds(events []portal.RequestEvent) []string {
	var ks []string
	for _, e := range events {
		ks = append(ks, string(e.Kind))
	}
	return ks
}

// namedWorkflow creates an approval workflow and points the owner-approval
// join policy at it.
func (p *pipeline) namedWorkflow(sql string, args ...any) {
	p.t.Helper()
	var id string
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, sql, args...).Scan(&id))
	p.exec("UPDATE policies SET workflow_id = $1 WHERE name = 'Request to join owner-approval groups'", id)
}

func TestJoinOpenGroupAtOnce(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("Cycling to work")
	v := p.outsider(g, 0)
	r := p.join(v, g, "")
	require.Equal(t, portal.StatusCompleted, r.Status)
	require.True(t, p.isMember(g, v.PersonID))
	_, events, err := p.db.FindRequest(p.ctx, v, r.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"submitted", "committed", "completed"}, kinds(events))

	_, err = p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: v.PersonID})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "joining twice")
	require.Contains(t, portal.ErrorMessage(err), "already a member")

	left, err := p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpRemoveMember, GroupID: g, PersonID: v.PersonID})
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, left.Status)
	require.False(t, p.isMember(g, v.PersonID))
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	closed := p.group("Finance approvers")
	v := p.outsider(closed, 0)
	_, err := p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: closed, PersonID: v.PersonID})
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "closed")

	g := p.group("VPN users")
	v = p.outsider(g, 0)
	other := p.outsider(g, 1)
	got, err := p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: other.PersonID})
	if got != nil {
		t.Logf("granted by %q", got.PolicyName)
	}
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err), "adding someone else to a group you do not own")
	require.Contains(t, portal.ErrorMessage(err), "only its owners")

	_, err = p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: v.PersonID,
		Justification: strings.Repeat("x", 100*1024)})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "a 100 KB justification")
	require.Contains(t, portal.ErrorMessage(err), "too long")

	_, err = p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: v.PersonID,
		Changes: map[string]string{"department": "Legal"}})
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	require.Equal(t, "No policy lets you change your department.", portal.ErrorMessage(err))

	r := p.join(v, g, "need it")
	_, err = p.db.Submit(p.ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: v.PersonID, Justification: "again"})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "a duplicate pending request")
	require.Equal(t, portal.StatusAuthorizing, r.Status)

	var n int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT count(*) FROM requests WHERE person_id = $1", v.PersonID).Scan(&n))
	require.Equal(t, 1, n, "refused requests leave nothing behind")
}

func TestApproveByOwner(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	v := p.outsider(g, 0)
	r := p.join(v, g, "remote work")
	require.Equal(t, portal.StatusAuthorizing, r.Status)
	approval := p.approvalFor(owner, r.ID)

	n, err := p.db.CountMyApprovals(p.ctx, owner)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)

	// Bad decisions first: not an approver, own request, no reason to reject.
	stranger := p.outsider(g, 5)
	err = p.db.Decide(p.ctx, stranger, approval, true, "")
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	err = p.db.Decide(p.ctx, v, approval, true, "")
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "your own request")
	err = p.db.Decide(p.ctx, owner, approval, false, " ")
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	err = p.db.Decide(p.ctx, owner, "00000000-0000-4000-8000-000000000000", true, "")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))

	m := p.email(owner.PersonID, "Approval needed: Join VPN users", approval)
	require.Contains(t, m.Text, "remote work", "the approver reads the justification")
	require.Contains(t, m.HTML, "http://tessera.test/approvals/"+approval)
	require.NoError(t, p.db.Decide(p.ctx, owner, approval, true, "ok for remote work"))
	p.email(v.PersonID, "Done: Join VPN users", r.ID)
	_, events := p.waitStatus(v, r.ID, portal.StatusCompleted)
	require.True(t, p.isMember(g, v.PersonID))
	require.Equal(t, []string{"submitted", "approval_requested", "approved", "committed", "completed"}, kinds(events))
	require.Equal(t, owner.DisplayName, events[2].ActorName)
	require.Equal(t, "ok for remote work", events[2].Detail.String())

	err = p.db.Decide(p.ctx, owner, approval, true, "")
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "deciding on a request no longer waiting")
}

func TestReject(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	v := p.outsider(g, 0)
	r := p.join(v, g, "please")
	approval := p.approvalFor(owner, r.ID)
	require.NoError(t, p.db.Decide(p.ctx, owner, approval, false, "use the web proxy instead"))
	m := p.email(v.PersonID, "Rejected: Join VPN users", r.ID)
	require.Contains(t, m.Text, "use the web proxy instead", "the requester reads why")
	got, events := p.waitStatus(v, r.ID, portal.StatusDenied)
	require.Equal(t, portal.StatusDenied, got.Status)
	require.False(t, p.isMember(g, v.PersonID))
	require.Contains(t, events[len(events)-1].Detail.String(), "use the web proxy instead")
	// A commit job run after the rejection does nothing.
	require.NoError(t, p.db.Commit(p.ctx, []string{r.ID}))
	require.False(t, p.isMember(g, v.PersonID))
}

func TestThresholds(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	a, b, c := p.viewer(20), p.viewer(21), p.viewer(22)
	for _, tc := range []struct {
		name      string
		threshold string
		n         int
		decisions int // approvals needed before completion
	}{
		{"two of three", "n", 2, 2},
		{"all", "all", 1, 3},
		{"any", "any", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, approver_ids, threshold, threshold_n)
				VALUES ($1, 'named', $2, $3, $4) RETURNING id`, "wf "+tc.name, []string{a.PersonID, b.PersonID, c.PersonID}, tc.threshold, tc.n)
			g := p.group("GitHub org members")
			v := p.outsider(g, 10+tc.decisions)
			r := p.join(v, g, tc.name)
			for i, approver := range []portal.Viewer{a, b, c}[:tc.decisions] {
				approval := p.approvalFor(approver, r.ID)
				if i < tc.decisions-1 {
					require.NoError(t, p.db.Decide(p.ctx, approver, approval, true, ""))
					time.Sleep(50 * time.Millisecond)
					got, _, err := p.db.FindRequest(p.ctx, v, r.ID)
					require.NoError(t, err)
					require.Equal(t, portal.StatusAuthorizing, got.Status, "after %d of %d approvals", i+1, tc.decisions)
					continue
				}
				require.NoError(t, p.db.Decide(p.ctx, approver, approval, true, ""))
			}
			p.waitStatus(v, r.ID, portal.StatusCompleted)
		})
	}
}

// TestConcurrentApprovalsSettle has two approvers of an all-must-approve
// workflow decide at once. Each reads the approval before the other's
// decision commits (a third transaction holds its lock meanwhile); the
// second to get the lock must still see that the two settle it.
func TestConcurrentApprovalsSettle(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	a, b := p.viewer(34), p.viewer(35)
	p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, approver_ids, threshold)
		VALUES ('both', 'named', $1, 'all') RETURNING id`, []string{a.PersonID, b.PersonID})
	g := p.group("VPN users")
	v := p.outsider(g, 4)
	r := p.join(v, g, "both at once")
	approval := p.approvalFor(a, r.ID)
	lock, err := p.db.Pool.Begin(p.ctx)
	require.NoError(t, err)
	_, err = lock.Exec(p.ctx, "SELECT 1 FROM approvals WHERE id = $1 FOR UPDATE", approval)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, approver := range []portal.Viewer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.db.Decide(p.ctx, approver, approval, true, "")
		}()
	}
	time.Sleep(300 * time.Millisecond) // both wait for the lock
	require.NoError(t, lock.Rollback(p.ctx))
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	p.waitStatus(v, r.ID, portal.StatusCompleted)
}

func TestConcurrentApprovals(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	approvers := []portal.Viewer{p.viewer(30), p.viewer(31), p.viewer(32), p.viewer(33)}
	var ids []string
	for _, a := range approvers {
		ids = append(ids, a.PersonID)
	}
	p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, approver_ids, threshold) VALUES ('race', 'named', $1, 'any') RETURNING id`, ids)
	g := p.group("VPN users")
	v := p.outsider(g, 3)
	r := p.join(v, g, "race")
	var approvals []string
	for _, a := range approvers {
		approvals = append(approvals, p.approvalFor(a, r.ID))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(approvers))
	for i := range approvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.db.Decide(p.ctx, approvers[i], approvals[i], i%2 == 0, "concurrent "+approvers[i].DisplayName)
		}()
	}
	wg.Wait()
	final := portal.StatusCompleted
	var ok int
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "late deciders are told it is decided")
		}
	}
	require.Equal(t, 1, ok, "exactly one decision settles an any-one approval")
	got, _, err := p.db.FindRequest(p.ctx, v, r.ID)
	require.NoError(t, err)
	if got.Status == portal.StatusDenied {
		final = portal.StatusDenied
	}
	_, events := p.waitStatus(v, r.ID, final)
	var commits int
	for _, e := range events {
		if e.Kind == "committed" {
			commits++
		}
	}
	if final == portal.StatusCompleted {
		require.Equal(t, 1, commits)
	} else {
		require.Zero(t, commits, "never committed after a rejection")
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	v := p.outsider(g, 0)
	r := p.join(v, g, "maybe")
	approval := p.approvalFor(owner, r.ID)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(p.db.Cancel(p.ctx, owner, r.ID)), "only the requester cancels")
	require.NoError(t, p.db.Cancel(p.ctx, v, r.ID))
	p.waitStatus(v, r.ID, portal.StatusCanceled)
	err := p.db.Decide(p.ctx, owner, approval, true, "")
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(p.db.Cancel(p.ctx, v, r.ID)))
}

func TestDeputy(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	deputy := p.viewer(40)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(p.db.SetDeputy(p.ctx, owner, owner.PersonID, today, today)))
	require.Equal(t, portal.EINVALID, portal.ErrorCode(p.db.SetDeputy(p.ctx, owner, deputy.PersonID, today, today.AddDate(0, 0, -1))))
	require.NoError(t, p.db.SetDeputy(p.ctx, owner, deputy.PersonID, today.AddDate(0, 0, -1), today.AddDate(0, 0, 7)))
	ds, err := p.db.MyDeputies(p.ctx, owner)
	require.NoError(t, err)
	require.Len(t, ds, 1)

	v := p.outsider(g, 0)
	r := p.join(v, g, "while Mateo is away")
	approval := p.approvalFor(deputy, r.ID)
	_ = p.approvalFor(owner, r.ID) // the owner still has it too
	p.email(deputy.PersonID, "Approval needed", approval)
	p.email(owner.PersonID, "Approval needed", approval)
	require.NoError(t, p.db.Decide(p.ctx, deputy, approval, true, "fine"))
	_, events := p.waitStatus(v, r.ID, portal.StatusCompleted)
	require.True(t, strings.HasPrefix(events[1].Detail.String(), "Sent to "+owner.DisplayName+" (and "+deputy.DisplayName+
		", deputy while away); 1 of 1 needed; due "), "the timeline says the deputy got it: %s", events[1].Detail.String())
	require.Contains(t, events[2].Detail.String(), "As deputy for "+owner.DisplayName)
	// The same entries, kept as text, read in German.
	de := i18n.For("de")
	require.True(t, strings.HasPrefix(de.Text(events[1].Detail), "Gesendet an "+owner.DisplayName+" (und "+deputy.DisplayName+
		", Vertretung während der Abwesenheit); 1 von 1 nötig; fällig "), "German: %s", de.Text(events[1].Detail))
	// The due time is kept as the instant: a reader in Berlin reads it in
	// Berlin's time, not as UTC words.
	var deadline time.Time
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT deadline FROM approvals WHERE id = $1", approval).Scan(&deadline))
	berlin := portal.ZoneOrUTC("Europe/Berlin")
	require.Contains(t, de.In(berlin).Text(events[1].Detail), "; fällig "+de.Time(deadline, berlin), "German, Berlin")
	require.Equal(t, "Als Vertretung für "+owner.DisplayName+". fine", de.Text(events[2].Detail))
	require.Equal(t, "unter der Richtlinie „"+strings.TrimSuffix(strings.TrimPrefix(events[0].Detail.String(), "under policy “"), "”")+"“",
		de.Text(events[0].Detail))
	n, err := p.db.CountMyApprovals(p.ctx, owner)
	require.NoError(t, err)
	page, err := p.db.MyApprovals(p.ctx, owner, portal.ApprovalFilter{})
	require.NoError(t, err)
	require.Len(t, page.Items, n)
	require.Equal(t, n, page.Total)
	for _, it := range page.Items {
		require.NotEqual(t, r.ID, it.Request.ID, "decided by the deputy: gone from the owner's list")
	}
}

// Timer jobs: an approval's first timer has no job (FireTimers fires it
// when due); later timers are jobs of their own, by approval ID.

// fireTimers fires the first timers due, as the approval_timers job does
// every minute, and says how many it found due. (That job runs beside the
// test: only "none due" is certain; what fired is read from its effects.)
func (p *pipeline) fireTimers() int {
	p.t.Helper()
	n, err := p.db.FireTimers(p.ctx)
	require.NoError(p.t, err)
	return n
}

// approvalStatus returns an approval's status.
func (p *pipeline) approvalStatus(approvalID string) string {
	p.t.Helper()
	var status string
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, "SELECT status FROM approvals WHERE id = $1", approvalID).Scan(&status))
	return status
}

// deadlineOf returns an approval's deadline.
func (p *pipeline) deadlineOf(approvalID string) time.Time {
	p.t.Helper()
	var deadline time.Time
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, "SELECT deadline FROM approvals WHERE id = $1", approvalID).Scan(&deadline))
	return deadline
}

// jobScheduled returns when a job of kind for id is scheduled.
func (p *pipeline) jobScheduled(kind, id string) time.Time {
	p.t.Helper()
	var at time.Time
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, `SELECT scheduled_at FROM river_job WHERE kind = $1 AND args->>'approval_id' = $2
		ORDER BY id DESC LIMIT 1`, kind, id).Scan(&at))
	return at
}

// scheduled reports whether a job of kind for id waits to run.
func (p *pipeline) scheduled(kind, id string) bool {
	p.t.Helper()
	var found bool
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, `SELECT EXISTS (SELECT 1 FROM river_job WHERE kind = $1
		AND args->>'approval_id' = $2 AND state = 'scheduled')`, kind, id).Scan(&found))
	return found
}

// waitScheduled waits until a job of kind for id waits to run (one job
// schedules the next) and returns when it is due.
func (p *pipeline) waitScheduled(kind, id string) time.Time {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !p.scheduled(kind, id) {
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s job scheduled for %s", kind, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p.jobScheduled(kind, id)
}

// passTime moves an approval's deadline (and when it was opened) d
// earlier, as if d had passed, and returns the new deadline.
func (p *pipeline) passTime(approvalID string, d time.Duration) time.Time {
	p.t.Helper()
	var deadline time.Time
	require.NoError(p.t, p.db.Pool.QueryRow(p.ctx, `UPDATE approvals SET deadline = deadline - $2::interval, created_at = created_at - $2::interval
		WHERE id = $1 RETURNING deadline`,
		approvalID, d.String()).Scan(&deadline))
	return deadline
}

func (p *pipeline) timeline(v portal.Viewer, requestID string) []portal.RequestEvent {
	p.t.Helper()
	_, events, err := p.db.FindRequest(p.ctx, v, requestID)
	require.NoError(p.t, err)
	return events
}

// fire makes scheduled jobs of kind for id due now.
func (p *pipeline) fire(kind, id string) {
	p.exec(`UPDATE river_job SET scheduled_at = now() WHERE kind = $1 AND args->>'approval_id' = $2 AND state = 'scheduled'`, kind, id)
}

func TestDeadlineEscalationAndFinalTimeout(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	admin := p.account("administrator")
	p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, threshold, deadline_hours, reminder_hours, escalation_ids, timeout_outcome)
		VALUES ('escalating', 'owners', 'any', 48, 24, $1, 'deny') RETURNING id`, []string{admin.PersonID})
	g := p.group("VPN users")
	owner := p.account("manager")
	v := p.outsider(g, 0)
	r := p.join(v, g, "escalate me")
	approval := p.approvalFor(owner, r.ID)
	// One timer at a time: the reminder, 24 hours before the deadline,
	// which schedules the deadline when it has reminded. Until then the
	// approval has no job at all.
	deadline := p.deadlineOf(approval)
	require.WithinDuration(t, time.Now().Add(48*time.Hour), deadline, time.Minute)
	var jobs int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT count(*) FROM river_job WHERE kind <> 'notify'
		AND (args->>'request_id' = $1 OR args->>'approval_id' = $2)`, r.ID, approval).Scan(&jobs))
	require.Zero(t, jobs, "a timer job")

	// Before the reminder is due, the timers fire nothing.
	require.Zero(t, p.fireTimers())
	p.passTime(approval, 23*time.Hour)
	require.Zero(t, p.fireTimers())
	require.False(t, slices.Contains(kinds(p.timeline(v, r.ID)), "reminded"))
	require.False(t, p.scheduled("approval_reminder", approval))
	require.False(t, p.scheduled("approval_deadline", approval))

	// 25 hours on, the reminder is due.
	deadline = p.passTime(approval, 2*time.Hour)
	p.fireTimers()
	p.email(owner.PersonID, "Reminder, approval needed", approval)
	require.WithinDuration(t, deadline, p.waitScheduled("approval_deadline", approval), time.Second)
	// Fired again (the next minute's sweep, or two at once), the timer
	// reminds no more; nor does an old version's authorize job.
	require.Zero(t, p.fireTimers())
	require.NoError(t, p.db.Remind(p.ctx, approval, 1))
	_, err := p.db.Authorize(p.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 1, count(kinds(p.timeline(v, r.ID)), "reminded"))
	p.fire("approval_deadline", approval)
	_ = p.approvalFor(admin, r.ID) // escalated to the administrator
	p.email(admin.PersonID, "Escalated to you", approval)
	_, events := p.waitStatus(v, r.ID, portal.StatusAuthorizing)
	require.Contains(t, kinds(events), "escalated")

	// The escalation has its own reminder, then its own deadline.
	p.waitScheduled("approval_reminder", approval)
	p.fire("approval_reminder", approval)
	p.email(admin.PersonID, "Reminder, approval needed", approval)
	p.waitScheduled("approval_deadline", approval)
	p.fire("approval_deadline", approval) // the second deadline: final timeout
	_, events = p.waitStatus(v, r.ID, portal.StatusExpired)
	p.email(v.PersonID, "Expired: Join VPN users", r.ID)
	require.Equal(t, portal.KindExpired, events[len(events)-1].Kind)
	require.False(t, p.isMember(g, v.PersonID))
}

func TestFinalTimeoutApproves(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	// Its reminder, 24 hours before a deadline an hour ahead, was due
	// before the approval was opened: the deadline is the first timer.
	p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, threshold, deadline_hours, reminder_hours, timeout_outcome)
		VALUES ('lenient', 'owners', 'any', 1, 24, 'approve') RETURNING id`)
	g := p.group("VPN users")
	v := p.outsider(g, 0)
	r := p.join(v, g, "silence is consent")
	approval := p.approvalFor(p.account("manager"), r.ID)
	require.Zero(t, p.fireTimers())
	p.passTime(approval, time.Hour)
	p.fireTimers()
	_, events := p.waitStatus(v, r.ID, portal.StatusCompleted)
	require.NotContains(t, kinds(events), "reminded")
	require.True(t, p.isMember(g, v.PersonID))
	p.email(v.PersonID, "Done", r.ID)
}

func TestBusinessDayDeadline(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	// A Thursday 24 December still ahead (2026, then 2037, ...), so that
	// the first timer is in the future: 10:00 in London, two
	// business days later, skipping Christmas, the weekend and the
	// substitute Boxing Day, is Wednesday 30 December, 10:00.
	year := 2026
	for time.Date(year, 12, 24, 10, 0, 0, 0, london).Weekday() != time.Thursday ||
		time.Date(year, 12, 24, 10, 0, 0, 0, london).Before(time.Now()) {
		year++
	}
	cal, err := p.db.CreateCalendar(p.ctx, portal.Viewer{}, portal.Calendar{Name: "UK", TimeZone: london,
		Holidays: []portal.Holiday{{Date: portal.Date{Year: year, Month: 12, Day: 25}, Name: "Christmas Day"},
			{Date: portal.Date{Year: year, Month: 12, Day: 28}, Name: "Boxing Day (substitute)"}}})
	require.NoError(t, err)
	p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, threshold, deadline_business_days, calendar_id)
		VALUES ('two business days', 'owners', 'any', 2, $1) RETURNING id`, cal.ID)
	p.db.Clock = func() time.Time { return time.Date(year, 12, 24, 10, 0, 0, 0, london) }
	g := p.group("VPN users")
	v := p.outsider(g, 0)
	r := p.join(v, g, "over the holidays")
	approval := p.approvalFor(p.account("manager"), r.ID)
	require.WithinDuration(t, time.Date(year, 12, 30, 10, 0, 0, 0, london), p.deadlineOf(approval), time.Second)
	// The first timer is that deadline (the workflow has no reminder).
	require.Zero(t, p.fireTimers())
	require.Equal(t, "pending", p.approvalStatus(approval))
}

func TestTimeBoundMembership(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	v := p.outsider(g, 0)
	until := time.Now().Add(1500 * time.Millisecond)
	r, err := p.db.Submit(p.ctx, owner, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: v.PersonID, MemberUntil: &until})
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, r.Status, "owners add members at once")
	require.True(t, p.isMember(g, v.PersonID))
	deadline := time.Now().Add(20 * time.Second)
	for p.isMember(g, v.PersonID) {
		require.True(t, time.Now().Before(deadline), "the membership was not removed at its end")
		time.Sleep(100 * time.Millisecond)
	}
	var id, justification string
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT id, justification FROM requests WHERE operation = 'remove_member'
		AND group_id = $1 AND person_id = $2 AND requester_id IS NULL`, g, v.PersonID).Scan(&id, &justification))
	require.Empty(t, justification, "Tessera writes no justification; its timeline says why")
	_, events := p.waitStatus(p.account("administrator"), id, portal.StatusCompleted)
	require.Contains(t, events[0].Detail.String(), "Time-bound membership ended on ")
	var audited bool
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT EXISTS (SELECT 1 FROM audit_log WHERE target_id = $1 AND action = 'request_committed')", id).Scan(&audited))
	require.True(t, audited)

	past := time.Now().Add(-time.Hour)
	_, err = p.db.Submit(p.ctx, owner, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: v.PersonID, MemberUntil: &past})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
}

func TestProfileChanges(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	zoe, mateo := p.account("end user"), p.account("manager")
	r, err := p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"phone": "+1 514 555 0199"}})
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, r.Status)
	prof, err := p.db.FindProfile(p.ctx, zoe.PersonID)
	require.NoError(t, err)
	require.Equal(t, "+1 514 555 0199", prof.Person.Phone)

	r, err = p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"title": "Staff Engineer"}})
	require.NoError(t, err)
	require.Equal(t, portal.StatusAuthorizing, r.Status, "title changes go to the manager")
	approval := p.approvalFor(mateo, r.ID)
	p.email(mateo.PersonID, "Approval needed: Change "+zoe.DisplayName+"'s profile", approval)
	require.NoError(t, p.db.Decide(p.ctx, mateo, approval, true, "well deserved"))
	p.waitStatus(zoe, r.ID, portal.StatusCompleted)
	prof, err = p.db.FindProfile(p.ctx, zoe.PersonID)
	require.NoError(t, err)
	require.Equal(t, "Staff Engineer", prof.Person.Title)

	// Others cannot read Zoë's request; her manager, as its approver, can.
	_, _, err = p.db.FindRequest(p.ctx, p.viewer(50), r.ID)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	_, _, err = p.db.FindRequest(p.ctx, mateo, r.ID)
	require.NoError(t, err)
}

func TestDynamicGroupsFollowProfileChanges(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	zoe := p.account("end user")
	admin := p.account("administrator")
	g := p.group("Book club")
	require.NoError(t, p.db.SaveDynamicRule(p.ctx, admin, g, `person.office == "Zürich"`))
	require.False(t, p.isMember(g, zoe.PersonID))

	_, err := p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpAddMember, GroupID: g, PersonID: zoe.PersonID})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "computed from a rule")

	r, err := p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"office": "Zürich"}})
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, r.Status)
	require.True(t, p.isMember(g, zoe.PersonID), "moving to Zürich puts Zoë in the dynamic group at once")

	access, err := p.db.GroupAccess(p.ctx, zoe, g)
	require.NoError(t, err)
	require.True(t, access.Dynamic)
	require.False(t, access.CanLeave, "no leaving a computed membership")

	_, err = p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"office": "Dublin"}})
	require.NoError(t, err)
	require.False(t, p.isMember(g, zoe.PersonID), "and moving away takes her out")
}

func TestRequestorSet(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	zoe := p.account("end user")
	helpdesk := p.account("helpdesk") // in IT
	change := portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID, Changes: map[string]string{"mobile": "+44 7700 900123"}}
	_, err := p.db.Submit(p.ctx, helpdesk, change)
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "change "+zoe.DisplayName+"'s mobile")

	var setID string
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `INSERT INTO sets (name, rule) VALUES ('IT staff', 'person.department == "IT"') RETURNING id`).Scan(&setID))
	p.exec(`INSERT INTO policies (name, operation, requestor, requestor_set_id, attributes) VALUES
		('IT staff fix phone numbers', 'update_person', 'set', $1, '{phone,mobile}')`, setID)
	r, err := p.db.Submit(p.ctx, helpdesk, change)
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, r.Status)
	require.Equal(t, "IT staff fix phone numbers", r.PolicyName)

	_, err = p.db.Submit(p.ctx, p.account("manager"), portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"mobile": "+44 7700 900999"}})
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err), "people outside the set are still refused")
}

func TestOwnersManageOwners(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users") // owned by Mateo alone
	mateo := p.account("manager")
	ada := p.account("administrator")
	zoe := p.account("end user")
	isOwner := func(id string) bool {
		var ok bool
		require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT EXISTS (SELECT 1 FROM group_owners WHERE group_id = $1 AND person_id = $2)", g, id).Scan(&ok))
		return ok
	}
	_, err := p.db.Submit(p.ctx, mateo, portal.NewRequest{Operation: portal.OpRemoveOwner, GroupID: g, PersonID: mateo.PersonID})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "only owner")

	_, err = p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpAddOwner, GroupID: g, PersonID: zoe.PersonID})
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err), "non-owners cannot make themselves owners")

	r, err := p.db.Submit(p.ctx, mateo, portal.NewRequest{Operation: portal.OpAddOwner, GroupID: g, PersonID: ada.PersonID})
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, r.Status)
	require.Equal(t, "Make "+ada.DisplayName+" an owner of VPN users", r.Summary())
	require.True(t, isOwner(ada.PersonID))

	_, err = p.db.Submit(p.ctx, mateo, portal.NewRequest{Operation: portal.OpAddOwner, GroupID: g, PersonID: ada.PersonID})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))

	// Both owners remove each other at the same moment: one wins, the
	// group keeps an owner.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pair := range [][2]portal.Viewer{{mateo, ada}, {ada, mateo}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.db.Submit(p.ctx, pair[0], portal.NewRequest{Operation: portal.OpRemoveOwner, GroupID: g, PersonID: pair[1].PersonID})
		}()
	}
	wg.Wait()
	var owners int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT count(*) FROM group_owners WHERE group_id = $1", g).Scan(&owners))
	require.Equal(t, 1, owners)
	require.True(t, (errs[0] == nil) != (errs[1] == nil), "exactly one removal succeeds: %v", errs)
}

func TestApproversFromASet(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	admin := p.account("administrator")
	helpdesk := p.account("helpdesk")
	set, err := p.db.CreateSet(p.ctx, admin, portal.Set{Name: "Service desk", Rule: `person.title == "Service Desk Analyst"`})
	require.NoError(t, err)
	wf, err := p.db.CreateWorkflow(p.ctx, admin, portal.ApprovalWorkflow{Name: "Service desk approves",
		ApproverSource: portal.ApproversSet, ApproverSetID: set.ID, Threshold: portal.ThresholdAny})
	require.NoError(t, err)
	require.Equal(t, "Service desk", wf.ApproverSet)
	p.exec("UPDATE policies SET workflow_id = $1 WHERE name = 'Request to join owner-approval groups'", wf.ID)

	g := p.group("VPN users")
	v := p.outsider(g, 0)
	r := p.join(v, g, "the service desk decides")
	approval := p.approvalFor(helpdesk, r.ID) // Siobhán is a Service Desk Analyst
	require.NoError(t, p.db.Decide(p.ctx, helpdesk, approval, true, ""))
	p.waitStatus(v, r.ID, portal.StatusCompleted)

	_, err = p.db.CreateWorkflow(p.ctx, admin, portal.ApprovalWorkflow{Name: "No set", ApproverSource: portal.ApproversSet,
		Threshold: portal.ThresholdAny})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "Choose the set")
}

func TestBulkDecisions(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	var people []portal.Viewer
	var reqs []*portal.Request
	var approvals []string
	for i := range 3 {
		v := p.outsider(g, i)
		r := p.join(v, g, "bulk")
		people, reqs, approvals = append(people, v), append(reqs, r), append(approvals, p.approvalFor(owner, r.ID))
	}
	require.NoError(t, p.db.Decide(p.ctx, owner, approvals[2], false, "not this one"))

	_, err := p.db.DecideMany(p.ctx, owner, approvals[:2], false, "")
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "a bulk rejection without a reason")
	errs, err := p.db.DecideMany(p.ctx, owner, []string{approvals[0], "nonsense", strings.ToUpper(approvals[1]), approvals[2],
		"00000000-0000-4000-8000-000000000000"}, true, "quarterly access review")
	require.NoError(t, err)
	require.Len(t, errs, 5)
	require.NoError(t, errs[0])
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(errs[1]))
	require.NoError(t, errs[2], "IDs are not case-sensitive")
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(errs[3]), "already rejected")
	require.Contains(t, portal.ErrorMessage(errs[3]), "no longer waiting")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(errs[4]))

	for i := range 2 {
		_, events := p.waitStatus(people[i], reqs[i].ID, portal.StatusCompleted)
		require.True(t, p.isMember(g, people[i].PersonID))
		require.Equal(t, []string{"submitted", "approval_requested", "approved", "committed", "completed"}, kinds(events))
		require.Equal(t, "quarterly access review", events[2].Detail.String())
	}
	p.waitStatus(people[2], reqs[2].ID, portal.StatusDenied)
	require.False(t, p.isMember(g, people[2].PersonID))

	// The decision applied both in its own transaction (no commit job),
	// and each decision has its audit entry.
	var jobs, audited int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT count(*) FROM river_job WHERE kind = 'commit'
		AND (args->'request_ids' ? $1::text OR args->'request_ids' ? $2::text)`, reqs[0].ID, reqs[1].ID).Scan(&jobs))
	require.Zero(t, jobs)
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT count(*) FROM audit_log WHERE action = 'approval_approved'
		AND target_id = ANY ($1)`, []string{reqs[0].ID, reqs[1].ID}).Scan(&audited))
	require.Equal(t, 2, audited)
	errs, err = p.db.DecideMany(p.ctx, owner, approvals[:1], true, "")
	require.NoError(t, err)
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(errs[0]), "approving twice")
}

// TestCommitIsolatesFailures commits two approved requests in one job, one
// of which cannot be applied: the other is applied, and the one that cannot
// fails with the reason.
func TestCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	requester := p.account("manager")
	member := p.outsider(g, 0)
	var lone, loneOwner string
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT group_id, min(person_id::text) FROM group_owners
		GROUP BY group_id HAVING count(*) = 1 LIMIT 1`).Scan(&lone, &loneOwner))
	approved := func(op portal.Operation, groupID, personID string, changes map[string]string) string {
		var id string
		require.NoError(t, p.db.Pool.QueryRow(p.ctx, `WITH r AS (INSERT INTO requests (requester_id, operation, group_id, person_id, changes, status)
			VALUES ($1, $2, $3, $4, $5, 'authorizing') RETURNING id)
			INSERT INTO approvals (request_id, needed, status) SELECT id, 1, 'approved' FROM r RETURNING request_id`,
			requester.PersonID, string(op), nullIfEmpty(groupID), personID, changes).Scan(&id))
		return id
	}
	removeLast := approved(portal.OpRemoveOwner, lone, loneOwner, map[string]string{})
	join := approved(portal.OpAddMember, g, member.PersonID, map[string]string{})
	// A value the people table refuses (submitted before the limits were
	// checked on submission): the database refuses it at every try.
	longPhone := approved(portal.OpUpdatePerson, "", member.PersonID, map[string]string{"phone": strings.Repeat("9", 100)})
	require.NoError(t, p.db.Commit(p.ctx, []string{removeLast, join, longPhone}))
	_, events := p.waitStatus(requester, longPhone, portal.StatusFailed)
	require.Contains(t, events[len(events)-1].Detail.String(), "not accepted")

	_, events = p.waitStatus(requester, join, portal.StatusCompleted)
	require.Equal(t, []string{"committed", "completed"}, kinds(events))
	require.True(t, p.isMember(g, member.PersonID))
	_, events = p.waitStatus(requester, removeLast, portal.StatusFailed)
	require.Contains(t, events[len(events)-1].Detail.String(), "at least one owner")
	var owners int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT count(*) FROM group_owners WHERE group_id = $1", lone).Scan(&owners))
	require.Equal(t, 1, owners)
	p.email(requester.PersonID, "Could not be done", removeLast)
}

// TestDecisionThatCannotApply approves, in one decision, a request that can
// no longer be applied (it would remove a group's last owner) with one that
// can: the decision is recorded for both, the one is applied, and the other
// fails with the reason, as when a commit job applies them.
func TestDecisionThatCannotApply(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	requester := p.account("manager")
	approver := p.viewer(5)
	member := p.outsider(g, 0)
	var lone, loneOwner string
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT group_id, min(person_id::text) FROM group_owners
		GROUP BY group_id HAVING count(*) = 1 LIMIT 1`).Scan(&lone, &loneOwner))
	pending := func(op portal.Operation, groupID, personID string) (string, string) {
		var id, approval string
		require.NoError(t, p.db.Pool.QueryRow(p.ctx, `WITH r AS (INSERT INTO requests (requester_id, operation, group_id, person_id, changes, status)
			VALUES ($1, $2, $3, $4, '{}', 'authorizing') RETURNING id),
			a AS (INSERT INTO approvals (request_id, needed) SELECT id, 1 FROM r RETURNING id, request_id),
			b AS (INSERT INTO approvers (approval_id, person_id) SELECT id, $5 FROM a)
			SELECT request_id::text, id::text FROM a`,
			requester.PersonID, string(op), groupID, personID, approver.PersonID).Scan(&id, &approval))
		return id, approval
	}
	removeLast, a1 := pending(portal.OpRemoveOwner, lone, loneOwner)
	join, a2 := pending(portal.OpAddMember, g, member.PersonID)
	errs, err := p.db.DecideMany(p.ctx, approver, []string{a1, a2}, true, "")
	require.NoError(t, err)
	require.NoError(t, errors.Join(errs...))

	_, events := p.waitStatus(requester, join, portal.StatusCompleted)
	require.Equal(t, []string{"approved", "committed", "completed"}, kinds(events))
	require.True(t, p.isMember(g, member.PersonID))
	_, events = p.waitStatus(requester, removeLast, portal.StatusFailed)
	require.Equal(t, []string{"approved", "failed"}, kinds(events))
	require.Contains(t, events[len(events)-1].Detail.String(), "at least one owner")
	var owners int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT count(*) FROM group_owners WHERE group_id = $1", lone).Scan(&owners))
	require.Equal(t, 1, owners)
}

// TestDoubleDecision decides twice at once as the same approver (a double
// click), and as an approver and their deputy at once, on approvals that
// need two approvers: one decision each time, the other told why.
func TestDoubleDecision(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	approvers := []portal.Viewer{p.viewer(40), p.viewer(41), p.viewer(42)}
	deputy := p.viewer(43)
	var ids []string
	for _, a := range approvers {
		ids = append(ids, a.PersonID)
	}
	p.namedWorkflow(`INSERT INTO approval_workflows (name, approver_source, approver_ids, threshold, threshold_n)
		VALUES ('two of three', 'named', $1, 'n', 2) RETURNING id`, ids)
	p.exec("INSERT INTO deputies (person_id, deputy_id, starts, ends) VALUES ($1, $2, current_date - 1, current_date + 1)",
		approvers[1].PersonID, deputy.PersonID)
	g := p.group("VPN users")
	for round, pair := range [][2]portal.Viewer{{approvers[0], approvers[0]}, {approvers[1], deputy}} {
		v := p.outsider(g, 10+round)
		for skip := 20; slices.ContainsFunc(append(approvers, deputy), func(a portal.Viewer) bool { return a.PersonID == v.PersonID }); skip++ {
			v = p.outsider(g, skip)
		}
		r := p.join(v, g, "twice")
		var errs [2]error
		approvals := [2]string{p.approvalFor(pair[0], r.ID), p.approvalFor(pair[1], r.ID)}
		var wg sync.WaitGroup
		for i, who := range pair {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = p.db.Decide(p.ctx, who, approvals[i], true, "")
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "round %d", round)
			}
		}
		require.Equal(t, 1, ok, "round %d: one decision", round)
		require.Equal(t, 1, count(kinds(p.timeline(v, r.ID)), "approved"), "round %d: one decision recorded", round)
		got, _, err := p.db.FindRequest(p.ctx, v, r.ID)
		require.NoError(t, err)
		require.Equal(t, portal.StatusAuthorizing, got.Status, "two of three are needed")
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestBulkRejectRacesCancel rejects requests in bulk while their requesters
// cancel them: each request ends canceled or denied, and neither side sees
// anything but "no longer waiting" (no deadlock between the two).
func TestBulkRejectRacesCancel(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := p.group("VPN users")
	owner := p.account("manager")
	var people []portal.Viewer
	var reqs, approvals []string
	for i := range 8 {
		v := p.outsider(g, 30+i)
		r := p.join(v, g, "race")
		people, reqs = append(people, v), append(reqs, r.ID)
	}
	for _, id := range reqs {
		approvals = append(approvals, p.approvalFor(owner, id))
	}
	var wg sync.WaitGroup
	var bulkErrs []error
	var bulkErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		// In reverse order of submission, as the cancellations are not.
		reversed := slices.Clone(approvals)
		slices.Reverse(reversed)
		bulkErrs, bulkErr = p.db.DecideMany(p.ctx, owner, reversed, false, "not now")
	}()
	cancelErrs := make([]error, len(reqs))
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cancelErrs[i] = p.db.Cancel(p.ctx, people[i], reqs[i])
		}()
	}
	wg.Wait()
	require.NoError(t, bulkErr)
	for _, err := range append(bulkErrs, cancelErrs...) {
		if err != nil {
			require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "%v", err)
		}
	}
	for i, id := range reqs {
		got, _, err := p.db.FindRequest(p.ctx, people[i], id)
		require.NoError(t, err)
		require.Contains(t, []portal.RequestStatus{portal.StatusCanceled, portal.StatusDenied}, got.Status)
	}
}

// TestSubmitWithNoOneToApprove: a request whose workflow names no approver
// (a group without owners) is denied at submission, in the transaction
// that writes it: the request, its submission and its denial are all there.
func TestSubmitWithNoOneToApprove(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	var g string
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ('no-owners', 'No owners', 'security', 'owner_approval') RETURNING id`).Scan(&g))
	v := p.outsider(g, 0)

	r := p.join(v, g, "nobody to ask")
	require.Equal(t, portal.StatusDenied, r.Status)
	got, events, err := p.db.FindRequest(p.ctx, v, r.ID)
	require.NoError(t, err)
	require.Equal(t, portal.StatusDenied, got.Status)
	var kinds []portal.EventKind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []portal.EventKind{portal.KindSubmitted, portal.EventKind(portal.StatusDenied)}, kinds)
	require.Contains(t, events[1].Detail.String(), "No one can approve this request")
	var approvals int
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, "SELECT count(*) FROM approvals WHERE request_id = $1", r.ID).Scan(&approvals))
	require.Zero(t, approvals)
}
