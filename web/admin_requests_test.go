package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestAdminRequests: an administrator finds a request by its status,
// kind, requester, target, policy and age, opens its timeline, and for a
// failed export retries it or cancels it with a reason, both audited.
func TestAdminRequests(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	// A connected system with rules: an applied request waits for its
	// export (these tests run no sync engine).
	var sys string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `INSERT INTO connected_systems (name, type, hosts, port, tls_mode, bind_user,
		bind_password_sealed, base_dn) VALUES ('Demo AD', 'ad', '{dc.example}', 636, 'ldaps', 'x',
		'\x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d', 'DC=x') RETURNING id`).Scan(&sys))
	_, err := tb.db.Pool.Exec(ctx, `INSERT INTO sync_rules (system_id, class) VALUES ($1, 'group')`, sys)
	require.NoError(t, err)

	// Policies are named by administrators: in German here, so that the
	// German pages below hold no English but the reasons people typed.
	_, err = tb.db.Pool.Exec(ctx, `UPDATE policies SET name = 'Beitritt mit Genehmigung' WHERE name = 'Request to join owner-approval groups'`)
	require.NoError(t, err)

	zoe, mateo, ada := tb.client(t), tb.client(t), tb.client(t)
	zoe.mustSignIn("zoe")
	mateo.mustSignIn("mateo")
	ada.mustSignIn("ada")
	vpn := tb.groupID(t, "VPN users")
	resp, _ := zoe.post("/groups/"+vpn+"/request", url.Values{"csrf": {zoe.csrf}, "justification": {"on call"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	reqPath := strings.Split(resp.Header.Get("Location"), "?")[0]
	id := strings.TrimPrefix(reqPath, "/requests/")
	m := approvalLinkRE.FindStringSubmatch(mateo.waitFor("/approvals", "Join VPN users"))
	resp, _ = mateo.post("/approvals/"+m[1], url.Values{"csrf": {mateo.csrf}, "decision": {"approve"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	zoe.waitFor(reqPath, `data-testid="status">Approved, being applied<`)

	// Demo AD refuses the change, as the sync engine records it.
	require.NoError(t, pgx.BeginFunc(ctx, tb.db.Pool, func(tx pgx.Tx) error {
		return tb.db.ExportsFailedTx(ctx, tx, []string{id}, portal.Textf("%s refused the change: %s. An administrator has been shown the error; the export is retried, and the request completes if its values go through.",
			"Demo AD", "00002081: constraint violation"))
	}))
	_, body := zoe.get(reqPath)
	require.Contains(t, body, `data-state="failed" data-testid="step"><span class="sr-only">Stopped: </span> <strong>Export failed</strong>`)

	// The list, and each filter.
	_, body = zoe.get("/admin/requests")
	require.NotContains(t, body, `data-testid="admin-requests"`)
	resp, _ = zoe.get("/admin/requests")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, body = ada.get("/admin/requests")
	require.Contains(t, body, `href="/admin/requests/`+id+`"`)
	var policy string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT policy_id::text FROM requests WHERE id = $1`, id).Scan(&policy))
	for q, found := range map[string]bool{
		"status=failed": true, "status=completed": false, "kind=add_member": true, "kind=update_person": false,
		"requester=ZOË": true, "requester=zoe": true, "requester=mateo": false, "target=vpn": true, "target=payroll": false,
		"policy=" + policy: true, "age=1h": false, "status=failed&kind=add_member&target=VPN&requester=zo": true,
	} {
		resp, body := ada.get("/admin/requests?" + q)
		require.Equal(t, http.StatusOK, resp.StatusCode, q)
		require.Equal(t, found, strings.Contains(body, `href="/admin/requests/`+id+`"`), q)
	}
	for _, q := range []string{"status=lost", "kind=x", "age=1y", "policy=nope"} {
		resp, _ := ada.get("/admin/requests?" + q)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
	}

	// Its page: the timeline and, failed, retry and cancel.
	_, body = ada.get("/admin/requests/" + id)
	require.Contains(t, body, `data-testid="timeline"`)
	require.Contains(t, body, "00002081: constraint violation.")
	require.Contains(t, body, `data-testid="retry-request"`)
	resp, _ = zoe.post("/admin/requests/"+id+"/retry", url.Values{"csrf": {zoe.csrf}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = ada.post("/admin/requests/"+id+"/retry", url.Values{"csrf": {ada.csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = ada.get(resp.Header.Get("Location"))
	require.Contains(t, body, "The change is being sent to the connected systems again")
	require.Contains(t, body, `data-kind="retried"><strong>Retried</strong> by <bdi>Ada`)
	require.Contains(t, body, `hx-trigger="every 1s"`, "the page follows the retried request")
	var jobs int
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'sync_export' AND args->'request_ids' ? $1`, id).Scan(&jobs))
	require.Equal(t, 2, jobs, "the commit's job and the retry's")

	resp, body = ada.post("/admin/requests/"+id+"/cancel", url.Values{"csrf": {ada.csrf}, "reason": {"  "}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Say why the request is canceled")
	resp, _ = ada.post("/admin/requests/"+id+"/cancel", url.Values{"csrf": {ada.csrf}, "reason": {"VPN access moved to the new gateway."}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = zoe.get(reqPath)
	require.Contains(t, body, `data-testid="status">Canceled<`)
	require.Contains(t, body, "Canceled by an administrator: VPN access moved to the new gateway.")
	resp, body = ada.post("/admin/requests/"+id+"/retry", url.Values{"csrf": {ada.csrf}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "Only a failed request can be retried or canceled")
	var actions []string
	rows, err := tb.db.Pool.Query(ctx, `SELECT action || ' ' || coalesce(details->>'reason', '') FROM audit_log
		WHERE target_id = $1 AND action IN ('request_retried', 'request_canceled') ORDER BY id`, id)
	require.NoError(t, err)
	actions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"request_retried ", "request_canceled VPN access moved to the new gateway."}, actions)

	// The same pages in German: every entry of the timeline (stored as
	// text, not English), the progress line, and the lists' cards.
	for _, c := range []*client{zoe, ada} {
		resp, _ = c.post("/settings/language", c.form("language", "de"))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	}
	_, body = zoe.get(reqPath)
	requireAllGerman(t, "a canceled request's page", body)
	for _, german := range []string{"unter der Richtlinie „Beitritt mit Genehmigung“", "; 1 von 1 nötig", "hat genehmigt",
		"Demo AD hat die Änderung abgelehnt: 00002081: constraint violation. Ein Administrator sieht den Fehler",
		"Die Änderung wird erneut an die verbundenen Systeme gesendet.",
		"Von einem Administrator abgebrochen: VPN access moved to the new gateway."} {
		require.Contains(t, body, german)
	}
	_, body = zoe.get("/requests")
	requireAllGerman(t, "My requests", body)
	require.Contains(t, body, `data-label="Antrag"`)
	require.NotContains(t, body, "Join VPN users", "the request's summary is German too")
	_, body = ada.get("/admin/requests")
	requireAllGerman(t, "Administration → Requests", body)
	require.Contains(t, body, `data-label="Beantragt von"`)
	_, body = ada.get("/admin/requests/" + id)
	requireAllGerman(t, "a request's page for administrators", body)
}
