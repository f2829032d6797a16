package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// form returns values with the client's CSRF token added.
func (c *client) form(kv ...string) url.Values {
	v := url.Values{"csrf": {c.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func (tb *testBundle) policyID(t *testing.T, name string) string {
	t.Helper()
	ps, err := tb.db.ListPolicies(context.Background())
	require.NoError(t, err)
	for _, p := range ps {
		if p.Name == name {
			return p.ID
		}
	}
	t.Fatalf("no policy %s", name)
	return ""
}

// viewer returns the demo account's person as a viewer, with its roles.
func (tb *testBundle) viewer(t *testing.T, account string) portal.Viewer {
	t.Helper()
	for _, a := range tb.org.Accounts {
		if a.AccountName == account {
			return portal.Viewer{PersonID: a.PersonID, Roles: a.Roles}
		}
	}
	t.Fatalf("no demo account %s", account)
	return portal.Viewer{}
}

func (tb *testBundle) workflowID(t *testing.T, name string) string {
	t.Helper()
	ws, err := tb.db.ListWorkflows(context.Background())
	require.NoError(t, err)
	for _, w := range ws {
		if w.Name == name {
			return w.ID
		}
	}
	t.Fatalf("no workflow %s", name)
	return ""
}

func TestAdminForbiddenToOthers(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	policy := tb.policyID(t, "Join open groups")
	workflow := tb.workflowID(t, "Manager approves")
	cal, err := tb.db.CreateCalendar(ctx, portal.Viewer{}, portal.Calendar{Name: "UK", TimeZone: time.UTC})
	require.NoError(t, err)
	policies, err := tb.db.ListPolicies(ctx)
	require.NoError(t, err)

	set, err := tb.db.CreateSet(ctx, tb.viewer(t, "ada"), portal.Set{Name: "Finance staff", Rule: `person.department == "Finance"`})
	require.NoError(t, err)
	group := tb.groupID(t, "Book club")

	gets := []string{"/admin", "/admin/", "/admin/policies", "/admin/policies/new", "/admin/policies/" + policy,
		"/admin/workflows", "/admin/workflows/new", "/admin/workflows/" + workflow, "/admin/calendars", "/admin/calendars/new",
		"/admin/calendars/" + cal.ID, "/admin/audit", "/admin/audit?actor=ada", "/admin/no-such-page",
		"/admin/sets", "/admin/sets/new", "/admin/sets/" + set.ID, "/admin/groups", "/admin/groups?q=book",
		"/admin/groups/" + group + "/rule", "/admin/schema", "/admin/schema/new", "/admin/schema/pronouns"}
	posts := []string{"/admin/schema", "/admin/schema/pronouns", "/admin/schema/pronouns/remove",
		"/admin/policies", "/admin/policies/" + policy, "/admin/policies/" + policy + "/enable",
		"/admin/policies/" + policy + "/disable", "/admin/policies/" + policy + "/delete", "/admin/workflows",
		"/admin/workflows/" + workflow, "/admin/workflows/" + workflow + "/delete", "/admin/calendars",
		"/admin/calendars/" + cal.ID, "/admin/calendars/" + cal.ID + "/holidays",
		"/admin/calendars/" + cal.ID + "/holidays/2026-12-25/remove", "/admin/audit/verify",
		"/admin/sets", "/admin/sets/" + set.ID, "/admin/rules/preview", "/admin/groups/" + group + "/rule"}
	for _, account := range []string{"zoe", "siobhan"} {
		c := tb.client(t)
		c.mustSignIn(account)
		_, body := c.get("/")
		require.NotContains(t, body, `data-testid="nav-admin"`, account)
		for _, path := range gets {
			resp, body := c.get(path)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s GET %s", account, path)
			require.Contains(t, body, "Only administrators can open the administration pages.")
		}
		for _, path := range posts {
			resp, _ := c.post(path, c.form("name", "Taken over", "operation", "add_member", "requestor", "anyone",
				"source", "manager", "threshold", "any", "time_zone", "UTC", "day", "2027-01-01", "rule", "person.enabled"))
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s POST %s", account, path)
			resp, body := c.post(path, url.Values{"rule": {"person.enabled"}, "action": {"clear"}},
				"HX-Request", "true", "X-CSRF-Token", c.csrf)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s htmx POST %s", account, path)
			require.NotContains(t, body, "match", "%s htmx POST %s", account, path)
		}
	}
	// Nothing changed.
	_, err = tb.db.FindAttribute(ctx, "pronouns")
	require.NoError(t, err)
	p, err := tb.db.FindPolicy(ctx, policy)
	require.NoError(t, err)
	require.True(t, p.Enabled)
	require.Equal(t, "Join open groups", p.Name)
	_, err = tb.db.FindWorkflow(ctx, workflow)
	require.NoError(t, err)
	ps, err := tb.db.ListPolicies(ctx)
	require.NoError(t, err)
	require.Equal(t, policies, ps)
	sets, err := tb.db.ListSets(ctx)
	require.NoError(t, err)
	require.Equal(t, []portal.Set{set}, sets)
	var dynamic bool
	require.NoError(t, tb.db.Pool.QueryRow(ctx, "SELECT membership_rule IS NOT NULL FROM groups WHERE id = $1", group).Scan(&dynamic))
	require.False(t, dynamic)

	ada := tb.client(t)
	ada.mustSignIn("ada")
	_, body := ada.get("/")
	require.Contains(t, body, `data-testid="nav-admin"`)
	resp, body := ada.get("/admin")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `href="/admin/policies"`)
	require.Contains(t, body, `aria-current="page" data-testid="nav-admin"`)
	resp, _ = ada.get("/admin/no-such-page")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

var (
	workflowLinkRE = regexp.MustCompile(`href="/admin/workflows/([0-9a-f-]{36})">Security office<`)
	policyLinkRE   = regexp.MustCompile(`href="/admin/policies/([0-9a-f-]{36})">Join closed groups with approval<`)
)

func TestAdminWorkflowsAndPolicies(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("ada")

	// A workflow, refused first for an unknown approver, then created.
	resp, body := c.get("/admin/workflows/new")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="workflow-form"`)
	wf := func(kv ...string) url.Values {
		v := c.form("name", "Security office", "source", "named", "approvers", "mateo,\nnobody-here\nghost@example.com",
			"threshold", "n", "n", "2", "deadline", "hours", "deadline_hours", "48", "reminder_hours", "8",
			"escalation", "siobhan", "outcome", "deny")
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	resp, body = c.post("/admin/workflows", wf())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, `data-testid="form-error"`)
	require.Contains(t, body, "Approvers: no one has these account names or emails: “nobody-here”, “ghost@example.com”.")
	require.Contains(t, body, `value="Security office"`)
	require.Contains(t, body, "mateo,\nnobody-here\nghost@example.com</textarea>", "the names are shown again as typed")
	require.Regexp(t, `value="hours" checked`, body)

	resp, body = c.post("/admin/workflows", wf("deadline_hours", "two days"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "The deadline in hours must be a whole number, not “two days”.")
	require.Contains(t, body, `value="two days"`)

	resp, body = c.post("/admin/workflows", wf("approvers", "mateo, ada", "reminder_hours", "48"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "use fewer than 48 hours")

	resp, _ = c.post("/admin/workflows", wf("approvers", "mateo\nada@tessera.example"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin/workflows?notice=workflow-created", resp.Header.Get("Location"))
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The approval workflow was created.")
	m := workflowLinkRE.FindStringSubmatch(body)
	require.NotNil(t, m, body)
	workflowID := m[1]
	require.Contains(t, body, "2 of them")
	require.Contains(t, body, "48 hours")

	resp, body = c.post("/admin/workflows", wf("approvers", "mateo", "n", "1", "name", "security OFFICE"))
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "An approval workflow named “security OFFICE” already exists")
	require.Contains(t, body, `value="security OFFICE"`)

	// Edit: the stored workflow fills the form; business days need no calendar.
	_, body = c.get("/admin/workflows/" + workflowID)
	require.Contains(t, body, "mateo, ada</textarea>")
	require.Contains(t, body, `value="48"`)
	resp, _ = c.post("/admin/workflows/"+workflowID, wf("approvers", "mateo, ada", "deadline", "days", "deadline_days", "3",
		"deadline_hours", ""))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/admin/workflows")
	require.Contains(t, body, "3 business days (Monday to Friday, UTC)")

	// A policy, refused first for a taken name and for no attributes.
	resp, body = c.get("/admin/policies/new")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, ">Security office</option>")
	require.Contains(t, body, `<option value="set">The people of a set</option>`)
	require.Contains(t, body, "There are no sets yet")
	// The attributes a policy can cover are the schema's requestable ones:
	// the editable core ones, the manager and the account status, and every
	// extra attribute (administrators change them).
	schema, err := tb.db.Schema(context.Background())
	require.NoError(t, err)
	var editable []string
	for _, a := range schema.Requestable() {
		editable = append(editable, a.Name)
	}
	var offered []string
	for _, m := range regexp.MustCompile(`name="attributes" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		offered = append(offered, m[1])
	}
	require.Equal(t, editable, offered)
	resp, body = c.post("/admin/policies", c.form("name", "Join open groups", "operation", "add_member", "requestor", "self",
		"enabled", "on"))
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "A policy named “Join open groups” already exists")
	resp, body = c.post("/admin/policies", c.form("name", "Fix my name", "description", "Typos <b>only</b>",
		"operation", "update_person", "requestor", "self", "enabled", "on", "workflow", workflowID))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Choose at least one attribute the policy lets people change.")
	require.Contains(t, body, `value="Fix my name"`)
	require.Contains(t, body, "Typos &lt;b&gt;only&lt;/b&gt;</textarea>")
	require.Regexp(t, `value="update_person" checked`, body)
	require.Regexp(t, `value="`+workflowID+`" selected`, body)

	resp, _ = c.post("/admin/policies", c.form("name", "Join closed groups with approval", "description", "Ask <b>security</b>.",
		"operation", "add_member", "requestor", "self", "targets", "closed", "enabled", "on", "notify", "on", "workflow", workflowID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The policy was created.")
	m = policyLinkRE.FindStringSubmatch(body)
	require.NotNil(t, m, body)
	policyID := m[1]
	require.Contains(t, body, "Closed groups")

	// Edit, then disable from the list.
	_, body = c.get("/admin/policies/" + policyID)
	require.Regexp(t, `value="closed" checked`, body)
	resp, _ = c.post("/admin/policies/"+policyID, c.form("name", "Join closed groups with approval", "operation", "add_member",
		"requestor", "self", "targets", "closed", "targets", "owner_approval", "enabled", "on", "workflow", workflowID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.post("/admin/policies/"+policyID+"/disable", c.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The policy was disabled.")
	p, err := tb.db.FindPolicy(context.Background(), policyID)
	require.NoError(t, err)
	require.False(t, p.Enabled)
	require.Equal(t, []portal.JoinPolicy{portal.JoinOwnerApproval, portal.JoinClosed}, p.TargetJoinPolicies)
	require.False(t, p.Notify)

	// The workflow cannot go while the policy uses it.
	resp, body = c.post("/admin/workflows/"+workflowID+"/delete", c.form())
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "Workflow “Security office” cannot be deleted: policies “Join closed groups with approval” use it.")
	resp, _ = c.post("/admin/policies/"+policyID+"/delete", c.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.post("/admin/workflows/"+workflowID+"/delete", c.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/admin/workflows")
	require.NotContains(t, body, "Security office")
	resp, _ = c.get("/admin/policies/" + policyID)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The audit log lists every change, escaped, and its chain holds.
	resp, body = c.get("/admin/audit?actor=ada")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, action := range []string{"workflow_create", "workflow_update", "workflow_delete", "policy_create", "policy_update",
		"policy_disable", "policy_delete"} {
		require.Contains(t, body, `data-action="`+action+`"`)
	}
	require.Contains(t, body, "Ask &lt;b&gt;security&lt;/b&gt;.")
	require.NotContains(t, body, "<b>security</b>")
	_, body = c.get("/admin/audit?action=policy_disable")
	require.Equal(t, 1, strings.Count(body, `data-testid="audit-entry"`))
	resp, body = c.get("/admin/audit?actor=nobody-here")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "No one has the account name or email “nobody-here”.")
	require.Contains(t, body, `value="nobody-here"`)
	resp, body = c.post("/admin/audit/verify", c.form())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Regexp(t, `The audit log is intact: \d+ entries checked.\s+None is keyed: Tessera runs without TESSERA_SECRET_KEY`, body)
}

var calendarLocRE = regexp.MustCompile(`^/admin/calendars/([0-9a-f-]{36})\?notice=calendar-created$`)

func TestAdminCalendars(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("ada")

	_, body := c.get("/admin/calendars/new")
	require.Regexp(t, `value="6" checked`, body, "Saturday is a weekend day by default")
	resp, body := c.post("/admin/calendars", c.form("name", "Scotland", "time_zone", "Europe/Glasgow", "weekend", "0", "weekend", "6"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Europe/Glasgow&#34; is not a time zone; use an IANA name", "an unknown zone is refused")
	require.Contains(t, body, `value="Scotland"`)
	require.Regexp(t, `value="0" checked`, body)

	resp, _ = c.post("/admin/calendars", c.form("name", "Scotland", "time_zone", "Europe/London", "weekend", "0", "weekend", "6"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	m := calendarLocRE.FindStringSubmatch(resp.Header.Get("Location"))
	require.NotNil(t, m, resp.Header.Get("Location"))
	id := m[1]
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The calendar was created.")

	resp, _ = c.post("/admin/calendars/"+id+"/holidays", c.form("day", "2026-11-30", "holiday_name", "St Andrew's Day"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, body = c.post("/admin/calendars/"+id+"/holidays", c.form("day", "2026-11-30", "holiday_name", "Again"))
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "30 Nov 2026 is already a holiday in this calendar.", "the day as the reader reads dates")
	require.Contains(t, body, `value="Again"`)
	resp, body = c.post("/admin/calendars/"+id+"/holidays", c.form("day", "30/11/2026"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "write it as YYYY-MM-DD")
	_, body = c.get("/admin/calendars/" + id)
	require.Contains(t, body, "St Andrew&#39;s Day")
	require.Contains(t, body, "2026-11-30</time> (Monday)")

	// A one-day weekend, and a name another calendar has.
	resp, _ = c.post("/admin/calendars", c.form("name", "Other", "time_zone", "UTC"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, body = c.post("/admin/calendars/"+id, c.form("name", "OTHER", "time_zone", "Europe/London", "weekend", "5"))
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "A calendar named &#34;OTHER&#34; already exists.")
	require.Contains(t, body, "2026-11-30", "the holidays stay on the page")
	resp, _ = c.post("/admin/calendars/"+id, c.form("name", "Scotland", "time_zone", "Europe/London", "weekend", "5"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	cal, err := tb.db.FindCalendar(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, []time.Weekday{time.Friday}, cal.Weekend)
	require.Len(t, cal.Holidays, 1)

	_, body = c.get("/admin/calendars")
	require.Contains(t, body, "Friday")
	_, body = c.get("/admin/workflows/new")
	require.Contains(t, body, `<option value="`+id+`">Scotland (Europe/London)</option>`)

	resp, _ = c.post("/admin/calendars/"+id+"/holidays/2026-11-30/remove", c.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.post("/admin/calendars/"+id+"/holidays/2026-11-30/remove", c.form())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	cal, err = tb.db.FindCalendar(context.Background(), id)
	require.NoError(t, err)
	require.Empty(t, cal.Holidays)
}

// TestAdminDisablePolicyRefusesJoin disables the "Join open groups" policy
// through the admin page; joining an open group is then refused.
func TestAdminDisablePolicyRefusesJoin(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ada, zoe := tb.client(t), tb.client(t)
	ada.mustSignIn("ada")
	zoe.mustSignIn("zoe")
	var zoeID string
	for _, a := range tb.org.Accounts {
		if a.AccountName == "zoe" {
			zoeID = a.PersonID
		}
	}
	member := map[string]bool{}
	for _, m := range tb.org.Members {
		if m.PersonID == zoeID {
			member[m.GroupID] = true
		}
	}
	var open portal.Group
	for _, g := range tb.org.Groups {
		if g.JoinPolicy == portal.JoinOpen && !member[g.ID] {
			open = g
			break
		}
	}
	require.NotEmpty(t, open.ID, "an open group Zoë is not in")

	resp, _ := ada.post("/admin/policies/"+tb.policyID(t, "Join open groups")+"/disable", ada.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	resp, body := zoe.post("/groups/"+open.ID+"/join", zoe.form())
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "No policy lets you join ")
	_, body = zoe.get("/groups/" + open.ID)
	require.NotContains(t, body, `data-testid="member-state"`)
}

var setLinkRE = regexp.MustCompile(`href="/admin/sets/([0-9a-f-]{36})">Finance staff<`)

// count runs a query that counts something.
func (tb *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func TestAdminSets(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("ada")
	finance := tb.count(t, "SELECT count(*) FROM people WHERE department = 'Finance'")
	require.Greater(t, finance, 1)
	financeMatch := strconv.Itoa(finance) + " people match"

	resp, body := c.get("/admin/sets/new")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="set-form"`)
	require.Contains(t, body, `hx-post="/admin/rules/preview"`)
	require.Contains(t, body, `hx-trigger="input changed delay:400ms"`, "an empty rule is not previewed on load")
	require.Contains(t, body, `hx-target="#rule-preview"`)
	require.Contains(t, body, "<code>department</code>", "the attributes a rule may read")
	require.Regexp(t, `<code>startDate</code>\s*<br><span class="muted">Start date</span></td><td>date</td>`, body)

	// The Preview button (no JavaScript) shows the count and stores nothing.
	rule := `person.department == "Finance"`
	resp, body = c.post("/admin/sets", c.form("name", "Finance staff", "description", "Everyone in Finance.", "rule", rule,
		"action", "preview"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, financeMatch)
	require.Contains(t, body, `data-testid="preview-sample"`)
	require.Contains(t, body, `value="Finance staff"`)
	require.Contains(t, html.UnescapeString(body), rule+"</textarea>")
	require.Zero(t, tb.count(t, "SELECT count(*) FROM sets"))

	// Mistakes are shown with where they are, what was typed stays, and
	// nothing is stored.
	for _, tc := range []struct{ rule, want string }{
		{`person.departmnet == "Finance"`, `line 1, column 7: person has no attribute "departmnet" (did you mean "department"?)`},
		{`person.department == 42`, "line 1, column 19: cannot use == with (string, int)"},
		{`person.department`, "must be true or false for each person"},
	} {
		resp, body = c.post("/admin/sets", c.form("name", "Finance staff", "rule", tc.rule, "action", "save"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.rule)
		text := html.UnescapeString(body)
		require.Contains(t, body, `data-testid="form-error"`, tc.rule)
		require.Contains(t, text, tc.want)
		require.Contains(t, text, tc.rule+"</textarea>")
		require.Contains(t, body, `value="Finance staff"`)
	}
	require.Zero(t, tb.count(t, "SELECT count(*) FROM sets"))

	// The live preview: a fragment, always 200 for htmx, with the count
	// or the mistake.
	preview := func(rule string) string {
		t.Helper()
		resp, body := c.post("/admin/rules/preview", url.Values{"rule": {rule}}, "HX-Request", "true", "X-CSRF-Token", c.csrf)
		require.Equal(t, http.StatusOK, resp.StatusCode, rule)
		require.NotContains(t, body, "<html", "a fragment, not a page")
		return html.UnescapeString(body)
	}
	body = preview(rule)
	require.Contains(t, body, `data-testid="preview-count"`)
	require.Contains(t, body, financeMatch)
	require.Contains(t, body, "The first 10 by name:")
	body = preview(`person.departmnet == "Finance"`)
	require.Contains(t, body, `data-testid="preview-error"`)
	require.Contains(t, body, `line 1, column 7: person has no attribute "departmnet"`)
	body = preview(`person.enabled == "yes"`)
	require.Contains(t, body, "line 1, column 16: cannot use == with (bool, string)")
	body = preview(`person.office == "Atlantis"`)
	require.Contains(t, body, "No one matches")
	body = preview("")
	require.Contains(t, body, "The rule is empty")
	resp, _ = c.post("/admin/rules/preview", url.Values{"rule": {rule}}, "HX-Request", "true", "X-CSRF-Token", "forged")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "the preview needs the CSRF token")

	// Saved, listed, and edited.
	resp, _ = c.post("/admin/sets", c.form("name", "Finance staff", "description", "Everyone in Finance.", "rule", rule,
		"action", "save"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin/sets?notice=set-created", resp.Header.Get("Location"))
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The set was created.")
	m := setLinkRE.FindStringSubmatch(body)
	require.NotNil(t, m, body)
	id := m[1]
	s, err := tb.db.FindSet(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, rule, s.Rule)
	require.Equal(t, "Everyone in Finance.", s.Description)

	resp, body = c.get("/admin/sets/" + id)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `hx-trigger="load, input changed delay:400ms"`, "a stored rule is previewed once htmx loads")
	require.Contains(t, html.UnescapeString(body), rule+"</textarea>")
	resp, body = c.post("/admin/sets/"+id, c.form("name", "Finance staff", "rule", `person.department == 1`, "action", "save"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, html.UnescapeString(body), "cannot use == with (string, int)")
	s, err = tb.db.FindSet(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, rule, s.Rule, "a refused change stores nothing")
	resp, _ = c.post("/admin/sets/"+id, c.form("name", "Finance staff", "rule", `person.department in ["Finance", "Sales"]`,
		"action", "save"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	s, err = tb.db.FindSet(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, `person.department in ["Finance", "Sales"]`, s.Rule)

	// A second set of the same name, in another case, is a conflict.
	resp, body = c.post("/admin/sets", c.form("name", "FINANCE STAFF", "rule", "person.enabled", "action", "save"))
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, html.UnescapeString(body), `There is already a set named "FINANCE STAFF".`)
	resp, _ = c.get("/admin/sets/00000000-0000-4000-8000-000000000000")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	require.Equal(t, 1, tb.count(t, "SELECT count(*) FROM audit_log WHERE action = 'set_created' AND target_id = $1", id))
	require.Equal(t, 1, tb.count(t, "SELECT count(*) FROM audit_log WHERE action = 'set_updated' AND target_id = $1", id))
}

// groupMembers returns a group's members, sorted, and how many of the rows
// a rule computed.
func (tb *testBundle) groupMembers(t *testing.T, groupID string) ([]string, int) {
	t.Helper()
	rows, err := tb.db.Pool.Query(context.Background(),
		"SELECT person_id::text, computed FROM group_members WHERE group_id = $1 ORDER BY person_id", groupID)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	computed := 0
	for rows.Next() {
		var id string
		var c bool
		require.NoError(t, rows.Scan(&id, &c))
		ids = append(ids, id)
		if c {
			computed++
		}
	}
	require.NoError(t, rows.Err())
	return ids, computed
}

func (tb *testBundle) peopleWhere(t *testing.T, where string) []string {
	t.Helper()
	rows, err := tb.db.Pool.Query(context.Background(), "SELECT id::text FROM people WHERE "+where+" ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func TestAdminDynamicGroup(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("ada")
	group := tb.groupID(t, "Book club")
	page := "/admin/groups/" + group + "/rule"
	before, _ := tb.groupMembers(t, group)
	finance := tb.peopleWhere(t, "department = 'Finance'")
	require.NotEqual(t, finance, before)

	// Found from the start page's search.
	_, body := c.get("/admin")
	require.Contains(t, body, `action="/admin/groups"`)
	resp, body := c.get("/admin/groups?q=book")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `href="`+page+`">Book club</a>`)

	resp, body = c.get(page)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "is static")
	require.Contains(t, body, `data-testid="group-rule-form"`)
	require.NotContains(t, body, `data-testid="clear-rule"`, "a static group has no rule to remove")

	// A typo is refused and changes nothing.
	resp, body = c.post(page, c.form("rule", `person.departmnet == "Finance"`, "action", "save"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, html.UnescapeString(body), `line 1, column 7: person has no attribute "departmnet"`)
	require.Contains(t, html.UnescapeString(body), `person.departmnet == "Finance"</textarea>`)
	members, _ := tb.groupMembers(t, group)
	require.Equal(t, before, members)

	// Preview, then save: the members are exactly the Finance people.
	rule := `person.department == "Finance"`
	resp, body = c.post(page, c.form("rule", rule, "action", "preview"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, strconv.Itoa(len(finance))+" people match")
	members, _ = tb.groupMembers(t, group)
	require.Equal(t, before, members, "a preview stores nothing")

	resp, _ = c.post(page, c.form("rule", rule, "action", "save"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, page+"?notice=rule-saved", resp.Header.Get("Location"))
	members, computed := tb.groupMembers(t, group)
	require.Equal(t, finance, members)
	require.Equal(t, len(finance), computed)
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The rule was saved")
	require.Contains(t, body, "is dynamic")
	require.Contains(t, html.UnescapeString(body), rule+"</textarea>")
	require.Contains(t, body, `data-testid="clear-rule"`)
	_, body = c.get("/admin/groups?q=book")
	require.Contains(t, body, "Dynamic")

	// Static again: the members stay, as ordinary members.
	resp, _ = c.post(page, c.form("action", "clear"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, page+"?notice=rule-cleared", resp.Header.Get("Location"))
	members, computed = tb.groupMembers(t, group)
	require.Equal(t, finance, members)
	require.Zero(t, computed)
	var rule2 *string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT membership_rule FROM groups WHERE id = $1", group).Scan(&rule2))
	require.Nil(t, rule2)
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The group is static again")

	resp, _ = c.get("/admin/groups/00000000-0000-4000-8000-000000000000/rule")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	for _, action := range []string{"group_rule_saved", "group_rule_cleared"} {
		require.Equal(t, 1, tb.count(t, "SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2 AND actor_id = $3",
			action, group, tb.viewer(t, "ada").PersonID), action)
	}
}

func TestAdminPolicyRequestorSet(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("ada")
	set, err := tb.db.CreateSet(context.Background(), tb.viewer(t, "ada"),
		portal.Set{Name: "Finance staff", Rule: `person.department == "Finance"`})
	require.NoError(t, err)

	_, body := c.get("/admin/policies/new")
	require.Contains(t, body, `<option value="`+set.ID+`">Finance staff</option>`)

	policy := func(kv ...string) url.Values {
		v := c.form("name", "Finance joins closed groups", "operation", "add_member", "requestor", "set",
			"targets", "closed", "enabled", "on")
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	resp, body := c.post("/admin/policies", policy())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Choose the set whose people may ask.")
	require.Regexp(t, `value="set" selected`, body)
	resp, body = c.post("/admin/policies", policy("requestor_set", "00000000-0000-4000-8000-000000000000"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "The set chosen no longer exists")

	resp, _ = c.post("/admin/policies", policy("requestor_set", set.ID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The people of “Finance staff”")
	id := tb.policyID(t, "Finance joins closed groups")
	var stored string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT requestor_set_id::text FROM policies WHERE id = $1", id).Scan(&stored))
	require.Equal(t, set.ID, stored)
	_, body = c.get("/admin/policies/" + id)
	require.Regexp(t, `value="`+set.ID+`" selected`, body)

	// Another requestor keeps no set, whatever the select still holds.
	resp, _ = c.post("/admin/policies/"+id, policy("requestor", "self", "requestor_set", set.ID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	p, err := tb.db.FindPolicy(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, portal.RequestorSelf, p.Requestor)
	require.Empty(t, p.RequestorSetID)
}
