package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

var (
	mailCodeRE  = regexp.MustCompile(`(?m)^\s+(\d{8})\s*$`)
	methodIDRE  = regexp.MustCompile(`name="method" value="([^"]+)"`)
	challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
	secretRE    = regexp.MustCompile(`data-secret="([A-Z2-7]+)"`)
)

// withMethods gives the server a method store that can seal secrets, and
// a code mailer that delivers to the harness's SMTP server.
func withMethods(t *testing.T) func(*web.Server) {
	sink := harness.SMTP(t)
	sealer := testSealer(t)
	return func(s *web.Server) {
		mailer, err := workflow.NewSMTPMailer(workflow.SMTPConfig{Host: sink.Host(), Port: sink.Port(), Username: harness.SMTPUsername,
			Password: harness.SMTPPassword, CAFile: sink.CAFile(), From: "Tessera <tessera@tessera.example>"})
		require.NoError(t, err)
		s.Methods = postgres.NewMethodStore(s.Auth.(*postgres.DB), sealer)
		s.Codes = workflow.CodeMailer{Mailer: mailer}
	}
}

// currentTOTP is the code an authenticator app with secret shows now.
func currentTOTP(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: portal.TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

// addTOTP registers an authenticator app named name for the signed-in
// client, confirmed with its code of the moment, and returns its secret
// and that moment: the code of its time step is used from then on.
func (c *client) addTOTP(name string) (secret string, registered time.Time) {
	c.t.Helper()
	resp, _ := c.post("/settings/security/totp", url.Values{"csrf": {c.csrf}})
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode)
	setupPath := resp.Header.Get("Location")
	require.True(c.t, strings.HasPrefix(setupPath, "/settings/security/totp?setup="), setupPath)
	resp, body := c.get(setupPath)
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
	require.Contains(c.t, body, `src="data:image/png;base64,`, "the QR code is an inline image")
	secret = secretRE.FindStringSubmatch(body)[1]
	setup, _ := url.Parse(setupPath)
	registered = time.Now()
	resp, _ = c.post("/settings/security/totp/confirm", url.Values{"csrf": {c.csrf}, "setup": {setup.Query().Get("setup")},
		"name": {name}, "code": {currentTOTP(c.t, secret, registered)}})
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(c.t, "/settings/security?notice=totp", resp.Header.Get("Location"))
	return secret, registered
}

