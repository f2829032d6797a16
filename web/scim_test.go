package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bulkUser is one SCIM operation, as Entra's documentation writes them.
func bulkUser(bulkID, externalID, given, family, dept, manager string) string {
	return fmt.Sprintf(`{"method":"POST","bulkId":%q,"path":"/Users","data":{
		"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId":%q,"userName":"%s@tessera.test","active":true,"name":{"givenName":%q,"familyName":%q},
		"displayName":"%s %s","title":"Analyst","emails":[{"value":"%s@tessera.test","type":"work","primary":true}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":%q,"department":%q,"manager":{"value":%q}}}}`,
		bulkID, externalID, externalID, given, family, given, family, externalID, externalID, dept, manager)
}

func bulkRequest(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[` + strings.Join(ops, ",") + `],"failOnErrors":null}`
}

// scimCall sends a request to the SCIM endpoint with a plain HTTP client,
// as an HR system or a script would.
func scimCall(t *testing.T, method, u, token, contentType, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	return resp, out
}

var tokenRE = regexp.MustCompile(`tessera_scim_[A-Za-z0-9_-]+`)

// The SCIM bulk endpoint takes Entra's API-driven inbound provisioning
// requests: 202 with the upload's status, processed by River, refused
// operations with their reasons; a bad or revoked token is 401, a wrong
// content type 400.
func TestSCIMBulkUpload(t *testing.T) {
	t.Parallel()
	tb, pool := setupHR(t)
	ctx := context.Background()
	var known string
	require.NoError(t, pool.QueryRow(ctx, "SELECT employee_id FROM people WHERE employee_id IS NOT NULL LIMIT 1").Scan(&known))

	c := tb.client(t)
	c.mustSignIn("ada")
	resp, _ := c.post("/admin/hr", c.form("name", "Workday", "folder", ""))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	source := regexp.MustCompile(`\?.*`).ReplaceAllString(resp.Header.Get("Location"), "")
	resp, body := c.post(source+"/tokens", c.form("name", "Workday export"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	token := tokenRE.FindString(body)
	require.NotEmpty(t, token, "the new token is shown once")
	var stored int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM scim_tokens WHERE position($1::bytea IN token_hash) > 0", []byte(token)).Scan(&stored))
	require.Zero(t, stored, "only the token's hash is kept")
	_, body = c.get(source)
	require.NotContains(t, body, token, "and never again")

	endpoint := tb.srv.URL + "/scim/v2/bulkUpload"
	const scimJSON = "application/scim+json"
	// The manager is a person the portal has already: their row joins
	// them (on the employee ID), and the new joiner refers to them.
	req := bulkRequest(
		bulkUser("b1", "SCIM-1", "Ines", "Mota", "Finance", known),
		bulkUser("b2", "", "No", "Id", "Finance", ""),
		strings.Replace(bulkUser("b3", "SCIM-3", "Pat", "Ch", "IT", ""), `"method":"POST"`, `"method":"PATCH"`, 1),
		bulkUser("b4", known, "Mara", "Manager", "Finance", ""),
	)
	resp, out := scimCall(t, "POST", endpoint, token, scimJSON, req)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, out)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "http://tessera.test", loc.Scheme+"://"+loc.Host, "the Location is on the portal's public URL")
	status := tb.srv.URL + loc.Path
	require.Equal(t, float64(2), out["joiners"], "new to HR: Ines, and the manager the portal had")
	require.Equal(t, []any{
		map[string]any{"operation": float64(2), "reason": "it has no externalId (the employee ID)", "status": "400", "scimType": "invalidValue"},
		map[string]any{"operation": float64(3), "reason": "only POST operations on /Users are taken, not PATCH /Users", "status": "400", "scimType": "invalidValue"},
	}, out["refused"])

	// River's worker applies it.
	for deadline := time.Now().Add(30 * time.Second); out["status"] != "applied"; {
		require.True(t, time.Now().Before(deadline), "the upload is still %v", out["status"])
		time.Sleep(100 * time.Millisecond)
		resp, out = scimCall(t, "GET", status, token, "", "")
		require.Equal(t, http.StatusOK, resp.StatusCode, out)
	}
	var name, manager string
	require.NoError(t, pool.QueryRow(ctx, `SELECT p.display_name, m.employee_id FROM people p JOIN people m ON m.id = p.manager_id
		WHERE p.employee_id = 'SCIM-1'`).Scan(&name, &manager))
	require.Equal(t, "Ines Mota", name)
	require.Equal(t, known, manager, "manager.value is the manager's externalId")

	resp, out = scimCall(t, "POST", endpoint, "tessera_scim_not-a-token", scimJSON, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "401", out["status"])
	require.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	resp, _ = scimCall(t, "POST", endpoint, "", scimJSON, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, out = scimCall(t, "POST", endpoint, token, "application/json", req)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, out["detail"], "application/scim+json")
	many := make([]string, 51)
	for i := range many {
		many[i] = bulkUser(fmt.Sprint(i), fmt.Sprintf("MANY-%d", i), "A", "B", "IT", "")
	}
	resp, out = scimCall(t, "POST", endpoint, token, scimJSON, bulkRequest(many...))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "RFC 7644 §3.7.3: more than maxOperations")
	require.Equal(t, "413", out["status"])
	require.Contains(t, out["detail"], "at most 50")
	resp, out = scimCall(t, "POST", endpoint, token, scimJSON, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":{}}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "invalidSyntax", out["scimType"])
	require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, out["schemas"])

	// Revoked: refused at once.
	var tokenID string
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM scim_tokens").Scan(&tokenID))
	resp, _ = c.post(source+"/tokens/"+tokenID+"/revoke", c.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = scimCall(t, "GET", status, token, "", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
