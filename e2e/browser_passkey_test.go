package e2e_test

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
)

// addVirtualAuthenticator gives the tab a platform authenticator that
// keeps discoverable credentials and verifies its user, as a laptop's
// fingerprint reader does.
func (b *browser) addVirtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{})
	require.NoError(b.t, err)
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
			HasUserVerification: true, IsUserVerified: true,
			// The protocol's default is true, but the Go field has no
			// omitempty: left out, it sends false, and every ceremony
			// waits for a touch that never comes.
			AutomaticPresenceSimulation: true,
		}})
	require.NoError(b.t, err)
	return res.AuthenticatorID
}

// TestBrowserPasskey registers a passkey in Chromium's virtual
// authenticator and signs in with it alone; a forged signature is refused.
func TestBrowserPasskey(t *testing.T) {
	t.Parallel()
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	srv := harness.StartProcess(t, dbURL, harness.ProcessOptions{Hostname: "localhost"})
	b := newBrowser(t, srv)

	require.EqualValues(t, 200, b.open("/signin"))
	authenticator := b.addVirtualAuthenticator()
	b.waitFor(`!document.querySelector('[data-testid=passkey-signin]').hidden`, "the passkey button shows where the browser can use one")

	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))
	require.EqualValues(t, 200, b.click(`[data-testid=security-settings]`))
	require.Equal(t, "/settings/security", b.path())
	b.waitFor(`!document.querySelector('[data-testid=add-passkey]').hidden`)
	b.do(chromedp.SendKeys(chromedp.ID("passkey-name"), "Zoë's laptop"))
	require.EqualValues(t, 200, b.click(`[data-testid=add-passkey]`))
	require.Equal(t, "passkey", b.location().Query().Get("notice"))
	require.Contains(t, b.text("method-passkey"), "Zoë's laptop")
	b.shot("passkey-registered")

	creds, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authenticator})
	require.NoError(t, err)
	require.Len(t, creds.Credentials, 1)
	require.True(t, creds.Credentials[0].IsResidentCredential, "a discoverable credential, for sign-in without a name")
	require.Equal(t, "localhost", creds.Credentials[0].RpID)

	require.EqualValues(t, 200, b.click(`form[action="/signout"] button`))
	require.EqualValues(t, 200, b.click(`[data-testid=passkey-signin]`))
	require.Equal(t, "/", b.path(), "signed in without a password")
	require.Equal(t, zoe, b.text("me"))

	// A forged assertion is refused and audited.
	require.EqualValues(t, 200, b.click(`form[action="/signout"] button`))
	bogus := true
	_, err = chromedp.Call(b.ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{
		AuthenticatorID: authenticator, IsBogusSignature: &bogus})
	require.NoError(t, err)
	require.EqualValues(t, 401, b.click(`[data-testid=passkey-signin]`))
	require.Contains(t, b.text("signin-error"), "The passkey could not be verified")

	ctx := context.Background()
	pool := harness.Pool(t, dbURL)
	var sessions, passed, failed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'sign_in' AND details->>'method' = 'passkey'`).Scan(&sessions))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE details->>'result' = 'success'),
		count(*) FILTER (WHERE details->>'result' = 'failure') FROM audit_log
		WHERE action = 'method_check' AND details->>'kind' = 'passkey' AND details->>'purpose' = 'sign_in'`).Scan(&passed, &failed))
	require.Equal(t, 1, sessions)
	require.Equal(t, 1, passed)
	require.Equal(t, 1, failed)
}