func TestSecuritySettings(t *testing.T) {
	t.Parallel()
	// Administration → Passwords sets how many methods and how often
	// they are confirmed.
	tb := setup(t, withMethods(t), func(s *web.Server) { s.Passwords = s.Auth.(*postgres.DB) })
	sink := harness.SMTP(t)
	ctx := context.Background()
	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	zoeID := tb.viewer(t, "zoe").PersonID

	_, home := zoe.get("/")
	require.Contains(t, home, `data-testid="methods-nudge"`, "Home asks for a first method")
	resp, page := zoe.get("/settings/security")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `data-testid="no-methods"`)

	t.Run("every form needs its CSRF token", func(t *testing.T) {
		for _, path := range []string{"/settings/security/email", "/settings/security/email/verify", "/settings/security/totp",
			"/settings/security/totp/confirm", "/settings/security/remove", "/settings/security/confirm"} {
			resp, _ := zoe.post(path, url.Values{"alt_email": {"x@example.org"}})
			require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
		}
	})

	address := "zoe." + strings.ToLower(time.Now().Format("150405.000000")) + "@home.example"
	t.Run("an alternate email, verified by a code sent to it", func(t *testing.T) {
		resp, body := zoe.post("/settings/security/email", url.Values{"csrf": {zoe.csrf}, "alt_email": {"not an address"}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "is not an email address")

		resp, body = zoe.post("/settings/security/email", url.Values{"csrf": {zoe.csrf}, "alt_email": {" " + address + " "}})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="code-sent"`)
		challenge := challengeRE.FindStringSubmatch(body)[1]
		mail := sink.WaitFor(t, address, "Confirm your alternate email", 10*time.Second)
		code := mailCodeRE.FindStringSubmatch(mail.Text)[1]
		require.Contains(t, mail.HTML, code)

		wrong := "12345678"
		if wrong == code {
			wrong = "87654321"
		}
		resp, body = zoe.post("/settings/security/email/verify", url.Values{"csrf": {zoe.csrf}, "challenge": {challenge},
			"alt_email": {address}, "code": {wrong}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "That code is not right")
		require.Contains(t, body, `data-testid="code-sent"`, "the person may try again")

		mateo := tb.client(t)
		mateo.mustSignIn("mateo")
		resp, _ = mateo.post("/settings/security/email/verify", url.Values{"csrf": {mateo.csrf}, "challenge": {challenge}, "code": {code}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "zoe's code is no use to mateo")

		resp, _ = zoe.post("/settings/security/email/verify", url.Values{"csrf": {zoe.csrf}, "challenge": {challenge},
			"alt_email": {address}, "code": {code}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = zoe.get(resp.Header.Get("Location"))
		require.Contains(t, body, "Your alternate email address is registered.")
		require.Contains(t, body, `data-testid="method-email"`)
		require.Contains(t, body, address)

		resp, _ = zoe.post("/settings/security/email/verify", url.Values{"csrf": {zoe.csrf}, "challenge": {challenge}, "code": {code}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a code works once")
		resp, body = zoe.post("/settings/security/email", url.Values{"csrf": {zoe.csrf}, "alt_email": {strings.ToUpper(address)}})
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		require.Contains(t, body, "is registered already")

		_, home := zoe.get("/")
		require.NotContains(t, home, `data-testid="methods-nudge"`, "one method is what a person needs")
	})

	var secret string
	t.Run("an authenticator app, confirmed by its first code", func(t *testing.T) {
		resp, _ := zoe.post("/settings/security/totp", url.Values{"csrf": {zoe.csrf}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		setup, _ := url.Parse(resp.Header.Get("Location"))
		_, body := zoe.get(setup.String())
		first := secretRE.FindStringSubmatch(body)[1]
		resp, body = zoe.post("/settings/security/totp/confirm", url.Values{"csrf": {zoe.csrf}, "setup": {setup.Query().Get("setup")},
			"code": {currentTOTP(t, first, time.Now().Add(-10*time.Minute))}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, `data-testid="totp-qr"`, "the QR code is shown again")

		mateo := tb.client(t)
		mateo.mustSignIn("mateo")
		resp, _ = mateo.get(setup.String())
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "zoe's secret is not shown to mateo")

		secret, _ = zoe.addTOTP("Zoë's phone")
		require.NotEqual(t, first, secret, "starting again makes a new secret")
		_, body = zoe.get("/settings/security")
		require.Contains(t, body, `data-testid="method-totp"`)
		require.Contains(t, body, "Zoë&#39;s phone")
		var pending int
		require.NoError(t, tb.db.Pool.QueryRow(ctx, "SELECT count(*) FROM auth_methods WHERE person_id = $1 AND NOT active", zoeID).Scan(&pending))
		require.Zero(t, pending, "the first setup was replaced, the second confirmed")
	})

	t.Run("methods are removed by their owner only", func(t *testing.T) {
		_, body := zoe.get("/settings/security")
		ids := methodIDRE.FindAllStringSubmatch(body, -1)
		require.Len(t, ids, 2)
		mateo := tb.client(t)
		mateo.mustSignIn("mateo")
		resp, _ := mateo.post("/settings/security/remove", url.Values{"csrf": {mateo.csrf}, "method": {ids[1][1]}})
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = zoe.post("/settings/security/remove", url.Values{"csrf": {zoe.csrf}, "method": {ids[1][1]}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = zoe.get("/settings/security")
		require.NotContains(t, body, `data-testid="method-totp"`)
	})

	t.Run("Home asks to check the methods after the administrator's interval", func(t *testing.T) {
		ada := tb.viewer(t, "ada")
		interval := func(days int) {
			t.Helper()
			st, err := tb.db.PasswordSettings(ctx)
			require.NoError(t, err)
			st.ReconfirmDays = days
			require.NoError(t, tb.db.SavePasswordSettings(ctx, ada, st))
		}
		confirmedAgo := func(days int) {
			t.Helper()
			_, err := tb.db.Pool.Exec(ctx, "UPDATE method_reviews SET confirmed_at = $2 WHERE person_id = $1", zoeID,
				time.Now().AddDate(0, 0, -days))
			require.NoError(t, err)
		}
		asked := func() bool {
			t.Helper()
			_, home := zoe.get("/")
			return strings.Contains(home, `data-testid="methods-reconfirm"`)
		}
		interval(30)
		confirmedAgo(29)
		require.False(t, asked(), "within the 30 days Administration → Passwords sets")
		confirmedAgo(31)
		require.True(t, asked(), "past them")
		interval(0)
		require.False(t, asked(), "0: never asked")
		interval(30)
		require.True(t, asked())
		resp, _ := zoe.post("/settings/security/confirm", url.Values{"csrf": {zoe.csrf}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.False(t, asked(), "confirmed")
		var confirmed time.Time
		require.NoError(t, tb.db.Pool.QueryRow(ctx, "SELECT confirmed_at FROM method_reviews WHERE person_id = $1", zoeID).Scan(&confirmed))
		require.WithinDuration(t, time.Now(), confirmed, time.Hour, "confirmed now")
	})

	t.Run("staff are asked for two", func(t *testing.T) {
		ada := tb.client(t)
		ada.mustSignIn("ada")
		ada.addTOTP("Ada's phone")
		_, home := ada.get("/")
		require.Contains(t, home, "You have registered 1 of the 2 sign-in and recovery methods you need.")
	})

	t.Run("audited without codes or secrets", func(t *testing.T) {
		var details string
		require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT string_agg(action || ' ' || details::text, E'\n' ORDER BY id) FROM audit_log
			WHERE target_id = $1 AND action IN ('method_registered', 'method_removed', 'code_issued', 'code_check', 'methods_confirmed',
				'method_registration_failed')`, zoeID).Scan(&details))
		for _, action := range []string{"method_registered", "method_removed", "code_issued", "code_check", "methods_confirmed", "method_registration_failed"} {
			require.Contains(t, details, action)
		}
		require.NotContains(t, details, secret)
	})
}

