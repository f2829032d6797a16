package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// footprint counts what a state-changing request leaves behind: entries
// people caused in the audit log, requests, sessions and memberships. The
// workers' own entries (no actor) are left out, so that a timer firing
// meanwhile does not look like an attack that got through.
func (tb *testBundle) footprint(t *testing.T) [4]int {
	t.Helper()
	return [4]int{
		tb.count(t, "SELECT count(*) FROM audit_log WHERE actor_id IS NOT NULL"),
		tb.count(t, "SELECT count(*) FROM requests"),
		tb.count(t, "SELECT count(*) FROM sessions"),
		tb.count(t, "SELECT count(*) FROM group_members"),
	}
}

// isPublic reports whether a route serves people who are not signed in:
// signing in and resetting a password (the second factor's pages come
// after a password, behind the sign-in check).
func isPublic(pattern string) bool {
	return (strings.HasPrefix(pattern, "/signin") && !strings.HasPrefix(pattern, "/signin/verify")) ||
		strings.HasPrefix(pattern, "/password/reset") || pattern == "/signout"
}

// TestEveryStateChangeNeedsCSRF walks every route of the router that is not
// a GET, signed in as the administrator (whom every route lets in) and not
// signed in, and sends each without the form's token, with a forged one,
// with a forged htmx header, and with the right token from another site:
// each is refused before any handler runs, and nothing changes. A route
// added later outside the CSRF middleware fails here. SCIM, the one API
// with no session, takes only its bearer token: a browser's cookies are no
// credential there.
func TestEveryStateChangeNeedsCSRF(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	sys := mustCreateUnreachableSystem(t, tb, systems)
	anon := tb.client(t)
	anon.get("/signin")
	ada := tb.client(t)
	ada.mustSignIn("ada")
	before := tb.footprint(t)

	var posts int
	for _, rt := range allRoutes(t, tb) {
		if rt.method == http.MethodGet || strings.HasPrefix(rt.pattern, "/scim/") {
			continue
		}
		posts++
		path := fillRoute(tb, rt.pattern, sys.ID)
		for who, c := range map[string]*client{"anonymous": anon, "ada": ada} {
			what := who + " " + rt.method + " " + path
			// Values a handler would act on, were it reached.
			form := func(csrf string) url.Values {
				v := url.Values{"name": {"Forged"}, "decision": {"approve"}, "account": {"ada"}, "reason": {"forged"},
					"justification": {"forged"}, "action": {"remove"}, "member": {"ada"}, "owner": {"ada"}}
				if csrf != "" {
					v.Set("csrf", csrf)
				}
				return v
			}
			refused := func(resp *http.Response, body, how string) {
				t.Helper()
				if strings.HasPrefix(path, "/signin") || path == "/signout" {
					// A stale sign-in or sign-out form starts again cleanly.
					require.Equal(t, http.StatusSeeOther, resp.StatusCode, "%s %s", what, how)
					require.Equal(t, "/signin", resp.Header.Get("Location"), "%s %s", what, how)
					return
				}
				require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s %s", what, how)
				require.Contains(t, body, "This form has expired", "%s %s", what, how)
			}
			resp, body := c.post(path, form(""))
			refused(resp, body, "without a token")
			resp, body = c.post(path, form("forged-"+c.csrf[:8]))
			refused(resp, body, "with a forged token")
			resp, body = c.post(path, form(""), "HX-Request", "true", "X-CSRF-Token", "forged")
			refused(resp, body, "with a forged htmx header")
			resp, body = c.post(path, form(c.csrf), "Sec-Fetch-Site", "cross-site")
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s from another site", what)
			require.Contains(t, body, "came from another site", "%s from another site", what)
		}
	}
	require.Greater(t, posts, 60, "every form")
	require.Equal(t, before, tb.footprint(t), "a refused request changed something")

	resp, _ := ada.post("/scim/v2/bulkUpload", url.Values{"csrf": {ada.csrf}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "SCIM takes no session")
	resp, _ = ada.get("/scim/v2/bulkUpload/1")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "SCIM takes no session")
}

