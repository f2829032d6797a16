package web_test

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/web"
)

// These tests sign in with accounts of a real Samba AD DC (the harness's
// shared one, each test in an OU of its own), wired as cmd/tessera wires it.

const adPassword = "Directory-Sign-In-2024"

// countingDirectory counts the sign-ins that reach the directory.
type countingDirectory struct {
	portal.DirectoryAuthenticator
	calls atomic.Int64
}

func (d *countingDirectory) Authenticate(ctx context.Context, login, password string) (portal.DirectoryAccount, error) {
	d.calls.Add(1)
	return d.DirectoryAuthenticator.Authenticate(ctx, login, password)
}

type ldapEnv struct {
	*testBundle
	dc     *harness.SambaDC
	dir    *countingDirectory
	conn   *ad.Connector
	ou     string
	prefix string
}

var adNames atomic.Int64

func newLDAPEnv(t *testing.T, directory func(dc *harness.SambaDC) portal.DirectoryAuthenticator) *ldapEnv {
	t.Helper()
	dc := harness.Samba(t)
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, testPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(testPeople)
	require.NoError(t, err)
	e := &ldapEnv{dc: dc, prefix: fmt.Sprintf("w%04d%03d", rand.IntN(10000), adNames.Add(1))}
	if directory == nil {
		d, err := ad.NewDirectory(ad.DirectoryConfig{URL: dc.LDAPSURL, TLSConfig: dc.TLSConfig(), BaseDN: dc.BaseDN,
			Domain: dc.Domain, Realm: dc.Realm})
		require.NoError(t, err)
		e.dir = &countingDirectory{DirectoryAuthenticator: d}
	} else {
		e.dir = &countingDirectory{DirectoryAuthenticator: directory(dc)}
	}
	s := &web.Server{Config: web.Config{BaseURL: "http://tessera.test", DirectoryMatch: "employee_id"},
		People: db, Groups: db, Auth: db, Flows: db, Requests: db, Admin: db, Directory: e.dir,
		Logger: slog.New(slog.DiscardHandler)}
	stopClock(s)
	behindProxy(s)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	e.testBundle = &testBundle{srv: srv, db: db, org: org}

	e.ou = "OU=" + e.prefix + "," + dc.BaseDN
	admin := dc.Dial(t)
	add := ldap.NewAddRequest(e.ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, admin.Add(add))
	e.conn, err = ad.Open(context.Background(), ad.Config{Host: dc.IP, TLS: ad.LDAPS, TLSConfig: dc.TLSConfig(),
		BindUser: dc.AdminUPN, BindPassword: dc.AdminPassword, BaseDN: dc.BaseDN, OUs: []string{e.ou}})
	require.NoError(t, err)
	t.Cleanup(func() { e.conn.Close() })
	return e
}

// addADUser creates an enabled AD user with adPassword and, unless empty,
// the employeeID given; it returns the sAMAccountName.
func (e *ldapEnv) addADUser(t *testing.T, suffix, employeeID string) string {
	t.Helper()
	sam := e.prefix + suffix
	attrs := []syncsvc.AttributeChange{
		{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{sam}},
		{Op: syncsvc.AttributeReplace, Name: "userPrincipalName", Values: []string{sam + "@" + e.dc.Realm}},
	}
	if employeeID != "" {
		attrs = append(attrs, syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "employeeID", Values: []string{employeeID}})
	}
	res := e.conn.Export(context.Background(), []syncsvc.ExportChange{{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser,
		DN: "CN=" + sam + "," + e.ou, Password: adPassword, Enabled: true, Attributes: attrs}})
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	return sam
}

// directorySignIn posts the directory sign-in form.
func (c *client) directorySignIn(account, password, next string) (*http.Response, string) {
	c.t.Helper()
	c.get("/signin")
	return c.post("/signin/ldap", url.Values{"csrf": {c.csrf}, "account": {account}, "password": {password}, "next": {next}})
}

func (e *ldapEnv) ldapSessions(t *testing.T, personID string) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM sessions WHERE person_id = $1 AND method = 'ldap'", personID).Scan(&n))
	return n
}