func TestSecurityQuestions(t *testing.T) {
	t.Parallel()
	tb := setup(t, withMethods(t), func(s *web.Server) { s.Passwords = s.Auth.(*postgres.DB) })
	ctx := context.Background()
	q := portal.SecurityQuestions
	answers := url.Values{"question_1": {q[0]}, "answer_1": {"Rex"}, "question_2": {q[1]}, "answer_2": {"Lyon"},
		"question_3": {q[2]}, "answer_3": {"Pulp"}}

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, page := zoe.get("/settings/security")
	require.NotContains(t, page, `data-testid="set-questions"`, "off until an administrator turns them on")
	form := cloneValues(answers)
	form.Set("csrf", zoe.csrf)
	resp, _ := zoe.post("/settings/security/questions", form)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	settings, err := tb.db.PasswordSettings(ctx)
	require.NoError(t, err)
	settings.SecurityQuestions = true
	require.NoError(t, tb.db.SavePasswordSettings(ctx, tb.viewer(t, "ada"), settings))

	_, page = zoe.get("/settings/security")
	require.Contains(t, page, `data-testid="set-questions"`)
	bad := cloneValues(form)
	bad.Set("question_2", q[0])
	resp, page = zoe.post("/settings/security/questions", bad)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "the same question twice")
	require.Contains(t, page, "Choose 3 different questions.")
	resp, _ = zoe.post("/settings/security/questions", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = zoe.get("/settings/security")
	require.Contains(t, page, `data-testid="method-questions"`)
	require.NoError(t, postgres.NewMethodStore(tb.db, nil).CheckAnswers(ctx, tb.viewer(t, "zoe").PersonID,
		map[string]string{q[0]: "rex", q[1]: "LYON", q[2]: "pulp"}), "the answers are stored, normalised")

	ada := tb.client(t)
	ada.mustSignIn("ada")
	_, page = ada.get("/settings/security")
	require.NotContains(t, page, `data-testid="set-questions"`, "never for staff")
	staff := cloneValues(answers)
	staff.Set("csrf", ada.csrf)
	resp, _ = ada.post("/settings/security/questions", staff)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}
