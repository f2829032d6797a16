package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func (tb *testBundle) groupID(t *testing.T, name string) string {
	for _, g := range tb.org.Groups {
		if g.DisplayName == name {
			return g.ID
		}
	}
	t.Fatalf("no group %s", name)
	return ""
}

var approvalLinkRE = regexp.MustCompile(`href="/approvals/([0-9a-f-]{36})"`)

// waitFor polls path until its body contains want.
func (c *client) waitFor(path, want string) string {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := c.get(path)
		if strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s never showed %q; last body:\n%s", path, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJoinApproveJourney(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoe, mateo := tb.client(t), tb.client(t)
	zoe.mustSignIn("zoe")
	mateo.mustSignIn("mateo")
	vpn := tb.groupID(t, "VPN users")

	_, body := zoe.get("/groups/" + vpn)
	require.Contains(t, body, `data-testid="request-join"`)
	require.NotContains(t, body, `data-testid="join"`)

	resp, body := zoe.post("/groups/"+vpn+"/request", url.Values{"csrf": {zoe.csrf}, "justification": {""}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Say why you need to join")

	resp, _ = zoe.post("/groups/"+vpn+"/request", url.Values{"csrf": {zoe.csrf}, "justification": {"Working from Montréal <b>next week</b>"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	reqPath := strings.Split(resp.Header.Get("Location"), "?")[0]
	require.True(t, strings.HasPrefix(reqPath, "/requests/"))
	_, body = zoe.get(resp.Header.Get("Location"))
	require.Contains(t, body, "Waiting for approval")
	require.Contains(t, body, "Working from Montréal &lt;b&gt;next week&lt;/b&gt;")
	_, body = zoe.get("/groups/" + vpn)
	require.Contains(t, body, `data-testid="pending"`)

	// While it waits, the request page asks for its live region every
	// second; htmx gets the region alone, with the progress line.
	_, body = zoe.get(reqPath)
	require.Contains(t, body, `hx-trigger="every 1s"`)
	resp, body = zoe.get(reqPath, "HX-Request", "true", "HX-Target", "results")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(body, `<div id="results" data-testid="request-live" hx-get="`+reqPath+`" hx-trigger="every 1s"`), body)
	require.NotContains(t, body, "<html")
	require.Contains(t, body, `data-testid="progress"`)
	_, body = zoe.get("/requests", "HX-Request", "true", "HX-Target", "results")
	require.Contains(t, body, `data-testid="requests-live" hx-get="/requests" hx-trigger="every 1s"`)

	body = mateo.waitFor("/approvals", "Join VPN users")
	require.Contains(t, body, `data-testid="approval-count"`)
	// A form's POST reads the session without counting them (its answer
	// is a redirect); the page it shows for a mistake counts them then.
	resp, shown := mateo.post("/groups/"+vpn+"/request", url.Values{"csrf": {mateo.csrf}, "justification": {""}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, shown, `data-testid="approval-count"`)
	require.Regexp(t, `data-testid="approvals-total"><strong>\d+ requests?</strong>`, body)
	require.Contains(t, body, `data-testid="asked-on"`)
	m := approvalLinkRE.FindStringSubmatch(body)
	require.NotNil(t, m)
	// The approval shows its context: who asked (linked), the group with
	// its description, member count and owners, the policy, when it was
	// asked and when it is due, and who must still decide.
	_, body = mateo.get("/approvals/" + m[1] + "?decision=approve")
	require.Contains(t, body, `data-testid="approve"`, "a GET decides nothing, whatever its query")
	require.Regexp(t, `data-testid="requester"><a href="/people/[0-9a-f-]{36}">Zoë`, body)
	require.Contains(t, body, `data-testid="group"><a href="/groups/`+vpn+`">VPN users</a>`)
	require.Contains(t, body, "Remote access to the corporate network.")
	require.Regexp(t, `data-testid="member-count">\d+ members<`, body)
	require.Regexp(t, `data-testid="group-owners">\s*<a href="/people/[0-9a-f-]{36}">Mateo`, body)
	require.Contains(t, body, `data-testid="policy">Request to join owner-approval groups<`, "not linked for a non-administrator")
	require.Contains(t, body, `data-testid="asked"><time datetime=`)
	require.Regexp(t, `data-testid="due-in">\(due in \d+ days\)`, body)
	require.Contains(t, body, `data-testid="approvals-needed">0 of 1 needed`)
	require.Contains(t, body, "waiting for Mateo García Núñez")
	resp, body = mateo.post("/approvals/"+m[1], url.Values{"csrf": {mateo.csrf}, "decision": {"reject"}, "reason": {""}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Say why you reject")
	resp, _ = mateo.post("/approvals/"+m[1], url.Values{"csrf": {mateo.csrf}, "decision": {"approve"}, "reason": {"enjoy"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	body = zoe.waitFor(reqPath, `data-testid="status">Done<`)
	require.Contains(t, body, `data-kind="approved"`)
	require.NotContains(t, body, `hx-trigger="every 1s"`, "a request that has ended is not asked for again")
	require.Regexp(t, `<li data-state="done" data-testid="step"><span class="sr-only">Done: </span>\s*<strong>Approval: 1 of 1</strong>\s*<span class="muted">Mateo García Núñez approved`, body)
	_, body = mateo.get("/approvals/" + m[1])
	require.Contains(t, body, `data-testid="not-open"`, "the decided approval is shown, without the buttons")
	require.NotContains(t, body, `data-testid="approve"`)
	require.Contains(t, body, "Mateo García Núñez")
	_, body = zoe.get("/groups/" + vpn)
	require.Contains(t, body, `data-testid="member-state"`)

	// Zoë cannot decide Mateo's approvals by guessing their IDs.
	resp, _ = zoe.post("/approvals/"+m[1], url.Values{"csrf": {zoe.csrf}, "decision": {"approve"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = mateo.post("/approvals/"+m[1], url.Values{"csrf": {mateo.csrf}, "decision": {"approve"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode, "deciding twice")
}

func TestBulkApproval(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	mateo := tb.client(t)
	mateo.mustSignIn("mateo")
	gh := tb.groupID(t, "GitHub org members")
	// Three people ask to join through the portal.
	asked := 0
	for i := 20; asked < 3; i++ {
		p := tb.org.People[i]
		if p.ID == tb.org.Accounts[1].PersonID || !p.Enabled {
			continue
		}
		c := tb.client(t)
		token, err := tb.db.CreateSession(t.Context(), p.ID, "local", "")
		require.NoError(t, err)
		u, _ := url.Parse(c.base)
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "tessera_session", Value: token, Path: "/"}})
		_, body := c.get("/groups/" + gh)
		if !strings.Contains(body, `data-testid="request-join"`) {
			continue
		}
		resp, _ := c.post("/groups/"+gh+"/request", url.Values{"csrf": {c.csrf}, "justification": {"bulk " + p.DisplayName}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		asked++
	}
	var ids []string
	deadline := time.Now().Add(15 * time.Second)
	for len(ids) < 3 {
		require.True(t, time.Now().Before(deadline), "approvals did not arrive")
		_, body := mateo.get("/approvals")
		ids = nil
		for _, m := range regexp.MustCompile(`name="id" value="([0-9a-f-]{36})"`).FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Filters and orders: by requester, group, kind and due date.
	_, body := mateo.get("/approvals?sort=requester")
	require.Contains(t, body, `data-testid="approvals-total"><strong>3 requests</strong> wait for your decision.`)
	var names []string
	for _, m := range regexp.MustCompile(`data-label="Asked by"><a href="/people/[0-9a-f-]{36}">([^<]+)</a>`).FindAllStringSubmatch(body, -1) {
		names = append(names, html.UnescapeString(m[1]))
	}
	require.Len(t, names, 3)
	require.IsNonDecreasing(t, []string{strings.ToLower(names[0]), strings.ToLower(names[1]), strings.ToLower(names[2])})
	_, body = mateo.get("/approvals?requester=" + url.QueryEscape(strings.ToUpper(names[1])))
	require.Equal(t, 1, strings.Count(body, `data-testid="approval-row"`))
	require.Contains(t, body, "Showing 1–1 of 1 matching.")
	_, body = mateo.get("/approvals?group=github&kind=add_member&sort=due")
	require.Equal(t, 3, strings.Count(body, `data-testid="approval-row"`))
	// Three requests to join one group: each checkbox is named for its
	// requester, not "Select: Join GitHub org members" three times.
	var selects []string
	for _, m := range regexp.MustCompile(`name="id" value="[0-9a-f-]{36}" id="sel-[0-9a-f-]{36}" aria-label="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		selects = append(selects, html.UnescapeString(m[1]))
	}
	require.Len(t, selects, 3)
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(selects))), 3, "distinct names: %q", selects)
	for _, name := range names {
		require.Contains(t, selects, "Select "+name+"'s request: Join GitHub org members")
	}
	require.NotContains(t, body, `data-label="Select"`, "a card says Select once per checkbox")
	_, body = mateo.get("/approvals?kind=update_person")
	require.Contains(t, body, "No approval waiting for you matches.")
	_, body = mateo.get("/approvals?due=none")
	require.Contains(t, body, "No approval waiting for you matches.")
	resp, _ := mateo.get("/approvals?sort=salary")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A bulk decision from a filtered list returns to it (Post/Redirect/
	// Get: a reload never decides again) with the filter kept, and the
	// counts are those after the decision.
	decide := func(path string, ids []string) string {
		t.Helper()
		resp, _ := mateo.post(path, url.Values{"csrf": {mateo.csrf}, "decision": {"approve"}, "id": ids})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body := mateo.get(resp.Header.Get("Location"))
		return body
	}
	body = decide("/approvals?sort=requester&requester="+url.QueryEscape(names[0]), ids[:1])
	require.Contains(t, body, "1 request approved.")
	require.Contains(t, body, `data-testid="approvals-total"><strong>2 requests</strong> wait`)
	require.Contains(t, body, `aria-label="2 waiting">2</span>`, "the header counts what waits now")
	require.Contains(t, body, `value="`+html.EscapeString(names[0])+`"`, "the filter is kept")
	body = decide("/approvals", ids[1:])
	require.Contains(t, body, "2 requests approved.")
	require.Contains(t, body, `data-testid="approvals-total"><strong>0 requests</strong> wait`)
	require.NotContains(t, body, `data-testid="approval-count"`)
	var members int
	deadline = time.Now().Add(15 * time.Second)
	for members < 3 {
		require.True(t, time.Now().Before(deadline), "bulk approvals were not committed")
		require.NoError(t, tb.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM requests WHERE group_id = $1 AND status = 'completed'`, gh).Scan(&members))
		time.Sleep(50 * time.Millisecond)
	}
	resp, _ = mateo.post("/approvals", url.Values{"csrf": {mateo.csrf}, "decision": {"approve"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "nothing selected")
}

func TestProfileEdit(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, body := zoe.get("/profile/edit")
	// The form offers exactly the attributes the table says a person may
	// ask to change, in its order, each with its own limit.
	var want, got []string
	for _, a := range portal.CoreSchema().Editable() {
		want = append(want, fmt.Sprintf("%s %d", a.Name, a.MaxLen))
	}
	form := url.Values{"csrf": {zoe.csrf}}
	attr := func(input, name string) string {
		m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(input)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}
	for _, input := range regexp.MustCompile(`<input [^>]*type="text"[^>]*>`).FindAllString(body, -1) {
		got = append(got, attr(input, "name")+" "+attr(input, "maxlength"))
		form.Set(attr(input, "name"), attr(input, "value"))
	}
	require.Equal(t, want, got)
	var oldTitle string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), `SELECT title FROM people WHERE account_name = 'zoe'`).Scan(&oldTitle))
	require.NotEmpty(t, oldTitle)
	form.Set("office", "Zürich")
	form.Set("title", "Principal Engineer")
	form.Set("department", "Legal")
	resp, body := zoe.post("/profile/edit", form)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Office: changed.")
	require.Contains(t, body, "Title: sent for approval")
	require.Contains(t, body, "Department: No policy lets you change your department.")
	require.NotContains(t, body, "Phone:", "only the changed attributes are requests")

	// Her approver sees the title as it is and as she asks for it, on a
	// phone's cards too (each cell labelled), and in German.
	var approvalID, approver string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), `SELECT a.id::text, p.account_name FROM approvals a
		JOIN requests r ON r.id = a.request_id JOIN approvers ap ON ap.approval_id = a.id JOIN people p ON p.id = ap.person_id
		JOIN people z ON z.id = r.person_id WHERE z.account_name = 'zoe' AND r.changes ? 'title' LIMIT 1`).Scan(&approvalID, &approver))
	m := tb.client(t)
	m.mustSignIn(approver)
	_, body = m.get("/approvals/" + approvalID)
	require.Regexp(t, `data-testid="change-current">\s*`+regexp.QuoteMeta(html.EscapeString(oldTitle))+`\s*<`, body)
	require.Regexp(t, `data-testid="change-new">\s*<strong>Principal Engineer</strong>`, body)
	require.Contains(t, body, `data-label="Now"`)
	resp, _ = m.post("/settings/language", m.form("language", "de"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = m.get("/approvals/" + approvalID)
	requireAllGerman(t, "an approval of a profile change", body)
	require.Contains(t, body, `data-label="Jetzt"`)
	require.Contains(t, body, `data-label="Beantragt"`)
}

func TestDeputySettings(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	mateo := tb.client(t)
	mateo.mustSignIn("mateo")
	mateo.get("/settings/deputy")
	today := time.Now().UTC().Format(time.DateOnly)
	resp, body := mateo.post("/settings/deputy", url.Values{"csrf": {mateo.csrf}, "deputy": {"nobody@nowhere"}, "from": {today}, "to": {today}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, "No one has the account name or email")
	require.Contains(t, body, `value="nobody@nowhere"`)
	resp, _ = mateo.post("/settings/deputy", url.Values{"csrf": {mateo.csrf}, "deputy": {"siobhan"}, "from": {today}, "to": {today}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = mateo.get("/settings/deputy")
	require.Contains(t, body, "Siobhán Ní Bhriain")
}

func TestOwnersForm(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	mateo := tb.client(t)
	mateo.mustSignIn("mateo")
	vpn := tb.groupID(t, "VPN users")
	_, body := mateo.get("/groups/" + vpn)
	require.Contains(t, body, `data-testid="add-owner"`)
	resp, body := mateo.post("/groups/"+vpn+"/owners", url.Values{"csrf": {mateo.csrf}, "owner": {"no-such-account"}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, `value="no-such-account"`)
	resp, _ = mateo.post("/groups/"+vpn+"/owners", url.Values{"csrf": {mateo.csrf}, "owner": {"siobhan"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = mateo.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The owners were changed.")
	require.Contains(t, body, "Remove Siobhán Ní Bhriain as owner")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, body = zoe.get("/groups/" + vpn)
	require.NotContains(t, body, `data-testid="add-owner"`)
	resp, body = zoe.post("/groups/"+vpn+"/owners", url.Values{"csrf": {zoe.csrf}, "owner": {"zoe"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "the server refuses, whatever the page showed")
	require.Contains(t, body, "only its owners can")
}

// rloTexts are the texts with a right-to-left override that
// TestRightToLeftOverrideIsIsolated writes.
var rloTexts = []string{"\u202egnalegnA", "Principal \u202eEngineer", "\u202eplease"}

// isolatedRLO matches a text of rloTexts where it cannot reach the words
// around it: wrapped in Unicode isolates (portal.Isolate), or the whole
// text of an element that isolates (inline ones by app.css, <bdi>, and
// blocks).
var isolatedRLO = func() *regexp.Regexp {
	var texts []string
	for _, t := range rloTexts {
		texts = append(texts, regexp.QuoteMeta(t))
	}
	alt := strings.Join(texts, "|")
	elements := "a|span|code|strong|em|label|summary|time|bdi|output|td|th|dd|dt|li|h1|h2|h3|p|div"
	return regexp.MustCompile("\u2068(?:" + alt + ")\u2069|<(?:" + elements + `)(?:\s[^>]*)?>\s*(?:` + alt + `)\s*</(?:` + elements + ")>")
}()

// TestRightToLeftOverrideIsIsolated is issue 9's repro: a right-to-left
// override in a name made "Change ‮gnalegnA's profile" read as someone
// else's. Everywhere the approver reads it, the name is isolated.
func TestRightToLeftOverrideIsIsolated(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoeID := tb.org.Accounts[0].PersonID
	_, err := tb.db.Pool.Exec(context.Background(), "UPDATE people SET display_name = $1 WHERE id = $2", "\u202egnalegnA", zoeID)
	require.NoError(t, err)
	zoe, mateo := tb.client(t), tb.client(t)
	zoe.mustSignIn("zoe")
	mateo.mustSignIn("mateo")
	resp, body := zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "title": {"Principal \u202eEngineer"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Title: sent for approval")
	resp, _ = zoe.post("/groups/"+tb.groupID(t, "VPN users")+"/request", url.Values{"csrf": {zoe.csrf}, "justification": {"\u202eplease"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	mateo.waitFor("/approvals", "Join VPN users")
	body = mateo.waitFor("/approvals", "gnalegnA")
	require.Contains(t, body, "Change \u2068\u202egnalegnA\u2069&#39;s profile")
	pages := map[string]string{"/approvals": body}
	for _, m := range approvalLinkRE.FindAllStringSubmatch(body, -1) {
		_, pages["/approvals/"+m[1]] = mateo.get("/approvals/" + m[1])
	}
	_, pages["/people/"+zoeID] = mateo.get("/people/" + zoeID)
	_, pages["/org/"+zoeID] = mateo.get("/org/" + zoeID)
	_, pages["/requests"] = zoe.get("/requests")
	for _, m := range regexp.MustCompile(`href="(/requests/[0-9a-f-]{36})"`).FindAllStringSubmatch(pages["/requests"], -1) {
		_, pages[m[1]] = zoe.get(m[1])
	}
	require.Len(t, pages, 8, "the approver's list, both approvals, the profile, the org chart, and the requester's list and requests")
	for path, body := range pages {
		require.Contains(t, body, "\u202e", path)
		rest := isolatedRLO.ReplaceAllString(body, "")
		i := strings.Index(rest, "\u202e")
		if i >= 0 {
			t.Errorf("%s: a right-to-left override that is not isolated: …%s…", path, rest[max(0, i-200):min(len(rest), i+100)])
		}
	}
}