func TestDirectorySignIn(t *testing.T) {
	t.Parallel()
	e := newLDAPEnv(t, nil)
	person := e.org.People[7]
	require.True(t, person.Enabled)
	sam := e.addADUser(t, "a", person.EmployeeID)
	upn := sam + "@" + e.dc.Realm
	const badCredentials = "The account name or password is incorrect."

	t.Run("the form", func(t *testing.T) {
		_, body := e.client(t).get("/signin")
		require.Contains(t, body, `data-testid="directory-signin"`)
		require.Contains(t, body, `action="/signin/ldap"`)
		require.Contains(t, body, `<label for="directory-account">`)
		require.Contains(t, body, `<label for="directory-password">`)
		require.Contains(t, body, `Sign in with your directory account`)
	})

	t.Run("by UPN, to the page asked for", func(t *testing.T) {
		c := e.client(t)
		next := "/people/" + e.org.People[1].ID
		resp, _ := c.directorySignIn(upn, adPassword, next)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, next, resp.Header.Get("Location"))
		resp, _ = c.get(next)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, body := c.get("/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="me">`+html.EscapeString(person.DisplayName)+`<`)
		require.GreaterOrEqual(t, e.ldapSessions(t, person.ID), 1)
	})

	t.Run(`by DOMAIN\name`, func(t *testing.T) {
		c := e.client(t)
		before := e.ldapSessions(t, person.ID)
		resp, _ := c.directorySignIn(e.dc.Domain+`\`+sam, adPassword, "")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/", resp.Header.Get("Location"))
		_, body := c.get("/")
		require.Contains(t, body, `data-testid="me">`+html.EscapeString(person.DisplayName)+`<`)
		require.Equal(t, before+1, e.ldapSessions(t, person.ID))
	})

	t.Run("wrong password and unknown account get the same answer", func(t *testing.T) {
		c := e.client(t)
		resp, wrong := c.directorySignIn(upn, adPassword+"x", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, wrong, badCredentials)
		require.Contains(t, wrong, `value="`+upn+`"`, "the account name is kept in the form")
		resp, unknown := c.directorySignIn("nobody"+e.prefix+"@"+e.dc.Realm, adPassword, "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, unknown, badCredentials)
	})

	t.Run("an empty password never reaches the directory", func(t *testing.T) {
		c := e.client(t)
		calls := e.dir.calls.Load()
		resp, body := c.directorySignIn(upn, "", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, badCredentials)
		require.Equal(t, calls, e.dir.calls.Load())
		// And the directory itself refuses one, should it ever be asked.
		_, err := e.dir.DirectoryAuthenticator.Authenticate(context.Background(), upn, "")
		require.Equal(t, badCredentials, portal.ErrorMessage(err))
	})

	t.Run("an account that matches no one is told which value", func(t *testing.T) {
		c := e.client(t)
		stranger := e.addADUser(t, "s", "X"+e.prefix)
		resp, body := c.directorySignIn(stranger+"@"+e.dc.Realm, adPassword, "")
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, body, "X"+e.prefix)
		require.Contains(t, body, "no one in Tessera")
		resp, _ = c.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "and is not signed in")

		bare := e.addADUser(t, "n", "")
		resp, body = c.directorySignIn(bare+"@"+e.dc.Realm, adPassword, "")
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, body, "has no employee ID")
	})

	t.Run("without a CSRF token nothing happens", func(t *testing.T) {
		c := e.client(t)
		calls := e.dir.calls.Load()
		resp, _ := c.post("/signin/ldap", url.Values{"account": {upn}, "password": {adPassword}})
		require.Equal(t, "/signin", resp.Header.Get("Location"))
		require.Equal(t, calls, e.dir.calls.Load())
	})
}

func TestDirectorySignInLimiter(t *testing.T) {
	t.Parallel()
	e := newLDAPEnv(t, nil)
	person := e.org.People[9]
	sam := e.addADUser(t, "l", person.EmployeeID)
	c := e.client(t)
	c.get("/signin")
	var last *http.Response
	for range 12 {
		last, _ = c.post("/signin/ldap", url.Values{"csrf": {c.csrf}, "account": {sam}, "password": {"guess"}})
	}
	require.Equal(t, http.StatusTooManyRequests, last.StatusCode)
	require.Equal(t, "60", last.Header.Get("Retry-After"))
	calls := e.dir.calls.Load()
	resp, _ := c.post("/signin/ldap", url.Values{"csrf": {c.csrf}, "account": {sam}, "password": {adPassword}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "even the right password waits")
	require.Equal(t, calls, e.dir.calls.Load(), "a blocked attempt never reaches the directory")
	// The same budget guards local sign-in from this address.
	resp, _ = c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zoe"}, "password": {demo.DemoPassword}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
}

func TestDirectorySignInBudget(t *testing.T) {
	t.Parallel()
	e := newLDAPEnv(t, nil)
	ctx := context.Background()
	person := e.org.People[11]
	sam := e.addADUser(t, "b", person.EmployeeID)
	// As in a directory-fed deployment: the account name is the
	// sAMAccountName; the email shares nothing with it.
	email := e.prefix + ".mail@example.org"
	_, err := e.db.Pool.Exec(ctx, "UPDATE people SET account_name = $2, email = $3 WHERE id = $1", person.ID, sam, email)
	require.NoError(t, err)

	t.Run("an account that cannot be typed is refused before the directory", func(t *testing.T) {
		calls := e.dir.calls.Load()
		for _, account := range []string{sam + "\x00", "\xff" + sam} {
			resp, body := e.browser(t, e.srv, "198.51.100.40").directorySignIn(account, adPassword, "")
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%q", account)
			// Refused by the form decoder, before the sign-in reads it.
			require.Contains(t, body, "The account name holds ")
		}
		require.Equal(t, calls, e.dir.calls.Load())
	})

	spellings := []string{e.dc.Domain + `\` + sam, email, strings.ToUpper(sam) + "@" + e.dc.Realm}
	for i := range portal.SignInBurst {
		c := e.browser(t, e.srv, fmt.Sprintf("198.51.100.%d", i+1))
		resp, _ := c.directorySignIn(spellings[i%len(spellings)], "a wrong guess", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, i)
	}
	calls := e.dir.calls.Load()
	c := e.browser(t, e.srv, "192.0.2.70")
	resp, _ := c.directorySignIn(sam+"@"+e.dc.Realm, adPassword, "")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "one budget for every name of the person")
	require.Equal(t, calls, e.dir.calls.Load(), "a refused attempt never reaches the directory")
	require.Equal(t, http.StatusTooManyRequests, c.attempt(sam, "any"), "and local sign-in shares it")

	var failed int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'sign_in_failed'
		AND target_id = $1 AND details->>'method' = 'ldap' AND NOT details::text LIKE '%wrong guess%'`, person.ID).Scan(&failed))
	require.Equal(t, portal.SignInBurst, failed, "every failure is audited, without the password")
}

func TestDirectoryUnreachable(t *testing.T) {
	t.Parallel()
	e := newLDAPEnv(t, func(*harness.SambaDC) portal.DirectoryAuthenticator {
		d, err := ad.NewDirectory(ad.DirectoryConfig{URL: "ldaps://127.0.0.1:1", BaseDN: "DC=example,DC=com", Realm: "EXAMPLE.COM"})
		require.NoError(t, err)
		return d
	})
	c := e.client(t)
	for range 12 {
		resp, body := c.directorySignIn("someone", "a password", "")
		require.Equal(t, http.StatusBadGateway, resp.StatusCode, "an outage is not a failed sign-in, and spends no budget")
		require.Contains(t, body, "The directory cannot be reached right now.")
	}
}

func TestDirectorySignInNotConfigured(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	_, body := c.get("/signin")
	require.NotContains(t, body, "directory-signin")
	resp, _ := c.post("/signin/ldap", url.Values{"csrf": {c.csrf}, "account": {"zoe"}, "password": {"x"}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
