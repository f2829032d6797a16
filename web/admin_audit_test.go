package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

var auditRowRE = regexp.MustCompile(`(?s)<tr data-testid="audit-entry" data-action="([a-z_]+)">(.*?)</tr>`)

// TestAdminAuditShowsNames: the audit page names who acted and what they
// acted on, never an ID, and shows what Tessera did on its own as
// "Tessera".
func TestAdminAuditShowsNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	require.NoError(t, tb.db.SubmitDemoRequests(ctx, tb.org))
	c := tb.client(t)
	c.mustSignIn("ada")

	resp, body := c.get("/admin/audit?action=request_submitted")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rows := auditRowRE.FindAllStringSubmatch(body, -1)
	require.NotEmpty(t, rows)
	zoe := tb.org.People[len(tb.org.People)-1]
	cells := html.UnescapeString(rows[0][2])
	require.Contains(t, cells, zoe.DisplayName+" (")
	require.Contains(t, cells, "request “Change "+zoe.DisplayName+"'s profile”")
	require.Contains(t, cells, `<dt>Person</dt><dd><bdi>`+zoe.DisplayName+`</bdi>`)
	require.Contains(t, cells, `<td>Request submitted</td>`)
	uuid := regexp.MustCompile(`>[^<]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^<]*<`)
	for _, row := range rows {
		require.NotRegexp(t, uuid, row[2], "no ID is shown as text")
	}

	_, body = c.get("/admin/audit?action=seed")
	rows = auditRowRE.FindAllStringSubmatch(body, -1)
	require.Len(t, rows, 1)
	require.Contains(t, rows[0][2], "<td>Tessera</td>")
	require.Contains(t, rows[0][2], "<bdi>organisation</bdi>")

	// In German: the action's name, each detail's name, a rejection's
	// reason from its stored format, and the codes and reasons Tessera
	// writes in English (a failed code check) in words; the chain still
	// verifies.
	mateo := tb.viewer(t, "mateo")
	mateo.DisplayName = "Mateo"
	page, err := tb.db.MyApprovals(ctx, mateo, portal.ApprovalFilter{})
	require.NoError(t, err)
	require.NotEmpty(t, page.Items)
	require.NoError(t, tb.db.Decide(ctx, mateo, page.Items[0].ApprovalID, false, "not this quarter"))
	_, err = tb.db.Pool.Exec(ctx, `SELECT audit_append($1::uuid, 'code_check', 'person', $1::text,
		'{"purpose": "reset", "result": "failure", "reason": "wrong code"}')`, zoe.ID)
	require.NoError(t, err)
	resp, _ = c.post("/settings/language", c.form("language", "de"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/admin/audit?action=request_denied")
	rows = auditRowRE.FindAllStringSubmatch(body, -1)
	require.Len(t, rows, 1)
	cells = html.UnescapeString(rows[0][2])
	require.Contains(t, cells, "<td>Antrag abgelehnt</td>")
	require.Contains(t, cells, "<dt>Grund</dt><dd><bdi>not this quarter</bdi>")
	require.Contains(t, cells, "<dt>Detail</dt><dd>Abgelehnt von Mateo: not this quarter</dd>", "the stored text, not its English twin")
	require.NotContains(t, cells, "Rejected by")
	_, body = c.get("/admin/audit?action=code_check")
	cells = html.UnescapeString(body)
	require.Contains(t, cells, "<td>Einmalcode geprüft</td>")
	require.Contains(t, cells, "<dt>Ergebnis</dt><dd><bdi>fehlgeschlagen</bdi>")
	require.Contains(t, cells, "<bdi>falscher Code</bdi>")
	require.Contains(t, cells, `<option value="code_check" selected>Einmalcode geprüft</option>`, "the filter names actions in German")
	report, err := tb.db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, report.Intact(), report.String())
}
