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

// TestAccessReviewOfASetPages: Administration → Access reviews starts a
// review of the groups a set's people own (the set chosen from a list, the
// scope from two), refuses a set together with a group, keeping what was
// typed, and the review's page shows each group's progress, in German
// too; nobody else may start one.
func TestAccessReviewOfASetPages(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	admin := tb.viewer(t, "ada")
	// The owner of the most static groups with members.
	var owner string
	var groups int
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT p.account_name, count(DISTINCT o.group_id) FROM group_owners o
		JOIN people p ON p.id = o.person_id JOIN groups g ON g.id = o.group_id
		WHERE g.membership_rule IS NULL AND EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND NOT m.computed)
		GROUP BY p.id ORDER BY count(DISTINCT o.group_id) DESC, p.account_name LIMIT 1`).Scan(&owner, &groups))
	require.Greater(t, groups, 1, "the demo has an owner of several groups")
	set, err := tb.db.CreateSet(ctx, admin, portal.Set{Name: "Owners under review", Rule: `person.accountName == "` + owner + `"`})
	require.NoError(t, err)

	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, page := ada.get("/admin/reviews")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `<option value="`+set.ID+`">Owners under review</option>`)
	require.Contains(t, page, `name="set_scope" value="owned" checked`)
	deadline := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	resp, page = ada.post("/admin/reviews", ada.form("name", "Owned groups", "group", "some-group", "review_set", set.ID,
		"set_scope", "owned", "reviewers", "owners", "decision", "keep", "until", deadline))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "or the groups of a set: only one of them")
	require.Contains(t, page, `value="Owned groups"`, "what was typed stays")
	require.Contains(t, page, `<option value="`+set.ID+`" selected>`)
	resp, page = ada.post("/admin/reviews", ada.form("name", "Owned groups", "review_set", set.ID, "set_scope", "everything",
		"reviewers", "owners", "decision", "keep", "until", deadline))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "Choose which groups of the set to review")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	resp, _ = zoe.post("/admin/reviews", zoe.form("name", "Mine", "review_set", set.ID, "set_scope", "owned", "reviewers", "owners",
		"decision", "keep", "until", deadline))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = ada.post("/admin/reviews", ada.form("name", "Owned groups", "review_set", set.ID, "set_scope", "owned",
		"reviewers", "owners", "decision", "keep", "until", deadline))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/reviews/"), loc)
	_, page = ada.get(loc)
	require.Contains(t, page, "every group owned by someone in the set “Owners under review”")
	require.Contains(t, page, `data-testid="review-groups"`)
	require.Equal(t, groups, strings.Count(page, `data-testid="review-group"`), "a row for each of the owner's groups")
	require.Contains(t, page, "1 owner")

	resp, _ = ada.post("/settings/language", ada.form("language", "de"))
	require.Less(t, resp.StatusCode, 400)
	_, page = ada.get(loc)
	require.Contains(t, page, "Fortschritt je Gruppe")
	require.Contains(t, page, "jede Gruppe, die jemand in der Menge „Owners under review“ besitzt")
	_, page = ada.get("/admin/reviews")
	require.Contains(t, page, "Jede Gruppenmitgliedschaft der Personen in der Menge")
}
