package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTimeZoneAndOrgChart: a person's first page asks their browser for its
// time zone, which is stored once and never over a chosen one; every time is
// then shown in it. The org chart opens at the viewer, between their
// managers, their peers and their reports, and finds anyone by search.
func TestTimeZoneAndOrgChart(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoeID := tb.org.Accounts[0].PersonID
	mateoID := tb.org.Accounts[1].PersonID

	t.Run("time zone", func(t *testing.T) {
		zoe := tb.client(t)
		zoe.mustSignIn("zoe")
		_, home := zoe.get("/")
		require.Contains(t, home, "data-learn-time-zone", "no zone yet: the page asks the browser for it")
		resp, _ := zoe.post("/groups/"+tb.groupID(t, "VPN users")+"/request", url.Values{"csrf": {zoe.csrf}, "justification": {"travel"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)

		learn := func(zone string) *http.Response {
			resp, _ := zoe.post("/settings/time-zone", url.Values{"time_zone": {zone}, "learned": {"1"}}, "X-CSRF-Token", zoe.csrf)
			return resp
		}
		resp, _ = zoe.post("/settings/time-zone", url.Values{"time_zone": {"Asia/Tokyo"}, "learned": {"1"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "without the CSRF token nothing is stored")
		require.Equal(t, http.StatusNoContent, learn("Asia/Tokyo").StatusCode)
		_, home = zoe.get("/")
		require.NotContains(t, home, "data-learn-time-zone")
		_, form := zoe.get("/settings/time-zone")
		require.Contains(t, form, `value="Asia/Tokyo"`)

		// Her requests' times are in Tokyo's zone, with how long ago, and the
		// instant in datetime.
		_, reqs := zoe.get("/requests")
		require.Regexp(t, `<time datetime="[0-9T:-]+Z" title="([0-9]{1,2} [A-Z][a-z]{2} [0-9]{4}, [0-9]{2}:[0-9]{2} JST)">[^<]+ JST</time>\s*<span class="muted">\((just now|[0-9]+ (minute|hour)s? ago)\)</span>`, reqs)

		// A zone she chose is not replaced by what a browser reports.
		resp, _ = zoe.post("/settings/time-zone", url.Values{"csrf": {zoe.csrf}, "time_zone": {"Europe/Berlin"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, http.StatusNoContent, learn("America/Chicago").StatusCode)
		_, form = zoe.get("/settings/time-zone?saved=1")
		require.Contains(t, form, `value="Europe/Berlin"`)
		require.Contains(t, form, `data-testid="notice"`)
		_, reqs = zoe.get("/requests")
		require.Regexp(t, ` (CET|CEST)">`, reqs)
		_, profile := zoe.get("/people/" + zoeID)
		require.Contains(t, profile, "Time zone: Europe/Berlin")

		resp, body := zoe.post("/settings/time-zone", url.Values{"csrf": {zoe.csrf}, "time_zone": {"Mars/Olympus_Mons"}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "is not a time zone")
		require.Equal(t, http.StatusBadRequest, learn("Local").StatusCode, "the server's own zone is no one's")

		// Someone whose browser has not told us yet reads UTC.
		mateo := tb.client(t)
		mateo.mustSignIn("mateo")
		approvals := mateo.waitFor("/approvals", "Join VPN users")
		require.Regexp(t, ` UTC">`, approvals)
	})

	t.Run("org chart", func(t *testing.T) {
		zoe := tb.client(t)
		zoe.mustSignIn("zoe")
		resp, chart := zoe.get("/org")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, chart, `data-testid="org-person">Zoë D&#39;Angelo-Łukasiewicz<`, "the chart opens at the viewer")
		up := between(t, chart, `data-testid="org-up"`, `</ol>`)
		require.Contains(t, up, "/org/"+tb.org.People[0].ID, "the chain starts at the top")
		require.Less(t, strings.Index(up, "/org/"+tb.org.People[0].ID), strings.Index(up, "/org/"+mateoID), "top first, her manager last")
		peers := between(t, chart, `data-testid="org-peers"`, `</ul>`)
		require.Contains(t, peers, `data-testid="org-person"`)
		require.NotEmpty(t, regexp.MustCompile(`href="/org/[0-9a-f-]{36}"`).FindAllString(peers, -1), "her peers beside her")

		// Her manager's chart: his reports below him, her among them.
		_, chart = zoe.get("/org/" + mateoID)
		down := between(t, chart, `data-testid="org-down"`, `</details>`)
		require.Contains(t, down, "/org/"+zoeID)

		// The top of the organisation: everyone below, folded in levels.
		_, chart = zoe.get("/org/" + tb.org.People[0].ID)
		require.Contains(t, chart, `<details class="org-below" open>`, "the person's own reports are open")
		require.Contains(t, chart, `<details class="org-below">`, "the levels below are folded")
		require.Equal(t, len(tb.org.People)-1, strings.Count(chart, `<div class="org-box">`), "all 199 below the top in one chart")

		// Search, and the way from a profile.
		_, chart = zoe.get("/org?q=" + url.QueryEscape("zoe d'angelo"))
		require.Contains(t, between(t, chart, `data-testid="org-search-results"`, `</ul>`), `href="/org/`+zoeID+`"`)
		_, profile := zoe.get("/people/" + mateoID)
		require.Contains(t, profile, `href="/org/`+mateoID+`"`)
	})
}

// between returns the text of s after the first from and before the next to.
func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	require.GreaterOrEqual(t, i, 0, "no %s", from)
	j := strings.Index(s[i:], to)
	require.GreaterOrEqual(t, j, 0, "no %s after %s", to, from)
	return s[i : i+j]
}
