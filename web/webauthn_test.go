package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestPasskeyRefusals: the ceremonies' options are what a passkey needs,
// and what is not a real answer to a ceremony of this person is refused
// and audited. TestBrowserPasskey (e2e) registers and uses a real one.
func TestPasskeyRefusals(t *testing.T) {
	t.Parallel()
	tb := setup(t, withMethods(t))
	ctx := context.Background()

	begin := func(c *client, path string) (int, map[string]any) {
		t.Helper()
		resp, body := c.post(path, url.Values{}, "X-CSRF-Token", c.csrf)
		var out map[string]any
		if resp.StatusCode == http.StatusOK {
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.NoError(t, json.Unmarshal([]byte(body), &out))
		}
		return resp.StatusCode, out
	}

	anon := tb.client(t)
	_, page := anon.get("/signin")
	require.Contains(t, page, `data-testid="passkey-signin"`)
	status, out := begin(anon, "/signin/passkey/begin")
	require.Equal(t, http.StatusOK, status)
	options := out["options"].(map[string]any)
	require.Equal(t, "tessera.test", options["rpId"])
	require.Equal(t, "required", options["userVerification"])
	require.NotEmpty(t, options["challenge"])
	require.NotContains(t, options, "allowCredentials", "any passkey of this site: the browser lists them")
	ceremony := out["ceremony"].(string)

	resp, _ := anon.post("/signin/passkey/begin", url.Values{})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "no CSRF token: back to a fresh sign-in form")

	resp, body := anon.post("/signin/passkey", url.Values{"csrf": {anon.csrf}, "ceremony": {ceremony}, "credential": {`{"id":"x"}`}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "The passkey could not be verified")
	resp, _ = anon.post("/signin/passkey", url.Values{"csrf": {anon.csrf}, "ceremony": {ceremony}, "credential": {`{"id":"x"}`}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a ceremony works once")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	status, out = begin(zoe, "/settings/security/passkey/begin")
	require.Equal(t, http.StatusOK, status)
	options = out["options"].(map[string]any)
	user := options["user"].(map[string]any)
	require.NotEqual(t, tb.viewer(t, "zoe").PersonID, user["id"], "the user handle is random, not the person's ID")
	selection := options["authenticatorSelection"].(map[string]any)
	require.Equal(t, "required", selection["residentKey"])
	require.Equal(t, "required", selection["userVerification"])

	mateo := tb.client(t)
	mateo.mustSignIn("mateo")
	resp, body = mateo.post("/settings/security/passkey", url.Values{"csrf": {mateo.csrf}, "ceremony": {out["ceremony"].(string)},
		"credential": {`{}`}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "zoe's ceremony is not mateo's")
	require.Contains(t, body, "belongs to someone else")

	status, out = begin(zoe, "/settings/security/passkey/begin")
	require.Equal(t, http.StatusOK, status)
	resp, body = zoe.post("/settings/security/passkey", url.Values{"csrf": {zoe.csrf}, "ceremony": {out["ceremony"].(string)},
		"credential": {`not json`}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "could not be read")

	var failures int
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'method_check'
		AND details->>'kind' = 'passkey' AND details->>'result' = 'failure'`).Scan(&failures))
	require.Equal(t, 4, failures, "every refusal is audited")
	var leaked int
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%'`,
		strings.TrimRight(ceremony, "=")).Scan(&leaked))
	require.Zero(t, leaked, "ceremony tokens are not audited")

	// Failed passkey sign-ins spend the client address's budget of their
	// own: past it, even a ceremony is not looked at.
	for range portal.PasskeyBudget.Burst - 2 {
		resp, _ := anon.post("/signin/passkey", url.Values{"csrf": {anon.csrf}, "ceremony": {"forged"}, "credential": {`{}`}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, body = anon.post("/signin/passkey", url.Values{"csrf": {anon.csrf}, "ceremony": {"forged"}, "credential": {`{}`}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Contains(t, body, "Too many passkey answers failed")
	status, _ = begin(zoe, "/settings/security/passkey/begin")
	require.Equal(t, http.StatusOK, status, "a person's own budget is not the address's")
}
