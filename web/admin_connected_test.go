package web_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

// setupConnected serves the portal with connected systems wired as
// cmd/tessera wires them: the Postgres store with sealer (nil: no
// TESSERA_SECRET_KEY), the AD connection tester, the sync engine and the
// password pages (reset, change, the helpdesk panel) over its accounts.
func setupConnected(t *testing.T, sealer *portal.Sealer) (*testBundle, *postgres.ConnectedSystems) {
	t.Helper()
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, testPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(testPeople)
	require.NoError(t, err)
	systems := postgres.NewConnectedSystems(db, sealer)
	engine := &syncsvc.Engine{Pool: pool, Systems: systems, Logger: slog.New(slog.DiscardHandler), Requests: postgres.New(pool),
		Open:          syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{portal.SystemAD: ad.Opener(systems), portal.SystemEntra: entra.Opener(systems, nil)}),
		TargetSchemas: map[portal.SystemType]syncsvc.TargetSchema{portal.SystemEntra: entra.TargetSchema}}
	// Runs started from the pages are River jobs, and so are HR files.
	hrs := &hr.Service{Pool: pool, Engine: engine, Logger: slog.New(slog.DiscardHandler)}
	jobs := harness.StartWorkersWith(t, db, workflow.Deps{BaseURL: "http://tessera.test", Sync: engine, HR: hrs})
	engine.Queue, hrs.Queue = workflow.SyncRunQueue(jobs), workflow.HRApplyQueue(jobs)
	s := &web.Server{Config: web.Config{BaseURL: "http://tessera.test"}, People: db, Groups: db, Auth: db, Flows: db,
		Requests: db, Admin: db, Reviews: db, Systems: systems,
		Tester: syncsvc.TestersByType{portal.SystemAD: &ad.Tester{Secrets: systems}, portal.SystemEntra: &entra.Tester{Secrets: systems}}, Logger: slog.New(slog.DiscardHandler),
		Sync: engine, HR: hrs, Methods: postgres.NewMethodStore(db, sealer),
		Passwords: db, Accounts: &syncsvc.Accounts{Engine: engine}}
	h := s.Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testBundle{srv: srv, handler: h, db: db, org: org}, systems
}

func testSealer(t *testing.T) *portal.Sealer {
	t.Helper()
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	s, err := portal.NewSealer(key)
	require.NoError(t, err)
	return s
}

var passwordValueRE = regexp.MustCompile(`<input[^>]*name="bind_password"[^>]*>`)

// requireNoSecret checks that a page never carries the password, not even
// as the password input's value.
func requireNoSecret(t *testing.T, body string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotContains(t, body, s, "the page shows a password")
	}
	for _, input := range passwordValueRE.FindAllString(body, -1) {
		require.NotContains(t, input, "value=", "the password input is prefilled")
		require.Contains(t, input, `type="password"`)
	}
}

