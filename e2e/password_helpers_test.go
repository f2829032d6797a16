package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// pwWorld is a running Tessera whose demo people zoe, mateo, siobhan
// (helpdesk) and ada (administrator) have accounts in a Samba AD, under
// names of this test's own (the DC is shared), and email addresses of
// their own at the harness's SMTP sink.
type pwWorld struct {
	dc     *harness.SambaDC
	pool   *pgxpool.Pool
	sys    *harness.ADSystem
	srv    *harness.Tessera
	sink   *harness.MailSink
	people map[string]pwPerson
}

type pwPerson struct {
	ID, Account, Email, UPN, DN string
}

func newPasswordWorld(t testing.TB) *pwWorld {
	return newPasswordWorldOf(t, 0)
}

// newPasswordWorldOf also gives n more people of the demo organisation
// (the first by account name) accounts in AD, named "bench0"... in people;
// env adds to the server's environment.
func newPasswordWorldOf(t testing.TB, n int, env ...string) *pwWorld {
	t.Helper()
	ctx := context.Background()
	w := &pwWorld{dc: harness.Samba(t), sink: harness.SMTP(t), people: map[string]pwPerson{}}
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	w.pool = harness.Pool(t, dbURL)
	db := postgres.New(w.pool)
	prefix := fmt.Sprintf("p%06d", time.Now().UnixNano()%1e6)
	w.sys = harness.NewADSystem(t, db, w.dc, prefix)
	var scope []string
	names := []string{"zoe", "mateo", "siobhan", "ada"}
	keys := slices.Clone(names)
	if n > 0 {
		rows, err := w.pool.Query(ctx, `SELECT account_name FROM people WHERE account_name NOT IN ('zoe', 'mateo', 'siobhan', 'ada')
			AND account_name <> '' ORDER BY account_name LIMIT $1`, n)
		require.NoError(t, err)
		more, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		for i, m := range more {
			names, keys = append(names, m), append(keys, fmt.Sprintf("bench%d", i))
		}
	}
	for i, name := range names {
		short := name
		if len(prefix+short) > 20 {
			short = fmt.Sprintf("b%d", i)
		}
		p := pwPerson{Account: prefix + short, Email: prefix + short + "@pw.example"}
		require.NoError(t, w.pool.QueryRow(ctx, `UPDATE people SET account_name = $2, email = $3 WHERE account_name = $1
			RETURNING id::text`, name, p.Account, p.Email).Scan(&p.ID))
		p.UPN = p.Account + "@" + w.dc.Realm
		w.people[keys[i]] = p
		scope = append(scope, strconv.Quote(p.Account))
	}
	e := &syncsvc.Engine{Pool: w.pool, Systems: w.sys.Systems, Open: ad.Opener(w.sys.Systems), Requests: db}
	u := syncsvc.DefaultUserRule(w.sys.System.ID, w.dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU=People," + w.sys.OU
	u.Scope = "person.accountName in [" + strings.Join(scope, ", ") + "]"
	u.InitialPassword, u.EnableOnCreate = "random", true
	require.NoError(t, e.SaveSyncRule(ctx, w.sys.Admin, u))
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := e.Run(ctx, w.sys.System.ID, p, syncsvc.RunOptions{})
		require.NoError(t, err)
		require.Equal(t, "succeeded", run.Status, "%s: %s", p, run.Message)
	}
	for name, p := range w.people {
		require.NoError(t, w.pool.QueryRow(ctx, `SELECT dn FROM cs_objects WHERE person_id = $1 AND anchor IS NOT NULL`, p.ID).Scan(&p.DN),
			"%s has an AD account", name)
		w.people[name] = p
	}
	w.srv = harness.StartTessera(t, dbURL, append([]string{"TESSERA_SECRET_KEY=" + w.sys.SecretKey, "TESSERA_TRUSTED_PROXIES=127.0.0.1/32",
		"TESSERA_SMTP_HOST=" + w.sink.Host(), "TESSERA_SMTP_PORT=" + strconv.Itoa(w.sink.Port()), "TESSERA_SMTP_TLS=starttls",
		"TESSERA_SMTP_CA_FILE=" + w.sink.CAFile(), "TESSERA_SMTP_USERNAME=" + harness.SMTPUsername,
		"TESSERA_SMTP_PASSWORD=" + harness.SMTPPassword, "TESSERA_MAIL_FROM=Tessera <tessera@tessera.example>"}, env...)...)
	// The password expiry reminders run once at start and search AD for
	// the accounts' expiry: what a test or benchmark counts of the DC's
	// requests afterwards is then the flow's alone.
	require.Eventually(t, func() bool {
		var done bool
		err := w.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job
			WHERE kind = 'password_expiry_reminders' AND finalized_at IS NOT NULL)`).Scan(&done)
		return err == nil && done
	}, time.Minute, 20*time.Millisecond, "the start's password expiry reminders ran")
	return w
}

// bind reports the error of an LDAPS bind as upn with password.
func (w *pwWorld) bind(t testing.TB, upn, password string) error {
	t.Helper()
	conn, err := ldap.DialURL(w.dc.LDAPSURL, ldap.DialWithTLSConfig(w.dc.TLSConfig()))
	require.NoError(t, err)
	defer conn.Close()
	return conn.Bind(upn, password)
}

var resetCodeRE = regexp.MustCompile(`\n +(\d{8})\r?\n`)

// code reads the newest reset code mailed to email since the sink held
// before messages.
func (w *pwWorld) code(t testing.TB, email string, before int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for seen := 0; ; {
		// Only email's mailbox, and only what came since: the bench's 20
		// clients read a sink of thousands of messages at once.
		msgs := w.sink.To(email, before)
		for i := len(msgs) - 1; i >= seen; i-- {
			m := msgs[i]
			if m.Subject == "Your password reset code" {
				got := resetCodeRE.FindStringSubmatch(m.Text)
				require.NotNil(t, got, "a code in %q", m.Text)
				return got[1]
			}
		}
		seen = len(msgs)
		if !w.sink.WaitTo(email, before, seen, deadline) {
			break
		}
	}
	t.Fatalf("no reset code mailed to %s", email)
	return ""
}

// pwClient is a browser without JavaScript: a cookie jar, the client
// address a trusted proxy reports, and the CSRF token of the last page.
type pwClient struct {
	t    testing.TB
	base string
	addr string
	http *http.Client
	csrf string
	// lang is the browser's Accept-Language; "" sends none.
	lang string
}

func (w *pwWorld) client(t testing.TB, addr string) *pwClient {
	jar, _ := cookiejar.New(nil)
	// Connections are kept between requests, as a browser keeps them
	// (webTransport): with http.DefaultTransport's two idle connections
	// a host, the bench's 20 clients at once dialled a new one for most
	// requests, which the client and Tessera both paid for.
	return &pwClient{t: t, base: w.srv.URL, addr: addr, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: webTransport}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the final status and body (redirects
// followed), remembering the page's CSRF token.
func (c *pwClient) do(method, path string, form url.Values) (int, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", c.addr)
	req.Header.Set("Origin", c.base)
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return res.StatusCode, string(b)
}

func (c *pwClient) get(path string) (int, string) { return c.do(http.MethodGet, path, nil) }

// post sends form with the current CSRF token.
func (c *pwClient) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", c.csrf)
	return c.do(http.MethodPost, path, form)
}

func (c *pwClient) signIn(account, password string) int {
	c.t.Helper()
	c.get("/signin")
	status, _ := c.post("/signin", url.Values{"account": {account}, "password": {password}})
	return status
}

// startReset asks to reset account and returns the code page.
func (c *pwClient) startReset(account string) (int, string) {
	c.t.Helper()
	c.get("/password/reset")
	return c.post("/password/reset", url.Values{"account": {account}})
}

// pwTenant is a simulated Entra ID tenant anchored in the world's AD,
// where the world's people have accounts too.
type pwTenant struct {
	sim *graphsim.Server
	sys *portal.ConnectedSystem
	// url and secret reach the tenant as its administrator would.
	url, secret string
}

// addEntra connects a simulated Entra ID tenant to the running world and
// exports the world's people to it: the server finds the new system at
// the next password action, as it finds every connected system.
func (w *pwWorld) addEntra(t testing.TB) *pwTenant {
	t.Helper()
	ctx := context.Background()
	secret := "pw~" + w.sys.OU
	sim := graphsim.New(graphsim.Config{TenantID: e2eTenant, ClientID: e2eClient, ClientSecret: secret,
		InitialDomain: "pw.onmicrosoft.com", VerifiedDomains: []string{"tessera.test"}})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	sys, err := w.sys.Systems.CreateConnectedSystem(ctx, w.sys.Admin, portal.ConnectedSystem{Name: "Entra of " + w.sys.System.Name,
		Type: portal.SystemEntra, BindPassword: secret, Enabled: true, Entra: portal.EntraSettings{TenantID: e2eTenant,
			ClientID: e2eClient, AuthorityURL: srv.URL, GraphURL: srv.URL + "/v1.0", AnchorSystemID: w.sys.System.ID}})
	require.NoError(t, err)
	e := &syncsvc.Engine{Pool: w.pool, Systems: w.sys.Systems, Requests: postgres.New(w.pool), Open: syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{
		portal.SystemAD: ad.Opener(w.sys.Systems), portal.SystemEntra: entra.Opener(w.sys.Systems, nil)}),
		TargetSchemas: map[portal.SystemType]syncsvc.TargetSchema{portal.SystemEntra: entra.TargetSchema}}
	var scope []string
	for _, p := range w.people {
		scope = append(scope, strconv.Quote(p.Account))
	}
	slices.Sort(scope)
	u := entra.DefaultUserRule(sys.ID, "tessera.test")
	u.Scope = "person.accountName in [" + strings.Join(scope, ", ") + "]"
	require.NoError(t, e.SaveSyncRule(ctx, w.sys.Admin, u))
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := e.Run(ctx, sys.ID, p, syncsvc.RunOptions{})
		require.NoError(t, err)
		require.Equal(t, "succeeded", run.Status, "%s: %s", p, run.Message)
	}
	return &pwTenant{sim: sim, sys: sys, url: srv.URL, secret: secret}
}

// deleteUser deletes the user upn in the tenant, as an administrator of
// Entra ID would in its admin center, behind Tessera's back.
func (tn *pwTenant) deleteUser(t testing.TB, upn string) {
	t.Helper()
	res, err := http.PostForm(tn.url+"/"+e2eTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {e2eClient}, "client_secret": {tn.secret}, "scope": {"https://graph.microsoft.com/.default"}})
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	res.Body.Close()
	req, err := http.NewRequest(http.MethodDelete, tn.url+"/v1.0/users/"+url.PathEscape(upn), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNoContent, res.StatusCode, "deleted in Entra ID")
}

// pso is a password settings object (what `samba-tool domain
// passwordsettings pso create` writes) for some of the world's people,
// so that a lockout or a short expiry is tested on the shared DC without
// changing the domain's policy for the other tests.
type pso struct {
	precedence       int
	minAgeDays       int // 0: none
	maxAgeDays       int
	lockoutThreshold int // 0: no lockout
}

// applyPSO creates p as name for the accounts at dns (complexity on,
// history 24, minimum length 7, a 30-minute lockout) and removes it when
// the test ends.
func (w *pwWorld) applyPSO(t testing.TB, name string, p pso, dns ...string) {
	t.Helper()
	days := func(n int) string { return strconv.FormatInt(-int64(n)*24*3600*1e7, 10) } // AD's negative 100 ns
	dn := "CN=" + name + ",CN=Password Settings Container,CN=System," + w.dc.BaseDN
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"msDS-PasswordSettings"})
	add.Attribute("msDS-PasswordSettingsPrecedence", []string{strconv.Itoa(p.precedence)})
	add.Attribute("msDS-PasswordReversibleEncryptionEnabled", []string{"FALSE"})
	add.Attribute("msDS-PasswordHistoryLength", []string{"24"})
	add.Attribute("msDS-PasswordComplexityEnabled", []string{"TRUE"})
	add.Attribute("msDS-MinimumPasswordLength", []string{"7"})
	add.Attribute("msDS-MinimumPasswordAge", []string{days(p.minAgeDays)})
	add.Attribute("msDS-MaximumPasswordAge", []string{days(p.maxAgeDays)})
	add.Attribute("msDS-LockoutThreshold", []string{strconv.Itoa(p.lockoutThreshold)})
	add.Attribute("msDS-LockoutObservationWindow", []string{"-18000000000"}) // 30 minutes
	add.Attribute("msDS-LockoutDuration", []string{"-18000000000"})
	add.Attribute("msDS-PSOAppliesTo", dns)
	admin := w.dc.Dial(t)
	require.NoError(t, admin.Add(add))
	t.Cleanup(func() { admin.Del(ldap.NewDelRequest(dn, nil)); admin.Close() })
}

