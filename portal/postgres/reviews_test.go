package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestAccessReview(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	// A group of Zoë's with three members: Ada, and two people to review.
	req := g.submit(g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: portal.GroupSpec{Name: "review-me",
		DisplayName: "Review me", Type: portal.GroupSecurity, JoinPolicy: portal.JoinClosed, Owners: []string{g.zoe.PersonID}}.Changes()})
	group := groupOf(t, g, req.ID)
	var others []string
	rows, err := g.db.Pool.Query(g.ctx, `SELECT id::text FROM people WHERE id <> ALL ($1::uuid[]) ORDER BY id LIMIT 2`,
		[]string{g.admin.PersonID, g.zoe.PersonID})
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		others = append(others, id)
	}
	require.NoError(t, rows.Err())
	for _, p := range append([]string{g.admin.PersonID}, others...) {
		g.submit(g.admin, portal.NewRequest{Operation: portal.OpAddMember, GroupID: group, PersonID: p})
	}

	n := portal.NewAccessReview{Name: "Quarterly review", Group: "review-me", Reviewers: portal.ReviewByOwners,
		Default: portal.ReviewRemove, Deadline: time.Now().Add(72 * time.Hour), RepeatMonths: 3}
	_, err = g.db.StartReview(g.ctx, g.zoe, n)
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	bad := n
	bad.Deadline = time.Now().Add(-time.Hour)
	_, err = g.db.StartReview(g.ctx, g.admin, bad)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	rev, err := g.db.StartReview(g.ctx, g.admin, n)
	require.NoError(t, err)
	require.Equal(t, 3, rev.Items)
	require.NotNil(t, rev.NextStartAt, "it repeats")
	g.audited("access_review_started", rev.ID)
	var jobs int
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT count(*) FROM river_job WHERE kind IN ('review_deadline', 'review_remind')
		AND args->>'review_id' = $1`, rev.ID).Scan(&jobs))
	require.Equal(t, 3, jobs, "its deadline, a reminder now and one a day before")

	// Zoë owns the group: she reviews its members, and is reminded.
	list, err := g.db.ListReviews(g.ctx, g.zoe)
	require.NoError(t, err)
	require.Len(t, list, 1)
	reminders, err := g.db.ReviewReminders(g.ctx, rev.ID)
	require.NoError(t, err)
	require.Len(t, reminders, 1)
	require.Equal(t, 3, reminders[0].Pending)
	_, items, err := g.db.FindReview(g.ctx, g.zoe, rev.ID)
	require.NoError(t, err)
	require.Len(t, items, 3)
	// Someone else sees nothing of it.
	stranger := portal.Viewer{PersonID: others[0]}
	_, _, err = g.db.FindReview(g.ctx, stranger, rev.ID)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	_, err = g.db.DecideReview(g.ctx, stranger, rev.ID, []portal.ReviewKey{{GroupID: group, PersonID: others[0]}}, portal.ReviewKeep, "")
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))

	// Bulk: keep Ada and the first; remove nobody by hand: the second is
	// left to the default.
	done, err := g.db.DecideReview(g.ctx, g.zoe, rev.ID, []portal.ReviewKey{{GroupID: group, PersonID: g.admin.PersonID}, {GroupID: group, PersonID: others[0]}},
		portal.ReviewKeep, "Still on the project.")
	require.NoError(t, err)
	require.Equal(t, 2, done)
	g.audited("access_review_decided", rev.ID)

	// The deadline: the second is removed by a request of Tessera's, with
	// its timeline, and the review ends.
	require.NoError(t, g.db.ReviewDeadline(g.ctx, rev.ID))
	rev, items, err = g.db.FindReview(g.ctx, g.admin, rev.ID)
	require.NoError(t, err)
	require.True(t, rev.Completed)
	require.Equal(t, 1, rev.Removed)
	var removal portal.ReviewItem
	for _, it := range items {
		if it.PersonID == others[1] {
			removal = it
		}
	}
	require.Equal(t, portal.ReviewRemove, removal.Decision)
	require.Empty(t, removal.DecidedByName, "the default decided")
	require.NotEmpty(t, removal.RequestID)
	r, events, err := g.db.FindRequest(g.ctx, g.admin, removal.RequestID)
	require.NoError(t, err)
	require.Equal(t, portal.OpRemoveMember, r.Operation)
	require.Equal(t, portal.StatusCompleted, r.Status)
	require.Contains(t, r.Justification, "Quarterly review")
	require.Equal(t, portal.KindSubmitted, events[0].Kind)
	var members int
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT count(*) FROM group_members WHERE group_id = $1`, group).Scan(&members))
	require.Equal(t, 2, members)
	g.audited("access_review_completed", rev.ID)
	// Decisions are final now; a second deadline does nothing.
	_, err = g.db.DecideReview(g.ctx, g.zoe, rev.ID, []portal.ReviewKey{{GroupID: group, PersonID: others[0]}}, portal.ReviewRemove, "")
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	require.NoError(t, g.db.ReviewDeadline(g.ctx, rev.ID))

	// Its repeat starts when due, with the same length, of the members now.
	_, err = g.db.Pool.Exec(g.ctx, `UPDATE access_reviews SET next_start_at = now() - interval '1 minute' WHERE id = $1`, rev.ID)
	require.NoError(t, err)
	started, err := g.db.StartDueReviews(g.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, started)
	list, err = g.db.ListReviews(g.ctx, g.admin)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, 2, list[0].Items)
	require.False(t, list[0].Completed)
	require.NotNil(t, list[0].NextStartAt)
	require.Nil(t, list[1].NextStartAt, "the repeat moved to the new review")

	// Managers review too; the last administrator is never removed.
	adminGroup := ""
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT group_id::text FROM role_groups WHERE role = 'admin'`).Scan(&adminGroup))
	rev, err = g.db.StartReview(g.ctx, g.admin, portal.NewAccessReview{Name: "Administrators", Group: "tessera-admins",
		Reviewers: portal.ReviewByManagers, Default: portal.ReviewRemove, Deadline: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.NoError(t, g.db.CompleteReview(g.ctx, g.admin, rev.ID))
	require.Equal(t, []portal.Role{portal.RoleAdmin}, g.roles(g.admin.PersonID), "the administrators' group keeps its last member")
}

// TestAccessReviewOfASet: a review of the groups of a set is one review
// whose memberships go to each group's own reviewers, with one deadline
// and one default: the groups people of the set own, or the memberships
// of the people of the set wherever they are; its page counts each
// group's progress; its repeat reads the set again.
func TestAccessReviewOfASet(t *testing.T) {
	t.Parallel()
	g := newGovernance(t)
	var others []string
	var otherAccount string
	rows, err := g.db.Pool.Query(g.ctx, `SELECT id::text FROM people WHERE id <> ALL ($1::uuid[]) AND account_name NOT IN ('ada', 'zoe')
		ORDER BY id LIMIT 2`, []string{g.admin.PersonID, g.zoe.PersonID})
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		others = append(others, id)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT account_name FROM people WHERE id = $1`, others[0]).Scan(&otherAccount))
	group := func(name string, owner string, members ...string) string {
		req := g.submit(g.admin, portal.NewRequest{Operation: portal.OpCreateGroup, Changes: portal.GroupSpec{Name: name,
			DisplayName: name, Type: portal.GroupSecurity, JoinPolicy: portal.JoinClosed, Owners: []string{owner}}.Changes()})
		id := groupOf(t, g, req.ID)
		for _, p := range members {
			g.submit(g.admin, portal.NewRequest{Operation: portal.OpAddMember, GroupID: id, PersonID: p})
		}
		return id
	}
	zoeA := group("zoe-a", g.zoe.PersonID, others...)
	zoeB := group("zoe-b", g.zoe.PersonID, others[0])
	adas := group("adas", g.admin.PersonID, others[0], g.zoe.PersonID)

	owners, err := g.db.CreateSet(g.ctx, g.admin, portal.Set{Name: "Zoë", Rule: `person.accountName == "zoe"`})
	require.NoError(t, err)
	n := portal.NewAccessReview{Name: "Zoë's groups", Set: owners.ID, SetScope: portal.ReviewSetOwned, Reviewers: portal.ReviewByOwners,
		Default: portal.ReviewKeep, Deadline: time.Now().Add(72 * time.Hour), RepeatMonths: 6}

	// Only administrators, one scope, a set that exists, a scope named.
	_, err = g.db.StartReview(g.ctx, g.zoe, n)
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err))
	for _, bad := range []func(*portal.NewAccessReview){
		func(n *portal.NewAccessReview) { n.Group = "zoe-a" },
		func(n *portal.NewAccessReview) { n.Query = "zoe" },
		func(n *portal.NewAccessReview) { n.SetScope = "" },
		func(n *portal.NewAccessReview) { n.Set = "00000000-0000-0000-0000-000000000000" },
		func(n *portal.NewAccessReview) { n.Set = "not an id" },
	} {
		b := n
		bad(&b)
		_, err = g.db.StartReview(g.ctx, g.admin, b)
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%+v: %v", b, err)
	}
	nobody, err := g.db.CreateSet(g.ctx, g.admin, portal.Set{Name: "Nobody", Rule: `person.accountName == "nobody-at-all"`})
	require.NoError(t, err)
	b := n
	b.Set = nobody.ID
	_, err = g.db.StartReview(g.ctx, g.admin, b)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "Nobody in that set owns a group")

	// The groups Zoë owns, every membership of them; not Ada's group.
	rev, err := g.db.StartReview(g.ctx, g.admin, n)
	require.NoError(t, err)
	require.Equal(t, 3, rev.Items)
	require.Equal(t, owners.ID, rev.SetID)
	require.Equal(t, "Zoë", rev.SetName)
	require.Len(t, rev.Groups, 2, "each group's progress")
	for _, gr := range rev.Groups {
		require.Contains(t, []string{zoeA, zoeB}, gr.GroupID)
		require.Equal(t, 1, gr.Owners)
		require.Zero(t, gr.Decided)
	}
	g.audited("access_review_started", rev.ID)
	var audited string
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT details->>'set' FROM audit_log WHERE action = 'access_review_started'
		AND target_id = $1`, rev.ID).Scan(&audited))
	require.Equal(t, owners.ID, audited)
	// Zoë reviews them all; Ada, an administrator, sees them; the others none.
	_, items, err := g.db.FindReview(g.ctx, g.zoe, rev.ID)
	require.NoError(t, err)
	require.Len(t, items, 3)
	_, _, err = g.db.FindReview(g.ctx, portal.Viewer{PersonID: others[1]}, rev.ID)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	reminders, err := g.db.ReviewReminders(g.ctx, rev.ID)
	require.NoError(t, err)
	require.Len(t, reminders, 1, "one reminder for Zoë, however many groups")
	require.Equal(t, 3, reminders[0].Pending)

	// She removes the first other person from zoe-a; the rest keep by default.
	_, err = g.db.DecideReview(g.ctx, g.zoe, rev.ID, []portal.ReviewKey{{GroupID: zoeA, PersonID: others[0]}}, portal.ReviewRemove, "Left the project.")
	require.NoError(t, err)
	rev, _, err = g.db.FindReview(g.ctx, g.admin, rev.ID)
	require.NoError(t, err)
	for _, gr := range rev.Groups {
		if gr.GroupID == zoeA {
			require.Equal(t, 1, gr.Decided)
			require.Equal(t, 1, gr.Removed)
			require.Equal(t, 2, gr.Items)
		}
	}
	require.NoError(t, g.db.ReviewDeadline(g.ctx, rev.ID))
	var inA, inB int
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT count(*) FILTER (WHERE group_id = $1), count(*) FILTER (WHERE group_id = $2)
		FROM group_members WHERE person_id = $3`, zoeA, zoeB, others[0]).Scan(&inA, &inB))
	require.Equal(t, []int{0, 1}, []int{inA, inB}, "removed from zoe-a by request, kept in zoe-b by default")

	// The memberships of the people of a set, in whichever group: each
	// group's owner reviews their own share.
	members, err := g.db.CreateSet(g.ctx, g.admin, portal.Set{Name: "One person", Rule: `person.accountName == "` + otherAccount + `"`})
	require.NoError(t, err)
	var want int
	require.NoError(t, g.db.Pool.QueryRow(g.ctx, `SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE m.person_id = $1 AND NOT m.computed AND g.membership_rule IS NULL`, others[0]).Scan(&want))
	mrev, err := g.db.StartReview(g.ctx, g.admin, portal.NewAccessReview{Name: "One person's access", Set: members.ID,
		SetScope: portal.ReviewSetMembers, Reviewers: portal.ReviewByOwners, Default: portal.ReviewKeep, Deadline: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, want, mrev.Items)
	require.Len(t, mrev.Groups, want, "one membership a group")
	_, zoeItems, err := g.db.FindReview(g.ctx, g.zoe, mrev.ID)
	require.NoError(t, err)
	require.Len(t, zoeItems, 1, "zoe-b only")
	require.Equal(t, zoeB, zoeItems[0].GroupID)
	_, adaItems, err := g.db.FindReview(g.ctx, g.admin, mrev.ID)
	require.NoError(t, err)
	require.Contains(t, groupIDs(adaItems), adas)
	for _, it := range adaItems {
		require.Equal(t, others[0], it.PersonID, "only the set's people are reviewed")
	}

	// The repeat reads the set as it is then: Zoë's set now selects Ada
	// too, so Ada's group joins the review.
	_, err = g.db.UpdateSet(g.ctx, g.admin, portal.Set{ID: owners.ID, Name: "Zoë and Ada", Rule: `person.accountName in ["zoe", "ada"]`})
	require.NoError(t, err)
	_, err = g.db.Pool.Exec(g.ctx, `UPDATE access_reviews SET next_start_at = now() - interval '1 minute' WHERE id = $1`, rev.ID)
	require.NoError(t, err)
	started, err := g.db.StartDueReviews(g.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, started)
	list, err := g.db.ListReviews(g.ctx, g.admin)
	require.NoError(t, err)
	again := list[0]
	require.Equal(t, owners.ID, again.SetID)
	require.Equal(t, portal.ReviewSetOwned, again.SetScope)
	_, items, err = g.db.FindReview(g.ctx, g.admin, again.ID)
	require.NoError(t, err)
	ids := groupIDs(items)
	require.Contains(t, ids, adas)
	require.Contains(t, ids, zoeA)
	require.NotNil(t, again.NextStartAt, "it repeats as a whole")
}

func groupIDs(items []portal.ReviewItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.GroupID)
	}
	return out
}