func TestConnectedSystemPages(t *testing.T) {
	t.Parallel()
	dc := harness.FreshSamba(t)
	ca, err := os.ReadFile(dc.CAFile)
	require.NoError(t, err)
	ou := "OU=Tessera Scope," + dc.BaseDN
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, dc.Dial(t).Add(add))

	tb, systems := setupConnected(t, testSealer(t))
	c := tb.client(t)
	c.mustSignIn("ada")
	const wrongPassword = "Not-The-Password-9"
	secrets := []string{dc.AdminPassword, wrongPassword}
	fields := func(kv ...string) url.Values {
		f := c.form("name", "Tessera test domain", "hosts", dc.IP, "tls_mode", "ldaps", "port", "636",
			"ca_cert_pem", string(ca), "bind_user", dc.AdminUPN, "bind_password", dc.AdminPassword,
			"base_dn", dc.BaseDN, "ous", ou, "enabled", "on")
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}

	_, body := c.get("/admin")
	require.Contains(t, body, `href="/admin/connected-systems"`)
	resp, body := c.get("/admin/connected-systems")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "There are no connected systems yet.")
	require.NotContains(t, body, `data-testid="no-secret-key"`)
	resp, body = c.get("/admin/connected-systems/new")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="connected-system-form"`)
	require.Contains(t, body, `name="csrf"`)
	requireNoSecret(t, body, secrets...)

	t.Run("validation errors re-show the form", func(t *testing.T) {
		for _, tc := range []struct {
			kv   []string
			want string
		}{
			{[]string{"port", "70000"}, "The port must be from 1 to 65535, not 70000."},
			{[]string{"port", "six"}, "The port must be a whole number"},
			{[]string{"hosts", "ldaps://" + dc.IP}, "is not a host name or IP address"},
			{[]string{"ous", "OU=Elsewhere,DC=other,DC=test"}, "is not under the base DN"},
			{[]string{"ca_cert_pem", "not a certificate"}, "The CA certificates must be PEM"},
			{[]string{"bind_password", ""}, "Give the bind account&#39;s password."},
			{[]string{"deletion_threshold", "-3"}, "The deletion threshold must be from 1 to 1,000,000 objects."},
			{[]string{"delta_minutes", "5000"}, "The delta sync interval must be from 0 (none) to 1440 minutes."},
			{[]string{"delta_minutes", "soon"}, "The delta sync interval must be a whole number"},
		} {
			resp, body := c.post("/admin/connected-systems", fields(tc.kv...))
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.want)
			require.Contains(t, body, `data-testid="form-error"`)
			require.Contains(t, body, tc.want)
			require.Contains(t, body, `value="Tessera test domain"`, "the name is kept")
			require.Contains(t, body, `value="`+dc.AdminUPN+`"`, "the bind account is kept")
			requireNoSecret(t, body, secrets...)
		}
		list, err := systems.ListConnectedSystems(context.Background())
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("test before saving", func(t *testing.T) {
		resp, body := c.post("/admin/connected-systems/test", fields())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "Connection test passed")
		require.Contains(t, body, `data-testid="password-not-kept"`)
		requireNoSecret(t, body, secrets...)
	})

	resp, _ = c.post("/admin/connected-systems", fields())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/admin/connected-systems/"), loc)
	path, _, _ := strings.Cut(loc, "?")
	id := strings.TrimPrefix(path, "/admin/connected-systems/")
	resp, body = c.get(loc)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "The connected system was saved.")
	require.Contains(t, body, "A password is saved and never shown.")
	require.Contains(t, body, `value="`+dc.BaseDN+`"`)
	requireNoSecret(t, body, secrets...)
	_, body = c.get("/admin/connected-systems")
	require.Contains(t, body, "Tessera test domain")
	require.Contains(t, body, dc.IP)
	requireNoSecret(t, body, secrets...)

	t.Run("sync settings: staging, deletion threshold, delta interval", func(t *testing.T) {
		resp, _ := c.post(path, fields("bind_password", "", "staging", "on", "deletion_threshold", "25", "delta_minutes", "15"))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		saved, err := systems.FindConnectedSystem(context.Background(), id)
		require.NoError(t, err)
		require.True(t, saved.Staging)
		require.Equal(t, 25, saved.DeletionThreshold)
		require.Equal(t, 15*time.Minute, saved.DeltaInterval)
		_, body := c.get(path)
		require.Contains(t, body, `name="deletion_threshold" type="number" min="1" max="1000000" inputmode="numeric" value="25"`)
		require.Contains(t, body, `value="15"`)
		resp, _ = c.post(path, fields("bind_password", ""))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		saved, err = systems.FindConnectedSystem(context.Background(), id)
		require.NoError(t, err)
		require.False(t, saved.Staging)
		require.Equal(t, portal.DefaultDeletionThreshold, saved.DeletionThreshold, "blank is the default")
	})

	t.Run("test connection with the saved password", func(t *testing.T) {
		resp, body := c.post(path+"/test", fields("bind_password", ""))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="test-result">Connection test passed`)
		require.NotContains(t, body, `data-testid="password-not-kept"`)
		requireNoSecret(t, body, secrets...)
		// The test read the directory's attribute limits from its schema.
		var givenName int
		require.NoError(t, tb.db.Pool.QueryRow(context.Background(),
			"SELECT max_len FROM cs_attribute_limits WHERE system_id = $1 AND attribute = 'givenname'", id).Scan(&givenName))
		require.Equal(t, 64, givenName)
	})

	t.Run("a wrong password shows AD's error", func(t *testing.T) {
		resp, body := c.post(path+"/test", fields("bind_password", wrongPassword))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "Connection test failed")
		require.Contains(t, body, "LDAP 49 (Invalid Credentials)")
		require.Contains(t, body, "AcceptSecurityContext", "AD's own diagnostic text")
		requireNoSecret(t, body, secrets...)
	})

	t.Run("an OU that does not exist shows AD's error", func(t *testing.T) {
		resp, body := c.post(path+"/test", fields("bind_password", "", "ous", "OU=Missing,"+dc.BaseDN))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "Connection test failed")
		require.Contains(t, body, "OU=Missing")
		require.Contains(t, body, "LDAP 32 (No Such Object)")
	})

	t.Run("the saved password only goes to the saved hosts", func(t *testing.T) {
		resp, body := c.post(path+"/test", fields("bind_password", "", "hosts", dc.IP+"\n127.0.0.1"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "type the bind password again")
		resp, body = c.post(path, fields("bind_password", "", "port", "3269"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "type the bind password again")
		requireNoSecret(t, body, secrets...)
	})

	t.Run("saving without a password keeps the saved one", func(t *testing.T) {
		resp, _ := c.post(path, fields("bind_password", "", "name", "Tessera domain (renamed)"))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		saved, err := systems.FindConnectedSystem(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, "Tessera domain (renamed)", saved.Name)
		got, err := systems.BindPassword(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, dc.AdminPassword, got)
		_, body := c.post(path+"/test", fields("bind_password", ""))
		require.Contains(t, body, "Connection test passed")
	})

	t.Run("delete", func(t *testing.T) {
		resp, _ := c.post(path+"/delete", c.form())
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body := c.get("/admin/connected-systems?notice=deleted")
		require.Contains(t, body, "The connected system was deleted.")
		resp, _ = c.get(path)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	var audit string
	require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT string_agg(details::text, ' ') FROM audit_log").Scan(&audit))
	require.NotContains(t, audit, dc.AdminPassword)
}

func TestConnectedSystemsWithoutKey(t *testing.T) {
	t.Parallel()
	tb, _ := setupConnected(t, nil)
	c := tb.client(t)
	c.mustSignIn("ada")
	_, body := c.get("/admin/connected-systems")
	require.Contains(t, body, `data-testid="no-secret-key"`)
	require.Contains(t, body, "TESSERA_SECRET_KEY")
	resp, body := c.post("/admin/connected-systems", c.form("name", "Corp", "hosts", "dc1.corp.example.com", "tls_mode", "ldaps",
		"bind_user", "svc@corp.example.com", "bind_password", "Secret-Password-1", "base_dn", "DC=corp,DC=example,DC=com"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Connected systems cannot be saved")
	require.Contains(t, body, "openssl rand -base64 32")
	require.Contains(t, body, `value="Corp"`)
	requireNoSecret(t, body, "Secret-Password-1")
}

func TestConnectedSystemsForbiddenToOthers(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	ctx := context.Background()
	saved, err := systems.CreateConnectedSystem(ctx, tb.viewer(t, "ada"), portal.ConnectedSystem{Name: "Corp",
		Hosts: []string{"dc1.corp.example.com"}, TLSMode: portal.TLSLDAPS, BindUser: "svc@corp.example.com",
		BindPassword: "Secret-Password-1", BaseDN: "DC=corp,DC=example,DC=com", Enabled: true})
	require.NoError(t, err)
	base := "/admin/connected-systems"
	gets := []string{base, base + "/new", base + "/" + saved.ID}
	posts := []string{base, base + "/test", base + "/" + saved.ID, base + "/" + saved.ID + "/test", base + "/" + saved.ID + "/delete"}
	for _, account := range []string{"zoe", "siobhan"} {
		c := tb.client(t)
		c.mustSignIn(account)
		for _, path := range gets {
			resp, body := c.get(path)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s GET %s", account, path)
			require.Contains(t, body, "Only administrators can open the administration pages.")
		}
		for _, path := range posts {
			resp, body := c.post(path, c.form("name", "Taken over", "hosts", "evil.example.net", "tls_mode", "ldaps",
				"bind_user", "x", "base_dn", "DC=corp,DC=example,DC=com"))
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s POST %s", account, path)
			requireNoSecret(t, body, "Secret-Password-1")
		}
	}
	// Without the CSRF token, even an administrator's post is refused.
	c := tb.client(t)
	c.mustSignIn("ada")
	resp, _ := c.post(base+"/"+saved.ID+"/delete", url.Values{})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	found, err := systems.FindConnectedSystem(ctx, saved.ID)
	require.NoError(t, err)
	require.Equal(t, "Corp", found.Name, "nothing changed")
}

// TestEntraConnectedSystem creates, tests and edits an Entra ID system
// against the Graph simulator: the client secret is sealed and never shown,
// and a failed test shows the identity platform's own words.
func TestEntraConnectedSystem(t *testing.T) {
	t.Parallel()
	const (
		tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
		client = "0a1b2c3d-0000-4000-8000-0000000000aa"
		secret = "Web~Entra~Secret.1"
	)
	sim := graphsim.New(graphsim.Config{TenantID: tenant, ClientID: client, ClientSecret: secret, VerifiedDomains: []string{"contoso.com"}})
	gs := httptest.NewServer(sim.Handler())
	t.Cleanup(gs.Close)
	tb, systems := setupConnected(t, testSealer(t))
	c := tb.client(t)
	c.mustSignIn("ada")
	fields := func(kv ...string) url.Values {
		f := c.form("type", "entra", "name", "Contoso Entra", "tenant_id", tenant, "client_id", client, "bind_password", secret,
			"verified_domains", "contoso.com", "authority_url", gs.URL, "graph_url", gs.URL+"/v1.0", "enabled", "on",
			"deletion_threshold", "500", "delta_minutes", "5")
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	_, body := c.get("/admin/connected-systems/new?type=entra")
	require.Contains(t, body, `name="tenant_id"`)
	require.Contains(t, body, "Client secret")

	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"tenant_id", "contoso"}, "Give the tenant ID"},
		{[]string{"graph_url", "http://graph.example.com/v1.0"}, "must use https://"},
		{[]string{"verified_domains", "not a domain!"}, "is not a domain name"},
		{[]string{"write_budget", "lots"}, "The write budget must be a whole number"},
	} {
		resp, body := c.post("/admin/connected-systems", fields(tc.kv...))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.want)
		require.Contains(t, body, tc.want)
		requireNoSecret(t, body, secret)
	}

	// Test connection: the wrong secret in the identity platform's words.
	resp, body := c.post("/admin/connected-systems/test", fields("bind_password", "wrong-secret"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Connection test failed")
	require.Contains(t, body, "AADSTS7000215")
	_, body = c.post("/admin/connected-systems/test", fields("verified_domains", "fabrikam.com"))
	require.Contains(t, body, "fabrikam.com is not a verified domain of the tenant")
	_, body = c.post("/admin/connected-systems/test", fields())
	require.Contains(t, body, "Connection test passed: Tessera signed in to the tenant", body)
	requireNoSecret(t, body, secret)

	resp, _ = c.post("/admin/connected-systems", fields())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	list, err := systems.ListConnectedSystems(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 1)
	sys := list[0]
	require.Equal(t, portal.SystemEntra, sys.Type)
	require.Equal(t, []string{"contoso.com"}, sys.Entra.VerifiedDomains)
	_, body = c.get("/admin/connected-systems/" + sys.ID)
	require.Contains(t, body, "A secret is saved and never shown.")
	requireNoSecret(t, body, secret)
	_, body = c.get("/admin/connected-systems")
	require.Contains(t, body, "Entra ID over Microsoft Graph")

	// Its rule pages suggest Entra ID's own default rules, not AD's.
	_, body = c.get("/admin/connected-systems/" + sys.ID + "/sync/rules/user")
	require.Contains(t, body, `data-testid="suggested"`)
	require.Contains(t, body, `value="CN={accountName}@contoso.com,OU=Users"`, "named in the first verified domain")
	require.Contains(t, body, "initial mailNickname = person.accountName\n")
	require.NotContains(t, body, "sAMAccountName = person.accountName\n", "AD's rule")
	_, body = c.get("/admin/connected-systems/" + sys.ID + "/sync/rules/group")
	require.Contains(t, body, `data-testid="suggested"`)
	require.Contains(t, body, "mailNickname = name\n")
	require.NotContains(t, body, "sAMAccountName = name\n", "AD's rule")

	// A saved system is tested with its sealed secret.
	f := fields("bind_password", "")
	_, body = c.post("/admin/connected-systems/"+sys.ID+"/test", f)
	require.Contains(t, body, "Connection test passed", body)
	// ... but never sent to another Graph host.
	_, body = c.post("/admin/connected-systems/"+sys.ID+"/test", fields("bind_password", "", "graph_url", "https://graph.example.com/v1.0"))
	require.Contains(t, body, "type the bind password again")
	requireNoSecret(t, body, secret)
}
