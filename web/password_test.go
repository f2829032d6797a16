package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/web"
)

// TestResetGates drives the reset flow's gate step through the real
// handlers: security questions as a second gate where the settings allow
// them (never the first, never for staff), and a code for an account that
// names no one doing the same work as one for a person.
func TestResetGates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb, _ := setupConnected(t, testSealer(t))
	methods := postgres.NewMethodStore(tb.db, nil)
	zoe, ada := tb.viewer(t, "zoe"), tb.viewer(t, "ada")
	siobhan := tb.viewer(t, "siobhan")
	_, err := tb.db.Pool.Exec(ctx, `UPDATE password_settings SET gates_required = 2, security_questions = true`)
	require.NoError(t, err)
	q := portal.SecurityQuestions
	answers := map[string]string{q[1]: "Lisbon", q[3]: "Citroen AX", q[5]: "Bean"}
	for _, p := range []portal.Viewer{zoe, ada} {
		// Ada is staff: the settings page never lets her register
		// questions, but roles change; the flow must not offer them.
		_, err := methods.SetSecurityAnswers(ctx, p.PersonID, answers)
		require.NoError(t, err)
	}
	recovery := func(p portal.Viewer) string {
		code, _, err := tb.db.IssueRecoveryCode(ctx, siobhan, p.PersonID, "verified by phone")
		require.NoError(t, err)
		return code
	}
	start := func(account string) *client {
		c := tb.client(t)
		c.get("/password/reset")
		resp, _ := c.post("/password/reset", url.Values{"csrf": {c.csrf}, "account": {account}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		c.get("/password/reset/verify")
		return c
	}

	t.Run("questions are a second gate only", func(t *testing.T) {
		c := start("zoe")
		_, body := c.get("/password/reset/verify")
		require.NotContains(t, body, `data-testid="reset-questions"`, "never the first gate: they would tell the account exists")
		resp, _ := c.post("/password/reset/questions", url.Values{"csrf": {c.csrf}, "answer_1": {"Lisbon"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)

		resp, body = c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {recovery(zoe)}})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="reset-questions"`)
		require.Contains(t, body, "or the answers to your security questions")
		for _, question := range []string{q[1], q[3], q[5]} {
			require.Contains(t, body, question)
		}
		resp, body = c.post("/password/reset/questions", url.Values{"csrf": {c.csrf}, "answer_1": {"Lisbon"},
			"answer_2": {"Citroen BX"}, "answer_3": {"Bean"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "The answers do not match")
		resp, _ = c.post("/password/reset/questions", url.Values{"csrf": {c.csrf}, "answer_1": {" lisbon "},
			"answer_2": {"citroën ax"}, "answer_3": {"BEAN!"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "normalised, but ë is not e")
		resp, _ = c.post("/password/reset/questions", url.Values{"csrf": {c.csrf}, "answer_1": {" lisbon "},
			"answer_2": {"CITROEN  ax"}, "answer_3": {"BEAN!"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/password/reset/new", resp.Header.Get("Location"))
	})

	t.Run("never for staff", func(t *testing.T) {
		c := start("ada")
		resp, body := c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {recovery(ada)}})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="reset-next-gate"`)
		require.NotContains(t, body, `data-testid="reset-questions"`)
		resp, _ = c.post("/password/reset/questions", url.Values{"csrf": {c.csrf}, "answer_1": {"Lisbon"},
			"answer_2": {"Citroen AX"}, "answer_3": {"Bean"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})

	t.Run("a wrong code does the same work for no one", func(t *testing.T) {
		// The same statements write the same audit entries (the gate's
		// failure and the authenticator check), whether or not the
		// account names someone.
		entries := func() (n int) {
			require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n))
			return n
		}
		wrong := func(account string) (int, string) {
			c := start(account)
			before := entries()
			resp, body := c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {"123456"}})
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			return entries() - before, body
		}
		known, knownBody := wrong("mateo")
		unknown, unknownBody := wrong("nobody-at-all")
		require.Equal(t, 2, known)
		require.Equal(t, known, unknown)
		require.Equal(t, len(knownBody), len(unknownBody))
	})

	t.Run("spent budgets refuse the gate before a code is tried", func(t *testing.T) {
		// The budgets are checked and the code tried in one statement:
		// once the budgets are spent, even the right recovery code opens
		// nothing and is not used up, and the lockout is audited once.
		siobhanID := siobhan.PersonID
		c := start("siobhan")
		var last *http.Response
		for range 12 {
			if last, _ = c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {"12345678"}}); last.StatusCode != http.StatusUnauthorized {
				break
			}
		}
		require.Equal(t, http.StatusTooManyRequests, last.StatusCode)
		code := recovery(siobhan)
		resp, body := c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {code}})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Contains(t, body, "Too many wrong codes")
		var unused, locked int
		require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE person_id = $1 AND used_at IS NULL
			AND expires_at > now()`, siobhanID).Scan(&unused))
		require.Equal(t, 1, unused, "the recovery code was not tried")
		require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'password_reset_locked'
			AND target_id = $1`, siobhanID).Scan(&locked))
		require.Equal(t, 1, locked)
		// Another person's flow from the same address is paused too.
		other := start("zoe")
		resp, _ = other.post("/password/reset/verify", url.Values{"csrf": {other.csrf}, "code": {recovery(zoe)}})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the client address's budget is spent")
		_, err := tb.db.Pool.Exec(ctx, `DELETE FROM signin_budgets WHERE key LIKE 'reset:%'`)
		require.NoError(t, err)
	})

	t.Run("an unlock with no account to unlock says so", func(t *testing.T) {
		// Mateo has no account in a connected system here: nothing can be
		// unlocked, and the page must not say his account is.
		_, err := tb.db.Pool.Exec(ctx, `UPDATE password_settings SET gates_required = 1, unlock_only = true`)
		require.NoError(t, err)
		c := start("mateo")
		resp, _ := c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {recovery(tb.viewer(t, "mateo"))}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, body := c.post("/password/reset/new", url.Values{"csrf": {c.csrf}, "action": {"unlock"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.Contains(t, body, "There was nothing to unlock")
		require.NotContains(t, body, "is unlocked")
	})

	t.Run("a helpdesk action on a person with no account is audited and says nothing was done", func(t *testing.T) {
		// Mateo still has no account in a connected system: the helpdesk
		// is told so, and the audit log keeps the act and its reason.
		mateo := tb.viewer(t, "mateo").PersonID
		c := tb.client(t)
		c.mustSignIn("siobhan")
		audited := func(action string) (n int) {
			require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2
				AND actor_id = $3 AND details->>'reason' = 'Ticket 4801' AND jsonb_array_length(details->'systems') = 0
				AND details ? 'nothing_done'`, action, mateo, siobhan.PersonID).Scan(&n))
			return n
		}
		// (A reset is not among them: it sets his Tessera sign-in password.)
		for _, action := range []string{"unlock", "disable", "enable"} {
			resp, body := c.post("/people/"+mateo+"/account", c.form("action", action, "reason", "Ticket 4801"))
			require.Equal(t, http.StatusConflict, resp.StatusCode, action)
			require.Contains(t, body, "No connected system has an account joined to this person: nothing was done.", action)
			require.Equal(t, 1, audited("helpdesk_"+action), action)
		}
		_, body := c.get("/people/" + mateo + "/account")
		require.Contains(t, body, `data-testid="password-event-nothing"`, "the panel lists what was tried and that nothing was done")
	})
}

// TestResetCodesMailedAtStop: the reset code queued by the last request
// before a graceful stop is mailed by DrainResetMail, not lost with the
// process; a start after it answers as always and queues nothing.
func TestResetCodesMailedAtStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var srv *web.Server
	tb := setup(t, withMethods(t), func(s *web.Server) {
		s.Passwords, s.Accounts, srv = s.Auth.(*postgres.DB), &syncsvc.Accounts{}, s
	})
	sink := harness.SMTP(t)
	email := fmt.Sprintf("drain-%d@tessera.example", time.Now().UnixNano())
	_, err := tb.db.Pool.Exec(ctx, `UPDATE people SET email = $1 WHERE account_name = 'zoe'`, email)
	require.NoError(t, err)
	codesTo := func() (n int) {
		for _, m := range sink.Messages() {
			if slices.Contains(m.Rcpt, email) && m.Subject == "Your password reset code" {
				n++
			}
		}
		return n
	}
	start := func() *http.Response {
		c := tb.client(t)
		c.get("/password/reset")
		resp, _ := c.post("/password/reset", url.Values{"csrf": {c.csrf}, "account": {"zoe"}})
		return resp
	}

	resp := start()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NoError(t, srv.DrainResetMail(ctx))
	require.Equal(t, 1, codesTo(), "mailed before the drain returned")

	after := start()
	require.Equal(t, http.StatusSeeOther, after.StatusCode)
	require.Equal(t, resp.Header.Get("Location"), after.Header.Get("Location"), "the same answer")
	require.NoError(t, srv.DrainResetMail(ctx))
	require.Equal(t, 1, codesTo(), "nothing queued after the drain")
}
