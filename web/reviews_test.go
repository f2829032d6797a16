package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestAccessReviewExport: a review's decisions download as CSV (who kept
// or removed each membership, when, why), for its administrators and
// reviewers only; a reason a spreadsheet would run as a formula stays
// text.
func TestAccessReviewExport(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	admin := tb.viewer(t, "ada")
	var group string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id
		WHERE g.membership_rule IS NULL AND NOT m.computed GROUP BY g.id ORDER BY count(*) DESC, g.name LIMIT 1`).Scan(&group))
	rev, err := tb.db.StartReview(ctx, admin, portal.NewAccessReview{Name: "Export me", Group: group, Reviewers: portal.ReviewByOwners,
		Default: portal.ReviewKeep, Deadline: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	_, items, err := tb.db.FindReview(ctx, admin, rev.ID)
	require.NoError(t, err)
	first := items[0]
	_, err = tb.db.DecideReview(ctx, admin, rev.ID, []portal.ReviewKey{{GroupID: first.GroupID, PersonID: first.PersonID}},
		portal.ReviewRemove, `=HYPERLINK("http://evil.example")`)
	require.NoError(t, err)

	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, body := ada.get("/reviews/" + rev.ID + "/export")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, rev.Items+1, "a header and every membership")
	require.Equal(t, []string{"Group", "Member", "Title", "Department", "Decision", "Decided by", "Decided at", "Reason", "Removal request"}, rows[0])
	var removed []string
	for _, row := range rows[1:] {
		if row[1] == first.PersonName {
			removed = row
		}
	}
	require.NotNil(t, removed, "%v", rows)
	require.Equal(t, "Remove", removed[4])
	require.NotEmpty(t, removed[5])
	require.NotEmpty(t, removed[6])
	require.Equal(t, `'=HYPERLINK("http://evil.example")`, removed[7], "a formula is kept as text")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	resp, _ = zoe.get("/reviews/" + rev.ID + "/export")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "not hers to review")
}