// lockOut fails binds as p until AD locks the account out (the PSO's
// threshold), and checks that it is.
func (w *pwWorld) lockOut(t testing.TB, p pwPerson) {
	t.Helper()
	for range 3 {
		require.Error(t, w.bind(t, p.UPN, "Not the password 0"))
	}
	require.True(t, w.lockedOut(t, p), "%s is locked out in AD", p.Account)
}

// lockedOut reads AD's computed lockout of p's account (bit 0x10 of
// msDS-User-Account-Control-Computed), as an administrator would.
func (w *pwWorld) lockedOut(t testing.TB, p pwPerson) bool {
	t.Helper()
	conn := w.dc.Dial(t)
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(p.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=user)", []string{"msDS-User-Account-Control-Computed"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	flags, err := strconv.Atoi(res.Entries[0].GetAttributeValue("msDS-User-Account-Control-Computed"))
	require.NoError(t, err)
	return flags&0x10 != 0
}

// accountState reads what the helpdesk panel's page body says of the
// account in system: whether it is enabled and locked out ("Yes", "No").
func accountState(t testing.TB, body, system string) (enabled, locked string) {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr data-system="` + regexp.QuoteMeta(html.EscapeString(system)) +
		`">.*?data-testid="state-enabled">([^<]*)<.*?data-testid="state-locked">([^<]*)<`)
	m := re.FindStringSubmatch(body)
	require.NotNil(t, m, "the panel shows %s's state", system)
	return m[1], m[2]
}