// TestEveryActionIsAuthorised walks the router as each role the server
// must refuse: someone not signed in reaches no page but signing in and
// the password reset (every other route, GET or POST, sends them to sign
// in), and the helpdesk, the end user and the manager reach no
// administration page or action (403, checked on the server, whatever the
// menu shows). Then the actions on other people's things a person could
// try by guessing IDs: deciding an approval that is not theirs, cancelling
// someone else's request, the helpdesk's account panel. Nothing changes.
func TestEveryActionIsAuthorised(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	sys := mustCreateUnreachableSystem(t, tb, systems)
	routes := allRoutes(t, tb)
	clients := map[string]*client{}
	for _, role := range []string{"zoe", "mateo", "siobhan"} {
		clients[role] = tb.client(t)
		clients[role].mustSignIn(role)
	}
	anon := tb.client(t)
	anon.get("/signin")

	// Zoë asks to join Mateo's group: an approval only Mateo may decide.
	vpn := tb.groupID(t, "VPN users")
	zoe, siobhan := clients["zoe"], clients["siobhan"]
	resp, _ := zoe.post("/groups/"+vpn+"/request", url.Values{"csrf": {zoe.csrf}, "justification": {"Travelling"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	request := strings.TrimPrefix(strings.Split(resp.Header.Get("Location"), "?")[0], "/requests/")
	var approval string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT id::text FROM approvals WHERE request_id = $1",
		request).Scan(&approval))
	var adaID string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT id::text FROM people WHERE account_name = 'ada'").Scan(&adaID))
	before := tb.footprint(t)

	var admin int
	for _, rt := range routes {
		if strings.HasPrefix(rt.pattern, "/scim/") {
			continue
		}
		path := fillRoute(tb, rt.pattern, sys.ID)
		send := func(c *client) (*http.Response, string) {
			t.Helper()
			if rt.method == http.MethodGet {
				return c.get(path)
			}
			return c.post(path, c.form("name", "Taken over", "decision", "approve", "member", "zoe", "owner", "zoe",
				"action", "reset", "rule", "person.enabled", "justification", "mine now"))
		}
		if !isPublic(rt.pattern) {
			resp, _ := send(anon)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, "anonymous %s %s", rt.method, path)
			require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/signin"), "anonymous %s %s: %s",
				rt.method, path, resp.Header.Get("Location"))
		}
		if !strings.HasPrefix(rt.pattern, "/admin") {
			continue
		}
		admin++
		// The helpdesk, whose privileges come nearest, on every route; the
		// end user and the manager in turn (one middleware guards them
		// all: the walk looks for a route outside it).
		for _, role := range []string{"siobhan", []string{"zoe", "mateo"}[admin%2]} {
			c := clients[role]
			resp, body := send(c)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s %s %s", role, rt.method, path)
			require.Contains(t, body, "Only administrators can open the administration pages.", "%s %s %s", role, rt.method, path)
		}
	}
	require.Greater(t, admin, 60, "every administration page and action")

	// Guessed IDs: another's approval, another's request, the helpdesk's
	// panel. Each is refused by the service or the handler, not the menu.
	for _, c := range []struct {
		who, method, path string
		form              []string
	}{
		{"zoe", http.MethodPost, "/approvals/" + approval, []string{"decision", "approve", "reason", "my own"}},
		{"siobhan", http.MethodPost, "/approvals/" + approval, []string{"decision", "approve", "reason", "helpdesk"}},
		{"siobhan", http.MethodPost, "/approvals/" + approval, []string{"decision", "reject", "reason", "helpdesk"}},
		{"siobhan", http.MethodPost, "/requests/" + request + "/cancel", []string{"reason", "not mine"}},
		{"mateo", http.MethodPost, "/requests/" + request + "/cancel", []string{"reason", "the approver is not the requester"}},
		{"zoe", http.MethodGet, "/people/" + tb.org.Accounts[1].PersonID + "/account", nil},
		{"zoe", http.MethodPost, "/people/" + tb.org.Accounts[1].PersonID + "/account", []string{"action", "unlock", "system", sys.ID}},
		{"mateo", http.MethodPost, "/people/" + tb.org.Accounts[0].PersonID + "/account", []string{"action", "reset", "system", sys.ID}},
		{"siobhan", http.MethodPost, "/people/" + adaID + "/account", []string{"action", "reset", "reason", "the helpdesk acts on staff", "system", sys.ID}},
	} {
		cl := clients[c.who]
		var resp *http.Response
		if c.method == http.MethodGet {
			resp, _ = cl.get(c.path)
		} else {
			resp, _ = cl.post(c.path, cl.form(c.form...))
		}
		require.Contains(t, []int{http.StatusForbidden, http.StatusNotFound}, resp.StatusCode, "%s %s %s %v", c.who, c.method, c.path, c.form)
	}
	// "Approve selected" with another's approval decides nothing.
	resp, _ = siobhan.post("/approvals", siobhan.form("decision", "approve", "id", approval, "reason", "all of them"))
	require.Less(t, resp.StatusCode, 500)
	var status string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT status FROM approvals WHERE id = $1", approval).Scan(&status))
	require.Equal(t, "pending", status, "the approval is still Mateo's to decide")
	require.Equal(t, before, tb.footprint(t), "a refused action changed something")
}
