package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestListChangeShowsBeforeAndAfter: a change of a multi-valued attribute
// shows the list it had and the list asked for, the values taken out and
// added marked: to the approver while it waits, on the request page while
// it waits and after it was applied (from what the commit replaced, not
// from the person's values, which are the new ones by then).
func TestListChangeShowsBeforeAndAfter(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, _ := ada.post("/admin/schema", ada.form("name", "languages", "label", "Languages", "attr_type", "strings", "max_len", "30",
		"visibility", "everyone", "editable", "on"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	zoeID := tb.viewer(t, "zoe").PersonID
	_, err := tb.db.Pool.Exec(ctx, `UPDATE people SET extra = extra || jsonb_build_object('languages', E'Irish\nPortuguese') WHERE id = $1`, zoeID)
	require.NoError(t, err)
	_, err = tb.db.CreatePolicy(ctx, tb.viewer(t, "ada"), portal.Policy{Name: "Own languages, manager approves", Enabled: true,
		Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf, Attributes: []string{"languages"},
		WorkflowID: tb.workflowID(t, "Manager approves")})
	require.NoError(t, err)

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	resp, body := zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "extra-languages": {"Portuguese", "Basque"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Languages: sent for approval")
	var reqID, approvalID, approver string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT r.id::text, a.id::text, p.account_name FROM requests r
		JOIN approvals a ON a.request_id = r.id JOIN approvers ap ON ap.approval_id = a.id JOIN people p ON p.id = ap.person_id
		WHERE r.person_id = $1 AND r.changes ? 'languages' LIMIT 1`, zoeID).Scan(&reqID, &approvalID, &approver))
	lists := func(body string) {
		t.Helper()
		require.Contains(t, body, `<li data-testid="value-removed"><del>Irish</del></li><li>Portuguese</li>`, "before: Irish taken out")
		require.Contains(t, body, `<li>Portuguese</li><li data-testid="value-added"><ins>Basque</ins></li>`, "after: Basque added")
	}
	_, body = zoe.get("/requests/" + reqID)
	lists(body)
	m := tb.client(t)
	m.mustSignIn(approver)
	_, body = m.get("/approvals/" + approvalID)
	lists(body)

	resp, _ = m.post("/approvals/"+approvalID, m.form("decision", "approve"))
	require.Less(t, resp.StatusCode, 400)
	var languages string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT extra->>'languages' FROM people WHERE id = $1`, zoeID).Scan(&languages))
	require.Equal(t, "Portuguese\nBasque", languages, "applied")
	_, body = zoe.get("/requests/" + reqID)
	lists(body)
}
