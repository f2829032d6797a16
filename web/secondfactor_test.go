package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/web"
)

func TestStaffSecondFactor(t *testing.T) {
	t.Parallel()
	tb := setup(t, withMethods(t), func(s *web.Server) { s.Config.StaffSecondFactor = true })
	ctx := context.Background()

	zoe := tb.client(t)
	_, page := zoe.get("/signin")
	require.NotContains(t, page, `data-testid="staff-relaxed"`, "the policy is on: nothing to say")
	zoe.mustSignIn("zoe")
	resp, _ := zoe.get("/people")
	require.Equal(t, http.StatusOK, resp.StatusCode, "people without a staff role give no second factor")

	ada := tb.client(t)
	resp = ada.signIn("ada", demo.DemoPassword, "/admin")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = ada.get("/admin")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/signin/verify?next=%2Fadmin", resp.Header.Get("Location"), "a password alone does not open the administration")
	resp, page = ada.get("/signin/verify?next=%2Fadmin")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `data-testid="second-factor-enrol"`, "with nothing registered, the page says how to register")
	resp, _ = ada.get("/people", "HX-Request", "true")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "/signin/verify?next=%2Fpeople", resp.Header.Get("HX-Redirect"))

	// With nothing registered, the settings page is open to register a
	// first authenticator, which then counts for this session.
	resp, _ = ada.get("/settings/security")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	secret, registered := ada.addTOTP("Ada's phone")
	resp, _ = ada.get("/admin")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The next password sign-in asks for a code, and only a fresh one.
	ada2 := tb.client(t)
	ada2.signIn("ada", demo.DemoPassword, "")
	resp, _ = ada2.get("/settings/security")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "with an authenticator registered, no other can be added before the second factor")
	require.Equal(t, "/signin/verify?next=%2Fsettings%2Fsecurity", resp.Header.Get("Location"))
	resp, page = ada2.get("/signin/verify?next=%2Fadmin")
	require.Contains(t, page, `data-testid="verify-totp"`)
	resp, _ = ada2.post("/signin/verify", url.Values{"code": {"000000"}, "next": {"/admin"}})
	require.Equal(t, "/signin", resp.Header.Get("Location"), "no CSRF token: nothing is checked")
	// The code of the registration's time step, not of now: a step may
	// have begun since, whose code is fresh.
	resp, page = ada2.post("/signin/verify", url.Values{"csrf": {ada2.csrf}, "code": {currentTOTP(t, secret, registered)}, "next": {"/admin"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the code that registered the app is used")
	require.Contains(t, page, `data-testid="second-factor-error"`)
	resp, _ = ada2.post("/signin/verify", url.Values{"csrf": {ada2.csrf}, "next": {"/admin"},
		"code": {currentTOTP(t, secret, registered.Add(portal.TOTPPeriod*time.Second))}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin", resp.Header.Get("Location"))
	resp, _ = ada2.get("/admin")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var factors []string
	rows, err := tb.db.Pool.Query(ctx, `SELECT details->>'factor' FROM audit_log WHERE action = 'second_factor' AND target_id = $1 ORDER BY id`,
		tb.viewer(t, "ada").PersonID)
	require.NoError(t, err)
	for rows.Next() {
		var f string
		require.NoError(t, rows.Scan(&f))
		factors = append(factors, f)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"totp", "totp"}, factors, "the enrolment and the second step are audited")

	t.Run("relaxed, the sign-in page says so", func(t *testing.T) {
		relaxed := setup(t)
		c := relaxed.client(t)
		_, page := c.get("/signin")
		require.Contains(t, page, `data-testid="staff-relaxed"`)
		c.mustSignIn("ada")
		resp, _ := c.get("/admin")
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func TestOIDCSecondFactorClaims(t *testing.T) {
	c := web.OIDCConfig{MFAAMR: []string{"mfa", "hwk"}, MFAACR: []string{"urn:example:mfa"}}
	for _, tt := range []struct {
		claims map[string]any
		want   bool
	}{
		{map[string]any{"amr": []any{"pwd", "mfa"}}, true},
		{map[string]any{"amr": []any{"hwk"}}, true},
		{map[string]any{"amr": []any{"pwd"}}, false},
		{map[string]any{"amr": "mfa"}, false},
		{map[string]any{"acr": "urn:example:mfa"}, true},
		{map[string]any{"acr": "1"}, false},
		{map[string]any{}, false},
	} {
		require.Equal(t, tt.want, c.SecondFactorClaims(tt.claims), "%v", tt.claims)
	}
}
