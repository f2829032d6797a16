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
