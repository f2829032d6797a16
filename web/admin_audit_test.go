package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.Contains(t, cells, `"person": "`+zoe.DisplayName+`"`)
	uuid := regexp.MustCompile(`>[^<]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^<]*<`)
	for _, row := range rows {
		require.NotRegexp(t, uuid, row[2], "no ID is shown as text")
	}

	_, body = c.get("/admin/audit?action=seed")
	rows = auditRowRE.FindAllStringSubmatch(body, -1)
	require.Len(t, rows, 1)
	require.Contains(t, rows[0][2], "<td>Tessera</td>")
	require.Contains(t, rows[0][2], "<bdi>organisation</bdi>")
}
