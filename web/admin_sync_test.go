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

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// mustCreateUnreachableSystem saves an AD connected system whose only
// domain controller answers nothing (127.0.0.1, port 1).
func mustCreateUnreachableSystem(t *testing.T, tb *testBundle, systems portal.ConnectedSystemService) *portal.ConnectedSystem {
	t.Helper()
	sys, err := systems.CreateConnectedSystem(context.Background(), tb.viewer(t, "ada"), portal.ConnectedSystem{
		Name: "Corp AD", Hosts: []string{"127.0.0.1"}, Port: 1, TLSMode: portal.TLSLDAPS, BindUser: "svc@corp.example.com",
		BindPassword: "Secret-Password-1", BaseDN: "DC=corp,DC=example,DC=com", OUs: []string{"OU=Staff,DC=corp,DC=example,DC=com"},
		Enabled: true})
	require.NoError(t, err)
	return sys
}

// syncRuleFields is the user rule form as an admin would post it.
func syncRuleFields(c *client, kv ...string) url.Values {
	f := c.form("scope", "person.enabled", "join_rules", "employeeID = employeeId\nsAMAccountName = accountName",
		"inbound", "phone <- 100: cs.telephoneNumber",
		"outbound", "initial sAMAccountName = person.accountName\nsn = person.surname\ndisplayName = person.displayName",
		"provision", "on", "dn_template", "CN={displayName},OU=People,OU=Staff,DC=corp,DC=example,DC=com",
		"initial_password", "random", "enable_on_create", "on", "deprovision", "disable",
		"deprovision_ou", "OU=Disabled,OU=Staff,DC=corp,DC=example,DC=com", "delete_after_days", "30")
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

var runPathRE = regexp.MustCompile(`^/admin/sync/runs/[0-9]+$`)

// startRun posts a run profile and returns the run page it leads to.
func (c *client) startRun(systemPath, profile string, kv ...string) string {
	c.t.Helper()
	resp, body := c.post(systemPath+"/sync/run", c.form(append([]string{"profile", profile}, kv...)...))
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	require.Regexp(c.t, runPathRE, loc)
	return loc
}

func TestSyncPages(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	ctx := context.Background()
	sys := mustCreateUnreachableSystem(t, tb, systems)
	path := "/admin/connected-systems/" + sys.ID
	c := tb.client(t)
	c.mustSignIn("ada")

	_, body := c.get("/admin")
	require.Contains(t, body, `href="/admin/sync"`)
	require.Contains(t, body, `href="/admin/sync/preview"`, "Sync preview in the admin navigation")
	_, body = c.get("/admin/connected-systems")
	require.Contains(t, body, `href="`+path+`/sync"`)
	_, body = c.get(path)
	require.Contains(t, body, `data-testid="sync-links"`)

	resp, body := c.get(path + "/sync")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="sync-counts"`)
	require.Contains(t, body, `data-testid="count-objects">0<`)
	require.Contains(t, body, `data-testid="no-rules"`)
	require.Contains(t, body, `data-testid="no-runs"`)
	require.NotContains(t, body, `data-testid="unreachable"`, "not known to be unreachable before anything ran")
	for _, p := range syncsvc.Profiles {
		require.Contains(t, body, `data-testid="run-`+string(p)+`"`)
	}

	t.Run("a sync without rules fails, and says why", func(t *testing.T) {
		run := c.startRun(path, "full_sync")
		body := c.waitFor(run, `data-testid="run-message"`)
		require.Contains(t, body, `data-status="failed"`)
		require.Contains(t, body, "Corp AD has no sync rules yet: add one for users or groups first.")
		require.NotContains(t, body, "portal error", "the message as people read it")
	})

	t.Run("a new system's rule form holds the suggested rule", func(t *testing.T) {
		resp, body := c.get(path + "/sync/rules/user")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="suggested"`)
		require.Contains(t, body, "employeeID = employeeId\nsAMAccountName = accountName\n")
		require.Contains(t, body, "initial sAMAccountName = person.accountName\n")
		require.Contains(t, body, "phone &lt;- 100: cs.telephoneNumber\n")
		require.Contains(t, body, `value="CN={displayName},OU=People,OU=Staff,DC=corp,DC=example,DC=com"`, "under the first OU in scope")
		_, body = c.get(path + "/sync/rules/group")
		require.Contains(t, body, `data-testid="suggested"`)
		require.Contains(t, body, "sAMAccountName = name\n")
		require.NotContains(t, body, `name="inbound"`, "groups take no inbound flows")
		resp, _ = c.get(path + "/sync/rules/printer")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("a bad line is reported with its number, and nothing typed is lost", func(t *testing.T) {
		for _, tc := range []struct {
			kv   []string
			want string
		}{
			{[]string{"outbound", "initial sAMAccountName = person.accountName\n\nsn person.surname"},
				"Outbound flows, line 3: write “csAttribute = expression”"},
			{[]string{"outbound", "initial sAMAccountName = person.accountName\n# the surname\n\nsn = person.enabled"},
				"Outbound flows, line 4 (sn): The expression must give text or a list of texts for each person, but it gives a value of type bool"},
			{[]string{"inbound", "phone <- first: cs.telephoneNumber"}, "Inbound flows, line 1: the precedence must be a whole number"},
			{[]string{"inbound", "\nphone <- 100: cs.telephoneNumber + 1"}, "Inbound flows, line 2 (phone):"},
			{[]string{"join_rules", "employeeID = employeeId\nemployeeID = shoeSize"}, "Join rules, line 2: &#34;shoeSize&#34; is not an attribute"},
			{[]string{"scope", "person.department =="}, "Scope:"},
			{[]string{"delete_after_days", "soon"}, "must be a whole number, not “soon”"},
			{[]string{"initial_password", "none"}, "An account enabled at creation needs a password"},
			{[]string{"dn_template", "OU=People,DC=corp,DC=example,DC=com"}, "The DN template must start with CN="},
			{[]string{"dn_template", "CN={displayName},OU=People,DC=corp,DC=example,DC=com"}, "makes objects outside the OUs in scope"},
			{[]string{"deprovision_ou", "OU=Disabled,DC=corp,DC=example,DC=com"}, "is outside the OUs in scope"},
			{[]string{"dn_template", "CN={displayName}," + strings.Repeat("OU=x,", 500)}, "The DN template is too long: use at most 2048 characters."},
		} {
			f := syncRuleFields(c, tc.kv...)
			resp, body := c.post(path+"/sync/rules/user", f)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.want)
			require.Contains(t, body, `data-testid="form-error"`, tc.want)
			require.Contains(t, body, tc.want)
			require.Contains(t, body, `data-testid="suggested"`, "still not saved")
			for _, field := range []string{"outbound", "inbound", "join_rules", "scope"} {
				require.Contains(t, body, html.EscapeString(f.Get(field)), "%s is kept as typed", field)
			}
			require.Contains(t, body, `value="`+html.EscapeString(f.Get("dn_template"))+`"`)
			require.Contains(t, body, `value="`+f.Get("delete_after_days")+`"`)
		}
		// In German, the refusal and its place read German: the engine's
		// item is an argument the page swaps for the form's line.
		for _, tc := range []struct{ kv []string }{
			{[]string{"join_rules", "employeeID = employeeId\nemployeeID = shoeSize"}},
			{[]string{"outbound", "initial sAMAccountName = person.accountName\n# the surname\n\nsn = person.enabled"}},
		} {
			resp, body := c.post(path+"/sync/rules/user", syncRuleFields(c, tc.kv...), "Accept-Language", "de")
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			requireAllGerman(t, "a refused sync rule", body)
			if tc.kv[0] == "join_rules" {
				require.Contains(t, body, "Verknüpfungsregeln, Zeile 2: &#34;shoeSize&#34; ist kein Attribut")
			} else {
				require.Contains(t, body, "Ausgehende Flüsse, Zeile 4 (sn): Der Ausdruck muss für jede Person Text oder eine Liste von Texten ergeben")
			}
		}
		rules, err := tb.syncEngine(t, systems).SyncRules(ctx, sys.ID)
		require.NoError(t, err)
		require.Empty(t, rules)
	})

	t.Run("valid rules are saved", func(t *testing.T) {
		resp, _ := c.post(path+"/sync/rules/user", syncRuleFields(c))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, path+"/sync/rules/user?notice=rule-saved", resp.Header.Get("Location"))
		_, body := c.get(resp.Header.Get("Location"))
		require.Contains(t, body, "The sync rule was saved.")
		require.NotContains(t, body, `data-testid="suggested"`)
		require.Contains(t, body, `data-testid="rule-updated"`)
		require.Contains(t, body, "phone &lt;- 100: cs.telephoneNumber\n")
		require.Contains(t, body, `value="OU=Disabled,OU=Staff,DC=corp,DC=example,DC=com"`)

		resp, body = c.post(path+"/sync/rules/group", c.form("join_rules", "sAMAccountName = name",
			"outbound", "initial sAMAccountName = group.name\ndescription = group.description",
			"dn_template", "CN={name},OU=Groups,OU=Staff,DC=corp,DC=example,DC=com", "deprovision", "delete"))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)

		rules, err := tb.syncEngine(t, systems).SyncRules(ctx, sys.ID)
		require.NoError(t, err)
		require.Len(t, rules, 2)
		user := rules[0]
		require.Equal(t, syncsvc.ObjectUser, user.Class)
		require.Equal(t, "person.enabled", user.Scope)
		require.Equal(t, []syncsvc.JoinRule{{CS: "employeeID", MV: "employeeId"}, {CS: "sAMAccountName", MV: "accountName"}}, user.JoinRules)
		require.Equal(t, []syncsvc.InboundFlow{{MV: "phone", Expr: "cs.telephoneNumber", Precedence: 100}}, user.Inbound)
		require.Equal(t, syncsvc.OutboundFlow{CS: "sAMAccountName", Expr: "person.accountName", InitialOnly: true}, user.Outbound[0])
		require.Len(t, user.Outbound, 3)
		require.True(t, user.Provision)
		require.True(t, user.EnableOnCreate)
		require.Equal(t, "random", user.InitialPassword)
		require.Equal(t, syncsvc.DeprovisionDisable, user.Deprovision)
		require.Equal(t, 30, user.DeleteAfterDays)
		require.False(t, user.Projection)
		require.Equal(t, syncsvc.DeprovisionDelete, rules[1].Deprovision)
	})

	t.Run("pending exports and export errors of a new system are empty", func(t *testing.T) {
		resp, body := c.get(path + "/sync/exports")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="no-exports"`)
		require.NotContains(t, body, `data-testid="pending-exports"`)
		_, body = c.get(path + "/sync/exports?errors=1")
		require.Contains(t, body, "No export has failed.")
		require.NotContains(t, body, `data-testid="retry-all"`, "nothing to retry: no button")
		resp, _ = c.post(path+"/sync/exports/retry", c.form())
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = c.get(resp.Header.Get("Location"))
		require.Contains(t, body, "There was no failed export to retry.")
		resp, _ = c.post(path+"/sync/exports/retry", c.form("cs", "x1"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})

	t.Run("a full import of an unreachable system fails, and says why", func(t *testing.T) {
		run := c.startRun(path, "full_import")
		body := c.waitFor(run, `data-testid="run-message"`)
		require.Contains(t, body, `data-testid="run-detail" data-status="failed"`)
		require.Contains(t, body, "The run failed:")
		require.Contains(t, body, "127.0.0.1")
		require.NotContains(t, body, "hx-trigger", "a finished run is not polled")

		resp, body := c.get(path + "/sync")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="unreachable"`)
		require.Contains(t, body, "The directory is unreachable: <code>")
		require.Contains(t, body, `data-testid="state">Unreachable<`)
		require.Contains(t, body, `data-testid="run-row" data-status="failed"`)
		require.Contains(t, body, `href="`+run+`"`)
		_, body = c.get("/admin/sync")
		require.Contains(t, body, `data-testid="sync-system-row"`)
		require.Contains(t, body, "Corp AD")
		require.Contains(t, body, `href="`+run+`"`)
	})

	t.Run("a full sync lists the objects behind its counts", func(t *testing.T) {
		run := c.startRun(path, "full_sync")
		body := c.waitFor(run, `data-testid="run-objects"`)
		require.Contains(t, body, `data-status="succeeded"`)
		require.Contains(t, body, `data-testid="run-object" data-kind="add"`)
		require.Contains(t, body, `href="`+run+`?kind=add"`)
		_, body = c.get(run + "?kind=join")
		require.Contains(t, body, `data-testid="no-run-objects"`)
		_, body = c.get(run + "?kind=add")
		require.Contains(t, body, "OU=People,OU=Staff,DC=corp,DC=example,DC=com")
		require.Contains(t, body, `<td class="wide">create</td>`)
		// The objects' details are kept as format and arguments: in German
		// they read German, and so do their kinds.
		resp, _ := c.post("/settings/language", c.form("language", "de"))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = c.get(run + "?kind=add")
		require.Contains(t, body, `<td class="wide">anlegen</td>`)
		require.NotContains(t, body, `<td class="wide">create</td>`)
		resp, _ = c.post("/settings/language", c.form("language", ""))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = c.get(run + "?kind=nonsense")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)

		_, body = c.get(path + "/sync/exports")
		require.Contains(t, body, `data-testid="pending-export" data-status="pending"`)
		require.Contains(t, body, "<summary>create</summary>")
		require.Contains(t, body, "sAMAccountName = ")
		_, body = c.get(path + "/sync/connector-space")
		require.Contains(t, body, `data-testid="cs-object"`)
		require.Contains(t, body, `data-testid="joined-person"`)
		require.Contains(t, body, "Not yet in the directory")
		_, body = c.get(path + "/sync/connector-space?unjoined=on")
		require.Contains(t, body, `data-testid="no-objects"`)
		require.Contains(t, body, "Show every object")
	})

	t.Run("an export error shows the directory's text and can be retried", func(t *testing.T) {
		var csID int64
		require.NoError(t, tb.db.Pool.QueryRow(ctx, `UPDATE cs_objects SET export_status = 'error', export_attempts = 3,
			export_error = 'LDAP Result Code 19 "Constraint Violation": 0000052D: password policy',
			export_next_at = now() + interval '1 hour'
			WHERE id = (SELECT min(id) FROM cs_objects WHERE system_id = $1 AND export_op IS NOT NULL) RETURNING id`, sys.ID).Scan(&csID))
		_, body := c.get(path + "/sync/exports?errors=1")
		require.Contains(t, body, `data-testid="pending-export" data-status="error"`)
		require.Contains(t, body, "0000052D: password policy")
		require.Contains(t, body, `data-testid="retry-all"`, "an error to retry: the button")
		require.Equal(t, 1, strings.Count(body, `data-testid="retry-export"`))
		_, body = c.get(path + "/sync")
		require.Contains(t, body, `data-testid="count-errors"><a href="`+path+`/sync/exports?errors=1">1<`)
		resp, _ := c.post(path+"/sync/exports/retry", c.form("cs", "999999"))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = c.get(resp.Header.Get("Location"))
		require.Contains(t, body, "There was no failed export to retry.", "another export is not this one")
		resp, _ = c.post(path+"/sync/exports/retry", c.form("cs", itoa64(csID)))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = c.get(resp.Header.Get("Location"))
		require.Contains(t, body, "The failed exports are due again")
		require.Contains(t, body, "No export has failed.")
		require.NotContains(t, body, `data-testid="retry-all"`, "nothing to retry: no button")
	})

	t.Run("an export over the deletion threshold stops for confirmation", func(t *testing.T) {
		_, err := tb.db.Pool.Exec(ctx, `UPDATE connected_systems SET deletion_threshold = 1 WHERE id = $1`, sys.ID)
		require.NoError(t, err)
		_, err = tb.db.Pool.Exec(ctx, `INSERT INTO cs_objects (system_id, anchor, dn, class, export_op, export_changes, export_next_at) VALUES
				($1, 'a1', 'CN=Old One,OU=Staff,DC=corp,DC=example,DC=com', 'user', 'delete', '[]', now()),
				($1, 'a2', 'CN=Old Two,OU=Staff,DC=corp,DC=example,DC=com', 'user', 'delete', '[]', now())`, sys.ID)
		require.NoError(t, err)
		run := c.startRun(path, "export")
		body := c.waitFor(run, `data-testid="confirm-deletes"`)
		require.Contains(t, body, `data-status="stopped"`)
		require.Contains(t, body, "more than the deletion threshold of 1")
		require.Contains(t, body, `name="confirm_deletes" value="on"`)
		confirmed := c.startRun(path, "export", "confirm_deletes", "on")
		require.NotEqual(t, run, confirmed)
		body = c.waitFor(confirmed, `data-testid="run-message"`)
		require.Contains(t, body, `data-status="failed"`, "confirmed, it goes on to the unreachable directory")
		require.NotContains(t, body, "deletion threshold")
	})

	t.Run("a running run is polled, and htmx gets the live region alone", func(t *testing.T) {
		var id int64
		require.NoError(t, tb.db.Pool.QueryRow(ctx, `INSERT INTO sync_runs (system_id, profile, trigger, processed, counts)
			VALUES ($1, 'full_import', 'schedule', 42, '{"adds": 7}') RETURNING id`, sys.ID).Scan(&id))
		run := "/admin/sync/runs/" + itoa64(id)
		_, body := c.get(run)
		require.Contains(t, body, `hx-trigger="every 1s"`)
		require.Contains(t, body, `data-testid="run-processed">42<`)
		require.Contains(t, body, "<html")
		resp, body := c.get(run, "HX-Request", "true", "HX-Target", "results")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, body, "<html")
		require.True(t, strings.HasPrefix(body, `<div id="results"`), body)
		require.Contains(t, body, `hx-get="`+run+`"`)
		_, body = c.get(path + "/sync")
		require.Contains(t, body, `data-testid="running"`)
		require.Contains(t, body, `href="`+run+`"`)
		_, err := tb.db.Pool.Exec(ctx, `UPDATE sync_runs SET status = 'succeeded', finished_at = now() WHERE id = $1`, id)
		require.NoError(t, err)
		_, body = c.get(run, "HX-Request", "true", "HX-Target", "results")
		require.NotContains(t, body, "hx-trigger", "polling stops")
		require.Contains(t, body, `data-status="succeeded"`)
	})

	t.Run("a queued run is shown as queued, and followed", func(t *testing.T) {
		var id int64
		require.NoError(t, tb.db.Pool.QueryRow(ctx, `INSERT INTO sync_runs (system_id, profile, trigger, status)
			VALUES ($1, 'full_import', 'admin', 'queued') RETURNING id`, sys.ID).Scan(&id))
		run := "/admin/sync/runs/" + itoa64(id)
		_, body := c.get(run)
		require.Contains(t, body, `data-status="queued"`)
		require.Contains(t, body, "Queued: waiting for a worker")
		require.Contains(t, body, `hx-trigger="every 1s"`)
		_, err := tb.db.Pool.Exec(ctx, `DELETE FROM sync_runs WHERE id = $1`, id)
		require.NoError(t, err)
	})

	t.Run("bad run requests", func(t *testing.T) {
		resp, body := c.post(path+"/sync/run", c.form("profile", "full_everything"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "Choose one of the run profiles below.")
		resp, _ = c.get("/admin/sync/runs/999999999")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = c.get("/admin/sync/runs/abc")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = c.get("/admin/connected-systems/00000000-0000-0000-0000-000000000000/sync")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("a run of a disabled system is refused with the reason", func(t *testing.T) {
		other, err := systems.CreateConnectedSystem(ctx, tb.viewer(t, "ada"), portal.ConnectedSystem{Name: "Old AD",
			Hosts: []string{"127.0.0.1"}, Port: 1, TLSMode: portal.TLSLDAPS, BindUser: "svc@old.example.com",
			BindPassword: "Secret-Password-2", BaseDN: "DC=old,DC=example,DC=com"})
		require.NoError(t, err)
		resp, body := c.post("/admin/connected-systems/"+other.ID+"/sync/run", c.form("profile", "full_import"))
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		require.Contains(t, body, `data-testid="form-error"`)
		require.Contains(t, body, "Old AD is disabled; enable it to run it.")
		require.Contains(t, body, `data-testid="system-disabled"`)
	})

	t.Run("preview", func(t *testing.T) {
		resp, body := c.get("/admin/sync/preview")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="preview-form"`)
		require.Contains(t, body, `aria-current="page">Sync preview<`)
		resp, body = c.get("/admin/sync/preview?person=zoe")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="previews"`)
		require.Contains(t, body, `data-testid="preview" data-action="`)
		require.Contains(t, body, "Corp AD")
		resp, body = c.get("/admin/sync/preview?person=nobody-here")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		require.Contains(t, body, `data-testid="form-error"`)
		require.Contains(t, body, "nobody-here")

		// Provision now: Corp AD does not answer, which the first step
		// says in the system's words; the rest is not done.
		_, body = c.get("/admin/sync/preview?person=zoe")
		require.Contains(t, body, `data-testid="provision-form"`)
		resp, body = c.post("/admin/sync/provision", c.form("person", "zoe"))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="provision-steps"`)
		require.Contains(t, body, `data-step="read" data-result="error"`)
		require.Contains(t, body, `data-step="export" data-result="skipped"`)
		require.Contains(t, body, `data-testid="previews"`, "the preview as it is now")
		resp, _ = c.post("/admin/sync/provision", c.form("person", "nobody-here"))
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// syncEngine reads what the sync pages saved, over the test's database.
func (tb *testBundle) syncEngine(t *testing.T, systems syncsvc.Systems) *syncsvc.Engine {
	t.Helper()
	return &syncsvc.Engine{Pool: tb.db.Pool, Systems: systems, Requests: tb.db}
}

func TestSyncPagesForbiddenToOthers(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	sys := mustCreateUnreachableSystem(t, tb, systems)
	base := "/admin/connected-systems/" + sys.ID + "/sync"
	gets := []string{"/admin/sync", "/admin/sync/preview?person=ada", "/admin/sync/runs/1", base, base + "/rules/user",
		base + "/exports", base + "/exports?errors=1", base + "/connector-space"}
	posts := []string{base + "/run", base + "/rules/user", base + "/rules/group", base + "/exports/retry", "/admin/sync/provision"}
	for _, account := range []string{"zoe", "siobhan"} {
		c := tb.client(t)
		c.mustSignIn(account)
		for _, path := range gets {
			resp, body := c.get(path)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s GET %s", account, path)
			require.Contains(t, body, "Only administrators can open the administration pages.")
		}
		for _, path := range posts {
			resp, _ := c.post(path, syncRuleFields(c, "profile", "full_import"))
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s POST %s", account, path)
		}
	}
	// Without the CSRF token, even an administrator's post is refused.
	c := tb.client(t)
	c.mustSignIn("ada")
	for _, path := range posts {
		f := syncRuleFields(c, "profile", "full_import")
		f.Del("csrf")
		resp, body := c.post(path, f)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
		require.Contains(t, body, "This form has expired.")
	}
	rules, err := tb.syncEngine(t, systems).SyncRules(context.Background(), sys.ID)
	require.NoError(t, err)
	require.Empty(t, rules, "no rule was saved")
	require.Zero(t, tb.count(t, "SELECT count(*) FROM sync_runs"), "nothing was run")
}

func TestSyncNotConfigured(t *testing.T) {
	t.Parallel()
	tb := setup(t) // no sync engine
	c := tb.client(t)
	c.mustSignIn("ada")
	for _, path := range []string{"/admin/sync", "/admin/sync/preview", "/admin/connected-systems/x/sync"} {
		resp, body := c.get(path)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, path)
		require.Contains(t, body, `data-testid="sync-not-configured"`)
		require.Contains(t, body, "The sync engine is not configured")
	}
	resp, body := c.post("/admin/connected-systems/x/sync/run", c.form("profile", "full_import"))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, body, "nothing was run or changed")
}
