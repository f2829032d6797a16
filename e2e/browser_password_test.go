package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
)

// TestBrowserHelpdeskRecoveryCode: the helpdesk reads a caller's account
// state live from AD, issues a one-time recovery code (shown once), and
// the caller resets their password with it in the reset flow, with live
// feedback on the password they type, then signs in with it; the code
// works once.
func TestBrowserHelpdeskRecoveryCode(t *testing.T) {
	t.Parallel()
	w := newPasswordWorld(t)
	mateo, siobhan := w.people["mateo"], w.people["siobhan"]
	const chosen = "Quiet harbour lamp 17 fjord"
	axe := harness.AxeSource(t) // every page of the journey passes axe-core

	h := newBrowserFor(t, w.srv, passwordTabTime)
	require.EqualValues(t, 200, h.signIn(siobhan.Account, demo.DemoPassword))
	require.EqualValues(t, 200, h.open("/people/"+mateo.ID))
	require.EqualValues(t, 200, h.click(testID("account-panel")))
	require.Equal(t, "Yes", h.text("state-enabled"), "read live from AD")
	require.Equal(t, "No", h.text("state-locked"))
	h.do(chromedp.SendKeys(chromedp.ID("reason"), "Caller verified by call-back to his desk phone"))
	require.EqualValues(t, 200, h.click(`[data-testid=account-action] button[value=recovery]`))
	code := h.text("account-secret")
	require.Regexp(t, `^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$`, code)
	h.shot("recovery-code")
	h.axe(axe, "account panel with a recovery code", wideWidth)
	require.EqualValues(t, 200, h.open("/people/"+mateo.ID+"/account"))
	require.False(t, h.has(testID("account-secret")), "the code is shown once")

	c := newBrowserFor(t, w.srv, passwordTabTime)
	require.EqualValues(t, 200, c.open("/signin"))
	require.EqualValues(t, 200, c.click(testID("forgot-password")))
	c.axe(axe, "/password/reset", wideWidth)
	c.do(chromedp.SendKeys(chromedp.ID("account"), mateo.UPN))
	require.EqualValues(t, 200, c.click(`[data-testid=reset-start] button`))
	c.do(chromedp.SendKeys(chromedp.ID("code"), code))
	require.EqualValues(t, 200, c.click(`[data-testid=reset-verify] button`))
	require.Contains(t, c.text("directory-rules"), "3 kinds", "AD's complexity rule, explained")
	c.do(chromedp.SendKeys(chromedp.ID("new_password"), "mateo2024"))
	c.waitFor(`document.querySelector('[data-testid=password-problems]') !== null`, "live feedback on a weak password")
	require.Contains(t, c.text("password-problems"), "at least 15 characters")
	eval[string](c, `document.getElementById("new_password").value = ""`)
	c.do(chromedp.SendKeys(chromedp.ID("new_password"), chosen))
	c.waitFor(`document.querySelector('[data-testid=password-problems]') === null && document.querySelector('[data-testid=password-strength]') !== null`,
		"live feedback on a good password")
	c.shot("new-password")
	c.axe(axe, "/password/reset/new", wideWidth)
	c.do(chromedp.SendKeys(chromedp.ID("confirm_password"), chosen))
	status := c.click(`[data-testid=new-password] button[value=reset]`)
	require.EqualValues(t, 200, status, "%.2000s", eval[string](c, "document.body.innerText"))
	require.Equal(t, "Your password is reset", c.text("password-done"))
	c.axe(axe, "reset done", wideWidth)
	require.NoError(t, w.bind(t, mateo.UPN, chosen), "the new password binds in AD")
	// The helpdesk sees the reset among his password events.
	require.EqualValues(t, 200, h.open("/people/"+mateo.ID+"/account"))
	require.True(t, h.has(`[data-testid=password-events] tr[data-action=password_reset_self_service]`), "the reset on the panel")
	require.True(t, h.has(`[data-testid=password-events] tr[data-action=recovery_code_issued]`), "and the code issued for it")
	h.axe(axe, "account panel with password events", wideWidth)
	require.EqualValues(t, 200, c.click(`a[href="/signin"].button`))
	require.EqualValues(t, 200, c.signIn(mateo.Account, chosen))
	require.Equal(t, "/", c.path())

	// The recovery code worked once.
	r := newBrowserFor(t, w.srv, passwordTabTime)
	require.EqualValues(t, 200, r.open("/password/reset"))
	r.do(chromedp.SendKeys(chromedp.ID("account"), mateo.Account))
	require.EqualValues(t, 200, r.click(`[data-testid=reset-start] button`))
	r.do(chromedp.SendKeys(chromedp.ID("code"), code))
	require.EqualValues(t, 401, r.click(`[data-testid=reset-verify] button`))
	require.Contains(t, r.text("reset-error"), "That code is not right")

	// The audit log has who issued the code and why, the gate it opened
	// and the reset; never the code or the password.
	var actor, reason string
	require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT coalesce(actor_id::text, ''), details->>'reason' FROM audit_log
		WHERE action = 'recovery_code_issued' AND target_id = $1`, mateo.ID).Scan(&actor, &reason))
	require.Equal(t, siobhan.ID, actor)
	require.Equal(t, "Caller verified by call-back to his desk phone", reason)
	var trail []string
	rows, err := w.pool.Query(context.Background(), `SELECT action || ' ' || details::text FROM audit_log WHERE target_id = $1
		AND (action LIKE 'password\_reset\_%' OR action = 'recovery_code_issued') ORDER BY id`, mateo.ID)
	require.NoError(t, err)
	trail, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	joined := strings.Join(trail, "\n")
	require.Contains(t, joined, `password_reset_gate_passed {"gate": "recovery"`)
	require.Contains(t, joined, "password_reset_self_service")
	require.NotContains(t, joined, code)
	require.NotContains(t, joined, strings.ReplaceAll(code, "-", ""))
	require.NotContains(t, joined, chosen)
}

// TestBrowserPasswordReset: the administrator, on a server that asks staff
// for a second factor, registers an authenticator app before any page
// serves her, signs in again with its code, and requires two methods; Zoë
// registers an alternate email (confirmed by a code the SMTP server
// delivers) and an authenticator app; signed out, she resets her password
// with the code mailed to her addresses and her app's code, and signs in
// with the new password.
func TestBrowserPasswordReset(t *testing.T) {
	t.Parallel()
	w := newPasswordWorldOf(t, 0, "TESSERA_STAFF_SECOND_FACTOR=on")
	zoe, ada := w.people["zoe"], w.people["ada"]
	alternate := "alt-" + zoe.Email
	const chosen = "Violet meadow copper 42 tuba"

	// Staff second factor: the password alone reaches only the second
	// step, which sends her to register an authenticator first.
	a := newBrowserFor(t, w.srv, passwordTabTime)
	require.EqualValues(t, 200, a.signIn(ada.Account, demo.DemoPassword))
	require.True(t, a.has(testID("second-factor-enrol")), "no authenticator yet: register one")
	require.EqualValues(t, 200, a.open("/admin/passwords"))
	require.True(t, strings.HasPrefix(a.path(), "/signin/verify"), "no page before the second factor: %s", a.path())
	require.EqualValues(t, 200, a.open("/settings/security"))
	require.EqualValues(t, 200, a.click(testID("add-totp")))
	adaSecret := a.attr(testID("totp-secret"), "data-secret")
	adaCode, err := totp.GenerateCode(adaSecret, time.Now())
	require.NoError(t, err)
	a.do(chromedp.SendKeys(chromedp.ID("totp-code"), adaCode))
	require.EqualValues(t, 200, a.click(testID("confirm-totp")))
	require.True(t, a.has(testID("method-totp")))
	// Signed in again, the password is followed by the app's code: a
	// wrong one is refused, the next step's is taken.
	require.EqualValues(t, 200, a.follow(chromedp.Submit(chromedp.CSS(`form[action="/signout"]`))))
	require.EqualValues(t, 200, a.signIn(ada.Account, demo.DemoPassword))
	require.True(t, strings.HasPrefix(a.path(), "/signin/verify"), a.path())
	a.do(chromedp.SendKeys(chromedp.ID("second-code"), "000000"))
	require.EqualValues(t, 401, a.click(testID("verify-totp")))
	require.Contains(t, a.text("second-factor-error"), "not right")
	adaCode, err = totp.GenerateCode(adaSecret, time.Now().Add(30*time.Second))
	require.NoError(t, err)
	a.do(chromedp.SendKeys(chromedp.ID("second-code"), adaCode))
	require.EqualValues(t, 200, a.click(testID("verify-totp")))
	require.Equal(t, "/", a.path())
	require.EqualValues(t, 200, a.open("/admin/passwords"))
	a.do(chromedp.SetValue(chromedp.ID("gates_required"), "2"))
	require.EqualValues(t, 200, a.click(`[data-testid=password-settings] button[type=submit]`))
	require.True(t, a.has(testID("settings-saved")))
	axe := harness.AxeSource(t)
	a.axe(axe, "/admin/passwords", wideWidth)

	z := newBrowserFor(t, w.srv, passwordTabTime)
	require.EqualValues(t, 200, z.signIn(zoe.Account, demo.DemoPassword))
	require.EqualValues(t, 200, z.open("/settings/security"))
	z.do(chromedp.SendKeys(chromedp.ID("alt-email"), alternate))
	require.EqualValues(t, 200, z.click(testID("add-email")))
	mail := w.sink.WaitFor(t, alternate, "Confirm your alternate email", 15*time.Second)
	z.do(chromedp.SendKeys(chromedp.ID("email-code"), resetCodeRE.FindStringSubmatch(mail.Text)[1]))
	require.EqualValues(t, 200, z.click(testID("verify-email")))
	require.True(t, z.has(testID("method-email")))
	require.EqualValues(t, 200, z.click(testID("add-totp")))
	secret := z.attr(testID("totp-secret"), "data-secret")
	now, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	z.do(chromedp.SendKeys(chromedp.ID("totp-code"), now))
	require.EqualValues(t, 200, z.click(testID("confirm-totp")))
	require.True(t, z.has(testID("method-totp")))
	z.axe(axe, "/settings/security with methods", wideWidth)
	require.EqualValues(t, 200, z.follow(chromedp.Submit(chromedp.CSS(`form[action="/signout"]`))))

	before := len(w.sink.Messages())
	require.EqualValues(t, 200, z.click(testID("forgot-password")))
	z.do(chromedp.SendKeys(chromedp.ID("account"), zoe.Account))
	require.EqualValues(t, 200, z.click(`[data-testid=reset-start] button`))
	code := w.code(t, alternate, before) // mailed to the alternate address too
	require.Equal(t, code, w.code(t, zoe.Email, before))
	z.do(chromedp.SendKeys(chromedp.ID("code"), code))
	require.EqualValues(t, 200, z.click(`[data-testid=reset-verify] button`))
	require.Contains(t, z.text("reset-next-gate"), "Step 1 of 2")
	// The next time step: the one used to confirm the app is spent.
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	require.NoError(t, err)
	z.do(chromedp.SendKeys(chromedp.ID("code"), next))
	require.EqualValues(t, 200, z.click(`[data-testid=reset-verify] button`))
	z.do(chromedp.SendKeys(chromedp.ID("new_password"), chosen), chromedp.SendKeys(chromedp.ID("confirm_password"), chosen))
	require.EqualValues(t, 200, z.click(`[data-testid=new-password] button[value=reset]`))
	require.Equal(t, "Your password is reset", z.text("password-done"))
	z.shot("reset-done")
	require.NoError(t, w.bind(t, zoe.UPN, chosen))
	w.sink.WaitFor(t, alternate, "Your password was reset", 15*time.Second)
	require.EqualValues(t, 200, z.click(`a[href="/signin"].button`))
	require.EqualValues(t, 200, z.signIn(zoe.Account, chosen))
	require.Equal(t, "/", z.path())
}

// passwordTabTime is how long a tab of the password journeys lives: each
// registers methods, then resets against Samba, which a machine busy with
// other tests can take longer than harness.TabTimeout over.
const passwordTabTime = 4 * time.Minute
